"""Microseconds per invoice of each step of decoding a page, on plain and mixed-shape data.

``python -m benchmarks.decode [--invoices 1000] [--repeat 15]`` renders one page of the fake's
invoices in each of its shapes (``plain``, and ``mixed``: about a third of the invoices in the
other shapes the schema allows) and times, in CPU time of this process, best of ``--repeat``:

* the JSON decoders that can give exact amounts: the standard library with
  ``parse_float=Decimal`` and msgspec with ``float_hook=Decimal``; and, for scale only, orjson,
  which has no such hook and reads ``640.19`` as a binary float (so it is not a candidate);
* structuring the decoded records into invoices (``InvoiceStructurer.structure_all``);
* the whole ``ResponseDecoder.decode`` of the response, as the client runs it;
* structuring again, with every record's ``attempt_count`` sent as ``1.0`` (a decimal), and
  with every ``created`` in ISO-8601.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from asyncinvoices._wire.converter import InvoiceStructurer
from asyncinvoices._wire.protocol import ResponseDecoder
from asyncinvoices.testing._data import AccountData
from asyncinvoices.testing._shapes import SHAPES

__all__ = ["main", "measure"]

_HEADERS = {"Content-Type": "application/json"}


def _best(step: Callable[[], object], repeat: int, invoices: int) -> float:
    times = []
    for _ in range(repeat):
        # This process's CPU time, not wall time: on a shared machine a run that loses the
        # core for a while would otherwise count the time it waited.
        started = time.process_time()
        step()
        times.append(time.process_time() - started)
    return min(times) / invoices * 1e6


def _envelope(array: bytes, invoices: int) -> bytes:
    return (
        b'{"success":true,"errors":[],"messages":[],"result":{"invoices":'
        + array
        + b',"pagination":{"page":1,"per_page":%d,"total_count":%d,"has_more":false}}}'
        % (invoices, invoices)
    )


def _decoders() -> dict[str, Callable[[bytes], object]]:
    found: dict[str, Callable[[bytes], object]] = {
        "json.loads(parse_float=Decimal)": lambda body: json.loads(body, parse_float=Decimal)
    }
    for name in ("msgspec", "orjson"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if name == "msgspec":
            decoder = module.json.Decoder(float_hook=Decimal)
            found["msgspec Decoder(float_hook=Decimal)"] = decoder.decode
        else:
            found["orjson.loads (binary floats: not exact)"] = module.loads
    return found


def measure(invoices: int = 1000, repeat: int = 15) -> dict[str, dict[str, float]]:
    """Return ``{step: {shape: microseconds per invoice}}`` for one page of ``invoices``."""
    arrays = {
        shape: AccountData("0" * 32, 1, invoices, 0.5, shapes=shape).render_array(range(invoices))
        for shape in SHAPES
    }
    results: dict[str, dict[str, float]] = {}
    structurer, decoder = InvoiceStructurer(), ResponseDecoder()
    for shape in SHAPES:
        body = _envelope(arrays[shape], invoices)
        for name, decode in _decoders().items():
            results.setdefault(name, {})[shape] = _best(partial(decode, body), repeat, invoices)
        records = json.loads(arrays[shape], parse_float=Decimal)
        results.setdefault("structure_all", {})[shape] = _best(
            partial(structurer.structure_all, records, page=1), repeat, invoices
        )
        results.setdefault("ResponseDecoder.decode", {})[shape] = _best(
            partial(decoder.decode, 200, _HEADERS, body, page=1), repeat, invoices
        )
        for name, form in _ONE_FORM.items():
            one_form = [form(record) for record in records]
            results.setdefault(f"structure_all, every record {name}", {})[shape] = _best(
                partial(structurer.structure_all, one_form, page=1), repeat, invoices
            )
    return results


def _iso(record: dict[str, Any]) -> dict[str, Any]:
    created = record.get("created")
    if not isinstance(created, int):
        return record
    moment = dt.datetime.fromtimestamp(created, dt.timezone.utc)
    return {**record, "created": moment.isoformat().replace("+00:00", "Z")}


def _count_as_decimal(record: dict[str, Any]) -> dict[str, Any]:
    count = record.get("attempt_count")
    return (
        record
        if not isinstance(count, int)
        else {**record, "attempt_count": Decimal(count) + Decimal("0.0")}
    )


# Pages where every record takes one of the other valid forms, on top of its shape.
_ONE_FORM: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "`attempt_count: 1.0`": _count_as_decimal,
    "`created` in ISO-8601": _iso,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of :func:`measure` in Markdown."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode")
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    results = measure(args.invoices, args.repeat)
    print(f"µs of CPU per invoice, page of {args.invoices:,}, best of {args.repeat}\n")
    print("| step | " + " | ".join(SHAPES) + " |")
    print("|---|" + "---|" * len(SHAPES))
    for step, by_shape in results.items():
        print(f"| {step} | " + " | ".join(f"{by_shape[s]:.2f}" for s in SHAPES) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
