"""Filesystem operations per batch of a grower, against the number of other growers (issue 17).

The metadata server of a parallel filesystem is shared by every user of the machine: what
counts is how many opens, stats, directory listings and lock calls a grower puts on the crop
folder per batch, not how long they take here. Counted with ``strace -y`` (each system call
on a path or descriptor inside the crop folder), two ways:

* *simulated*: a crop whose ``results/`` holds the logs of N other growers (N = 10, 100,
  1,000, 10,000; one real, checksummed record each), and one traced grower growing batches
  of ~60 ms (sub-second, so the previous code refreshes its view before each); the cost per
  batch is the difference between a run of ``--batches`` and one of 2 batches, divided by
  the difference in batches (the start-up cost cancels; it is printed apart);
* *real*: ``--real`` concurrent grower processes all given every batch of a crop (each in its
  own order), traced together; operations per batch grown, and records per batch (1: the
  duplicate check held).

``--code DIR`` runs the growers with the xyzfarm package found in DIR (e.g. a checkout of the
previous release) to print the "before" curve. Needs strace (Linux). Writes only in a
temporary folder.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: system calls that move data, not metadata; everything else on the crop folder counts
DATA_CALLS = frozenset({"read", "pread64", "write", "pwrite64", "lseek", "readv", "writev"})
CLOSE_CALLS = frozenset({"close"})
#: the system call name at the start of a strace line (after the pid, with -f)
LINE = re.compile(r"^(?:\d+\s+)?(\w+)\(")


def nap(x: int) -> int:
    """A batch of ~60 ms: longer than the previous code's 50 ms refresh interval."""
    import time

    time.sleep(0.06)
    return x


def sow_crop(parent: Path, num_batches: int) -> Path:
    from xyzfarm.crop.sow import sow
    from xyzfarm.folder.layout import CropLayout
    from xyzfarm.sweep.assemble import check_schema

    layout = CropLayout("meta", parent)
    sow(
        layout,
        fn=nap,
        schema=check_schema("v", None, None),
        combos={"x": range(num_batches)},
        batchsize=1,
    )
    return layout.root


def add_other_growers(root: Path, count: int) -> None:
    """``count`` logs as other growers leave them: each holds batch k's real record."""
    from xyzfarm.folder import records

    results = root / "results"
    for k in range(1, count + 1):
        frame = records.log_frame(k, {"indices": range(k - 1, k), "outputs": [k - 1], "prov": []})
        (results / f"node{k % 997:03d}-{k}-1700000000000000000.log").write_bytes(frame)


