"""``fetch --resume STATE``: what an interrupted run leaves behind to be continued.

When a run with ``--resume`` fails or is interrupted, the invoices written so far stay in the
output file, which is a valid file of its format, and STATE records the stream's checkpoint
with how many invoices the file holds. The same command then continues after the last of
them and appends; STATE is removed once the run completes.

The order of writes makes a crash between them harmless: the output file is renamed into
place first and STATE written after it (both atomically), so STATE never covers invoices the
file does not hold. A STATE left from an earlier failure while the output has moved on is
caught by comparing the invoices in the file with the count STATE records.

Only formats that can be appended to are resumable: CSV (the header stays the first line)
and JSON Lines. A JSON array would have to be reopened, the table is for reading, and a gzip
file would have to be decompressed to be checked.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any, Final

import attrs

from asyncinvoices import ConfigurationError

from ._atomic import atomic_text_file
from ._formats import CSV_COLUMNS, Writer
from ._output import Output

__all__ = [
    "RESUMABLE_FORMATS",
    "ResumableRun",
    "ResumeState",
    "check_resumable",
    "count_records",
    "load_state",
]

#: The formats ``--resume`` can append to.
RESUMABLE_FORMATS: Final = ("csv", "jsonl")
_VERSION: Final = 1


@attrs.frozen
class ResumeState:
    """Where an interrupted ``fetch --resume`` stopped.

    Attributes:
        format: The output's format.
        written: How many invoices the output file holds.
        checkpoint: The stream's checkpoint after the last of them.
    """

    format: str
    written: int
    checkpoint: dict[str, Any]

    def save(self, path: str) -> None:
        """Write this state to ``path`` atomically."""
        record = {"version": _VERSION, **attrs.asdict(self)}
        with atomic_text_file(path) as file:
            json.dump(record, file, indent=2)
            file.write("\n")


def check_resumable(output: Output) -> str:
    """Return the output file's path if ``--resume`` can append to it.

    Raises:
        ConfigurationError: For standard output, gzip, or a format that cannot be appended to.
    """
    if output.path is None:
        raise ConfigurationError("--resume needs -o FILE: what was written must be kept")
    if output.compress:
        raise ConfigurationError(
            "--resume cannot append to a .gz file; write it uncompressed, gzip it when complete"
        )
    if output.format not in RESUMABLE_FORMATS:
        raise ConfigurationError(
            f"--resume cannot append to --format {output.format}: use csv or jsonl "
            "(a JSON array would have to be reopened to add to it)"
        )
    return output.path


def load_state(path: str, output: Output) -> ResumeState | None:
    """Read the state of an interrupted run from ``path``; None if there is none.

    Raises:
        ConfigurationError: If the file is not a state of this program, is for another
            format, or the output file does not hold the invoices it says.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        if record.pop("version") != _VERSION:
            raise ValueError("unknown version")
        state = ResumeState(**record)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConfigurationError(
            f"--resume {path}: not a state file of asyncinvoices fetch; remove it to start over"
        ) from None
    assert output.path is not None  # check_resumable comes first
    if state.format != output.format:
        raise ConfigurationError(
            f"--resume {path}: the interrupted run wrote {state.format}, not {output.format}"
        )
    held = count_records(output.path, output.format)
    if held != state.written:
        raise ConfigurationError(
            f"--resume {path}: {output.path} holds {held:,} invoices but the interrupted run "
            f"wrote {state.written:,}; it was changed since. Remove {path} to start over"
        )
    return state


def count_records(path: str, format: str) -> int:
    """Return how many invoices the CSV or JSON Lines file at ``path`` holds (0 if none).

    Raises:
        ConfigurationError: If a CSV file's header is not this version's.
    """
    try:
        with open(path, encoding="utf-8", newline="") as file:
            if format == "jsonl":
                return sum(1 for line in file if line.strip())
            rows = csv.reader(file)
            header = next(rows, None)
            if header is not None and tuple(header) != CSV_COLUMNS:
                raise ConfigurationError(f"{path}: its CSV header is not asyncinvoices'")
            return sum(1 for _ in rows)
    except FileNotFoundError:
        return 0


class ResumableRun:
    """The bookkeeping of one ``fetch --resume STATE`` run.

    Args:
        state_path: STATE, the file that holds where an interrupted run stopped.
        output: Where the run writes; see :func:`check_resumable`.

    Raises:
        ConfigurationError: As :func:`check_resumable` and :func:`load_state` do.

    Attributes:
        previous: The state the run continues from; None for a fresh start.
        kept: Set when the run failed between two invoices, so that what was written is a
            valid file to keep.
    """

    def __init__(self, state_path: str, output: Output) -> None:
        self._path = check_resumable(output)
        self._state_path = state_path
        self._format = output.format
        self.previous = load_state(state_path, output)
        self.kept = False

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint to resume the stream from, if any."""
        return None if self.previous is None else self.previous.checkpoint

    def begin(self, file: IO[str], writer: Writer) -> None:
        """Copy what the interrupted run wrote into ``file``; ``writer`` goes on after it."""
        if self.previous is None:
            return
        with open(self._path, encoding="utf-8", newline="") as old:
            shutil.copyfileobj(old, file)
        writer.continue_after(self.previous.written)

    def save(self, written: int, checkpoint: dict[str, Any]) -> None:
        """Record that the output file holds ``written`` invoices, up to ``checkpoint``."""
        ResumeState(format=self._format, written=written, checkpoint=checkpoint).save(
            self._state_path
        )

    def finish(self) -> None:
        """The run is complete: nothing is left to resume."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._state_path)
