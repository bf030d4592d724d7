"""The account listing's pages, ``GET /accounts``, decoded without I/O: ``(status, headers,
body)`` in, an :class:`AccountPage` or a typed error out.

docs/cloudflare-api.md, "Listing accounts": ``result`` is a list of accounts and the paging
lives in ``result_info`` only (``page``, ``per_page``, ``count``, ``total_count``,
``total_pages``); there is no ``has_more``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from asyncinvoices._errors import ResponseFormatError
from asyncinvoices._models import Account, PageNumbers
from asyncinvoices._wire.converter import (
    describe_failure,
    keep_unknown,
    known_fields,
    require_object,
    structure_str,
)
from asyncinvoices._wire.protocol import decode_envelope, non_negative_int

__all__ = [
    "LISTING_PATH",
    "AccountDecoder",
    "AccountPage",
    "ListingInfo",
    "make_account_converter",
]

LISTING_PATH: Final = "/accounts"


_ACCOUNT_FIELDS = known_fields(Account)


@attrs.frozen(kw_only=True)
class ListingInfo(PageNumbers):
    """The ``result_info`` block of a listing page: the paging numbers of every list
    endpoint, and the listing's own ``count`` (accounts on this page) and ``total_pages``;
    each ``None`` when absent."""

    count: int | None = None
    total_pages: int | None = None


@attrs.frozen(kw_only=True)
class AccountPage:
    """One decoded page of ``GET /accounts``.

    Attributes:
        number: The page number that was requested.
        accounts: The page's accounts, in the server's order.
        info: Its ``result_info``, or ``None`` when the server sent none.
        ray_id: The ``cf-ray`` header.
    """

    number: int
    accounts: tuple[Account, ...]
    info: ListingInfo | None
    ray_id: str | None = None


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)?")


def _structure_time(value: object, _: object) -> dt.datetime:
    # An ISO-8601 string such as 2014-03-01T12:21:02.0000Z (four fractional digits, which
    # datetime.fromisoformat refuses before Python 3.11): read by hand, returned in UTC.
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 time: {value[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    tz = dt.timezone.utc
    if zone not in (None, "Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    when = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return when.astimezone(dt.timezone.utc)


def _structure_mapping(value: object, _: object) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def make_account_converter() -> cattrs.Converter:
    """Return a new converter that reads a listed account strictly, naming bad fields."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, structure_str)
    converter.register_structure_hook(dt.datetime, _structure_time)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _structure_mapping)
    converter.register_structure_hook(
        Account,
        make_dict_structure_fn(
            Account, converter, _cattrs_forbid_extra_keys=False, extra=override(omit=True)
        ),
    )
    return converter


def _reason(exc: BaseException, _: object) -> str:
    return "required field missing" if isinstance(exc, KeyError) else str(exc)


class AccountDecoder:
    """Turns one response of ``GET /accounts`` into an :class:`AccountPage` or an exception.

    Up to the envelope, a response is decoded exactly as the invoice endpoint's is
    (:func:`~asyncinvoices._wire.protocol.decode_envelope`): the same redirect, status,
    content-type, JSON and ``success`` checks, the same errors. Only ``result`` (a list of
    accounts) and ``result_info`` are this decoder's own. Unknown account fields are kept in
    :attr:`Account.extra`.
    """

    def __init__(self) -> None:
        self._converter = make_account_converter()

    def __call__(
        self, status: int, headers: Mapping[str, str], body: bytes, page: int, now: dt.datetime
    ) -> AccountPage:
        """Decode the response to the request for ``page``.

        Raises:
            APIError: A subclass chosen by status and Cloudflare code, for error responses.
            ResponseFormatError: If the body is not the documented envelope.
        """
        payload, ray_id = decode_envelope(status, headers, body, page=page, now=now)
        try:
            return self._page(payload, page=page, ray_id=ray_id)
        except ResponseFormatError as exc:
            exc.ray_id = ray_id
            raise

    def _page(self, payload: dict[str, Any], *, page: int, ray_id: str | None) -> AccountPage:
        result = payload.get("result")
        if not isinstance(result, list):
            raise ResponseFormatError(
                f"page {page}: 'result' is missing or not a list", page=page, field="result"
            )
        block = payload.get("result_info")
        info: ListingInfo | None = None
        if isinstance(block, dict):
            info = ListingInfo(
                **{
                    key: non_negative_int(block.get(key), field=f"result_info.{key}", page=page)
                    for key in attrs.fields_dict(ListingInfo)
                }
            )
        elif block is not None:
            raise ResponseFormatError(
                f"page {page}: result_info is not an object", page=page, field="result_info"
            )
        accounts = tuple(
            self.structure(r, where=f"result[{i}]", page=page) for i, r in enumerate(result)
        )
        return AccountPage(number=page, accounts=accounts, info=info, ray_id=ray_id)

    def structure(self, record: object, *, where: str, page: int) -> Account:
        """Structure one element of ``result`` into an :class:`Account`.

        Raises:
            ResponseFormatError: Naming the field that is missing or of the wrong type.
        """
        record = require_object(record, where=where, page=page)
        try:
            account = self._converter.structure(record, Account)
        except Exception as exc:
            path, reason = describe_failure(exc, _reason)
            field = f"{where}.{path}" if path else where
            raise ResponseFormatError(
                f"page {page}: {field}: {reason}", page=page, field=field
            ) from exc
        keep_unknown(account, record, _ACCOUNT_FIELDS)
        return account
