"""The crop cycle against xyzpy 1.3.5 and against ``run_combos``, each in a fresh interpreter.

Run with ``.venv-bench/bin/python benchmarks/bench_cycle.py`` (``make bench`` runs it too).
Each measurement is one fresh interpreter, as a user runs a script: the libraries are
imported first (not timed), then one thing is timed, first-call costs included:

* ``cycle``: sow ``n`` trivial cases (x: 100 values, y: n/100) into 1,000 batches, grow them
  in this process, reap them into the Runner, provenance kept beside the data (the default);
* ``noprov``: the same, reaped with ``provenance=False``;
* ``run_combos``: xyzfarm's ``Runner.run_combos`` of the same cases, no crop;
* ``xyzpy``: xyzpy 1.3.5's crop cycle of the same cases (``grow_missing``).

Rounds alternate the kinds, so noise on the 2 shared cores hits all of them alike; the
ratios are of the medians. Modules load from bytecode, as for an installed package (see
:func:`user_env`). ``--phases`` also prints sow, grow and reap of the cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)

ONE = r"""
import json, sys, time
sys.path.insert(0, {here!r})
kind, n, parent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lib = __import__("xyzpy" if kind == "xyzpy" else "xyzfarm")
from trivial import add_xy
combos = {{"x": range(100), "y": range(n // 100)}}
runner = lib.Runner(add_xy, "v")
times = []
start = time.perf_counter()
if kind == "run_combos":
    runner.run_combos(combos, verbosity=0)
else:
    crop = runner.Crop(name="cycle", parent_dir=parent, num_batches=1000)
    crop.sow_combos(combos, verbosity=0)
    times.append(time.perf_counter())
    if kind == "xyzpy":
        crop.grow_missing(verbosity=0)
    else:
        crop.grow(verbosity=0)
    times.append(time.perf_counter())
    if kind == "xyzpy":
        crop.reap(verbosity=0)
    else:
        crop.reap(verbosity=0, provenance=(kind == "cycle"))
end = time.perf_counter()
phases = [b - a for a, b in zip([start, *times], [*times, end])]
print(json.dumps({{"seconds": end - start, "phases": phases, "lib": lib.__file__}}))
"""


def measure(kind: str, n: int, parent: str, env: dict[str, str]) -> dict[str, object]:
    argv = [sys.executable, "-c", ONE.format(here=HERE), kind, str(n), parent]
    # run in the crop's parent folder: ``-c`` puts the working folder first on sys.path, and
    # a checkout's own xyzfarm there would shadow the one PYTHONPATH names
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=parent)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def user_env(pycache: str) -> dict[str, str]:
    """The environment of a user's interpreter: modules load from compiled bytecode.

    An installed package comes compiled; a checkout is compiled on its first import. With
    PYTHONDONTWRITEBYTECODE set (as in some shells here) every fresh interpreter would
    compile xyzfarm from source and nothing else, so bytecode goes to a folder of this run
    (``PYTHONPYCACHEPREFIX``, filled by an untimed first round), never into the checkout.
    """
    env = dict(os.environ, PYTHONPYCACHEPREFIX=pycache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6])
    parser.add_argument("--repeats", type=int, default=7, help="rounds at 10^5")
    parser.add_argument("--big-repeats", type=int, default=3, help="rounds above 10^5")
    parser.add_argument("--phases", action="store_true", help="also print sow, grow, reap")
    parser.add_argument("--no-xyzpy", action="store_true", help="leave xyzpy out")
    args = parser.parse_args()
    kinds = ["run_combos", "cycle", "noprov"] + ([] if args.no_xyzpy else ["xyzpy"])
    print(f"python {sys.version.split()[0]}; medians of fresh interpreters (spread: min-max)")
    pycache = tempfile.TemporaryDirectory()
    env = user_env(pycache.name)
    for kind in kinds:  # compiles every module each kind imports, untimed
        with tempfile.TemporaryDirectory() as parent:
            print(f"  {kind}: {measure(kind, 1000, parent, env)['lib']}")
    for n in args.sizes:
        repeats = args.repeats if n <= 10**5 else args.big_repeats
        got: dict[str, list[dict[str, object]]] = {k: [] for k in kinds}
        for _ in range(repeats):
            for kind in kinds:
                with tempfile.TemporaryDirectory() as parent:
                    got[kind].append(measure(kind, n, parent, env))
        med = {k: statistics.median(float(r["seconds"]) for r in v) for k, v in got.items()}  # type: ignore[arg-type]
        print(f"n = {n:,} cases, 1,000 batches, {repeats} rounds")
        for kind in kinds:
            secs = [float(r["seconds"]) for r in got[kind]]  # type: ignore[arg-type]
            line = f"  {kind:<11}{med[kind]:8.3f} s  ({min(secs):.3f}-{max(secs):.3f})"
            if args.phases and kind != "run_combos":
                phases = [statistics.median(r["phases"][i] for r in got[kind]) for i in range(3)]  # type: ignore[index]
                line += "  sow {:.3f} grow {:.3f} reap {:.3f}".format(*phases)
            print(line)
        print(f"  cycle / run_combos: {med['cycle'] / med['run_combos']:.2f}x", end="")
        if "xyzpy" in med:
            print(f"   xyzpy / cycle: {med['xyzpy'] / med['cycle']:.1f}x")
        else:
            print()
    pycache.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
