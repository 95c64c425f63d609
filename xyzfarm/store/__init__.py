"""Files: atomic writes, locks, cloudpickle, datasets and tables on disk, merging them.

Layer: imports only :mod:`xyzfarm.errors` (see docs/architecture.md).
"""
