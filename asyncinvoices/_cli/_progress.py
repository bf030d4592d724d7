"""The progress bar on stderr, and the note shown while the client is held back.

The bar is drawn with rich only when stderr is a terminal, ``--no-progress`` was not given
and rich is installed (the ``cli`` extra); otherwise nothing is drawn and
nothing is written. While it runs, log records are printed above it instead of through it.

:func:`governor_note` is pure: it reads the client's rate governor and says whether, and
why, requests are being held back at this moment.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

import anyio

from asyncinvoices import FetchStats, ManyStats, RateGovernor

if TYPE_CHECKING:
    from ._logging import StreamSwitch

try:
    import rich.console
    import rich.file_proxy
    import rich.progress

    HAVE_RICH = True
except ImportError:  # pragma: no cover - the test extra installs rich
    HAVE_RICH = False

__all__ = ["HAVE_RICH", "Progress", "governor_note", "progress_display", "watch_governor"]


class Progress(Protocol):
    """What a command reports progress to.

    Attributes:
        visible: Whether a bar is drawn (and its note shows why requests wait).
    """

    visible: bool

    def update(self, stats: FetchStats | ManyStats) -> None:
        """Show the run's latest statistics."""

    def note(self, text: str) -> None:
        """Show a short note next to the bar (an empty string clears it)."""


class _NoProgress:
    """Shows nothing: stderr is not a terminal, ``--no-progress``, or rich is missing."""

    visible = False

    def update(self, stats: FetchStats | ManyStats) -> None:
        """Do nothing."""

    def note(self, text: str) -> None:
        """Do nothing."""


class _RichProgress:
    """A rich progress bar: pages done / total, invoices, rate, ETA and a note."""

    visible = True

    def __init__(self, progress: Any, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(
            description, total=None, invoices=0, rate="", note="", unit="pages"
        )

    def update(self, stats: FetchStats | ManyStats) -> None:
        """Show the run's latest statistics: pages, or accounts over many accounts."""
        rate = f"{stats.invoices / stats.elapsed:,.0f} inv/s" if stats.elapsed > 0 else ""
        if isinstance(stats, ManyStats):
            done, total, unit = stats.accounts_done, stats.accounts_total, "accounts"
        else:
            done, total, unit = stats.pages, stats.planned_pages, "pages"
        self._progress.update(
            self._task,
            completed=done,
            total=total,
            invoices=f"{stats.invoices:,}",
            rate=rate,
            unit=unit,
        )

    def note(self, text: str) -> None:
        """Show ``text`` next to the bar."""
        self._progress.update(self._task, note=text)


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal (``False`` when closed, or not a real file)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress_display(
    stderr: IO[str],
    *,
    enabled: bool,
    description: str,
    log_stream: StreamSwitch | None = None,
) -> Iterator[Progress]:
    """Show a progress bar on ``stderr`` for the duration of the block, if appropriate.

    Args:
        stderr: Where to draw; nothing is drawn unless it is a terminal.
        enabled: ``False`` for ``--no-progress``.
        description: The text before the bar.
        log_stream: The logging handler's stream, redirected above the bar while it runs.
    """
    if not (enabled and is_terminal(stderr)):
        yield _NoProgress()
        return
    if not HAVE_RICH:  # pragma: no cover - the test extra installs rich
        stderr.write(
            "asyncinvoices: no progress bar, rich is not installed: "
            "install the cli extra (pip install rich)\n"
        )
        yield _NoProgress()
        return
    console = rich.console.Console(file=stderr, stderr=True)
    columns = (
        rich.progress.SpinnerColumn(),
        rich.progress.TextColumn("{task.description}"),
        rich.progress.BarColumn(),
        rich.progress.MofNCompleteColumn(),
        rich.progress.TextColumn(
            "{task.fields[unit]}  {task.fields[invoices]} invoices  {task.fields[rate]}"
        ),
        rich.progress.TimeRemainingColumn(),
        rich.progress.TextColumn("[yellow]{task.fields[note]}"),
    )
    progress = rich.progress.Progress(
        *columns, console=console, transient=False, redirect_stdout=False, redirect_stderr=False
    )
    previous = None
    if log_stream is not None:
        previous = log_stream.target
        log_stream.target = rich.file_proxy.FileProxy(console, stderr)
    try:
        with progress:
            yield _RichProgress(progress, description)
    finally:
        if log_stream is not None and previous is not None:
            log_stream.target.flush()
            log_stream.target = previous


def governor_note(governor: RateGovernor, now: float) -> str:
    """Return why requests are held back at clock time ``now``, or ``""`` if they are not.

    Args:
        governor: The client's rate governor.
        now: The governor's clock (``anyio.current_time()``).
    """
    if governor.paused_until > now:
        return f"Retry-After: waiting {governor.paused_until - now:.0f} s"
    window = governor.window
    if window is not None and window.occupied(now) >= window.quota:
        wait = window.wait_time(now)
        when = "" if wait is None or not math.isfinite(wait) else f", next in {wait:.0f} s"
        return f"rate limit {window.quota:,}/{window.window:g} s{when}"
    return ""


async def watch_governor(governor: RateGovernor, progress: Progress, *, every: float = 0.2) -> None:
    """Keep ``progress``'s note up to date with :func:`governor_note` until cancelled."""
    shown = ""
    while True:
        note = governor_note(governor, anyio.current_time())
        if note != shown:
            progress.note(note)
            shown = note
        await anyio.sleep(every)
