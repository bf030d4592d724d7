"""``python -m asyncinvoices``: the same command line as the ``asyncinvoices`` script."""

from ._cli import main

if __name__ == "__main__":
    main()
