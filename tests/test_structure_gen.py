"""The generated Invoice hook: its inline forms agree with the hooks they stand for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncinvoices import Invoice
from asyncinvoices._wire.converter import _HOOKS, make_converter
from asyncinvoices._wire.structure_gen import Inline, make_structure_fn

UTC = dt.timezone.utc

# Every kind of value a JSON decoder (or a caller) can put in a record, edge cases included.
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, -1, 253402300799, 253402300800, 10**20]),
    st.decimals(),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("1E+30"), Decimal("2.0")]),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["2025-01-01T00:00:00Z", "", "1"]),
    st.datetimes(timezones=st.just(UTC)),
    st.lists(st.integers(), max_size=2),
)


def _compiled(fast: Inline) -> Any:
    names: dict[str, Any] = {**fast.names, "MISS": object()}
    exec(f"def f(v):\n    return {fast.expression('MISS')}\n", names)
    return names["f"], names["MISS"]


@pytest.mark.parametrize(("type_", "hook", "fast"), _HOOKS, ids=[str(t) for t, _, _ in _HOOKS])
@settings(max_examples=400, deadline=None)
@given(value=any_value)
def test_an_inline_form_gives_exactly_what_its_hook_gives(
    type_: object, hook: Any, fast: Inline, value: object
) -> None:
    """Where an inline case takes a value, the result is the hook's: equal and of its type."""
    inline, miss = _compiled(fast)
    got = inline(value)
    if got is miss:
        return  # not an inline case: the generated hook calls the hook itself
    expected = hook(value, type_)
    assert type(got) is type(expected)
    assert got == expected or (got != got and expected != expected)
    if isinstance(expected, dt.datetime):
        assert got.tzinfo == expected.tzinfo


def test_every_inline_case_is_reached_by_the_usual_values() -> None:
    """The inline forms are not dead code: the values the decoder gives take them."""
    usual = {
        Decimal: [5, Decimal("640.19")],
        int: [2],
        str: ["usd"],
        bool: [True],
        int | None: [None, 3],
        str | None: [None, "x"],
        bool | None: [None, False],
        dt.datetime | None: [None, 1735689600],
    }
    for type_, _, fast in _HOOKS:
        inline, miss = _compiled(fast)
        for value in usual.get(type_, []):
            assert inline(value) is not miss, (type_, value)


def test_the_fast_converter_uses_the_generated_hook_and_the_detailed_one_cattrs() -> None:
    fast = make_converter().get_structure_hook(Invoice)
    detailed = make_converter(detailed_validation=True).get_structure_hook(Invoice)
    assert fast.__code__.co_filename == (
        "<asyncinvoices generated structure asyncinvoices._models.Invoice>"
    )
    assert "cattrs" not in fast.__code__.co_filename
    assert detailed.__module__ == "asyncinvoices._wire.converter"


def test_absent_optionals_are_none_and_extra_is_a_new_dict_each_time() -> None:
    hook = make_converter().get_structure_hook(Invoice)
    record = {"amount_due": 1, "amount_paid": 0, "amount_remaining": 1, "currency": "usd"}
    first, second = hook(record, Invoice), hook(dict(record), Invoice)
    assert first == Invoice(
        amount_due=Decimal(1), amount_paid=Decimal(0), amount_remaining=Decimal(1), currency="usd"
    )
    assert first.extra == {}
    assert first.extra is not second.extra
    with_extra = hook({**record, "tax": Decimal("0.5"), "lines": [1]}, Invoice)
    assert with_extra.extra == {"tax": Decimal("0.5"), "lines": [1]}


def test_a_missing_required_field_raises_key_error_naming_it() -> None:
    hook = make_converter().get_structure_hook(Invoice)
    with pytest.raises(KeyError, match="currency"):
        hook({"amount_due": 1, "amount_paid": 0, "amount_remaining": 1}, Invoice)


def test_a_value_off_the_inline_path_goes_to_the_hook() -> None:
    hook = make_converter().get_structure_hook(Invoice)
    record = {"amount_due": 1, "amount_paid": 0, "amount_remaining": 1, "currency": "usd"}
    invoice = hook({**record, "attempt_count": Decimal("2.0"), "created": "2025-01-01"}, Invoice)
    assert (invoice.attempt_count, invoice.created) == (2, dt.datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(TypeError, match="expected a string, got bool"):
        hook({**record, "status": True}, Invoice)
    with pytest.raises(ValueError, match="not a valid Unix time"):
        hook({**record, "created": 10**20}, Invoice)


@attrs.frozen(kw_only=True)
class _Defaults:
    name: str
    count: int = 7
    tags: list[str] = attrs.field(factory=list)
    note: str | None = None


def test_defaults_other_than_none_and_factories_are_kept() -> None:
    converter = cattrs.Converter()
    hook = make_structure_fn(_Defaults, converter, {str: Inline((("type(v) is str", "v"),))})
    assert hook({"name": "a"}, _Defaults) == _Defaults(name="a")
    made = hook({"name": "a", "count": 3, "note": None}, _Defaults)
    assert made == _Defaults(name="a", count=3)
    assert made.tags == []
    assert made.tags is not hook({"name": "a"}, _Defaults).tags


@attrs.frozen
class _Validated:
    value: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.define(slots=False)
class _NotSlotted:
    value: int


@attrs.frozen
class _PostInit:
    value: int

    def __attrs_post_init__(self) -> None:  # pragma: no cover - never built here
        pass


@attrs.frozen(cache_hash=True)
class _CachedHash:
    value: int


@pytest.mark.parametrize(
    ("cl", "message"),
    [
        (_CachedHash, "_CachedHash has slots that are not fields: ['_attrs_cached_hash']"),
        (_Validated, "_Validated.value needs attrs' __init__"),
        (_NotSlotted, "_NotSlotted is not a slotted attrs class"),
        (_PostInit, "_PostInit runs code in __init__"),
    ],
)
def test_a_class_whose_init_does_more_is_refused(cl: type, message: str) -> None:
    with pytest.raises(TypeError) as caught:
        make_structure_fn(cl, make_converter(), {})
    assert str(caught.value) == message
