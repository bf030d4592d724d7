"""The mirror's pure parts: database URLs, canonical field texts, diffs, keys, the report."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from asyncinvoices import AccountSync, ConfigurationError, DatabaseURL, Invoice, SyncReport
from asyncinvoices._cli._sync import database_url_from, render_report
from asyncinvoices._mirror.records import (
    FIELDS,
    RUN_COLUMNS,
    TEXT_ROWS,
    TYPED_ROWS,
    KeyAssigner,
    canonical_json,
    changes_of,
    derived_key,
    diff,
    format_timestamp,
    parse_timestamp,
    to_text,
)
from asyncinvoices._mirror.schema import migrations
from asyncinvoices._mirror.statements import SyncStatements, sync_statements
from asyncinvoices._mirror.types import parse_database_url

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqlite:///invoices.db", DatabaseURL(scheme="sqlite", path="invoices.db")),
        ("sqlite:////var/lib/a b.db", DatabaseURL(scheme="sqlite", path="/var/lib/a b.db")),
        ("sqlite:///:memory:", DatabaseURL(scheme="sqlite", path=":memory:")),
        (
            "postgresql://bill:p%40ss@db.example:6432/billing",
            DatabaseURL(
                scheme="postgresql",
                host="db.example",
                port=6432,
                user="bill",
                password="p@ss",
                database="billing",
            ),
        ),
        ("postgres://db/x", DatabaseURL(scheme="postgresql", host="db", database="x")),
    ],
)
def test_database_urls_parse(text: str, expected: DatabaseURL) -> None:
    """SQLite paths relative and absolute; libpq-style PostgreSQL URLs, percent-decoded."""
    assert parse_database_url(text) == expected


def test_redacted_url_and_repr_hide_the_password() -> None:
    """The password is *** in redacted and str, and absent from repr."""
    url = parse_database_url("postgresql://bill:s3cr%2Ft@[::1]:5432/billing")

    assert url.redacted == "postgresql://bill:***@[::1]:5432/billing"
    assert str(url) == url.redacted
    assert "s3cr" not in repr(url)
    assert parse_database_url("postgresql://h/d").redacted == "postgresql://h/d"
    assert parse_database_url("postgresql://bill@h/d").redacted == "postgresql://bill@h/d"


def test_an_sqlite_url_names_its_absolute_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slashes resolve against the working directory, four are absolute; display shows
    the file beside the URL; PostgreSQL and :memory: have no file."""
    monkeypatch.chdir(tmp_path)
    relative = parse_database_url("sqlite:///var/lib/x.db")
    absolute = parse_database_url("sqlite:////var/lib/x.db")

    assert relative.file == f"{tmp_path}/var/lib/x.db"
    assert relative.display == f"sqlite:///var/lib/x.db (the file {tmp_path}/var/lib/x.db)"
    assert absolute.file == "/var/lib/x.db"
    assert absolute.display == "sqlite:////var/lib/x.db (the file /var/lib/x.db)"
    assert parse_database_url("sqlite:///a/../b.db").file == f"{tmp_path}/b.db"
    assert parse_database_url("sqlite:///:memory:").file is None
    assert parse_database_url("sqlite:///:memory:").display == "sqlite:///:memory:"
    postgres = parse_database_url("postgresql://bill:pw@h/d")
    assert (postgres.file, postgres.display) == (None, "postgresql://bill:***@h/d")


def test_database_url_comes_from_option_then_environment_then_default() -> None:
    """--db wins over ASYNCINVOICES_DB, which wins over sqlite:///invoices.db."""
    env = {"ASYNCINVOICES_DB": "sqlite:///env.db"}
    assert database_url_from(env, "sqlite:///opt.db") == "sqlite:///opt.db"
    assert database_url_from(env) == "sqlite:///env.db"
    assert database_url_from({}) == "sqlite:///invoices.db"


