"""The crop folder's on-disk format: its paths, manifest, framed records, result logs, failure
and submission records, provenance, throttle, and the state read from them all.

One module per file kind, each with one writer and one reader; every layer that touches a
crop folder goes through them (the worker runtime in :mod:`xyzfarm.node`, the crop in
:mod:`xyzfarm.crop`, the command line).

LEAN: nothing here imports xarray, pandas, h5netcdf or jinja2 (a contract in pyproject.toml):
``xyzfarm status`` and every compute node read these. Layer: imports
:mod:`xyzfarm.schedulers`, :mod:`xyzfarm.sweep`, :mod:`xyzfarm.store` and
:mod:`xyzfarm.errors`.
"""
