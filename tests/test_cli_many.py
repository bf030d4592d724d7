"""The command line over many accounts: fetch, summary, accounts, --skip-failed, exit codes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices._cli._accounts import ACCOUNT_CSV_COLUMNS
from asyncinvoices._cli._formats import CSV_COLUMNS
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """Three readable accounts of 3, 0 and 7 invoices, and one the token may not read."""
    async with FakeCloudflare([3, 0, 7], accounts=3, seed=4) as server:
        server.add_account(2, name="Hidden", readable=False)
        yield server


async def cli(fake: FakeCloudflare, *argv: str) -> tuple[int, str, str]:
    """Run the command line against the fake; return exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    env = {"CLOUDFLARE_API_TOKEN": fake.api_token, "CLOUDFLARE_BASE_URL": fake.base_url}
    code = await run_async(list(argv), stdout=out, stderr=err, environ=env)
    return code, out.getvalue(), err.getvalue()


def pairs(fake: FakeCloudflare, account_ids: list[str]) -> list[tuple[str, str]]:
    """Every (account, invoice id) in output order."""
    return [(a, i) for a in account_ids for i in fake.ids(a)]


async def test_csv_has_account_id_first(fake: FakeCloudflare) -> None:
    """Two ACCOUNT_IDs: CSV's first column is account_id, rows grouped in the order given."""
    a, _b, c = fake.account_ids[:3]
    code, out, err = await cli(fake, "fetch", c, a, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    # One page each, and the refusal of 1,000 a page that taught the fake's maximum.
    assert (code, err) == (0, "3 requests; the fewest possible: 2\n")
    assert rows[0] == ["account_id", *CSV_COLUMNS]
    assert [(row[0], row[1]) for row in rows[1:]] == pairs(fake, [c, a])


async def test_jsonl_and_json_carry_account_id(fake: FakeCloudflare) -> None:
    """JSON Lines and JSON: account_id is the first field of every object."""
    a, b, c = fake.account_ids[:3]
    _, lines, _ = await cli(fake, "fetch", a, b, c, "--format", "jsonl")
    _, array, _ = await cli(fake, "fetch", a, b, c, "--format", "json")
    records = [json.loads(line) for line in lines.splitlines()]
    assert [(r["account_id"], r["id"]) for r in records] == pairs(fake, [a, b, c])
    assert all(next(iter(r)) == "account_id" for r in records)
    assert json.loads(array) == records


async def test_table_has_account_id_first(fake: FakeCloudflare) -> None:
    """The table's first column is account_id."""
    a = fake.account_ids[0]
    c = fake.account_ids[2]
    code, out, _ = await cli(fake, "fetch", a, c)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:2] == ["account_id", "id"]
    assert [tuple(line.split()[:2]) for line in lines[1:]] == pairs(fake, [a, c])


