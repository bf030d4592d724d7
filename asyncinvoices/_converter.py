"""Structuring decoded JSON into :class:`Invoice` objects with a private cattrs converter.

Following cattrs' advice, the library never touches the global converter: the configuration
lives in :func:`configure_converter` and :func:`make_converter` builds a fresh one, so an
application's own cattrs hooks cannot change how invoices are read and vice versa.

Every record goes through the one ``Invoice`` hook that :func:`configure_converter` registers:
cattrs' generated dict hook, with a one-call hook registered for each exact field type,
``X | None`` included. Registering the optional types directly keeps cattrs' generic union
dispatch (``_structure_optional``, two calls and a type check per field) out of the hot path,
so a record costs the same whatever valid shape its values take: integers as ``1.0``, amounts
as integers or fractions, optional fields absent or ``null``, unknown fields, ``created`` as
Unix seconds or ISO-8601. When the fast converter refuses a record, a second converter with
the same hooks and detailed validation names the offending field in the
:class:`ResponseFormatError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NoReturn

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ConfigurationError, ResponseFormatError
from ._models import Invoice
from ._structure_gen import Inline, make_structure_fn

__all__ = [
    "InvoiceStructurer",
    "UnstructureMode",
    "configure_converter",
    "make_converter",
    "unstructure_invoice",
]

UnstructureMode = Literal["python", "json"]

_INVOICE_FIELDS = frozenset(a.name for a in attrs.fields(Invoice) if a.name != "extra")
_FIELD_COUNT = len(_INVOICE_FIELDS)
_UTC = dt.timezone.utc

# The most digits an integer field may have when it arrives as a decimal (1E+5, 2.0): no count
# Cloudflare sends comes near 10**18.
_MAX_INT_DIGITS = 18


def _structure_decimal(value: object, _: object) -> Decimal:
    # Amounts are typed `number` and CAN be fractional (CLOUDFLARE_API.md, "Response
    # envelope"): the JSON decoder hands fractions over as exact Decimals and integers as
    # int. Anything else (strings, bools, NaN) is not a number.
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():  # type: ignore[attr-defined]
            return value  # type: ignore[return-value]
        raise ValueError(f"not a finite number: {value!r}")
    if kind is int:
        return Decimal(value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, (int, Decimal)):
        return _structure_decimal(Decimal(value), _)
    if isinstance(value, float):
        # Only reachable for callers who decoded JSON without exact decimals: go through
        # repr, which round-trips the shortest decimal the float came from.
        return _structure_decimal(Decimal(repr(value)), _)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _structure_int(value: object, _: object) -> int:
    # Numbers are typed `number` in Cloudflare's schema, so 2.0 is a valid 2
    # (CLOUDFLARE_API.md, "Response envelope"); 2.5, "2" and true are not.
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > _MAX_INT_DIGITS:
        # int() of 1E+300000 takes seconds and grows quadratically with the exponent: refuse
        # it before converting, so one response cannot stall the client.
        raise ValueError(f"not an integer within range: {value!r}")
    if isinstance(value, (Decimal, float)):
        try:
            integral = value == int(value)
        except (ValueError, OverflowError, InvalidOperation) as exc:
            raise ValueError(f"not an integer: {value!r}") from exc
        if integral:
            return int(value)
        raise ValueError(f"not an integer: {value!r}")
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _structure_optional_int(value: object, _: object) -> int | None:
    if value is None or type(value) is int:
        return value
    return _structure_int(value, _)


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_optional_str(value: object, _: object) -> str | None:
    # The exact type first: the decoder gives exactly str, and the check is cheaper.
    if type(value) is str or value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_optional_bool(value: object, _: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_created(value: object, _: object) -> dt.datetime:
    # Most likely Unix seconds (CLOUDFLARE_API.md marks it an inference), so an ISO-8601
    # string is accepted too; either way the result is timezone-aware UTC.
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=_UTC)
        return parsed.astimezone(_UTC)
    if isinstance(value, dt.datetime):
        # Not from JSON: what Invoice.to_dict() gives, so that it structures back.
        return _as_utc(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"expected Unix seconds, got {type(value).__name__}")
    try:
        return dt.datetime.fromtimestamp(float(value), tz=_UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"not a valid Unix time: {value!r}") from exc


def _structure_optional_created(value: object, _: object) -> dt.datetime | None:
    if type(value) is int:
        # Whole Unix seconds, the usual form: one call less than the general hook.
        try:
            return dt.datetime.fromtimestamp(value, tz=_UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"not a valid Unix time: {value!r}") from exc
    return None if value is None else _structure_created(value, _)


# The largest Unix time taken inline (9999-12-31T23:59:59Z): below it, and from 0,
# `fromtimestamp` cannot fail on any platform, so the inline form equals the hook's.
_MAX_INLINE_TIME = 253402300799

# One hook per exact type of an Invoice field, with its usual cases inline (see
# `_structure_gen.py`). The optional ones are registered under their union type, so that cattrs
# calls them directly instead of dispatching through its generic optional hook. `Optional[X]`
# compares equal to `X | None`, whichever spelling a field uses.
_SAME = "v"
_HOOKS: tuple[tuple[Any, Callable[[Any, Any], Any], Inline], ...] = (
    (
        Decimal,
        _structure_decimal,
        Inline(
            (
                ("type(v) is int", "_Decimal(v)"),
                ("type(v) is _Decimal and v.is_finite()", _SAME),
            ),
            {"_Decimal": Decimal},
        ),
    ),
    (int, _structure_int, Inline((("type(v) is int", _SAME),))),
    (str, _structure_str, Inline((("type(v) is str", _SAME),))),
    (bool, _structure_bool, Inline((("type(v) is bool", _SAME),))),
    (dt.datetime, _structure_created, Inline(())),
    (int | None, _structure_optional_int, Inline((("v is None or type(v) is int", _SAME),))),
    (str | None, _structure_optional_str, Inline((("type(v) is str or v is None", _SAME),))),
    (bool | None, _structure_optional_bool, Inline((("v is None or type(v) is bool", _SAME),))),
    (
        dt.datetime | None,
        _structure_optional_created,
        Inline(
            (
                (
                    f"type(v) is int and 0 <= v <= {_MAX_INLINE_TIME}",
                    "_fromtimestamp(v, _UTC)",
                ),
                ("v is None", _SAME),
            ),
            {"_fromtimestamp": dt.datetime.fromtimestamp, "_UTC": _UTC},
        ),
    ),
)


def _invoice_hook(converter: cattrs.Converter) -> Callable[[Mapping[str, Any], Any], Invoice]:
    """Build the ``Invoice`` hook: the generated one, or cattrs' own where it validates in detail.

    Both call the same hook for each field and keep unknown fields in ``extra``.
    """
    if not converter.detailed_validation:
        inline = {type_: fast for type_, _, fast in _HOOKS}
        return make_structure_fn(Invoice, converter, inline, extra="extra")
    fields = _INVOICE_FIELDS
    generated = make_dict_structure_fn(
        Invoice,
        converter,
        _cattrs_forbid_extra_keys=False,
        extra=override(omit=True),
    )

    def structure_invoice(record: Mapping[str, Any], cl: Any) -> Invoice:
        invoice = generated(record, cl)
        # Unknown keys are kept verbatim (CLOUDFLARE_API.md: new fields may appear at any
        # time). More keys than fields means some are unknown; otherwise compare the keys.
        if len(record) > _FIELD_COUNT or not record.keys() <= fields:
            extra = {k: v for k, v in record.items() if k not in fields}
            if extra:
                object.__setattr__(invoice, "extra", extra)
        return invoice

    return structure_invoice


def _as_utc(value: dt.datetime) -> dt.datetime:
    # As the structuring hook reads a time without an offset: UTC, never the local zone.
    return value.astimezone(_UTC) if value.tzinfo else value.replace(tzinfo=_UTC)


def _iso_utc(value: dt.datetime) -> str:
    # The form the structuring hook reads back: ISO-8601, UTC, with a Z.
    return _as_utc(value).isoformat().replace("+00:00", "Z")


def _same(value: object) -> object:
    return value


def _configure_unstructuring(converter: cattrs.Converter, mode: UnstructureMode) -> None:
    """Register the hooks that turn an :class:`Invoice` back into the API's JSON object.

    ``python`` keeps amounts as exact Decimals and ``created`` as a UTC datetime; ``json``
    writes amounts as their exact decimal strings (never a float) and ``created`` as ISO-8601.
    """
    if mode == "json":
        converter.register_unstructure_hook(Decimal, str)
        converter.register_unstructure_hook(dt.datetime, _iso_utc)
    else:
        converter.register_unstructure_hook(Decimal, _same)
        converter.register_unstructure_hook(dt.datetime, _as_utc)
    generated = make_dict_unstructure_fn(Invoice, converter, extra=override(omit=True))
    unstructure = converter.unstructure

    def unstructure_invoice(invoice: Invoice) -> dict[str, Any]:
        record: dict[str, Any] = generated(invoice)
        if invoice.extra:
            # Unknown fields go back under their own names, unstructured by their runtime
            # type, so a Decimal nested in one follows the mode too.
            record.update(unstructure(dict(invoice.extra)))
        return record

    converter.register_unstructure_hook(Invoice, unstructure_invoice)


def configure_converter(converter: cattrs.Converter) -> None:
    """Register the hooks that read Cloudflare's invoice JSON strictly and exactly.

    The converter also unstructures an :class:`Invoice` into the API's JSON object, amounts
    as exact Decimals and ``created`` as a UTC datetime, which it structures back into an
    equal invoice.

    Args:
        converter: The converter to configure; typically a fresh one from
            :func:`make_converter`.
    """
    for type_, hook, _ in _HOOKS:
        converter.register_structure_hook(type_, hook)
    converter.register_structure_hook(Invoice, _invoice_hook(converter))
    _configure_unstructuring(converter, "python")


_UNSTRUCTURERS: dict[str, cattrs.Converter] = {}


def unstructure_invoice(invoice: Invoice, mode: UnstructureMode = "python") -> dict[str, Any]:
    """Return ``invoice`` as the API's JSON object, unknown fields included.

    Args:
        invoice: The invoice.
        mode: ``"python"``: amounts as exact :class:`~decimal.Decimal`, ``created`` as a UTC
            datetime; ``"json"``: amounts as exact decimal strings, ``created`` as ISO-8601,
            ready for :func:`json.dumps`.

    Returns:
        A new dict with the API's field names, ``None`` for fields not sent.

    Raises:
        ConfigurationError: If ``mode`` is neither ``"python"`` nor ``"json"``.
    """
    converter = _UNSTRUCTURERS.get(mode)
    if converter is None:
        if mode not in ("python", "json"):
            raise ConfigurationError(f"mode must be 'python' or 'json', got {mode!r}")
        # Built on first use, once per mode: generating the hooks takes milliseconds.
        converter = make_converter()
        if mode == "json":
            _configure_unstructuring(converter, "json")
        _UNSTRUCTURERS[mode] = converter
    record: dict[str, Any] = converter.unstructure(invoice, Invoice)
    return record


def make_converter(*, detailed_validation: bool = False) -> cattrs.Converter:
    """Return a new converter configured for Cloudflare's invoice JSON.

    Args:
        detailed_validation: Collect every error with the path to its field (slower).

    Returns:
        A converter of its own, sharing no hooks with cattrs' global one.
    """
    converter = cattrs.Converter(detailed_validation=detailed_validation)
    configure_converter(converter)
    return converter


def _describe(exc: BaseException) -> tuple[str, str]:
    """Return ``(field path, reason)`` for a failure of the detailed converter."""
    messages = cattrs.transform_error(exc, path="$") if isinstance(exc, Exception) else []
    if not messages:
        return "", str(exc)
    first = messages[0]
    reason, _, where = first.rpartition(" @ ")
    return where.removeprefix("$").lstrip("."), reason or first


class InvoiceStructurer:
    """Turns decoded invoice records into :class:`Invoice` objects, or raises a typed error.

    Unknown keys are kept verbatim in :attr:`Invoice.extra`, so fields Cloudflare adds later
    never break parsing and are never lost.
    """

    def __init__(self) -> None:
        # Both built on first use: generating cattrs hooks takes milliseconds of every
        # client's start-up, and a well-behaved server never needs the detailed one.
        self._fast_hook: Callable[[Mapping[str, Any], Any], Invoice] | None = None
        self._detailed_converter: cattrs.Converter | None = None

    @property
    def _hook(self) -> Callable[[Mapping[str, Any], Any], Invoice]:
        if self._fast_hook is None:
            converter = make_converter(detailed_validation=False)
            self._fast_hook = converter.get_structure_hook(Invoice)
        return self._fast_hook

    @property
    def _detailed(self) -> cattrs.Converter:
        if self._detailed_converter is None:
            self._detailed_converter = make_converter(detailed_validation=True)
        return self._detailed_converter

    def structure(self, record: object, *, where: str, page: int | None) -> Invoice:
        """Structure ``record`` (decoded JSON) into an :class:`Invoice`.

        Args:
            record: One element of ``result.invoices``.
            where: The record's path in the response, e.g. ``"invoices[3]"``, for errors.
            page: The requested page number, for errors.

        Returns:
            The invoice, with unknown keys in :attr:`Invoice.extra`.

        Raises:
            ResponseFormatError: If the record is not an object or a field has the wrong type
                or is missing; the error names the field.
        """
        if not isinstance(record, dict):
            raise ResponseFormatError(
                f"page {page}: {where} is {type(record).__name__}, not an object",
                page=page,
                field=where,
            )
        try:
            return self._hook(record, Invoice)
        except Exception:
            self._raise_detailed(record, where=where, page=page)

    def structure_all(self, records: list[Any], *, page: int | None) -> tuple[Invoice, ...]:
        """Structure every record of ``result.invoices``, in order.

        The same as :meth:`structure` on each, with the record's path built only when a
        record is refused.

        Args:
            records: The decoded ``result.invoices`` list.
            page: The requested page number, for errors.

        Returns:
            The invoices, in the order of ``records``.

        Raises:
            ResponseFormatError: As :meth:`structure`, naming ``invoices[i]``.
        """
        hook = self._hook
        try:
            # A decoded record that is not a JSON object fails here too: a list, a string or
            # a number cannot be indexed by a field name.
            return tuple([hook(record, Invoice) for record in records])
        except Exception:
            pass  # one record is refused: the loop below finds it and names it
        return tuple(
            self.structure(record, where=f"invoices[{index}]", page=page)
            for index, record in enumerate(records)
        )

    def _raise_detailed(self, record: dict[str, Any], *, where: str, page: int | None) -> NoReturn:
        try:
            self._detailed.structure(record, Invoice)
        except Exception as exc:
            field, reason = _describe(exc)
            path = f"{where}.{field}" if field else where
            raise ResponseFormatError(
                f"page {page}: {path}: {reason}", page=page, field=path
            ) from exc
        # The fast converter failed where the detailed one did not: report it anyway.
        raise ResponseFormatError(  # pragma: no cover - the two converters share their hooks
            f"page {page}: {where}: could not be read", page=page, field=where
        )
