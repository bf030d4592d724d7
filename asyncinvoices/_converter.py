"""Structuring decoded JSON into :class:`Invoice` objects with a private cattrs converter.

Following cattrs' advice, the library never touches the global converter: the configuration
lives in :func:`configure_converter` and :func:`make_converter` builds a fresh one, so an
application's own cattrs hooks cannot change how invoices are read and vice versa.

Reading an invoice takes up to three steps. A hand-written reader takes every record whose
values all have exactly the JSON types expected (the records a well-behaved server sends) and
builds the invoice in one call, several times faster than the cattrs-generated hook. Any other
record goes through cattrs: the fast converter decides whether it is acceptable, and when it
is not, a converter with detailed validation names the offending field in the
:class:`ResponseFormatError`. So the hand-written reader never decides what is rejected; it
only accepts what cattrs would accept, with the same result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import ResponseFormatError
from ._models import Invoice

__all__ = ["InvoiceStructurer", "configure_converter", "make_converter"]

_INVOICE_FIELDS = frozenset(a.name for a in attrs.fields(Invoice) if a.name != "extra")
_UTC = dt.timezone.utc


def _structure_decimal(value: object, _: object) -> Decimal:
    # json.loads is called with parse_float=Decimal, so fractional amounts arrive exact;
    # integers arrive as int. Anything else (strings, bools, NaN) is not a number.
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        # Only reachable for callers who decoded JSON without parse_float=Decimal: go
        # through repr, which round-trips the shortest decimal the float came from.
        result = Decimal(repr(value))
        if not result.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return result
    raise TypeError(f"expected a number, got {type(value).__name__}")


# The most digits an integer field may have when it arrives as a decimal (1E+5, 2.0): no count
# Cloudflare sends comes near 10**18.
_MAX_INT_DIGITS = 18


def _structure_int(value: object, _: object) -> int:
    # Numbers are typed `number` in Cloudflare's schema, so 2.0 is a valid 2
    # (CLOUDFLARE_API.md, "Response envelope"); 2.5, "2" and true are not.
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return value
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


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_created(value: object, _: object) -> dt.datetime:
    # Most likely Unix seconds (CLOUDFLARE_API.md marks it an inference), so an ISO-8601
    # string is accepted too; either way the result is timezone-aware UTC.
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"expected Unix seconds, got {type(value).__name__}")
    try:
        return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"not a valid Unix time: {value!r}") from exc


def configure_converter(converter: cattrs.Converter) -> None:
    """Register the hooks that read Cloudflare's invoice JSON strictly and exactly.

    Args:
        converter: The converter to configure; typically a fresh one from
            :func:`make_converter`.
    """
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(dt.datetime, _structure_created)
    converter.register_structure_hook(
        Invoice,
        make_dict_structure_fn(
            Invoice,
            converter,
            _cattrs_forbid_extra_keys=False,
            extra=override(omit=True),
        ),
    )


def make_converter(*, detailed_validation: bool = False) -> cattrs.Converter:
    """Return a new converter configured for Cloudflare's invoice JSON.

    Args:
        detailed_validation: Collect every error with the path to its field (slower).
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


