"""xyzpy's ``manage`` helpers and the rest of its top-level API: frames, missing cases, reshaping,
merging files, caching to disk, SLURM output files.

Layer: part of the user's API (beside :mod:`xyzfarm.runner`); imports any layer below it.
"""
