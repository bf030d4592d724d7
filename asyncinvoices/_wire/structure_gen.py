"""The generated structuring hook of a slotted attrs class, with its fields' usual cases inline.

cattrs' generated dict hook calls the converter's hook for each field, then the class with a
keyword argument per field. For an :class:`~asyncinvoices.Invoice` that is about 4.4 µs: 1.6 µs
in attrs' frozen ``__init__`` taking fifteen keywords, about 1.5 µs in fourteen hook calls
(see ``docs/benchmarks.md``). The hook made here does the same work in one frame:

* each field's hook has an :class:`Inline` form, a test and an expression that give the hook's
  own result for the values the JSON decoder usually produces (an ``int`` amount, a ``str``,
  ``None``); any other value is passed to the hook itself, so the hook stays the one
  definition of what a type accepts and how it converts;
* the instance is made with ``object.__new__`` and its slots are filled through their
  descriptors, which is what attrs' frozen ``__init__`` does with ``object.__setattr__``,
  without the keyword parsing. Only a class whose ``__init__`` does nothing else qualifies: no
  validators, converters or ``__attrs_post_init__``.

The converter keeps cattrs' own generated hook where it validates in detail: that is the one
that names the failing field when this one raises.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

__all__ = ["Inline", "make_structure_fn", "unknown_fields"]

T = TypeVar("T")


@attrs.frozen
class Inline:
    """The usual cases of one type's hook, as Python expressions over the value ``v``.

    Attributes:
        cases: ``(test, result)`` pairs, tried in order: where ``test`` holds, ``result`` must
            equal what the hook returns for ``v``. A value no test accepts goes to the hook.
        names: The globals the expressions use.
    """

    cases: tuple[tuple[str, str], ...]
    names: Mapping[str, object] = attrs.field(factory=dict)

    def expression(self, fallback: str) -> str:
        """The conditional expression: each case in turn, else ``fallback``."""
        text = fallback
        for test, result in reversed(self.cases):
            text = f"{result} if {test} else {text}"
        return text


def _optional(type_: object) -> bool:
    return get_origin(type_) in (Union, type(int | None)) and type(None) in get_args(type_)


def _check(cl: type[Any]) -> None:
    if "__slots__" not in cl.__dict__:
        raise TypeError(f"{cl.__name__} is not a slotted attrs class")
    if hasattr(cl, "__attrs_post_init__") or hasattr(cl, "__attrs_pre_init__"):
        raise TypeError(f"{cl.__name__} runs code in __init__")
    # A slot that is no field (a cached hash, say) would be left unset.
    other = set(cl.__slots__) - {f.name for f in attrs.fields(cl)} - {"__weakref__"}
    if other:
        raise TypeError(f"{cl.__name__} has slots that are not fields: {sorted(other)}")
    for field in attrs.fields(cl):
        takes_self = isinstance(field.default, attrs.Factory) and field.default.takes_self  # type: ignore[arg-type]
        if field.validator or field.converter or not field.init or takes_self:
            raise TypeError(f"{cl.__name__}.{field.name} needs attrs' __init__")


def make_structure_fn(
    cl: type[T],
    converter: cattrs.BaseConverter,
    inline: Mapping[Any, Inline],
    *,
    extra: str | None = None,
) -> Callable[[Mapping[str, Any], Any], T]:
    """Generate the structuring hook of ``cl`` from its fields and ``converter``'s hooks.

    Args:
        cl: A slotted attrs class whose ``__init__`` only sets its fields.
        converter: Where each field's hook is found (``get_structure_hook``).
        inline: The usual cases of some of those hooks, by the exact type registered.
        extra: A field that receives, as a new dict, every key of the record that is not a
            field (an empty dict when there is none).

    Returns:
        ``structure(record, cl)``, which raises what a field's hook raises, or ``KeyError``
        for a missing required field.

    Raises:
        TypeError: If ``cl`` does not qualify (see the module's docstring).
    """
    _check(cl)
    attrs.resolve_types(cl)  # type: ignore[type-var] # the types, where annotations are strings
    fields = [f for f in attrs.fields(cl) if f.name != extra]  # type: ignore[arg-type]
    known = frozenset(f.name for f in fields)
    names: dict[str, object] = {"__new": object.__new__, "__cl": cl, "__known": known}
    lines = [f"def structure_{cl.__name__}(o, _=None):", "    i = __new(__cl)"]
    for field in fields:
        lines += _field_lines(cl, field, converter, inline, names)
    if extra is not None:
        names["__set_extra"] = cl.__dict__[extra].__set__
        names["__count"] = len(known)
        names["__unknown"] = unknown_fields
        lines += [
            # More keys than fields means some are unknown; otherwise compare the keys. The
            # check stays inline: it is all that most records cost.
            "    if len(o) > __count or not o.keys() <= __known:",
            "        __set_extra(i, __unknown(o, __known))",
            "    else:",
            "        __set_extra(i, {})",
        ]
    lines.append("    return i")
    return _compile(cl, "\n".join(lines) + "\n", names)


def unknown_fields(record: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The items of ``record`` whose keys ``known`` does not name, in their order, verbatim."""
    return {k: v for k, v in record.items() if k not in known}


def _field_lines(
    cl: type[Any],
    field: attrs.Attribute[Any],
    converter: cattrs.BaseConverter,
    inline: Mapping[Any, Inline],
    names: dict[str, object],
) -> list[str]:
    """The lines that read one field of the record into its slot; ``names`` gains theirs."""
    name = field.name
    names[f"__set_{name}"] = cl.__dict__[name].__set__
    names[f"__hook_{name}"] = converter.get_structure_hook(field.type)
    names[f"__type_{name}"] = field.type
    fast = inline.get(field.type)
    value = f"__hook_{name}(v, __type_{name})"
    if fast is not None:
        names.update(fast.names)
        value = fast.expression(value)
    if field.default is attrs.NOTHING:
        return [f"    v = o[{name!r}]", f"    __set_{name}(i, {value})"]
    if field.default is None and _optional(field.type):
        # Absent reads as null, which every `X | None` hook turns into the default, None.
        return [f"    v = o.get({name!r})", f"    __set_{name}(i, {value})"]
    names[f"__default_{name}"] = field.default
    default = f"__default_{name}"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        default = f"__default_{name}.factory()"
    return [
        f"    if {name!r} in o:",
        f"        v = o[{name!r}]",
        f"        __set_{name}(i, {value})",
        "    else:",
        f"        __set_{name}(i, {default})",
    ]


def _compile(cl: type[T], source: str, names: dict[str, object]) -> Callable[[Any, Any], T]:
    filename = f"<asyncinvoices generated structure {cl.__module__}.{cl.__qualname__}>"
    # In linecache, so that a traceback or a profiler can show the generated lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), names)
    function: Callable[[Any, Any], T] = names[f"structure_{cl.__name__}"]  # type: ignore[assignment]
    return function