def _read_plain(record: dict[str, Any]) -> Invoice | None:
    """Read a record whose values have exactly the expected JSON types, else return None.

    The same conversions as the cattrs hooks above, restricted to exact types: amounts are
    ``int`` or a finite ``Decimal``, optional fields are absent, ``null`` or of their exact
    type, and ``created`` is absent, ``null`` or whole Unix seconds. Anything else (a
    subclass, a float, an ISO string, a wrong type, a missing required field) returns None
    for cattrs to decide.
    """
    get: Callable[[str], Any] = record.get
    amount_due = get("amount_due")
    amount_paid = get("amount_paid")
    amount_remaining = get("amount_remaining")
    currency = get("currency")
    # Written out field by field: a loop over the names costs a third of the time saved.
    kind = type(amount_due)
    if kind is int:
        amount_due = Decimal(amount_due)
    elif kind is not Decimal or not amount_due.is_finite():
        return None
    kind = type(amount_paid)
    if kind is int:
        amount_paid = Decimal(amount_paid)
    elif kind is not Decimal or not amount_paid.is_finite():
        return None
    kind = type(amount_remaining)
    if kind is int:
        amount_remaining = Decimal(amount_remaining)
    elif kind is not Decimal or not amount_remaining.is_finite():
        return None
    if type(currency) is not str:
        return None
    id = get("id")
    created_by = get("created_by")
    description = get("description")
    invoice_origin = get("invoice_origin")
    invoice_pdf = get("invoice_pdf")
    status = get("status")
    attempt_count = get("attempt_count")
    attempted = get("attempted")
    auto_advance = get("auto_advance")
    created = get("created")
    if (
        (id is not None and type(id) is not str)
        or (created_by is not None and type(created_by) is not str)
        or (description is not None and type(description) is not str)
        or (invoice_origin is not None and type(invoice_origin) is not str)
        or (invoice_pdf is not None and type(invoice_pdf) is not str)
        or (status is not None and type(status) is not str)
        or (attempt_count is not None and type(attempt_count) is not int)
        or (attempted is not None and type(attempted) is not bool)
        or (auto_advance is not None and type(auto_advance) is not bool)
    ):
        return None
    if created is not None:
        if type(created) is not int:
            return None
        try:
            created = dt.datetime.fromtimestamp(float(created), tz=_UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return Invoice(
        amount_due=amount_due,
        amount_paid=amount_paid,
        amount_remaining=amount_remaining,
        currency=currency,
        id=id,
        attempt_count=attempt_count,
        attempted=attempted,
        auto_advance=auto_advance,
        created=created,
        created_by=created_by,
        description=description,
        invoice_origin=invoice_origin,
        invoice_pdf=invoice_pdf,
        status=status,
    )


class InvoiceStructurer:
    """Turns one decoded invoice record into an :class:`Invoice`, or raises a typed error.

    Unknown keys are kept verbatim in :attr:`Invoice.extra`, so fields Cloudflare adds later
    never break parsing and are never lost.
    """

    def __init__(self) -> None:
        # Built on first use: a well-behaved server never needs them, and generating the
        # cattrs hooks takes milliseconds of every client's start-up.
        self._fast_hook: Callable[[Mapping[str, Any], type[Invoice]], Invoice] | None = None
        self._detailed_converter: cattrs.Converter | None = None

    @property
    def _fast(self) -> Callable[[Mapping[str, Any], type[Invoice]], Invoice]:
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
        invoice = _read_plain(record)
        if invoice is None:
            try:
                invoice = self._fast(record, Invoice)
            except Exception:
                self._raise_detailed(record, where=where, page=page)
        if len(record) > len(_INVOICE_FIELDS) or not record.keys() <= _INVOICE_FIELDS:
            extra = {k: v for k, v in record.items() if k not in _INVOICE_FIELDS}
            if extra:
                # Both readers build the invoice with an empty `extra`; attaching the unknown
                # keys after the fact avoids a second pass through cattrs.
                object.__setattr__(invoice, "extra", extra)
        return invoice

    def structure_all(self, records: list[Any], *, page: int | None) -> tuple[Invoice, ...]:
        """Structure every record of ``result.invoices``, in order.

        The same as :meth:`structure` on each, with the record's path built only when the
        record is not plain.

        Raises:
            ResponseFormatError: As :meth:`structure`, naming ``invoices[i]``.
        """
        fields, count = _INVOICE_FIELDS, len(_INVOICE_FIELDS)
        invoices: list[Invoice] = []
        append = invoices.append
        for index, record in enumerate(records):
            invoice = _read_plain(record) if type(record) is dict else None
            if invoice is None:
                invoice = self.structure(record, where=f"invoices[{index}]", page=page)
            elif len(record) > count or not record.keys() <= fields:
                extra = {k: v for k, v in record.items() if k not in fields}
                if extra:
                    object.__setattr__(invoice, "extra", extra)
            append(invoice)
        return tuple(invoices)

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