def test_bad_url_raises_configuration_error() -> None:
    """An unknown scheme is a ConfigurationError that does not repeat the URL."""
    with pytest.raises(ConfigurationError) as caught:
        parse_database_url("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(caught.value)


def test_canonical_texts_are_the_same_for_python_and_database_values() -> None:
    """Decimal, SQLite's 0/1 and text, asyncpg's spaced JSON: one text per value."""
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert to_text("amount_due", Decimal("640.19")) == "640.19"
    assert to_text("amount_due", "640.19") == "640.19"
    assert to_text("attempted", True) == "true"
    assert to_text("attempted", 0) == "false"
    assert to_text("attempt_count", 3) == "3"
    assert to_text("created", created) == "2026-01-02T03:04:05Z"
    assert to_text("extra", {"b": [1, Decimal("0.1")], "a": None}) == '{"a":null,"b":[1,0.1]}'
    assert to_text("extra", '{"b": [1, 0.1], "a": null}') == '{"a":null,"b":[1,0.1]}'
    assert to_text("status", None) is None


def test_canonical_json_keeps_decimal_digits_and_sorts_keys() -> None:
    """A decimal no float can hold keeps every digit; nested keys are sorted."""
    value = {"z": {"y": 1, "x": True}, "n": Decimal("98765432109876543.21")}
    assert canonical_json(value) == '{"n":98765432109876543.21,"z":{"x":true,"y":1}}'


def test_timestamps_round_trip_and_fixed_width_sorts() -> None:
    """ISO-8601 UTC with Z; fixed width always has six fraction digits."""
    moment = dt.datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-03-01T12:00:00.000005Z"
    assert format_timestamp(moment.replace(microsecond=0), fixed=True) == (
        "2026-03-01T12:00:00.000000Z"
    )
    assert format_timestamp(dt.datetime(2026, 3, 1, 12)) == "2026-03-01T12:00:00Z"
    assert parse_timestamp("2026-03-01T12:00:00.000005Z") == moment
    assert parse_timestamp("2026-03-01T12:00:00") == moment.replace(microsecond=0)


def test_diff_lists_each_changed_field_once() -> None:
    """Only fields whose text differs, in column order."""
    old = [None] * len(FIELDS)
    new = list(old)
    new[FIELDS.index("status")] = "paid"
    old[FIELDS.index("status")] = "open"
    new[FIELDS.index("description")] = "x"
    assert diff(old, new) == [("description", None, "x"), ("status", "open", "paid")]
    assert diff(old, old) == []


def test_invoices_without_id_get_stable_distinct_keys() -> None:
    """A hash of the fields; identical ones in one listing get #2, #3; ids are kept."""
    keyless = Invoice(
        amount_due=Decimal(1), amount_paid=Decimal(0), amount_remaining=Decimal(1), currency="usd"
    )
    keys = KeyAssigner()

    first, second = keys.key(keyless), keys.key(keyless)

    assert first == derived_key(keyless) == KeyAssigner().key(keyless)
    assert first.startswith("derived:")
    assert len(first) == len("derived:") + 32
    assert second == first + "#2"
    assert keys.key(Invoice(**{**_fields(keyless), "id": "in_1"})) == "in_1"
    assert derived_key(Invoice(**{**_fields(keyless), "status": "paid"})) != first


def _fields(invoice: Invoice) -> dict[str, object]:
    return {f: getattr(invoice, f) for f in (*FIELDS, "id")}


_INVOICE = Invoice(
    id="in_1",
    amount_due=Decimal("640.19"),
    amount_paid=Decimal("0"),
    amount_remaining=Decimal("98765432109876543.21"),
    currency="usd",
    attempt_count=2,
    attempted=True,
    auto_advance=False,
    created=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    status="open",
    extra={"z": Decimal("0.1"), "a": [1, None]},
)


def test_sqlite_rows_keep_amounts_and_times_as_text_and_read_back_the_invoice() -> None:
    """TEXT_ROWS: exact decimal text, ISO time, canonical JSON; 0/1 read back as booleans."""
    row = TEXT_ROWS.invoice_row("in_1", _INVOICE)

    assert row == (
        "in_1",
        "640.19",
        "0",
        "98765432109876543.21",
        "usd",
        2,
        True,
        False,
        "2026-01-02T03:04:05Z",
        None,
        None,
        None,
        None,
        "open",
        '{"a":[1,null],"z":0.1}',
    )
    stored = tuple(int(v) if isinstance(v, bool) else v for v in row)  # as SQLite returns it
    assert TEXT_ROWS.invoice(stored) == _INVOICE


def test_postgres_rows_keep_the_values_and_read_back_the_invoice() -> None:
    """TYPED_ROWS: the values themselves, but for extra (JSON text); a derived key has no id."""
    row = TYPED_ROWS.invoice_row("derived:x", _INVOICE)

    assert row[1:4] == (Decimal("640.19"), Decimal("0"), Decimal("98765432109876543.21"))
    assert row[8] == _INVOICE.created
    assert row[-1] == '{"a":[1,null],"z":0.1}'
    assert TYPED_ROWS.invoice(row) == Invoice(**{**_fields(_INVOICE), "id": None})
    assert TYPED_ROWS.invoice_row("k", Invoice(**{**_fields(_INVOICE), "extra": {}}))[-1] == "{}"


def test_run_rows_in_both_databases() -> None:
    """One sync_runs row per run: the mirror's times fixed-width text and a 0/1 in SQLite."""
    started = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    run = AccountSync(
        account_id="a" * 32,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=1, microseconds=5),
        seen=3,
        inserted=2,
        updated=1,
        changes=4,
        mode="partial",
        walked_since=started - dt.timedelta(days=7),
        requests=5,
        unordered=True,
    )

    assert len(RUN_COLUMNS) == len(TYPED_ROWS.run_row(run))
    assert TEXT_ROWS.run_row(run) == (
        "a" * 32,
        "2026-03-01T12:00:00.000000Z",
        "2026-03-01T12:00:01.000005Z",
        "ok",
        3,
        2,
        1,
        0,
        4,
        None,
        "partial",
        "2026-02-22T12:00:00.000000Z",
        5,
        1,
    )
    assert TYPED_ROWS.run_row(run) == (
        "a" * 32,
        started,
        run.finished_at,
        "ok",
        3,
        2,
        1,
        0,
        4,
        None,
        "partial",
        run.walked_since,
        5,
        True,
    )


