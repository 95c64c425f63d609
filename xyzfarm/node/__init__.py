"""What runs on compute nodes: the crop folder's files, the worker, the pool, a crop's state.

LEAN: nothing here imports xarray, pandas, h5netcdf or jinja2 (a contract in pyproject.toml and
a test check it). Layer: imports :mod:`xyzfarm.schedulers`, :mod:`xyzfarm.sweep.run`,
:mod:`xyzfarm.store` and :mod:`xyzfarm.errors` (see docs/architecture.md).
"""
