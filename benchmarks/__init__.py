"""The asyncinvoices benchmark suite: ``python -m benchmarks`` (``--quick`` for a short run).

Every scenario starts FakeCloudflare in its own process (:mod:`benchmarks.serve`) and runs
each contender in a fresh process of its own (:mod:`benchmarks.run_one`), which reports its
wall time and peak RSS as one JSON line. :mod:`benchmarks.suite` runs the scenarios,
:mod:`benchmarks.report` turns the raw runs into tables, the verdicts on the targets, the
plot and ``docs/benchmarks.md``.
"""
