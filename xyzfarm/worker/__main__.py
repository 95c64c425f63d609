"""``python -m xyzfarm.worker``: forwards to :func:`xyzfarm.node.worker_cli.main`."""

import sys

from ..node.worker_cli import main

if __name__ == "__main__":
    sys.exit(main())