def test_changes_of_a_sync_list_fields_then_returns_then_removals() -> None:
    """Each changed field of each changed row, a row back from removal, each row removed."""
    old = [None] * len(FIELDS)
    new = list(old)
    old[FIELDS.index("status")], new[FIELDS.index("status")] = "open", "paid"
    removed_at = dt.datetime(2026, 2, 1, tzinfo=UTC)
    now = dt.datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)

    changes = changes_of(
        "acc", [("in_1", None, old, new), ("in_2", removed_at, old, old)], ["in_3"], now
    )

    assert changes == [
        ("acc", "in_1", "status", "open", "paid"),
        ("acc", "in_2", "removed_at", "2026-02-01T00:00:00Z", None),
        ("acc", "in_3", "removed_at", None, "2026-03-01T12:00:00.000005Z"),
    ]
    stamp = "2026-03-01T12:00:00.000005Z"
    assert TEXT_ROWS.change_rows(changes[:1], now) == [(*changes[0], stamp)]
    assert TYPED_ROWS.change_rows(changes[:1], now) == [(*changes[0], now)]


def _parameters(sql: str, mark: str) -> list[int]:
    return [int(n) for n in re.findall(re.escape(mark) + r"(\d+)", sql)]


@pytest.mark.parametrize(
    "name", [f.name for f in attrs.fields(SyncStatements) if f.name != "staging"]
)
def test_statements_take_the_same_numbered_parameters_in_both_dialects(name: str) -> None:
    """$n in PostgreSQL, ?n in SQLite, the same numbers, 1 to n without a gap: one list of
    arguments serves both drivers."""
    postgres: Any = getattr(sync_statements("postgresql"), name)
    sqlite: Any = getattr(sync_statements("sqlite"), name)

    numbers = _parameters(postgres, "$")
    assert numbers == _parameters(sqlite, "?")
    assert sorted(set(numbers)) == list(range(1, len(set(numbers)) + 1))
    assert "?" not in postgres
    assert "$" not in sqlite


def test_migrations_start_from_the_version_found() -> None:
    """Version 0 gets every statement, version 1 the six of version 2, the current none."""
    assert len(migrations("sqlite", 0)) == 13
    assert len(migrations("postgresql", 1)) == 6
    assert migrations("postgresql", 2) == []


def test_report_table_aligns_numbers_right() -> None:
    """One line per account, thousands separators, outcome last."""
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    report = SyncReport(
        accounts=(
            AccountSync(
                account_id="a" * 32,
                started_at=start,
                finished_at=start,
                seen=12345,
                inserted=12345,
                requests=13,
            ),
            AccountSync(
                account_id="b" * 32,
                started_at=start,
                finished_at=start,
                outcome="failed",
                mode="partial",
                requests=1234,
            ),
        )
    )
    assert render_report(report) == (
        "account                           mode       seen  inserted  updated  removed  "
        "requests  outcome\n"
        f"{'a' * 32}  full     12,345    12,345        0        0        13  ok\n"
        f"{'b' * 32}  partial       0         0        0        0     1,234  failed\n"
    )
