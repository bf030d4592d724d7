"""Append the invoices created since the last run to invoices.jsonl; resumable if cut off.

Each run asks only for the invoices at or after the newest one the file holds (`since=`):
invoices come newest first, so the walk stops after a page or two however long the history.
A run that is cut off leaves a checkpoint, which carries the `since` it was taken with; the
next run resumes with that same bound, so that nothing between the two runs is skipped.

Run: python incremental.py ACCOUNT_ID [--stop-after N]  (with CLOUDFLARE_API_TOKEN set)
"""

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import anyio

from asyncinvoices import InvoiceClient

OUTPUT = Path("invoices.jsonl")
CHECKPOINT = Path("invoices.checkpoint.json")


def created_times(path: Path) -> dict[str, dt.datetime]:
    """The `created` of every invoice in the file, by id."""
    times = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["created"] is not None:  # "2024-12-30T22:33:20Z" in to_dict's json mode
                times[row["id"]] = dt.datetime.fromisoformat(row["created"].replace("Z", "+00:00"))
    return times


def save_checkpoint(checkpoint: dict[str, Any]) -> None:
    temporary = CHECKPOINT.with_suffix(".tmp")
    temporary.write_text(json.dumps(checkpoint), encoding="utf-8")
    os.replace(temporary, CHECKPOINT)


async def append(account_id: str, since: dt.datetime | None, resume: Any, out: TextIO) -> int:
    # since is inclusive: the invoices created at that very instant are in the file already.
    have = {i for i, created in created_times(OUTPUT).items() if created == since}
    stop = int(sys.argv[3]) if sys.argv[2:3] == ["--stop-after"] else sys.maxsize
    appended = 0
    async with InvoiceClient() as client:
        async with client.pages(account_id, since=since, resume=resume) as pages:
            async for page in pages:
                for invoice in page.invoices:
                    if invoice.id not in have:
                        out.write(json.dumps(invoice.to_dict(mode="json")) + "\n")
                        appended += 1
                out.flush()
                os.fsync(out.fileno())
                save_checkpoint(pages.checkpoint())  # only once the rows are on disk
                if appended >= stop:
                    print(f"stopping after {appended:,} invoices (simulated crash)")
                    sys.exit(1)
    return appended


def main(account_id: str) -> None:
    if CHECKPOINT.exists():
        resume = json.loads(CHECKPOINT.read_text(encoding="utf-8"))
        # Resume with the bound the checkpoint was taken with: the file's newest invoice
        # is newer now, and resume= refuses a checkpoint with other bounds anyway.
        since = dt.datetime.fromisoformat(resume["since"]) if "since" in resume else None
        print(f"resuming after invoice {resume['position']:,}")
    else:
        resume = None
        since = max(created_times(OUTPUT).values(), default=None)
    print(f"since {since.isoformat() if since else 'the beginning'}")
    with OUTPUT.open("a", encoding="utf-8") as out:
        appended = anyio.run(append, account_id, since, resume, out)
    CHECKPOINT.unlink(missing_ok=True)
    print(f"appended {appended:,} invoices")


if __name__ == "__main__":
    main(sys.argv[1])
