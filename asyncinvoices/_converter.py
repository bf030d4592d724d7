"""Structuring decoded JSON into :class:`Invoice` objects with a private cattrs converter.

Following cattrs' advice, the library never touches the global converter: the configuration
lives in :func:`configure_converter` and :func:`make_converter` builds a fresh one, so an
application's own cattrs hooks cannot change how invoices are read and vice versa.

Two converters are built. The fast one structures every invoice on the happy path; when it
fails, the same record goes through a converter with cattrs' detailed validation, only to name
the offending field in the :class:`ResponseFormatError`.
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


def _structure_int(value: object, _: object) -> int:
    # Numbers are typed `number` in Cloudflare's schema, so 2.0 is a valid 2
    # (CLOUDFLARE_API.md, "Response envelope"); 2.5, "2" and true are not.
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return value
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


class InvoiceStructurer:
    """Turns one decoded invoice record into an :class:`Invoice`, or raises a typed error.

    Unknown keys are kept verbatim in :attr:`Invoice.extra`, so fields Cloudflare adds later
    never break parsing and are never lost.
    """

    def __init__(self) -> None:
        self._fast: Callable[[Mapping[str, Any], type[Invoice]], Invoice] = make_converter(
            detailed_validation=False
        ).get_structure_hook(Invoice)
        self._detailed = make_converter(detailed_validation=True)

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
        try:
            invoice = self._fast(record, Invoice)
        except Exception:
            self._raise_detailed(record, where=where, page=page)
        if len(record) > len(_INVOICE_FIELDS) or not record.keys() <= _INVOICE_FIELDS:
            extra = {k: v for k, v in record.items() if k not in _INVOICE_FIELDS}
            if extra:
                # The fast hook built the invoice with an empty `extra`; attaching the unknown
                # keys after the fact avoids a second pass through cattrs.
                object.__setattr__(invoice, "extra", extra)
        return invoice

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