def env_for(code: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code + os.pathsep + env.get("PYTHONPATH", "")
    return env


def plan(root: Path, code: str | None) -> None:
    """The planning pass of ``crop.grow`` / a submission, with the code that grows."""
    script = (
        "import sys\nfrom xyzfarm.crop.grow import missing_batches\n"
        "from xyzfarm.folder.layout import CropLayout\nfrom xyzfarm.node import manifest\n"
        "lay = CropLayout.from_root(sys.argv[1])\n"
        "missing_batches(lay, manifest.read(lay)['plan']['num_batches'])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(root)], env=env_for(code), check=True, cwd=root.parent
    )


def count_calls(trace: Path, root: Path) -> collections.Counter[str]:
    """Calls per kind (metadata, close, data) on paths inside ``root``."""
    counts: collections.Counter[str] = collections.Counter()
    needle = os.fspath(root)
    for line in trace.read_text(errors="replace").splitlines():
        if needle not in line:
            continue
        found = LINE.match(line)
        if not found:
            continue
        call = found.group(1)
        kind = "data" if call in DATA_CALLS else "close" if call in CLOSE_CALLS else "meta"
        counts[kind] += 1
        counts[call] += 1
    return counts


def traced(argv: list[str], trace: Path, code: str | None) -> None:
    cmd = ["strace", "-f", "-qq", "-y", "-e", "trace=%file,%desc", "-o", str(trace), *argv]
    # run from the trace's folder: `python -m` and `-c` put the working folder first on
    # sys.path, which would shadow --code with the checkout the benchmark is run from
    subprocess.run(cmd, env=env_for(code), check=True, stdout=subprocess.DEVNULL, cwd=trace.parent)


def grow_traced(
    root: Path, batches: list[int], code: str | None, work: Path
) -> collections.Counter[str]:
    trace = work / f"trace-{batches[0]}.txt"
    traced(
        [sys.executable, "-m", "xyzfarm.worker", "grow", str(root), *map(str, batches)], trace, code
    )
    return count_calls(trace, root)


def simulated(others: int, batches: int, code: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="xyz-meta-") as tmp:
        work = Path(tmp)
        root = sow_crop(work, others + 2 + batches)
        add_other_growers(root, others)
        plan(root, code)
        first = others + 1
        short = grow_traced(root, [first, first + 1], code, work)
        long_run = list(range(first + 2, first + 2 + batches))
        full = grow_traced(root, long_run, code, work)
        extra = batches - 2
        return {
            "meta": (full["meta"] - short["meta"]) / extra,
            "close": (full["close"] - short["close"]) / extra,
            "data": (full["data"] - short["data"]) / extra,
            "startup_meta": short["meta"] - 2 * (full["meta"] - short["meta"]) / extra,
            "openat": (full["openat"] - short["openat"]) / extra,
        }


REAL = r"""
import random, subprocess, sys
root, count, num = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
procs = []
for k in range(count):
    order = list(range(1, num + 1))
    random.Random(k).shuffle(order)
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "xyzfarm.worker", "grow", root, *map(str, order)]))
for p in procs:
    p.wait()
"""


def real(growers: int, num_batches: int, code: str | None) -> dict[str, float]:
    from xyzfarm.folder.layout import CropLayout
    from xyzfarm.folder.results import ResultIndex

    with tempfile.TemporaryDirectory(prefix="xyz-meta-") as tmp:
        work = Path(tmp)
        root = sow_crop(work, num_batches)
        plan(root, code)
        trace = work / "trace.txt"
        traced([sys.executable, "-c", REAL, str(root), str(growers), str(num_batches)], trace, code)
        counts = count_calls(trace, root)
        index = ResultIndex(CropLayout.from_root(root), report=False).refresh()
        copies = [len(index._where.get(b, ())) for b in range(1, num_batches + 1)]
        return {
            "meta": counts["meta"] / num_batches,
            "close": counts["close"] / num_batches,
            "records_per_batch_max": max(copies),
            "missing": copies.count(0),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--growers", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--batches", type=int, default=8, help="batches of the long traced run")
    parser.add_argument("--real", type=int, default=8, help="concurrent real growers (0: none)")
    parser.add_argument("--real-batches", type=int, default=200)
    parser.add_argument("--code", default=None, help="folder holding the xyzfarm to measure")
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("bench_metadata needs strace (apt-get install strace).")
    label = args.code or "this checkout"
    print(f"filesystem calls on the crop folder per batch of one grower ({label})")
    print(
        f"{'other growers':>14} {'metadata':>9} {'of which open':>14} {'close':>6} "
        f"{'data':>6} {'start-up metadata':>18}"
    )
    for others in args.growers:
        got = simulated(others, args.batches, args.code)
        print(
            f"{others:>14,} {got['meta']:>9.1f} {got['openat']:>14.1f} {got['close']:>6.1f} "
            f"{got['data']:>6.1f} {got['startup_meta']:>18,.0f}"
        )
    if args.real:
        got = real(args.real, args.real_batches, args.code)
        print(
            f"{args.real} real concurrent growers, {args.real_batches} batches each offered to "
            f"all: {got['meta']:.1f} metadata calls + {got['close']:.1f} closes per batch; "
            f"at most {got['records_per_batch_max']} record(s) per batch, "
            f"{got['missing']} batch(es) missing"
        )


if __name__ == "__main__":
    main()
