"""Crops: sowing cases into a folder, growing them locally or as array jobs, reaping results.

Layer: imports :mod:`xyzfarm.node`, :mod:`xyzfarm.schedulers`, :mod:`xyzfarm.sweep.run`,
:mod:`xyzfarm.store` and :mod:`xyzfarm.errors`, never the farmers above it: they reach a crop
through the :class:`~xyzfarm.crop.farmer.Farmer` protocol (see docs/architecture.md).
"""
