"""What each scenario runs: the server's settings, the contenders and their settings.

Every scenario exists in a full and a quick size; the quick one runs the same contenders
on smaller accounts with fewer repetitions, so that ``make bench-quick`` stays under two
minutes on a two-core machine. A scenario's servers are started fresh (one per ``server``
group), and the repetitions are interleaved: repetition 1 of every case, then repetition 2,
so that a slow spell of a noisy machine hits every contender alike.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["TELEMETRY_CASES", "Case", "Scenario", "ServerSpec", "cpu_case", "scenarios"]


@attrs.frozen(kw_only=True)
class ServerSpec:
    """The settings of one FakeCloudflare process (see :mod:`benchmarks.serve`).

    Attributes:
        invoices: Invoices of the account.
        latency_ms: Milliseconds added to every response.
        max_per_page: The largest ``per_page`` the server accepts.
        rate_limit: ``(requests, window_seconds)`` enforced by the server, or None.
        block: Seconds a 429 block lasts.
        fault_rate: Share of requests answered 502, 503 or reset.
        seed: Seed of the data and of the fault draws.
        warm: Fetch every page once before the timed runs, so that the server answers from
            its cache of rendered pages and its own CPU cost stays out of the client's way.
        fresh_per_run: Start a new server for every run (so that the seeded faults and the
            rate limiter start from the same state each time).
        shapes: FakeCloudflare's ``shapes``: ``"plain"``, every invoice in one tidy shape;
            ``"mixed"``, about a third of them in the other shapes the schema allows.
    """

    invoices: int
    latency_ms: float = 0.0
    max_per_page: int = 1000
    rate_limit: tuple[int, float] | None = None
    block: float = 300.0
    fault_rate: float = 0.0
    seed: int = 0
    warm: bool = False
    fresh_per_run: bool = False
    shapes: str = "plain"

    def argv(self) -> list[str]:
        """The command-line arguments of :mod:`benchmarks.serve` for these settings."""
        rate = "off" if self.rate_limit is None else f"{self.rate_limit[0]}/{self.rate_limit[1]}"
        return [
            f"--invoices={self.invoices}",
            f"--latency={self.latency_ms}",
            f"--max-per-page={self.max_per_page}",
            f"--rate-limit={rate}",
            f"--block={self.block}",
            f"--fault-rate={self.fault_rate}",
            f"--seed={self.seed}",
            f"--shapes={self.shapes}",
            # Every page of the largest account fits: 1,000,000 invoices are ~420 MB of JSON.
            "--cache-mib=1024",
        ]


@attrs.frozen(kw_only=True)
class Case:
    """One contender with its settings, run ``repetitions`` times against ``server``.

    Attributes:
        label: What the report calls it, e.g. ``"C=16"``.
        contender: A contender of :mod:`benchmarks.run_one`.
        server: The key of the scenario's server this case runs against.
        per_page: The page size asked for.
        concurrency: ``max_concurrency`` (asyncinvoices only).
        rate_limit: asyncinvoices' client-side ``RateLimit`` as ``(requests, window)``, or
            None for ``rate_limit=None``.
        digest: Hash every invoice, to compare what different runs read.
        otel: OpenTelemetry in the client's process: ``"absent"`` (made unimportable),
            ``"api"`` (installed, no SDK configured) or ``"sdk"`` (an SDK recording every
            span and metric point); ``None``: as installed, not configured.
    """

    label: str
    contender: str
    server: str
    per_page: int
    concurrency: int = 16
    rate_limit: tuple[int, float] | None = None
    digest: bool = False
    otel: str | None = None

    def spec(self) -> dict[str, Any]:
        """The part of :mod:`benchmarks.run_one`'s spec this case decides."""
        spec: dict[str, Any] = {
            "contender": self.contender,
            "per_page": self.per_page,
            "concurrency": self.concurrency,
            "rate_limit": None if self.rate_limit is None else list(self.rate_limit),
            "digest": self.digest,
        }
        if self.otel is not None:
            spec["otel"] = self.otel
        return spec


