"""``python -m xyzfarm.reaper``: the reap job's stable command (see :mod:`xyzfarm.crop.reap_job`).

Rendered into every reap job script; like ``python -m xyzfarm.worker``, it stays where it is
whatever module does the work, so a job queued before an upgrade still runs after it.
"""