async def test_one_account_keeps_the_single_account_format(fake: FakeCloudflare) -> None:
    """One ACCOUNT_ID (even repeated) writes rows without account_id, as before."""
    a = fake.account_ids[0]
    code, out, _ = await cli(fake, "fetch", a, a, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert rows[0] == list(CSV_COLUMNS)
    assert [row[0] for row in rows[1:]] == fake.ids(a)


async def test_all_accounts_walks_the_listing(fake: FakeCloudflare, tmp_path: Path) -> None:
    """--all-accounts: every readable account in the listing's order, to a file."""
    target = tmp_path / "all.jsonl"
    code, out, err = await cli(fake, "fetch", "--all-accounts", "-o", str(target))
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert (code, out) == (0, "")
    assert [(r["account_id"], r["id"]) for r in records] == pairs(fake, fake.account_ids[:3])
    assert err == (
        f"wrote 10 invoices of 3 accounts to {target}\n"
        "5 requests; the fewest possible: 4\n"  # the listing, a refusal, one page each
    )


async def test_a_failed_account_ends_the_run_without_skip(fake: FakeCloudflare) -> None:
    """Without --skip-failed, an unreadable account ends the run with exit code 3 and is named."""
    a, hidden = fake.account_ids[0], fake.account_ids[3]
    code, out, err = await cli(fake, "fetch", a, hidden, "--format", "jsonl")
    assert code == ExitCode.AUTHENTICATION == 3
    assert [json.loads(line)["account_id"] for line in out.splitlines()] == [a] * 3
    assert err.splitlines()[0] == f"asyncinvoices: account {hidden} failed"
    assert err.splitlines()[1].startswith("asyncinvoices: authentication failed")


async def test_skip_failed_writes_the_rest_and_exits_8(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """--skip-failed: the file holds the accounts that succeeded; each failed account is
    named with its reason on stderr; the exit code says the run was partial."""
    a, _b, c, hidden = fake.account_ids
    target = tmp_path / "out.csv"
    code, _, err = await cli(
        fake, "fetch", a, hidden, c, "--skip-failed", "-o", str(target), "--no-progress"
    )
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert code == ExitCode.PARTIAL == 8
    assert [(row[0], row[1]) for row in rows[1:]] == pairs(fake, [a, c])
    lines = err.splitlines()
    assert lines[0] == f"wrote 10 invoices of 2 accounts to {target}"
    assert lines[1].startswith(f"asyncinvoices: account {hidden} skipped: authentication failed")
    # The refusal of 1,000 a page, a page of each account; the hidden one has no fewest.
    assert lines[2:] == ["4 requests; the fewest possible: 2"]


async def test_summary_over_many_accounts(fake: FakeCloudflare) -> None:
    """summary adds up every account; a skipped one is counted and named, exit code 8."""
    a, _b, c, hidden = fake.account_ids
    code, out, err = await cli(fake, "summary", a, c, hidden, "--skip-failed")
    single_a = await cli(fake, "summary", a)
    assert code == 8
    assert out.splitlines()[:2] == [
        "2 accounts (1 skipped)",
        "10 invoices.",
    ]
    assert single_a[0] == 0
    assert err.startswith(f"asyncinvoices: account {hidden} skipped: ")
    assert err.endswith("\n4 requests; the fewest possible: 2\n")


def _ts(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.timezone.utc).timestamp())


@pytest.fixture
async def priced() -> AsyncIterator[FakeCloudflare]:
    """Accounts of 2, 0 and 1 invoices with amounts, currencies and dates set by hand, and
    one the token may not read."""
    async with FakeCloudflare([2, 0, 1], accounts=3, seed=4) as server:
        server.add_account(2, name="Hidden", readable=False)
        a, _, c = server.account_ids[:3]
        (one, two), (three,) = server.ids(a), server.ids(c)
        paid = {"amount_remaining": 0, "status": "paid"}
        server.update_invoice(
            one, a, currency="usd", amount_due=D("640.19"), amount_paid=D("640.19"),
            created=_ts(2025, 1, 15), **paid,
        )  # fmt: skip
        server.update_invoice(
            two, a, currency="eur", amount_due=1000, amount_paid=0, amount_remaining=1000,
            status="open", created=_ts(2025, 2, 1),
        )  # fmt: skip
        server.update_invoice(
            three, c, currency="usd", amount_due=D("12.5"), amount_paid=D("12.5"),
            created=_ts(2025, 2, 3), **paid,
        )  # fmt: skip
        yield server


SUMMARY_HEAD = """\
3 invoices.
Amounts are exactly as Cloudflare sends them, summed without rounding. Cloudflare
documents them only as numbers with a currency code, and its billing is Stripe-backed,
but their unit (currency units or cents) is not documented: none is assumed here.

Totals by currency
cur  invoices       due    paid  remaining
---  --------  --------  ------  ---------
EUR         1  1,000.00    0.00   1,000.00
USD         2    652.69  652.69       0.00

"""
SUMMARY_TAIL = """\
By status
cur  status  invoices       due    paid  remaining
---  ------  --------  --------  ------  ---------
EUR  open           1  1,000.00    0.00   1,000.00
USD  paid           2    652.69  652.69       0.00

EUR per month (UTC), bars: spend (amount_paid)
month    invoices       due  paid
-------  --------  --------  ----
2025-02         1  1,000.00  0.00

USD per month (UTC), bars: spend (amount_paid)
month    invoices     due    paid
-------  --------  ------  ------
2025-01         1  640.19  640.19  █████████████████████████████████████████████
2025-02         1   12.50   12.50  ▉
"""


async def test_summary_table_has_a_row_per_account_and_the_totals(
    priced: FakeCloudflare,
) -> None:
    """Several accounts: one row per account and currency (zeros for an empty account) after
    the combined totals; the skipped account is counted, named on stderr, exit code 8."""
    a, b, c, hidden = priced.account_ids

    code, out, err = await cli(priced, "summary", a, b, c, hidden, "--skip-failed")

    assert (code, err.startswith(f"asyncinvoices: account {hidden} skipped: ")) == (8, True)
    assert out == (
        "3 accounts (1 skipped)\n"
        + SUMMARY_HEAD
        + "By account\n"
        + "account                           cur  invoices       due    paid  remaining\n"
        + "--------------------------------  ---  --------  --------  ------  ---------\n"
        + f"{a}  EUR         1  1,000.00    0.00   1,000.00\n"
        + f"{a}  USD         1    640.19  640.19       0.00\n"
        + f"{b}  -           0      0.00    0.00       0.00\n"
        + f"{c}  USD         1     12.50   12.50       0.00\n"
        + "\n"
        + SUMMARY_TAIL
    )


async def test_summary_csv_has_a_row_per_account_then_the_combined_rows(
    priced: FakeCloudflare,
) -> None:
    """--format csv: account_id first, exact decimals, the combined rows as account_id all;
    with --all-accounts the accounts come in the listing's order."""
    a, b, c, hidden = priced.account_ids

    code, out, _ = await cli(priced, "summary", c, b, a, hidden, "--skip-failed", "--format", "csv")
    listed = await cli(priced, "summary", "--all-accounts", "--skip-failed", "--format", "csv")

    header = "account_id,currency,invoices,amount_due,amount_paid,amount_remaining\r\n"
    combined = "all,EUR,1,1000,0,1000\r\nall,USD,2,652.69,652.69,0\r\n"
    rows = {
        a: f"{a},EUR,1,1000,0,1000\r\n{a},USD,1,640.19,640.19,0\r\n",
        b: f"{b},,0,0,0,0\r\n",
        c: f"{c},USD,1,12.5,12.5,0\r\n",
    }
    assert (code, out) == (8, header + rows[c] + rows[b] + rows[a] + combined)
    assert listed[:2] == (0, header + rows[a] + rows[b] + rows[c] + combined)  # hidden: unlisted


async def test_summary_json_holds_the_accounts_and_every_total(priced: FakeCloudflare) -> None:
    """--format json: one object on one line, amounts as exact JSON numbers, nulls for a
    missing currency, status or month."""
    a, b, c, _ = priced.account_ids

    code, out, err = await cli(priced, "summary", a, b, c, "--format", "json")

    def sums(invoices: int, due: str, paid: str, remaining: str) -> str:
        return (
            f'"invoices":{invoices},"amount_due":{due},"amount_paid":{paid},'
            f'"amount_remaining":{remaining}'
        )

    # The report on stderr: a refused 1,000 a page, then one page of each account.
    assert (code, err) == (0, "4 requests; the fewest possible: 3\n")
    assert out == (
        '{"invoices":3,"accounts":['
        f'{{"account_id":"{a}","currency":"EUR",{sums(1, "1000", "0", "1000")}}},'
        f'{{"account_id":"{a}","currency":"USD",{sums(1, "640.19", "640.19", "0")}}},'
        f'{{"account_id":"{b}","currency":null,{sums(0, "0", "0", "0")}}},'
        f'{{"account_id":"{c}","currency":"USD",{sums(1, "12.5", "12.5", "0")}}}],'
        f'"total":[{{"currency":"EUR",{sums(1, "1000", "0", "1000")}}},'
        f'{{"currency":"USD",{sums(2, "652.69", "652.69", "0")}}}],'
        f'"by_status":[{{"currency":"EUR","status":"open",{sums(1, "1000", "0", "1000")}}},'
        f'{{"currency":"USD","status":"paid",{sums(2, "652.69", "652.69", "0")}}}],'
        f'"by_month":[{{"currency":"EUR","month":"2025-02",{sums(1, "1000", "0", "1000")}}},'
        f'{{"currency":"USD","month":"2025-01",{sums(1, "640.19", "640.19", "0")}}},'
        f'{{"currency":"USD","month":"2025-02",{sums(1, "12.5", "12.5", "0")}}}]}}\n'
    )
    assert json.loads(out)["accounts"][2]["currency"] is None


@pytest.mark.parametrize("format", ["csv", "json"])
async def test_summary_of_one_account_has_its_row_and_the_combined_one(
    priced: FakeCloudflare, format: str
) -> None:
    """One ACCOUNT_ID: CSV and JSON still carry the account's rows; the table has none."""
    a = priced.account_ids[0]

    code, out, _ = await cli(priced, "summary", a, "--format", format)
    _, table, _ = await cli(priced, "summary", a)

    expected = {
        "csv": "account_id,currency,invoices,amount_due,amount_paid,amount_remaining\r\n"
        f"{a},EUR,1,1000,0,1000\r\n{a},USD,1,640.19,640.19,0\r\n"
        "all,EUR,1,1000,0,1000\r\nall,USD,1,640.19,640.19,0\r\n",
        "json": [(a, "EUR"), (a, "USD")],
    }[format]
    assert code == 0
    if format == "csv":
        assert out == expected
    else:
        assert [(r["account_id"], r["currency"]) for r in json.loads(out)["accounts"]] == expected
    assert table.startswith("2 invoices.\n")
    assert "By account" not in table


async def test_rate_limit_is_not_skipped(fake: FakeCloudflare) -> None:
    """A 429 beyond the longest wait ends the run with exit code 5 even with --skip-failed."""
    a, _b, c, _ = fake.account_ids
    fake.add_fault(Fault.status(429, retry_after=1000, account_id=c))
    code, _, err = await cli(fake, "fetch", a, c, "--skip-failed", "--format", "jsonl")
    assert code == ExitCode.RATE_LIMITED == 5
    assert err.splitlines()[0] == f"asyncinvoices: account {c} failed"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fetch"], "give one or more ACCOUNT_IDs, or --all-accounts"),
        (["fetch", "--all-accounts", "0" * 32], "give ACCOUNT_IDs or --all-accounts, not both"),
        (
            ["fetch", "0" * 32, "1" * 32, "-o", "x.csv", "--resume", "x.state"],
            "--resume works with one ACCOUNT_ID; with several accounts or --all-accounts, "
            "run again without --resume",
        ),
    ],
)
async def test_usage_errors(fake: FakeCloudflare, argv: list[str], message: str) -> None:
    """No account, both kinds, or --resume over many accounts: exit 2 with a clear message."""
    code, out, err = await cli(fake, *argv)
    assert (code, out) == (2, "")
    assert err == f"asyncinvoices: configuration error: {message}\n"
    assert fake.requests == []


