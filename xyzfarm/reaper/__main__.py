"""``python -m xyzfarm.reaper``: forwards to :func:`xyzfarm.crop.reap_job.main`."""

import sys

from ..crop.reap_job import main

if __name__ == "__main__":
    sys.exit(main())
