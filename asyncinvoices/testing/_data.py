"""The invoices of one fake account: generated lazily, rendered fast, mutable.

An account never stores its invoices. Each invoice is a pure function of the account's seed
and the invoice's *serial* (0, 1, 2, ... in creation order), so an account of two million
invoices costs a ``range`` until it is first mutated, and an ``array('q')`` of serials after.

Serials are kept ASCENDING (oldest first); the server order of the API is newest first, so
index ``i`` of the server order is ``serials[len - 1 - i]``. Keeping them ascending makes
the two mutations the drift faults need cheap: new invoices are appended at the end (they
are the newest) and a serial's position is found by bisection.

The invoice type (auto or manual top-up) must be known for every serial at once to filter a
page by ``type``; hashing two million serials one by one would take seconds, so types come
from seeded random bytes generated in chunks and mapped to 0/1 with ``bytes.translate``,
which runs at C speed.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
from array import array
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, Literal

from . import _shapes
from ._shapes import SHAPES, Shapes

__all__ = [
    "HISTORIES",
    "ORDERS",
    "REALISTIC_END",
    "SHAPES",
    "TYPES",
    "AccountData",
    "History",
    "InvoiceType",
    "Order",
    "Shapes",
    "derive_seed",
    "hex_digest",
]

InvoiceType = Literal["all", "auto", "manual"]

History = Literal["uniform", "realistic"]
"""How an account's invoices are spread over time and statuses (see `AccountData`)."""
HISTORIES: Final = ("uniform", "realistic")

Order = Literal["newest", "oldest"]
"""The order the server lists invoices in: newest first as Cloudflare does, or the reverse."""
ORDERS: Final = ("newest", "oldest")

#: The values the endpoint accepts for ``type`` (docs/cloudflare-api.md, "The endpoint" [D]).
TYPES: Final = ("all", "auto", "manual")

_BASE62: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Maps any byte to a base62 character. The modulo bias is irrelevant for fake ids and the
# table lets ``bytes.translate`` turn a digest into id characters in one C call.
_BYTE_TO_BASE62: Final = bytes(_BASE62[b % 62] for b in range(256))

# Serials are encoded, scrambled, in the last 9 id characters so that an id can be mapped
# back to its serial (``delete_invoices``) without scanning the account. The scrambling is
# a bijection on 48 bits: xor with a per-account key, multiply by an odd constant, xorshift.
_SERIAL_BITS: Final = 48
_SERIAL_MOD: Final = 1 << _SERIAL_BITS
_SERIAL_MASK: Final = _SERIAL_MOD - 1
_MUL_A: Final = 0x9E3779B97F4B & _SERIAL_MASK | 1
_MUL_B: Final = 0xC2B2AE3D27D5 & _SERIAL_MASK | 1
_INV_A: Final = pow(_MUL_A, -1, _SERIAL_MOD)
_INV_B: Final = pow(_MUL_B, -1, _SERIAL_MOD)
_SERIAL_CHARS: Final = 9  # 62**9 > 2**48
_ID_RANDOM_CHARS: Final = 15  # + 9 serial characters = Stripe's 24 characters after "in_"
_ID_PREFIX: Final = "in_"

_TYPE_CHUNK: Final = 1 << 16
_KEEP_TYPE: Final = {
    "auto": bytes(range(256)),
    # Inverts the 0/1 type bytes so ``itertools.compress`` keeps the manual invoices.
    "manual": bytes([1, 0, *range(2, 256)]),
}

_BASE62_TEXT: Final = _BASE62.decode()
_BASE62_PAIRS: Final = tuple(a + b for a in _BASE62_TEXT for b in _BASE62_TEXT)


def _status_entry(
    status: str, counts: tuple[int, int, int, int]
) -> tuple[str, str, tuple[str, ...]]:
    """Precompute the JSON pieces that depend on an invoice's status."""
    # Stripe semantics: a paid invoice has collected everything; a void one owes nothing;
    # draft, open and uncollectible ones still owe the whole amount.
    paid = "{0}" if status == "paid" else "0"
    remaining = "{0}" if status in ("draft", "open", "uncollectible") else "0"
    amounts = f'"amount_due":{{0}},"amount_paid":{paid},"amount_remaining":{remaining}'
    advance = "true" if status in ("draft", "open") else "false"
    attempts = tuple(
        f'"attempt_count":{n},"attempted":{"true" if n else "false"},"auto_advance":{advance}'
        for n in counts
    )
    return status, amounts, attempts