async def test_since_until_apply_to_each_account(fake: FakeCloudflare) -> None:
    """--since/--until filter every account's invoices."""
    a, _, c, _ = fake.account_ids
    since, until = "2023-01-02", "2023-01-06"
    code, out, _ = await cli(
        fake, "fetch", a, c, "--since", since, "--until", until, "--format", "jsonl"
    )
    ids = [(r["account_id"], r["id"]) for r in map(json.loads, out.splitlines())]
    assert code == 0
    assert ids == [(a, i) for i in fake.ids(a)[:2]] + [(c, i) for i in fake.ids(c)[2:6]]


# ------------------------------------------------------------------ accounts


async def test_accounts_in_every_format(fake: FakeCloudflare, tmp_path: Path) -> None:
    """accounts lists every readable account: csv, jsonl, json and the table."""
    listed = fake.account_ids[:3]
    code, out, _ = await cli(fake, "accounts", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert rows[0] == list(ACCOUNT_CSV_COLUMNS)
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        (x, f"Account {n}", "standard") for n, x in enumerate(listed)
    ]
    assert json.loads(rows[1][4]) == {
        "enforce_twofactor": False,
        "api_access_enabled": None,
        "use_account_custom_ns_by_default": False,
        "abuse_contact_email": None,
    }
    _, lines, _ = await cli(fake, "accounts", "--format", "jsonl", "--direction", "desc")
    assert [json.loads(line)["id"] for line in lines.splitlines()] == listed[::-1]
    target = tmp_path / "accounts.json"
    code, _, err = await cli(fake, "accounts", "--name", "Account 1", "-o", str(target))
    assert [r["name"] for r in json.loads(target.read_text())] == ["Account 1"]
    assert err == f"wrote 1 accounts to {target}\n"
    _, table, _ = await cli(fake, "accounts")
    assert table.splitlines()[0].split() == ["id", "type", "created_on", "name"]
    assert [line.split()[0] for line in table.splitlines()[1:]] == listed


