"""``python -m xyzfarm.worker``: the worker's stable command name (a forward, nothing else).

Array-job scripts and pool workers run ``python -m xyzfarm.worker ...``, and scripts of jobs
queued before the modules moved into :mod:`xyzfarm.node` say so too: this package keeps that
command working. The code lives in :mod:`xyzfarm.node.worker_cli` (the command line) and
:mod:`xyzfarm.node.worker` (growing batches). Import nothing here: the worker starts lean.
"""
