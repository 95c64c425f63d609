"""The ``xyzfarm`` command line (also ``python -m xyzfarm``): the only module that prints."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from . import __version__
from .errors import XyzfarmError


def _cmd_demo(args: argparse.Namespace) -> int:
    from .datafile import load_ds
    from .demo import run_demo

    start = time.perf_counter()
    run_demo(args.data_name, num_workers=args.num_workers)
    elapsed = time.perf_counter() - start
    ds = load_ds(args.data_name)  # read back from disk: what the user will get
    from .pool import plan_slots

    cores = ", ".join(str(s.cpus) for s in plan_slots(args.num_workers, num_threads=1))
    print(
        f"wrote {os.path.abspath(args.data_name)} in {elapsed:.2f} s, the missing cases grown "
        f"by pinned worker processes on cores {cores} (one thread each)"
    )
    print(ds)
    mean = ds["energy"].mean("seed")
    print("\nground-state energy per site, mean over seeds (rows: n, columns: disorder):")
    print(mean.to_pandas().round(4).to_string())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xyzfarm", description="Sweep labelled functions and farm the cases out."
    )
    parser.add_argument("--version", action="version", version=f"xyzfarm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo sweep and print a summary of the result")
    demo.add_argument("--data-name", default="xyzfarm-demo.h5", help="result file to write")
    demo.add_argument("--num-workers", type=int, default=2, help="parallel worker processes")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except (XyzfarmError, OSError) as exc:
        if args.debug:
            raise
        print(f"xyzfarm: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
