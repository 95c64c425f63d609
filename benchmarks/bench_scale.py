"""Scale: sow, grow and reap 10^4, 10^5 and 10^6 trivial cases (1,000 batches), each phase in
a fresh interpreter so its peak memory is its own; xyzpy 1.3.5 side by side.

Run with ``make bench``. Prints, per size and library: seconds per phase, files in the crop
folder after growing, peak RSS of the reap, and the size of the reaped Dataset (xyzfarm's
provenance, kept beside it in ``last_provenance``, is not counted).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)

PHASE = r"""
import json, os, resource, sys, time
sys.path.insert(0, {here!r})
lib_name, phase, n, parent = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lib = __import__(lib_name)
from trivial import add4
side = round(n ** 0.25)
combos = {{"a": range(side), "b": range(side), "c": range(side), "d": range(n // side**3)}}
crop = lib.Runner(add4, "v").Crop(name="scale", parent_dir=parent, num_batches=1000)
out = {{}}
start = time.perf_counter()
if phase == "sow":
    crop.sow_combos(combos, verbosity=0)
elif phase == "grow":
    if lib_name == "xyzfarm":
        crop.grow(verbosity=0)
    else:
        crop.grow_missing(verbosity=0)
else:
    ds = crop.reap(verbosity=0)
    out["dataset_mb"] = ds.nbytes / 2**20
out["seconds"] = time.perf_counter() - start
out["files"] = sum(len(f) + len(d) for _, d, f in os.walk(os.path.join(parent, ".xyz-scale")))
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_phase(lib: str, phase: str, n: int, parent: str) -> dict[str, float]:
    argv = [sys.executable, "-c", PHASE.format(here=HERE), lib, phase, str(n), parent]
    # in the crop's parent folder: ``-c`` puts the working folder first on sys.path, where a
    # checkout's xyzfarm would shadow the one PYTHONPATH names
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=parent)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def merge_small_into_big(side: int, repeats: int = 5) -> tuple[float, float, float]:
    """Seconds to merge 10x10 new values into a side x side file: atomic, in place; file MB."""
    import statistics
    import time

    import numpy as np
    import xarray as xr

    import xyzfarm
    from xyzfarm.store.full_data import merge_into_file

    big = xr.Dataset(
        {"v": (("a", "b"), np.random.default_rng(0).random((side, side)))},
        coords={"a": np.arange(side), "b": np.arange(side)},
    )
    big["v"][:10, :10] = np.nan  # the holes the new results fill
    new = big.isel(a=slice(0, 10), b=slice(0, 10)).fillna(1.0)
    out = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.h5"
        for in_place in (False, True):
            times = []
            for _ in range(repeats):
                xyzfarm.save_ds(big, path)
                start = time.perf_counter()
                merge_into_file(path, new, None, in_place=in_place)
                times.append(time.perf_counter() - start)
            out.append(statistics.median(times))
        size = path.stat().st_size / 2**20
    return out[0], out[1], size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--xyzpy-max", type=int, default=1_000_000, help="largest size to run xyzpy at"
    )
    args = parser.parse_args()
    libs = ["xyzfarm"]
    try:
        import xyzpy  # noqa: F401

        libs.append("xyzpy")
    except ImportError:
        pass
    print(
        f"{'n':>9} {'who':<8} {'sow s':>7} {'grow s':>7} {'reap s':>7} {'files':>6} "
        f"{'reap peak MB':>12} {'dataset MB':>10}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        for lib in libs:
            if lib == "xyzpy" and n > args.xyzpy_max:
                continue
            with tempfile.TemporaryDirectory() as parent:
                sow = run_phase(lib, "sow", n, parent)
                grow = run_phase(lib, "grow", n, parent)
                reap = run_phase(lib, "reap", n, parent)
            print(
                f"{n:>9} {lib:<8} {sow['seconds']:>7.2f} {grow['seconds']:>7.2f} "
                f"{reap['seconds']:>7.2f} {grow['files']:>6.0f} {reap['peak_mb']:>12.0f} "
                f"{reap.get('dataset_mb', 0):>10.1f}"
            )
    print()
    print(f"{'values in file':>14} {'file MB':>8} {'atomic merge s':>15} {'in place s':>11}")
    for side in (1000, 3163):
        atomic, in_place, size = merge_small_into_big(side)
        print(f"{side * side:>14} {size:>8.0f} {atomic:>15.4f} {in_place:>11.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
