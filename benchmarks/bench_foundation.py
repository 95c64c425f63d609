"""Foundation benchmarks: xyzfarm vs xyzpy 1.3.5 vs a bare loop, measured in one run.

Run with ``make bench`` (which builds ``.venv-bench`` with xyzpy 1.3.5 beside xyzfarm).
Each timing is the median of ``--repeats`` runs; the machine is small and noisy, so compare
the ratios printed at the end rather than absolute seconds.

1. ``run_combos`` over 10^5 trivial cases (x: 100 values, y: 1000 values, one output).
2. ``harvest_combos`` over a 20x20x20x5 grid with two outputs into a fresh h5netcdf file.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

import xyzfarm

try:
    import xyzpy
except ImportError:  # pragma: no cover - only in a venv without the reference
    xyzpy = None


def trivial(x, y):
    return x + y


def two_outputs(a, b, c, d):
    return a + b, c * d


RUN_COMBOS = {"x": range(100), "y": range(1000)}
HARVEST_COMBOS = {"a": range(20), "b": range(20), "c": range(20), "d": range(5)}


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: imports, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_run_combos() -> np.ndarray:
    xs, ys = RUN_COMBOS["x"], RUN_COMBOS["y"]
    out = np.empty((len(xs), len(ys)))
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            out[i, j] = trivial(x, y)
    return out


def bare_harvest(path: Path) -> None:
    shape = tuple(len(v) for v in HARVEST_COMBOS.values())
    s, p = np.empty(shape), np.empty(shape)
    for idx in itertools.product(*(range(n) for n in shape)):
        values = [HARVEST_COMBOS[k][i] for k, i in zip(HARVEST_COMBOS, idx)]
        s[idx], p[idx] = two_outputs(*values)
    dims = tuple(HARVEST_COMBOS)
    ds = xr.Dataset(
        {"s": (dims, s), "p": (dims, p)}, coords={k: list(v) for k, v in HARVEST_COMBOS.items()}
    )
    ds.to_netcdf(path, engine="h5netcdf")


def fresh(folder: str, name: str) -> Path:
    path = Path(folder) / name
    for p in Path(folder).glob(name + "*"):
        p.unlink()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # 1. run_combos, 10^5 trivial cases
        farm_runner = xyzfarm.Runner(trivial, "v")
        rows.append(("run_combos 1e5", "bare loop", median_time(bare_run_combos, args.repeats)))
        rows.append(
            (
                "run_combos 1e5",
                "xyzfarm",
                median_time(lambda: farm_runner.run_combos(RUN_COMBOS, verbosity=0), args.repeats),
            )
        )
        if xyzpy is not None:
            ref_runner = xyzpy.Runner(trivial, "v")
            rows.append(
                (
                    "run_combos 1e5",
                    "xyzpy 1.3.5",
                    median_time(
                        lambda: ref_runner.run_combos(RUN_COMBOS, verbosity=0), args.repeats
                    ),
                )
            )

        # 2. harvest_combos, 40,000 cases, two outputs, fresh file each time
        rows.append(
            (
                "harvest 20x20x20x5",
                "bare loop",
                median_time(lambda: bare_harvest(fresh(tmp, "bare.h5")), args.repeats),
            )
        )

        def farm_harvest() -> None:
            h = xyzfarm.Harvester(
                xyzfarm.Runner(two_outputs, ["s", "p"]), data_name=fresh(tmp, "farm.h5")
            )
            h.harvest_combos(HARVEST_COMBOS, verbosity=0)

        rows.append(("harvest 20x20x20x5", "xyzfarm", median_time(farm_harvest, args.repeats)))
        if xyzpy is not None:

            def ref_harvest() -> None:
                path = fresh(tmp, "ref.h5")
                h = xyzpy.Harvester(xyzpy.Runner(two_outputs, ["s", "p"]), data_name=str(path))
                h.harvest_combos(HARVEST_COMBOS, verbosity=0)

            rows.append(
                ("harvest 20x20x20x5", "xyzpy 1.3.5", median_time(ref_harvest, args.repeats))
            )

    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, xarray {xr.__version__}, "
        f"xyzfarm {xyzfarm.__version__}, xyzpy {getattr(xyzpy, '__version__', 'not installed')}, "
        f"{os.cpu_count()} cpus, median of {args.repeats}"
    )
    print(f"{'benchmark':<22}{'who':<14}{'median s':>10}")
    for bench, who, t in rows:
        print(f"{bench:<22}{who:<14}{t:>10.4f}")
    print()
    for bench in dict.fromkeys(b for b, _, _ in rows):
        got = {who: t for b, who, t in rows if b == bench}
        line = f"{bench:<22} xyzfarm / bare loop = {got['xyzfarm'] / got['bare loop']:.2f}x"
        if "xyzpy 1.3.5" in got:
            line += f"   xyzpy / xyzfarm = {got['xyzpy 1.3.5'] / got['xyzfarm']:.2f}x faster"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