class TTY(io.StringIO):
    """A text buffer that says it is a terminal."""

    def isatty(self) -> bool:
        return True


async def test_the_progress_bar_counts_accounts_and_invoices(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """On a terminal, the bar counts accounts done of all, and the invoices."""
    a, _, c, _ = fake.account_ids
    err = TTY()
    env = {"CLOUDFLARE_API_TOKEN": fake.api_token, "CLOUDFLARE_BASE_URL": fake.base_url}
    target = tmp_path / "two.csv"
    code = await run_async(
        ["fetch", a, c, "-o", str(target)], stdout=io.StringIO(), stderr=err, environ=env
    )
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
    assert code == 0
    assert "2/2 accounts  10 invoices" in plain


async def test_accounts_adapts_to_a_listing_of_fewer_than_50_a_page() -> None:
    """A listing that refuses 50 a page without naming its maximum: the command steps down
    to 20 and lists every account once, in order, in one refusal and two pages."""
    async with FakeCloudflare(
        1, accounts=30, listing_max_per_page=20, per_page_limit="unnamed"
    ) as fake:
        code, out, _ = await cli(fake, "accounts", "--format", "jsonl")
        by_name = sorted(range(30), key=lambda k: f"Account {k}")
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == [
            fake.account_ids[k] for k in by_name
        ]
        assert [(r.page, r.per_page, r.status) for r in fake.requests] == [
            (1, 50, 400),
            (1, 20, 200),
            (2, 20, 200),
        ]
