"""Pausing the cyclic garbage collector around loops that allocate per case.

Sweeps, sowing, growing and reaping allocate a few objects per case; with xarray and pandas
loaded, the collections those allocations trigger scan hundreds of thousands of long-lived
objects and cost more than the loop itself. Lean: the worker imports it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause automatic cyclic garbage collection; the loop collects young objects itself.

    Collecting only the youngest generation every few thousand cases (see
    :func:`xyzfarm.execute.run`, :func:`collect_young_if_due`) still frees reference cycles
    a user function creates.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: container objects allowed to pile up in the youngest generation while the GC is paused
_GC_YOUNG = 50_000


def collect_young_if_due() -> None:
    """Collect the youngest generation once enough objects piled up since the last time.

    For loops over batches inside :func:`paused_gc` (growing, reaping), whose steps hold any
    number of cases: one C call per step, a collection every ~50,000 new objects.
    """
    if gc.get_count()[0] > _GC_YOUNG:
        gc.collect(0)
