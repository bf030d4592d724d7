"""``--log-format json``: every line on stderr is one JSON object, credentials redacted."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


async def test_every_stderr_line_is_a_json_object_with_the_events_fields(tmp_path: Path) -> None:
    """A retried page and a failed run, at -vv: each line parses, none holds the token.

    The command's own line (``wrote N invoices to FILE``) is a record too.
    """
    async with FakeCloudflare(30, faults=[Fault.status(503, page=2, attempt=1)]) as fake:
        runs = []
        for fault in (None, Fault.status(403, page=1)):
            if fault is not None:
                fake.add_fault(fault)
            out, err = io.StringIO(), io.StringIO()
            code = await run_async(
                [
                    *("--log-format", "json", "-vv", "fetch", fake.account_id),
                    *("-o", str(tmp_path / "out.csv")),
                    *("--per-page", "10", "--concurrency", "1", "--base-url", fake.base_url),
                ],
                stdout=out,
                stderr=err,
                environ={"CLOUDFLARE_API_TOKEN": fake.api_token},
            )
            runs.append((code, err.getvalue()))
        rays = {r.number: fake._ray(r.number) for r in fake.requests}
    assert [code for code, _ in runs] == [ExitCode.OK, ExitCode.AUTHENTICATION]
    for _, text in runs:
        assert text.endswith("\n")
        assert fake.api_token not in text
        for line in text.splitlines():
            entry = json.loads(line)
            assert isinstance(entry, dict)
            assert {"time", "level", "logger", "message"} <= set(entry)
    first = [json.loads(line) for line in runs[0][1].splitlines()]
    [retry] = [e for e in first if e["level"] == "WARNING"]
    assert retry["page"] == 2
    assert retry["status"] == 503
    assert retry["ray_id"] == rays[2]
    assert retry["wait"] == 0.0
    responses = [
        (e["page"], e["status"]) for e in first if "HTTP" in e["message"] and e["level"] == "DEBUG"
    ]
    assert sorted(responses) == [(1, 200), (2, 200), (2, 503), (3, 200)]
    assert first[-2:] == [
        {
            "time": first[-2]["time"],
            "level": "INFO",
            "logger": "asyncinvoices.cli",
            "message": f"wrote 30 invoices to {tmp_path / 'out.csv'}",
        },
        {
            "time": first[-1]["time"],
            "level": "INFO",
            "logger": "asyncinvoices.cli",
            "message": "4 requests; the fewest possible: 3, at 10 invoices a page",
        },
    ]
    last = json.loads(runs[1][1].splitlines()[-1])
    assert (last["level"], last["status"], last["ray_id"]) == ("ERROR", 403, rays[len(rays)])


def test_json_lines_joins_partial_writes_and_redacts() -> None:
    """A line written in pieces is one record; a failure line is ERROR; secrets are ***."""
    from asyncinvoices._cli._logging import JsonLines, RedactingFilter

    target = io.StringIO()
    stream = JsonLines(target, RedactingFilter(["s3cr3t-token"]))
    stream.write("wrote 3 ")
    assert target.getvalue() == ""
    stream.write("invoices\nasyncinvoices: token s3cr3t-token refused\npartial")
    records = [json.loads(line) for line in target.getvalue().splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "asyncinvoices.cli", "wrote 3 invoices"),
        ("ERROR", "asyncinvoices.cli", "token *** refused"),
    ]
