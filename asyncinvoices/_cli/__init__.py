"""The ``asyncinvoices`` command line: ``fetch``, ``summary``, ``accounts``, ``sync``, ``demo``
and ``fake-server``.

Install it with the ``cli`` extra, ``pip install ".[cli]"`` in a clone of the repository (for
the progress bar; it runs without rich too). Run ``asyncinvoices --help`` for the commands,
their examples and the exit codes.

:func:`run` is the program as a function, for tests::

    code = run(["fetch", account_id, "--format", "jsonl"], stdout=buffer, stderr=errors,
               environ={"CLOUDFLARE_API_TOKEN": token})

and :func:`run_async` is the same inside a running event loop (e.g. next to a FakeCloudflare).
"""

from ._app import build_parser, main, run, run_async
from ._failures import ExitCode

__all__ = ["ExitCode", "build_parser", "main", "run", "run_async"]
