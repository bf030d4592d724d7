"""``python -m benchmarks``: run the benchmark suite (``--quick`` for a short run)."""

from .suite import main

raise SystemExit(main())
