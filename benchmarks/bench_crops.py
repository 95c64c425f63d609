"""Crop benchmarks: xyzfarm vs xyzpy 1.3.5, measured in one run.

Run with ``make bench``. Medians of ``--repeats`` runs (fewer where xyzpy is slow); the
machine is small and noisy, so read the ratios.

1. Crop cycle: sow 100,000 trivial cases into 1,000 batches, grow them in this process, reap.
2. Pool growing: per-batch overhead of subprocess growing after warm-up (one worker).
3. Worker cold start: a fresh interpreter growing one trivial batch (time and peak RSS).
4. Status of a crop of 10,000 batches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import xyzfarm

try:
    import xyzpy
except ImportError:  # pragma: no cover - only in a venv without the reference
    xyzpy = None

HERE = str(Path(__file__).resolve().parent)
sys.path.insert(0, HERE)
# worker processes (ours and xyzpy's) must import the benchmark functions too
os.environ["PYTHONPATH"] = os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]).rstrip(
    os.pathsep
)
from trivial import add_one, add_xy  # noqa: E402


def median_time(
    fn: Callable[[], object], repeats: int, setup: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def crop_cycle(lib, tmp: Path, provenance: bool = True) -> None:
    runner = lib.Runner(add_xy, "v")
    crop = runner.Crop(name="cycle", parent_dir=str(tmp), num_batches=1000)
    crop.sow_combos({"x": range(100), "y": range(1000)}, verbosity=0)
    if lib is xyzfarm:
        crop.grow(verbosity=0)
    else:
        crop.grow_missing(verbosity=0)
    if lib is xyzfarm:
        crop.reap(verbosity=0, provenance=provenance)
    else:
        crop.reap(verbosity=0)


def clean(tmp: Path) -> None:
    for p in tmp.glob(".xyz-*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def pool_grow(lib, tmp: Path, batches: int) -> float:
    clean(tmp)
    runner = lib.Runner(add_one, "v")
    crop = runner.Crop(name="pool", parent_dir=str(tmp), batchsize=1)
    crop.sow_combos({"x": range(batches)}, verbosity=0)
    start = time.perf_counter()
    crop.grow(subprocess=True, num_workers=1, verbosity=0)
    return time.perf_counter() - start


def cold_start(lib, tmp: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a fresh interpreter growing one trivial batch."""
    clean(tmp)
    crop = lib.Runner(add_one, "v").Crop(name="cold", parent_dir=str(tmp), batchsize=10)
    crop.sow_combos({"x": range(100)}, verbosity=0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    if lib is xyzfarm:
        cmd = [sys.executable, "-m", "xyzfarm.worker", "grow", crop.location]
    else:
        code = (
            "import sys, xyzpy as xyz; "
            "xyz.grow(int(sys.argv[1]), crop=xyz.Crop(name='cold', parent_dir=sys.argv[2]), "
            "verbosity=0)"
        )
        cmd = [sys.executable, "-c", code]
    times, peaks = [], []
    for batch in range(1, 6):
        args = [*cmd, str(batch)] if lib is xyzfarm else [*cmd, str(batch), str(tmp)]
        start = time.perf_counter()
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - start)
        peaks.append(int(out.stderr.strip().splitlines()[-1]) / 1024)
    return statistics.median(times), statistics.median(peaks)


def status_10k(lib, tmp: Path, repeats: int) -> float:
    clean(tmp)
    crop = lib.Runner(add_one, "v").Crop(name="status", parent_dir=str(tmp), batchsize=1)
    crop.sow_combos({"x": range(10_000)}, verbosity=0)
    ask = crop.status if lib is xyzfarm else (lambda: str(crop))
    return median_time(ask, repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    libs = [xyzfarm] + ([xyzpy] if xyzpy is not None else [])
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        got: dict[tuple[str, str], float] = {}
        for lib in libs:
            who = lib.__name__
            got["cycle", who] = median_time(
                lambda lib=lib: crop_cycle(lib, tmp), args.repeats, setup=lambda: clean(tmp)
            )
            if lib is xyzfarm:
                got["noprov", who] = median_time(
                    lambda: crop_cycle(xyzfarm, tmp, False), args.repeats, setup=lambda: clean(tmp)
                )
            small, big = (2, 6) if lib is xyzpy else (20, 220)
            per_batch = (pool_grow(lib, tmp, big) - pool_grow(lib, tmp, small)) / (big - small)
            got["pool", who] = per_batch
            got["cold", who], got["rss", who] = cold_start(lib, tmp)
            got["status", who] = status_10k(lib, tmp, args.repeats)
    labels = {
        "cycle": ("crop cycle 1e5 cases / 1e3 batches", "s"),
        "noprov": ("  same, reaped without provenance", "s"),
        "pool": ("subprocess per-batch overhead", "s"),
        "cold": ("worker cold start + 1 batch", "s"),
        "rss": ("worker peak RSS", "MB"),
        "status": ("status of 10,000 batches", "s"),
    }
    print(
        f"python {sys.version.split()[0]}, xyzfarm {xyzfarm.__version__}, "
        f"xyzpy {getattr(xyzpy, '__version__', 'not installed')}, {os.cpu_count()} cpus"
    )
    print(f"{'benchmark':<38}{'xyzfarm':>12}{'xyzpy 1.3.5':>14}{'xyzpy/xyzfarm':>16}")
    for key, (label, unit) in labels.items():
        ours = got[key, "xyzfarm"]
        ref = got.get((key, "xyzpy"))
        ratio = f"{ref / ours:.1f}x" if ref else "-"
        ref_text = f"{ref:.4f} {unit}" if ref is not None else "-"
        rows.append((label, f"{ours:.4f} {unit}", ref_text))
        print(f"{label:<38}{ours:>10.4f} {unit:<2}{ref_text:>14}{ratio:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
