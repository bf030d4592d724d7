"""``--metrics-file PATH``: the figures of one ``fetch`` or ``sync`` run, for Prometheus.

A nightly job reports to Prometheus the usual way a cron job does: it leaves a file in
Prometheus's text exposition format in the directory of node_exporter's textfile collector
(https://github.com/prometheus/node_exporter#textfile-collector), which reads every ``*.prom``
file there on each scrape. The file is written atomically (a half-written file would be
scraped as garbage) and written whatever the outcome, so that a failed run is seen as one;
a run that never happened is seen by the age of ``asyncinvoices_last_success_timestamp_seconds``,
which ``sync`` reads from the mirror's ``sync_runs`` and so carries across runs.

Every figure is a gauge of this run (the file is replaced by the next run), labelled with
the command. The format: https://prometheus.io/docs/instrumenting/exposition_formats/.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
from collections.abc import Callable, Iterable
from pathlib import Path

from asyncinvoices import InvoiceMirror, RequestEvent, SyncReport

from ._atomic import atomic_text_file

__all__ = ["OUTCOMES", "RunMetrics", "record_sync", "render"]

OUTCOMES = ("ok", "partial", "failed", "interrupted")
"""How a run ended, as ``asyncinvoices_run_outcome`` labels it."""


class RunMetrics:
    """The figures of one run, gathered as it goes and written once it ends.

    Args:
        command: ``"fetch"`` or ``"sync"``, the ``command`` label of every figure.
        path: The file to write.
        clock: The wall clock, for the run's end time.
    """

    def __init__(
        self,
        command: str,
        path: str | Path,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ) -> None:
        self.command = command
        self.path = Path(path)
        self._clock = clock
        self.requests: collections.Counter[str] = collections.Counter()
        """Requests that went on the wire, by status (or the failure's class)."""
        self.waited = 0.0
        """Seconds requests waited for the rate limit."""
        self.invoices: Callable[[], int] = lambda: 0
        """Reads how many invoices the run delivered (set by the command)."""
        self.report: SyncReport | None = None
        """What ``sync`` did, once it did it."""
        self.last_success: dict[str, dt.datetime | None] = {}
        """When the last successful sync of each account finished, from ``sync_runs``."""

    def on_request(self, event: RequestEvent) -> None:
        """Count one request on the wire (the client's ``on_request``)."""
        status = str(event.status) if event.status is not None else (event.error_type or "")
        self.requests[status] += 1
        self.waited += event.waited

    def write(self, outcome: str) -> None:
        """Write the file atomically, with ``outcome`` (one of :data:`OUTCOMES`).

        Raises:
            OSError: If the file cannot be written.
        """
        text = render(self, outcome, self._clock())
        with atomic_text_file(self.path) as file:
            file.write(text)


async def record_sync(metrics: RunMetrics, mirror: InvoiceMirror, report: SyncReport) -> None:
    """Keep what ``sync`` did, and each account's last successful sync from ``sync_runs``.

    Raises:
        MirrorError: If the database fails.
    """
    metrics.report = report
    metrics.invoices = lambda: sum(run.seen for run in report.accounts)
    for run in report.accounts:
        metrics.last_success[run.account_id] = await mirror.last_success(run.account_id)


def _labels(**labels: str) -> str:
    # Label values escape backslash, double quote and newline (the exposition format).
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escaped(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return repr(float(value))


class _Family:
    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.samples: list[tuple[str, float]] = []

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((_labels(**labels), value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self.samples:
            yield f"{self.name}{labels} {_number(value)}"


def render(metrics: RunMetrics, outcome: str, now: dt.datetime) -> str:
    """Return the run's figures in Prometheus's text format.

    Args:
        metrics: What the run gathered.
        outcome: How it ended, one of :data:`OUTCOMES`.
        now: When it ended.
    """
    command = metrics.command
    families: list[_Family] = []

    def family(name: str, help: str) -> _Family:
        made = _Family(name, help)
        families.append(made)
        return made

    outcomes = family(
        "asyncinvoices_run_outcome", "How the last run ended: 1 for its outcome, 0 for the others."
    )
    for each in OUTCOMES:
        outcomes.add(1 if each == outcome else 0, command=command, outcome=each)
    family("asyncinvoices_run_success", "1 if the last run succeeded in full, else 0.").add(
        1 if outcome == "ok" else 0, command=command
    )
    family(
        "asyncinvoices_run_end_timestamp_seconds", "When the last run ended, in Unix seconds."
    ).add(now.timestamp(), command=command)
    requests = family(
        "asyncinvoices_run_requests",
        "Requests of the last run that went on the wire, by HTTP status (or failure class).",
    )
    for status, count in sorted(metrics.requests.items()):
        requests.add(count, command=command, status=status)
    family("asyncinvoices_run_invoices", "Invoices the last run delivered.").add(
        metrics.invoices(), command=command
    )
    family(
        "asyncinvoices_run_rate_limit_wait_seconds",
        "Seconds the last run's requests waited for the rate limit.",
    ).add(metrics.waited, command=command)
    if metrics.report is not None:
        mirrored = {
            "inserted": family(
                "asyncinvoices_mirror_inserted", "Invoices new to the mirror in the last run."
            ),
            "updated": family(
                "asyncinvoices_mirror_updated", "Invoices the last run found changed."
            ),
            "removed": family(
                "asyncinvoices_mirror_removed", "Invoices the last run marked removed."
            ),
        }
        for run in metrics.report.accounts:
            for field, made in mirrored.items():
                made.add(getattr(run, field), command=command, account=run.account_id)
    if metrics.last_success:
        last = family(
            "asyncinvoices_last_success_timestamp_seconds",
            "When the last successful sync of the account finished, in Unix seconds "
            "(from the mirror's sync_runs; 0 if it never succeeded).",
        )
        for account_id, when in metrics.last_success.items():
            last.add(0 if when is None else when.timestamp(), command=command, account=account_id)
    return "".join(line + "\n" for f in families for line in f.lines())
