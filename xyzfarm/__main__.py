"""``python -m xyzfarm``: the command line (see :mod:`xyzfarm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
