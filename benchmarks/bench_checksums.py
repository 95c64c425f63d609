"""What the HDF5 Fletcher-32 checksums on every variable cost a data file (issue 23).

A grid of 10^6 cases (1000 x 1000: two float outputs and an int one, 24 MB) is saved and
loaded with ``xyzfarm.save_ds`` / ``load_ds`` (checksums on, and off for comparison: the
same atomic, fsynced save), with plain xarray
``to_netcdf`` / ``load_dataset`` and h5netcdf (no checksums: what xyzfarm wrote before) and,
when xyzpy is installed (the benchmark venv), with xyzpy 1.3.5's ``save_ds`` / ``load_ds``.
Each is repeated ``--repeats`` times; medians are printed with ratios to plain xarray.
Writes only in a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr


def grid(n: int) -> xr.Dataset:
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "e": (("a", "b"), rng.random((n, n))),
            "g": (("a", "b"), rng.random((n, n))),
            "k": (("a", "b"), np.arange(n * n).reshape(n, n)),
        },
        coords={"a": np.arange(n), "b": np.arange(n) * 0.5},
    )


def _unchecked(save: Callable[[], object]) -> None:
    from xyzfarm.store import datafile

    kinds = datafile.CHECKSUMMED_KINDS
    datafile.CHECKSUMMED_KINDS = ""  # numbers stored as before issue 23: no filter
    try:
        save()
    finally:
        datafile.CHECKSUMMED_KINDS = kinds


def timed(fn: Callable[[Path], object], path: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000, help="grid side (cases: side^2)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import xyzfarm

    ds = grid(args.side)
    ways: dict[str, tuple[Callable[[Path], object], Callable[[Path], object]]] = {
        "xarray (no checksums)": (
            lambda p: ds.to_netcdf(p, engine="h5netcdf"),
            lambda p: xr.load_dataset(p, engine="h5netcdf"),
        ),
        "xyzfarm (Fletcher-32)": (
            lambda p: xyzfarm.save_ds(ds, p),
            lambda p: xyzfarm.load_ds(p),
        ),
        # the same atomic, fsynced save with the checksums switched off: what they cost
        "xyzfarm (no checksums)": (
            lambda p: _unchecked(lambda: xyzfarm.save_ds(ds, p)),
            lambda p: xyzfarm.load_ds(p),
        ),
    }
    try:
        import xyzpy

        ways["xyzpy 1.3.5"] = (
            lambda p: xyzpy.save_ds(ds, str(p)),
            lambda p: xyzpy.load_ds(str(p)),
        )
    except ImportError:
        pass
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, (write, read)) in enumerate(ways.items()):
            path = Path(tmp) / f"d{k}.h5"
            w = timed(write, path, args.repeats)
            r = timed(read, path, args.repeats)
            rows[name] = (w, r, path.stat().st_size)
    base_w, base_r, _ = rows["xarray (no checksums)"]
    print(f"{args.side**2:,} cases, medians of {args.repeats}")
    print(f"{'':24} {'write s':>8} {'ratio':>6} {'read s':>8} {'ratio':>6} {'MB':>6}")
    for name, (w, r, size) in rows.items():
        print(f"{name:24} {w:8.3f} {w / base_w:6.2f} {r:8.3f} {r / base_r:6.2f} {size / 1e6:6.1f}")


if __name__ == "__main__":
    main()
