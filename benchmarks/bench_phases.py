"""Where a crop cycle's time goes: sow, claim, read, call, append, checkpoint, reap read, fill,
write, timed inside one cycle of trivial cases (in-process grow, reap into a Runner).

Run with ``.venv/bin/python benchmarks/bench_phases.py [--cases N]`` (or with
``PYTHONPATH=<checkout>`` to time another release: phases whose functions it lacks are
left out). Each phase is the summed wall time of the functions that do it, wrapped by a
timer (~0.3 us per call, counted in the phase); ``grow other`` and ``reap other`` are what
the phases leave of the whole grow and reap (planning, provenance, progress, Python glue).
Prints the median of ``--repeats`` cycles after one warm-up cycle, and the calls per batch.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trivial import add_xy

import xyzfarm

#: phase -> (module, attribute path) of the functions that do it (none nested in another);
#: those a release lacks are skipped, so the table works on releases with other names
PHASES: dict[str, list[tuple[str, str]]] = {
    "claim": [
        ("store.record_locks", "RecordLocks.try_lock"),
        ("store.storage", "RecordLocks.try_lock"),
        ("store.record_locks", "RecordLocks.unlock"),
        ("store.storage", "RecordLocks.unlock"),
        ("folder.results", "DoneMap.is_set"),
        ("node.results", "DoneMap.is_set"),
        ("folder.results", "DoneMap.read"),
        ("node.results", "DoneMap.read"),
    ],
    "read": [
        ("folder.records", "IndexedReader.get"),
        ("node.records", "IndexedReader.get"),
        ("folder.records", "read_appended"),
        ("node.records", "read_appended"),
    ],
    "append": [
        ("folder.results", "ResultWriter.append"),
        ("node.results", "ResultWriter.append"),
        ("folder.results", "DoneMap.set"),
        ("node.results", "DoneMap.set"),
    ],
    "checkpoint": [("folder.records", "append_record"), ("node.records", "append_record")],
    # reading every log's new records, checksums verified: the planning pass and the status
    # that grow returns, then the reap's own
    "scan logs": [
        ("folder.results", "ResultIndex.refresh"),
        ("node.results", "ResultIndex.refresh"),
    ],
    "reap read": [("folder.results", "ResultIndex.load"), ("node.results", "ResultIndex.load")],
    "fill": [("sweep.assemble", "GridFiller.add")],
    "write": [
        ("sweep.assemble", "GridFiller.dataset"),
        ("crop.reap", "provenance_dataset"),
    ],
}


def _module(name: str) -> Any:
    """``xyzfarm.<layer>.<module>``, or ``xyzfarm.<module>`` in releases before the layers;
    None where the release has neither (its module lives in another layer: listed twice)."""
    for dotted in (f"xyzfarm.{name}", f"xyzfarm.{name.rpartition('.')[2]}"):
        try:
            return importlib.import_module(dotted)
        except ImportError:
            continue
    return None


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, phase: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start
                self.calls[phase] += 1

        return timed

    def install(self) -> list[str]:
        found = []
        for phase, places in PHASES.items():
            for module_name, path in places:
                owner: Any = _module(module_name)
                if owner is None:
                    continue
                *parents, name = path.split(".")
                for part in parents:
                    owner = getattr(owner, part, None)  # a class moved to another module
                if owner is None:
                    continue
                fn = (
                    owner.__dict__.get(name)
                    if isinstance(owner, type)
                    else getattr(owner, name, None)
                )
                if fn is None:
                    continue
                setattr(owner, name, self.wrap(phase, fn))
                found.append(f"{module_name}.{path}")
        return found


def cycle(parent: str, n: int, timers: Timers) -> dict[str, float]:
    timers.seconds.clear()
    timers.calls.clear()
    runner = xyzfarm.Runner(add_xy, "v")
    crop = runner.Crop(name="phases", parent_dir=parent, num_batches=1000)
    t0 = time.perf_counter()
    crop.sow_combos({"x": range(100), "y": range(n // 100)}, verbosity=0)
    t1 = time.perf_counter()
    crop.grow(verbosity=0)
    t2 = time.perf_counter()
    grew = dict(timers.seconds)
    crop.reap(verbosity=0)
    t3 = time.perf_counter()
    got = {k: v - grew.get(k, 0.0) for k, v in timers.seconds.items()}  # the reap's
    got["reap scan logs"] = got.pop("scan logs", 0.0)
    got.update(grew)
    got["sow"] = t1 - t0
    if "call" not in got:  # the bare calls, timed apart (timing each would cost more)
        xs, ys = zip(*((x, y) for x in range(100) for y in range(n // 100)))
        start = time.perf_counter()
        list(map(add_xy, xs, ys))
        got["call"] = time.perf_counter() - start
        grew["call"] = got["call"]
    got["grow other"] = (t2 - t1) - sum(grew.values())
    reaped = ("reap scan logs", "reap read", "fill", "write")
    got["reap other"] = (t3 - t2) - sum(got.get(p, 0.0) for p in reaped)
    got["total"] = t3 - t0
    got.update({f"calls {k}": float(v) for k, v in timers.calls.items()})
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10**5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    timers = Timers()
    timers.install()
    runs = []
    with tempfile.TemporaryDirectory() as parent:
        cycle(parent, args.cases, timers)  # warm-up: imports, first calls
        for _ in range(args.repeats):
            runs.append(cycle(parent, args.cases, timers))
    order = ["sow", "claim", "read", "call", "append", "checkpoint", "scan logs", "grow other"]
    order += ["reap scan logs", "reap read", "fill", "write", "reap other", "total"]
    print(
        f"xyzfarm {xyzfarm.__file__}: {args.cases:,} cases, 1,000 batches, median of {args.repeats}"
    )
    for phase in order:
        med = statistics.median(r.get(phase, 0.0) for r in runs)
        calls = statistics.median(r.get(f"calls {phase}", 0.0) for r in runs)
        per = f"{calls / 1000:6.1f} calls/batch" if calls else ""
        print(f"  {phase:<12}{med * 1e3:8.1f} ms  {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
