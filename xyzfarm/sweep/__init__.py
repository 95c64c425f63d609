"""Sweeping a function in-process: argument checks, combos and cases, calling, assembling.

Layer: imports only :mod:`xyzfarm.store` and :mod:`xyzfarm.errors` (see docs/architecture.md).
"""
