"""Fetch every invoice of an account into a JSON Lines file, resumable after a crash.

The stream's checkpoint is saved after every page, together with the rows it covers; a
second run continues after the last saved invoice, without duplicates or gaps.

Run: python resume.py ACCOUNT_ID [--stop-after N]  (with CLOUDFLARE_API_TOKEN set)
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import anyio

from asyncinvoices import InvoiceClient

OUTPUT = Path("invoices.jsonl")
CHECKPOINT = Path("invoices.checkpoint.json")


def save_checkpoint(checkpoint: dict[str, object]) -> None:
    # Write-then-rename, so a crash leaves either the old checkpoint or the new one.
    temporary = CHECKPOINT.with_suffix(".tmp")
    temporary.write_text(json.dumps(checkpoint))
    os.replace(temporary, CHECKPOINT)


async def fetch(account_id: str, resume: dict[str, Any] | None, out: TextIO, stop: int) -> int:
    fetched = 0
    async with InvoiceClient() as client, client.pages(account_id, resume=resume) as pages:
        async for page in pages:
            for invoice in page.invoices:
                row = {"id": invoice.id, "amount_due": str(invoice.amount_due)}
                out.write(json.dumps(row) + "\n")
            out.flush()
            os.fsync(out.fileno())
            # The rows are on disk: only now may the checkpoint move past them.
            save_checkpoint(pages.checkpoint())
            fetched += len(page.invoices)
            if fetched >= stop:
                print(f"stopping after {fetched:,} invoices (simulated crash)")
                sys.exit(1)
    return fetched


def main(account_id: str, stop_after: int | None = None) -> None:
    resume = json.loads(CHECKPOINT.read_text()) if CHECKPOINT.exists() else None
    if resume is not None:
        print(f"resuming after invoice {resume['position']:,} ({resume['last_id']})")
    with OUTPUT.open("a", encoding="utf-8") as out:
        fetched = anyio.run(fetch, account_id, resume, out, stop_after or sys.maxsize)
    print(f"done: {fetched:,} invoices fetched in this run")
    CHECKPOINT.unlink()


if __name__ == "__main__":
    stop = int(sys.argv[3]) if sys.argv[2:3] == ["--stop-after"] else None
    main(sys.argv[1], stop)