# Invoice status by one digest byte: mostly paid, as on a healthy account. The five values
# are the ones the invoice-preview endpoint documents (docs/cloudflare-api.md, "Response envelope").
_PAID: Final = _status_entry("paid", (1, 1, 1, 2))
_OPEN: Final = _status_entry("open", (0, 1, 2, 3))
_VOID: Final = _status_entry("void", (0, 1, 0, 1))
_UNCOLLECTIBLE: Final = _status_entry("uncollectible", (1, 2, 3, 4))
_DRAFT: Final = _status_entry("draft", (0, 0, 0, 0))
_STATUS_BY_BYTE: Final = tuple(
    _PAID if b < 210 else _OPEN if b < 230 else _VOID if b < 240 else
    _UNCOLLECTIBLE if b < 248 else _DRAFT
    for b in range(256)
)  # fmt: skip
_AUTO_AMOUNTS: Final = (1000, 2000, 2500, 5000, 10000, 25000)  # cents, typical top-up sizes
_N_AUTO_AMOUNTS: Final = len(_AUTO_AMOUNTS)
_SYSTEM: Final = '"system"'
_USERS: Final = tuple(f'"user-{n}@example.com"' for n in range(1, 41))
_USD: Final = '"usd"'
_EUR: Final = '"eur"'
_ORIGIN: Final = (
    '"description":"Manual top-up of AI Gateway credits","invoice_origin":"manual_top_up"',
    '"description":"Automatic top-up of AI Gateway credits","invoice_origin":"auto_top_up"',
)

#: 2023-01-01T00:00:00Z; invoice ``created`` times grow from here in serial order.
_EPOCH: Final = 1_672_531_200
_SPAN_SECONDS: Final = 2 * 365 * 86_400

#: 2026-12-01T00:00:00Z, the Unix time at which a realistic history ends: its invoices were
#: created over the three years before, and invoices created later follow one a minute.
REALISTIC_END: Final = 1_796_083_200
_REALISTIC_SPAN: Final = 3 * 365 * 86_400
_REALISTIC_NEW_STEP: Final = 60
# Invoices younger than this are often not paid yet; older ones were paid within days, or
# voided (docs/cloudflare-api.md: Stripe-backed billing, status draft/open/paid/uncollectible/void).
_RECENT_SECONDS: Final = 3 * 86_400
_RECENT_STATUS_BY_BYTE: Final = tuple(
    _OPEN if b < 96 else _DRAFT if b < 112 else _PAID for b in range(256)
)
_SETTLED_STATUS_BY_BYTE: Final = tuple(_PAID if b < 248 else _VOID for b in range(256))


def hex_digest(*parts: object, size: int = 16) -> str:
    """Return ``size`` bytes of a stable hash of ``parts`` as lowercase hex.

    Args:
        parts: Values whose ``repr`` is hashed, in order.
        size: Digest size in bytes (the result has twice as many characters).
    """
    data = "\x1f".join(map(repr, parts)).encode()
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def derive_seed(*parts: object) -> int:
    """Return a stable 63-bit seed derived from ``parts`` (never Python's salted ``hash``).

    Args:
        parts: Values that identify what the seed is for.
    """
    return int(hex_digest(*parts, size=8), 16) >> 1


