"""The benchmark server serves the shape it is asked for, and the client reads every shape."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from asyncinvoices import Invoice
from asyncinvoices._wire.protocol import ResponseDecoder
from asyncinvoices.testing import FakeCloudflare
from benchmarks.decode import measure
from benchmarks.scenarios import ServerSpec

ROOT = Path(__file__).resolve().parent.parent


def _first_page(shapes: str) -> tuple[bytes, dict[str, Any]]:
    spec = ServerSpec(invoices=60, max_per_page=100, seed=3, shapes=shapes)
    with subprocess.Popen(
        [sys.executable, "-m", "benchmarks.serve", *spec.argv()],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        assert server.stdin is not None
        info = json.loads(server.stdout.readline())
        request = urllib.request.Request(
            f"{info['base_url']}/accounts/{info['account_id']}/ai-gateway/billing/"
            "invoice-history?page=1&per_page=60",
            headers={"Authorization": f"Bearer {info['api_token']}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            body = response.read()
        server.stdin.close()
        server.wait(timeout=30)
    return body, info


def test_the_server_serves_the_mixed_shapes_when_asked() -> None:
    """--shapes=mixed gives the fake's mixed data, which the client reads as the same
    invoices the fake expects; --shapes=plain gives other text for the same account."""
    mixed, info = _first_page("mixed")
    plain, _ = _first_page("plain")
    assert mixed != plain
    page = ResponseDecoder().decode(200, {"Content-Type": "application/json"}, mixed, page=1)
    fake = FakeCloudflare(60, seed=3, shapes="mixed")
    assert info["account_id"] == fake.account_id
    expected = [Invoice(**values) for values in fake.expected_invoices(fake.account_id)]
    assert list(page.invoices) == expected
    assert len(expected) == 60
    assert any(i.extra for i in page.invoices)


def test_the_decode_measurement_covers_both_shapes() -> None:
    """benchmarks.decode times every step on both shapes, in positive microseconds."""
    results = measure(invoices=50, repeat=1)
    assert set(results) >= {"json.loads(parse_float=Decimal)", "structure_all",
                            "ResponseDecoder.decode",
                            "structure_all, every record `attempt_count: 1.0`",
                            "structure_all, every record `created` in ISO-8601"}  # fmt: skip
    for by_shape in results.values():
        assert set(by_shape) == {"plain", "mixed"}
        assert all(value >= 0 for value in by_shape.values())


@pytest.mark.parametrize("shapes", ["plain", "mixed"])
def test_server_argv_carries_the_shapes(shapes: str) -> None:
    """The shape reaches the server process's command line."""
    assert f"--shapes={shapes}" in ServerSpec(invoices=1, shapes=shapes).argv()


def test_the_one_form_pages_take_that_form_and_read_the_same() -> None:
    """The rows of one form really send that form, and it reads as the original does."""
    from decimal import Decimal

    from asyncinvoices._wire.converter import InvoiceStructurer
    from benchmarks.decode import _ONE_FORM

    record = {"amount_due": 1, "amount_paid": 0, "amount_remaining": 1, "currency": "usd",
              "attempt_count": 2, "created": 1735689600}  # fmt: skip
    as_decimal = _ONE_FORM["`attempt_count: 1.0`"](record)
    as_iso = _ONE_FORM["`created` in ISO-8601"](record)
    assert (type(as_decimal["attempt_count"]), str(as_decimal["attempt_count"])) == (
        Decimal,
        "2.0",
    )
    assert as_iso["created"] == "2025-01-01T00:00:00Z"
    structurer = InvoiceStructurer()
    read = structurer.structure_all([record, as_decimal, as_iso], page=1)
    assert read[0] == read[1] == read[2]
