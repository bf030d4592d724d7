"""``python -m asyncinvoices.testing``: serve FakeCloudflare until Ctrl-C."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