class AccountData:
    """The ordered, mutable invoice list of one fake account.

    Args:
        account_id: The account's 32-hex-character id.
        seed: Everything about the invoices is derived from it.
        invoices: How many invoices the account starts with.
        auto_fraction: Share of invoices that are auto top-ups, 0.0 to 1.0 (resolution 1/256).
        shapes: ``"plain"``, or ``"mixed"`` to serve about a third of the invoices in other
            shapes the schema allows (``_shapes.py``).
        history: ``"uniform"``: the invoices are a day (small accounts) to a minute (huge
            ones) apart from 2023-01-01, and every status is as likely at any age (82 %
            paid, 8 % open, 4 % void, 3 % uncollectible, 2 % draft). ``"realistic"``: they
            are spread evenly over the three years before `REALISTIC_END`; those of the last
            three days are 37 % open, 6 % draft and the rest paid; older ones are paid (97 %)
            or void (3 %), except that one account in four has one invoice of between six
            months and two and a half years still open. Invoices created later (`create`)
            follow one a minute after `REALISTIC_END`, recent.
        order: ``"newest"`` lists newest first, as Cloudflare does; ``"oldest"`` the reverse.
    """

    def __init__(
        self,
        account_id: str,
        seed: int,
        invoices: int,
        auto_fraction: float,
        shapes: Shapes = "plain",
        *,
        history: History = "uniform",
        order: Order = "newest",
    ) -> None:
        if history not in HISTORIES:
            raise ValueError(f"history must be one of {HISTORIES}, got {history!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if invoices < 0:
            raise ValueError(f"invoices must be >= 0, got {invoices}")
        if not 0.0 <= auto_fraction <= 1.0:
            raise ValueError(f"auto_fraction must be between 0 and 1, got {auto_fraction}")
        self.account_id: Final = account_id
        self.seed: Final = seed
        self._mixed = shapes == "mixed"
        #: Increases on every mutation; part of every page-cache key.
        self.version = 0
        self._serials: range | array[int] = range(invoices)
        self._next_serial = invoices
        # Copying a keyed hasher is cheaper than constructing one per invoice.
        self._hasher = hashlib.blake2b(digest_size=32, key=seed.to_bytes(8, "little"))
        self._serial_key = derive_seed("serial-key", seed) & _SERIAL_MASK
        # One day apart for small accounts, a minute apart for huge ones, so that ``created``
        # stays in a plausible two-to-four-year span whatever the size.
        self._step = max(60, min(86_400, _SPAN_SECONDS // max(invoices, 1)))
        self._realistic = history == "realistic"
        self._oldest_first = order == "oldest"
        self._initial = invoices
        self._stale_open = -1  # the serial of the odd old invoice still open, if any
        if self._realistic:
            self._step = max(1, _REALISTIC_SPAN // max(invoices, 1))
            choice = derive_seed("stale-open", seed)
            age = (180 + choice // 4 % 730) * 86_400
            if choice % 4 == 0 and age < invoices * self._step:
                self._stale_open = invoices - 1 - age // self._step
        threshold = round(auto_fraction * 256)
        self._type_table = bytes(1 if b < threshold else 0 for b in range(256))
        self._types = bytearray()
        self._filtered: dict[str, array[int]] = {}
        #: Fields set by `update`, per serial, served over whatever shape the invoice has.
        self._updates: dict[int, dict[str, Any]] = {}

    # ----------------------------------------------------------------- reading

    def count(self, type: InvoiceType = "all") -> int:
        """Return how many invoices of ``type`` the account has now.

        Args:
            type: ``"all"``, ``"auto"`` or ``"manual"``.
        """
        return len(self._ordered(type))

    def page_serials(self, type: InvoiceType, offset: int, size: int) -> Sequence[int]:
        """Return the serials of the ``size`` invoices from ``offset`` in server order.

        Args:
            type: ``"all"``, ``"auto"`` or ``"manual"``.
            offset: 0-based index in the newest-first order.
            size: How many (fewer at the end of the list).
        """
        ordered = self._ordered(type)
        if self._oldest_first:
            return ordered[offset : offset + size] if size > 0 and offset >= 0 else ()
        end = len(ordered) - offset
        if end <= 0 or size <= 0:
            return ()
        return ordered[max(end - size, 0) : end][::-1]

    def server_order(self, type: InvoiceType = "all") -> Sequence[int]:
        """Return every serial of ``type`` in server order (newest first, unless ``order``).

        Args:
            type: ``"all"``, ``"auto"`` or ``"manual"``.
        """
        ordered = self._ordered(type)
        return ordered[:] if self._oldest_first else ordered[::-1]

    def render_array(self, serials: Iterable[int]) -> bytes:
        """Return the JSON array of the given invoices, in the given order.

        Args:
            serials: Serial numbers, typically from `page_serials`.
        """
        # The hot path, direct when every invoice is tidy.
        render = self.render if self._mixed or self._updates else self._render_tidy
        return ("[" + ",".join(map(render, serials)) + "]").encode()

    def render_with(self, serial: int, field: str, value: Any) -> str:
        """Return one invoice's JSON text with ``field`` replaced by (or set to) ``value``.

        Args:
            serial: The invoice's serial number.
            field: The key to replace or add.
            value: Any JSON-serialisable value.
        """
        # Numbers are kept as their original text so that the other amounts stay exact.
        return _merge(self.render(serial), {field: value})

    def invoice(self, serial: int) -> dict[str, Any]:
        """Return one invoice as the dict ``json.loads`` gives, amounts as exact numbers.

        Fractional amounts are `decimal.Decimal` so that ``640.19`` stays exact; whole amounts
        are ``int``.

        Args:
            serial: The invoice's serial number.
        """
        result: dict[str, Any] = json.loads(self.render(serial), parse_float=Decimal)
        return result

    def expected(self, serial: int) -> dict[str, Any]:
        """Return the structured values a client must make of one invoice, in any shape.

        Keys are the documented fields plus ``extra`` (unknown fields); amounts are
        `decimal.Decimal`, ``created`` an aware UTC datetime, fields left out or null None.

        Args:
            serial: The invoice's serial number.
        """
        values = _shapes.expected(self._reshape(serial), self._render_tidy(serial))
        for field, value in self._updates.get(serial, {}).items():
            exact = Decimal(value) if isinstance(value, _RawNumber) else value
            _shapes.expect_update(values, field, exact)
        return values

    def invoice_id(self, serial: int) -> str:
        """Return the Stripe-like id (``in_`` + 24 base62 characters) of one invoice.

        Args:
            serial: The invoice's serial number.
        """
        hasher = self._hasher.copy()
        hasher.update(serial.to_bytes(8, "little"))
        return self._id(hasher.digest(), serial)

    def serial_of(self, invoice_id: str) -> int | None:
        """Return the serial of a current invoice of this account, or None.

        Args:
            invoice_id: An id as `invoice_id` renders it.
        """
        code = invoice_id[-_SERIAL_CHARS:]
        if not invoice_id.startswith(_ID_PREFIX) or len(code) != _SERIAL_CHARS:
            return None
        digits = [_BASE62.find(char) for char in code.encode()]
        if min(digits) < 0:
            return None
        x = digits[0] % 2  # see `_id`: the leading digit is spread over all characters
        for digit in digits[1:]:
            x = x * 62 + digit
        if x >= _SERIAL_MOD:
            return None
        x ^= x >> 24
        x = x * _INV_B & _SERIAL_MASK
        x ^= x >> 24
        x = x * _INV_A & _SERIAL_MASK
        serial = x ^ self._serial_key
        if serial >= self._next_serial or self.invoice_id(serial) != invoice_id:
            return None
        index = bisect.bisect_left(self._serials, serial)
        if index == len(self._serials) or self._serials[index] != serial:
            return None  # it existed once and was deleted
        return serial

    # ---------------------------------------------------------------- mutating

    def create(self, n: int) -> list[str]:
        """Add ``n`` invoices at the head of the server order and return their ids.

        The newest comes first in the returned list, as the API would list them.

        Args:
            n: How many invoices to create (>= 0).

        Raises:
            ValueError: If ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        new = range(self._next_serial, self._next_serial + n)
        if not n:
            return []
        self._next_serial += n
        self._mutable().extend(new)
        for type, filtered in self._filtered.items():
            keep = self._types_of(new).translate(_KEEP_TYPE[type])
            filtered.extend(itertools.compress(new, keep))
        self.version += 1
        return [self.invoice_id(serial) for serial in reversed(new)]

    def update(self, serial: int, fields: dict[str, Any]) -> None:
        """Set ``fields`` of one invoice (JSON values; None serves ``null``).

        Args:
            serial: The invoice's serial number.
            fields: Field names and their new values.

        Raises:
            ValueError: If a value cannot be written as JSON, or ``id`` is among the fields.
        """
        if "id" in fields:
            raise ValueError("an invoice's id cannot change: delete it and create another")
        # A Decimal is written as its exact text, as Cloudflare writes amounts.
        values = {k: _RawNumber(v) if isinstance(v, Decimal) else v for k, v in fields.items()}
        for field, value in values.items():
            try:
                _dump(value)
            except (TypeError, ValueError):
                raise ValueError(f"{field}={value!r} cannot be written as JSON") from None
        self._updates.setdefault(serial, {}).update(values)
        self.version += 1

    def delete_serials(self, serials: Iterable[int]) -> int:
        """Remove the given serials, returning how many were present.

        Args:
            serials: Serial numbers; absent ones are ignored.
        """
        doomed = set(serials)
        if not doomed:
            return 0
        removed = 0
        for target in [self._mutable(), *self._filtered.values()]:
            count = _remove_sorted(target, doomed)
            if target is self._serials:
                removed = count
        if removed:
            self.version += 1
        return removed

    def delete_at(self, position: int, n: int) -> int:
        """Remove ``n`` invoices starting at ``position`` of the all-types server order.

        Args:
            position: 0-based index, newest first.
            n: How many; fewer are removed at the end of the list.

        Returns:
            How many invoices were removed.
        """
        return self.delete_serials(self.page_serials("all", max(position, 0), n))

    # ---------------------------------------------------------------- internals

    def _mutable(self) -> array[int]:
        if isinstance(self._serials, range):
            self._serials = array("q", self._serials)
        return self._serials

    def _ordered(self, type: InvoiceType) -> range | array[int]:
        """Return the ascending serials of ``type``, building the filtered list on demand."""
        if type == "all":
            return self._serials
        filtered = self._filtered.get(type)
        if filtered is None:
            keep = self._types_of(self._serials).translate(_KEEP_TYPE[type])
            filtered = array("q", itertools.compress(self._serials, keep))
            self._filtered[type] = filtered
        return filtered

    def _types_of(self, serials: range | array[int]) -> bytes:
        """Return one byte per serial: 1 for an auto top-up, 0 for a manual one."""
        if not serials:
            return b""
        self._grow_types(max(serials[0], serials[-1]) + 1)
        if isinstance(serials, range) and serials.step == 1:
            return bytes(self._types[serials.start : serials.stop])
        return bytes(map(self._types.__getitem__, serials))

    def _grow_types(self, upto: int) -> None:
        while len(self._types) < upto:
            chunk = len(self._types) // _TYPE_CHUNK
            rng = random.Random(derive_seed("types", self.seed, chunk))
            self._types += rng.randbytes(_TYPE_CHUNK).translate(self._type_table)

    def _id(self, digest: bytes, serial: int) -> str:
        x = serial ^ self._serial_key
        x = x * _MUL_A & _SERIAL_MASK
        x ^= x >> 24
        x = x * _MUL_B & _SERIAL_MASK
        x ^= x >> 24
        # 48 bits = one leading digit (0 or 1) + four base-3844 "digits" of two characters.
        # The leading digit is spread over all 62 characters (it is recovered as ``% 2``) so
        # that no id position shows a pattern.
        x, d4 = divmod(x, 3844)
        x, d3 = divmod(x, 3844)
        lead, x = divmod(x, 14_776_336)
        d1, d2 = divmod(x, 3844)
        pairs = _BASE62_PAIRS
        return (
            f"{_ID_PREFIX}{digest[:_ID_RANDOM_CHARS].translate(_BYTE_TO_BASE62).decode()}"
            f"{_BASE62_TEXT[lead + 2 * (d4 % 31)]}{pairs[d1]}{pairs[d2]}{pairs[d3]}{pairs[d4]}"
        )

    def render(self, serial: int) -> str:
        """Return the JSON text of one invoice, as served (in its mixed shape, if any).

        Args:
            serial: The invoice's serial number.
        """
        text = self._render_tidy(serial)
        reshape = self._reshape(serial)
        if reshape is not None:
            text = _shapes.apply(reshape, text)
        updates = self._updates.get(serial)
        return text if updates is None else _merge(text, updates)

    def _reshape(self, serial: int) -> _shapes.Reshape | None:
        """Return how the invoice departs from the tidy shape; None when it does not."""
        if not self._mixed:
            return None
        hasher = self._hasher.copy()
        hasher.update(serial.to_bytes(8, "little"))
        return _shapes.choose(hasher.digest()[27:31])

    def _render_tidy(self, serial: int) -> str:
        """Return the JSON text of one invoice in the tidy shape.

        This is the hot path of a cold page (a thousand calls for a page of 1000), hence
        one f-string over precomputed pieces rather than a dict and ``json.dumps``.

        Args:
            serial: The invoice's serial number.
        """
        hasher = self._hasher.copy()
        hasher.update(serial.to_bytes(8, "little"))
        raw = hasher.digest()
        invoice_id = self._id(raw, serial)
        types = self._types
        if serial >= len(types):
            self._grow_types(serial + 1)
        auto = types[serial]
        if auto:
            hundredths = _AUTO_AMOUNTS[raw[17] % _N_AUTO_AMOUNTS] * 100
        else:
            hundredths = (500 + int.from_bytes(raw[17:20], "little") % 99_500) * 100
        if raw[20] < 64:  # a quarter of the amounts carry fractional cents, e.g. 640.19
            hundredths += 1 + raw[21] % 99
            due = f"{hundredths // 100}.{hundredths % 100:02d}"
        else:
            due = str(hundredths // 100)
        if self._realistic:
            created, (status, amounts, attempts) = self._realistic_life(serial, raw)
        else:
            status, amounts, attempts = _STATUS_BY_BYTE[raw[15]]
            step = self._step
            created = _EPOCH + serial * step + int.from_bytes(raw[23:26], "little") % step
        return (
            f'{{"id":"{invoice_id}",'
            f"{amounts.format(due)},{attempts[raw[22] & 3]},"
            f'"created":{created},'
            f'"created_by":{_SYSTEM if auto else _USERS[raw[26] % 40]},'
            f'"currency":{_EUR if raw[16] < 13 else _USD},'
            f"{_ORIGIN[auto]},"
            f'"invoice_pdf":"https://pay.stripe.com/invoice/acct_1AiGateway/{invoice_id}/pdf",'
            f'"status":"{status}"}}'
        )

    def _realistic_life(
        self, serial: int, raw: bytes
    ) -> tuple[int, tuple[str, str, tuple[str, ...]]]:
        """Return the creation time and status entry of an invoice of a realistic history."""
        if serial >= self._initial:
            created = REALISTIC_END + (serial - self._initial + 1) * _REALISTIC_NEW_STEP
            return created, _RECENT_STATUS_BY_BYTE[raw[15]]
        step = self._step
        start = REALISTIC_END - self._initial * step
        created = start + serial * step + int.from_bytes(raw[23:26], "little") % step
        if serial == self._stale_open:
            return created, _OPEN
        if REALISTIC_END - created < _RECENT_SECONDS:
            return created, _RECENT_STATUS_BY_BYTE[raw[15]]
        return created, _SETTLED_STATUS_BY_BYTE[raw[15]]


def _merge(text: str, updates: dict[str, Any]) -> str:
    """Return the JSON object ``text`` with ``updates`` set, other numbers kept as written."""
    pairs: dict[str, Any] = json.loads(text, parse_int=_RawNumber, parse_float=_RawNumber)
    pairs.update(updates)
    return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in pairs.items()) + "}"


class _RawNumber(str):
    """A JSON number kept as its source text (see `AccountData.render_with`)."""

    __slots__ = ()


def _dump(value: Any) -> str:
    return value if isinstance(value, _RawNumber) else json.dumps(value)


def _remove_sorted(target: array[int], doomed: set[int]) -> int:
    """Remove the members of ``doomed`` from the ascending ``target``; return how many."""
    if len(doomed) > 64:
        # Many deletions: one linear rebuild beats many memmoves.
        kept = array("q", itertools.filterfalse(doomed.__contains__, target))
        removed = len(target) - len(kept)
        target[:] = kept
        return removed
    removed = 0
    for serial in doomed:
        index = bisect.bisect_left(target, serial)
        if index < len(target) and target[index] == serial:
            del target[index]
            removed += 1
    return removed