@attrs.frozen(kw_only=True)
class Scenario:
    """A named set of cases against one or more servers, repeated ``repetitions`` times.

    Attributes:
        name: The scenario's key in the results (``latency``, ``cpu``, ...).
        title: Its heading in the report.
        servers: The servers, by key.
        cases: What runs against them.
        repetitions: How many times each case runs.
        params: Numbers the report needs (latency, pages, quota, ...).
    """

    name: str
    title: str
    servers: dict[str, ServerSpec]
    cases: tuple[Case, ...]
    repetitions: int
    params: dict[str, Any] = attrs.field(factory=dict)


CONCURRENCIES = (1, 4, 16, 64)


def _latency(quick: bool) -> Scenario:
    latency_ms, per_page = 60.0, 50
    invoices = 2_000 if quick else 20_000
    server = ServerSpec(invoices=invoices, latency_ms=latency_ms, max_per_page=100)
    cases = [
        Case(
            label=f"C={c}",
            contender="asyncinvoices",
            server="s",
            per_page=per_page,
            concurrency=c,
            digest=True,
        )
        for c in CONCURRENCIES
    ]
    cases += [
        Case(label="list_invoices C=16", contender="asyncinvoices-list", server="s",
             per_page=per_page, concurrency=16, digest=True),
        Case(label="official SDK", contender="official-sdk", server="s", per_page=per_page),
        Case(label="naive aiohttp", contender="naive-aiohttp", server="s", per_page=per_page),
    ]  # fmt: skip
    return Scenario(
        name="latency",
        title="Latency-bound",
        servers={"s": server},
        cases=tuple(cases),
        repetitions=2 if quick else 3,
        params={
            "latency": latency_ms / 1000,
            "invoices": invoices,
            "per_page": per_page,
            "pages": -(-invoices // per_page),
            "concurrencies": list(CONCURRENCIES),
        },
    )


def cpu_case(name: str, shape: str) -> str:
    """The label of a CPU-bound case: the contender's name, plus the shape when not plain."""
    return name if shape == "plain" else f"{name}, {shape}"


_CPU_CONTENDERS = {
    # The shape mix is what the targets are judged on; the plain shape is the reference and
    # keeps the contenders that structure nothing (naive) or only repeat the stream.
    "plain": (
        ("asyncinvoices (stream)", "asyncinvoices"),
        ("asyncinvoices (list_invoices)", "asyncinvoices-list"),
        ("official SDK", "official-sdk"),
        ("naive aiohttp", "naive-aiohttp"),
        ("in-process ceiling", "ceiling"),
    ),
    "mixed": (
        ("asyncinvoices (stream)", "asyncinvoices"),
        ("official SDK", "official-sdk"),
        ("in-process ceiling", "ceiling"),
    ),
}


def _cpu(quick: bool) -> Scenario:
    per_page, concurrency = 1000, 8
    invoices = 20_000 if quick else 200_000
    servers = {
        shape: ServerSpec(invoices=invoices, max_per_page=per_page, warm=True, shapes=shape)
        for shape in _CPU_CONTENDERS
    }
    cases = tuple(
        Case(label=cpu_case(name, shape), contender=contender, server=shape, per_page=per_page,
             concurrency=concurrency)
        for shape, contenders in _CPU_CONTENDERS.items()
        for name, contender in contenders
    )  # fmt: skip
    return Scenario(
        name="cpu",
        title="CPU-bound",
        servers=servers,
        cases=cases,
        repetitions=2 if quick else 3,
        params={
            "invoices": invoices,
            "per_page": per_page,
            "concurrency": concurrency,
            "shapes": list(_CPU_CONTENDERS),
        },
    )


def _memory(quick: bool) -> Scenario:
    per_page = 1000
    sizes = (30_000, 60_000, 100_000) if quick else (100_000, 300_000, 1_000_000)
    servers = {f"n{n}": ServerSpec(invoices=n, max_per_page=per_page, warm=True) for n in sizes}
    cases = tuple(
        Case(label=f"{n:,}", contender="asyncinvoices", server=f"n{n}", per_page=per_page,
             concurrency=16)
        for n in sizes
    )  # fmt: skip
    return Scenario(
        name="memory",
        title="Memory",
        servers=servers,
        cases=cases,
        repetitions=2 if quick else 3,
        params={"sizes": list(sizes), "per_page": per_page, "concurrency": 16},
    )


def _governor(quick: bool) -> Scenario:
    latency_ms, per_page = 60.0, 50
    quota, window = (30, 2.0) if quick else (60, 5.0)
    pages = 100 if quick else 300
    server = ServerSpec(
        invoices=pages * per_page,
        latency_ms=latency_ms,
        max_per_page=100,
        rate_limit=(quota, window),
        block=window,
        fresh_per_run=True,
    )
    case = Case(
        label=f"{quota} / {window:g} s",
        contender="asyncinvoices",
        server="s",
        per_page=per_page,
        concurrency=64,
        rate_limit=(quota, window),
        digest=True,
    )
    return Scenario(
        name="governor",
        title="Rate governor",
        servers={"s": server},
        cases=(case,),
        repetitions=2 if quick else 3,
        params={
            "latency": latency_ms / 1000,
            "pages": pages,
            "quota": quota,
            "window": window,
            "concurrency": 64,
        },
    )


def _faults(quick: bool) -> Scenario:
    latency_ms, per_page, rate = 60.0, 50, 0.05
    invoices = 4_000 if quick else 20_000
    clean = ServerSpec(
        invoices=invoices, latency_ms=latency_ms, max_per_page=100, seed=7, fresh_per_run=True
    )
    faulty = attrs.evolve(clean, fault_rate=rate)
    cases = tuple(
        Case(label=label, contender="asyncinvoices", server=key, per_page=per_page,
             concurrency=16, digest=True)
        for label, key in (("clean", "clean"), ("5% faults", "faulty"))
    )  # fmt: skip
    return Scenario(
        name="faults",
        title="Faults",
        servers={"clean": clean, "faulty": faulty},
        cases=cases,
        repetitions=2 if quick else 3,
        params={
            "latency": latency_ms / 1000,
            "invoices": invoices,
            "per_page": per_page,
            "fault_rate": rate,
            "concurrency": 16,
        },
    )


TELEMETRY_CASES = (
    ("without OpenTelemetry", "absent"),
    ("OpenTelemetry API, no SDK", "api"),
    ("OpenTelemetry SDK, recording", "sdk"),
)
"""The telemetry scenario's cases: its label and ``Case.otel``."""


def _telemetry(quick: bool) -> Scenario:
    # The CPU-bound walk, where any cost per request or per page would show most.
    per_page, concurrency = 1000, 8
    invoices = 20_000 if quick else 200_000
    server = ServerSpec(invoices=invoices, max_per_page=per_page, warm=True)
    cases = tuple(
        Case(label=label, contender="asyncinvoices", server="plain", per_page=per_page,
             concurrency=concurrency, otel=otel)
        for label, otel in TELEMETRY_CASES
    )  # fmt: skip
    return Scenario(
        name="telemetry",
        title="Telemetry overhead",
        servers={"plain": server},
        cases=cases,
        # More repetitions than elsewhere: the target is a difference of 2%.
        repetitions=3 if quick else 9,
        params={"invoices": invoices, "per_page": per_page, "concurrency": concurrency},
    )


def scenarios(*, quick: bool) -> list[Scenario]:
    """Every scenario, in the order they run, at the full or the quick size."""
    return [
        _latency(quick),
        _cpu(quick),
        _memory(quick),
        _governor(quick),
        _faults(quick),
        _telemetry(quick),
    ]
