"""The worker runtime, what runs on compute nodes: the worker, its command line, the pinned
pool, its process groups and sentinel, core and GPU slots, and how functions travel.

The crop folder's files these read and write are :mod:`xyzfarm.folder`'s.

LEAN: nothing here imports xarray, pandas, h5netcdf or jinja2 (a contract in pyproject.toml and
a test check it). Layer: imports :mod:`xyzfarm.folder`, :mod:`xyzfarm.schedulers`,
:mod:`xyzfarm.sweep`, :mod:`xyzfarm.store` and :mod:`xyzfarm.errors` (see
docs/architecture.md).
"""
