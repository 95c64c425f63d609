"""The ``xyzfarm`` command line (also ``python -m xyzfarm``): the only module that prints.

Exit codes a shell script can rely on: 0 done, 1 the work is not complete (failed or missing
batches), 2 an error (bad arguments, missing crop, scheduler failure) reported in one line
(the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import XyzfarmError

INCOMPLETE = 1
ERROR = 2


def _crop_layout(args: argparse.Namespace) -> Any:
    from .layout import CropLayout

    layout = CropLayout(args.name, args.dir)
    if not layout.exists():
        raise FileNotFoundError(
            f"no crop {args.name!r} in {str(layout.parent_dir)!r} (looked for {layout.root})."
        )
    return layout


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def cmd_status(args: argparse.Namespace) -> int:
    # lean on purpose: layout/state/results only, no xarray, so it answers in milliseconds
    from .layout import FOLDER_PREFIX, CropLayout
    from .state import crop_status, last_error

    folder = Path(args.dir)
    names = sorted(
        p.name[len(FOLDER_PREFIX) :]
        for p in folder.glob(f"{FOLDER_PREFIX}*")
        if (p / "crop.json").is_file()
    )
    if args.name:
        names = [n for n in names if n in args.name]
    rows = []
    for name in names:
        layout = CropLayout(name, folder)
        st = crop_status(layout)
        errors = {b: last_error(layout, b) for b in st.failed_ids[: args.errors]}
        rows.append((name, st, errors))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": n,
                        "total": s.total,
                        "done": s.done,
                        "failed": s.failed,
                        "running": s.running,
                        "missing": s.missing,
                        "failed_ids": list(s.failed_ids),
                        "last_errors": {str(b): e for b, e in errs.items()},
                    }
                    for n, s, errs in rows
                ],
                indent=1,
            )
        )
    elif not rows:
        print(f"no crops in {folder.resolve()}")
    else:
        width = max(len(n) for n, _, _ in rows)
        print(
            f"{'crop':<{width}}  {'done':>7} {'failed':>6} {'running':>7} {'missing':>7}  progress"
        )
        for name, st, errors in rows:
            print(
                f"{name:<{width}}  {st.done:>7} {st.failed:>6} {st.running:>7} {st.missing:>7}  "
                f"{_bar(st.done, st.total)} {st.done}/{st.total}"
            )
            for batch, error in errors.items():
                print(f"{'':<{width}}    batch {batch}: {error}")
    complete = all(st.done == st.total for _, st, _ in rows)
    return 0 if complete else INCOMPLETE


def _crop(args: argparse.Namespace) -> Any:
    from .crop import Crop

    _crop_layout(args)
    return Crop(name=args.name, parent_dir=args.dir)


def _batches(args: argparse.Namespace, crop: Any) -> list[int] | None:
    if getattr(args, "failed", False):
        failed = list(crop.status().failed_ids)
        if not failed:
            raise XyzfarmError(f"the crop {crop.name!r} has no failed batch.")
        return failed
    return [int(b) for b in args.batches.split(",")] if getattr(args, "batches", None) else None


def cmd_grow(args: argparse.Namespace) -> int:
    crop = _crop(args)
    batches = _batches(args, crop)
    pinned = args.threads is not None or args.gpus is not None
    state = crop.grow(
        batch_ids=batches,
        subprocess=pinned or (args.workers or 1) > 1,
        num_workers=args.workers,
        num_threads=args.threads or (1 if args.workers else None),
        gpus=args.gpus,
        log=args.log,
        verbosity=0 if args.quiet else 1,
    )
    print(f"{crop.name}: {state}")
    return 0 if state.done == state.total else INCOMPLETE


def _resources(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise XyzfarmError(f"resource {pair!r} is not KEY=VALUE (e.g. walltime=2:00:00).")
        try:
            out[key] = json.loads(value)  # numbers and lists; anything else stays text
        except ValueError:
            out[key] = value
    return out


def _cluster_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "scheduler": args.scheduler,
        "profile": args.profile,
        "workers_per_task": args.workers_per_task,
        "resources": _resources(args.resource),
    }
    if args.max_array_size:
        options["max_array_size"] = args.max_array_size
    return options


def cmd_submit(args: argparse.Namespace) -> int:
    crop = _crop(args)
    job = crop.grow(
        batch_ids=_batches(args, crop),
        **_cluster_options(args),
        wait=args.wait,
        retries=args.retries,
    )
    print(
        f"{crop.name}: submitted {len(job.batches)} batches as {job.scheduler} job(s) "
        f"{' '.join(job.job_ids)}; follow with: xyzfarm status {args.dir}"
    )
    if args.wait or args.retries:
        left = job.remaining()
        return 0 if not left else INCOMPLETE
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    crop = _crop(args)
    options = _cluster_options(args)
    print(crop.render(options.pop("scheduler"), **options), end="")
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    crop = _crop(args)
    out = crop.reap(
        allow_incomplete=args.allow_incomplete,
        clean_up=False if args.keep else None,
        overwrite=None if args.overwrite is None else args.overwrite == "new",
        into=args.into,
    )
    if args.into:
        print(f"{args.name}: merged into {args.into}")
    else:
        print(f"{args.name}: reaped" + (f"\n{out}" if out is not None else ""))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from .schedulers import get, shell

    layout = _crop_layout(args)
    cancelled = 0
    for record in sorted((layout.root / "jobs").glob("*/submission.json")):
        sub = json.loads(record.read_text())
        shell.run(get(sub["scheduler"]).cancel_argv(sub["job_ids"]), check=False)
        cancelled += len(sub["job_ids"])
    print(f"{args.name}: cancelled {cancelled} job(s)")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from . import reap as reaping

    layout = _crop_layout(args)
    if not args.yes:
        raise XyzfarmError(f"this deletes {layout.root} and every result in it; add --yes.")
    reaping.delete_crop(layout)
    print(f"{args.name}: deleted {layout.root}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .datafile import load_ds
    from .demo import plot_demo, run_demo
    from .pool import plan_slots

    start = time.perf_counter()
    run_demo(args.data_name, num_workers=args.num_workers)
    elapsed = time.perf_counter() - start
    ds = load_ds(args.data_name)  # read back from disk: what the user will get
    cores = ", ".join(str(s.cpus) for s in plan_slots(args.num_workers, num_threads=1))
    print(
        f"wrote {os.path.abspath(args.data_name)} in {elapsed:.2f} s, the missing cases grown "
        f"by pinned worker processes on cores {cores} (one thread each)"
    )
    print(ds)
    mean = ds["energy"].mean("seed")
    print("\nground-state energy per site, mean over seeds (rows: n, columns: disorder):")
    print(mean.to_pandas().round(4).to_string())
    png = plot_demo(ds, Path(args.data_name).with_suffix(".png"))
    print(f"\nplot: {png}" if png else "\n(pip install matplotlib for a plot of the result)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xyzfarm",
        description="Sweep labelled functions and farm the cases out.",
        epilog="Exit status: 0 done, 1 work incomplete (failed or missing batches), 2 error.",
    )
    parser.add_argument("--version", action="version", version=f"xyzfarm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def crop_command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("name", help="the crop's name (its folder is .xyz-NAME)")
        p.add_argument("--dir", default=".", help="folder holding the crop (default: here)")
        return p

    p = sub.add_parser(
        "status",
        help="state of every crop in a folder",
        description="State of every crop in a folder, from its files alone.",
    )
    p.add_argument("dir", nargs="?", default=".", help="folder holding crops (default: here)")
    p.add_argument("--name", action="append", help="only this crop (repeatable)")
    p.add_argument("--errors", type=int, default=3, help="last errors shown per crop")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = crop_command("grow", "grow a crop's missing batches on this machine")
    p.add_argument("--workers", type=int, help="pinned worker processes")
    p.add_argument("--threads", type=int, help="cores (and threads) per worker")
    p.add_argument("--gpus", help="GPU ids for the workers, e.g. 0,1")
    p.add_argument("--batches", help="only these batch ids, e.g. 1,5,9")
    p.add_argument("--failed", action="store_true", help="only the failed batches")
    p.add_argument("--retries", type=int, default=0, help="grow failed batches again, N times")
    p.add_argument("--log", action="store_true", help="per-batch log files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_grow)

    for name, help_, func in (
        ("submit", "submit a crop's missing batches as array jobs", cmd_submit),
        ("render", "print the array-job script submit would use", cmd_render),
    ):
        p = crop_command(name, help_)
        p.add_argument("--scheduler", choices=["slurm", "pbs", "sge"])
        p.add_argument("--profile", help="a profile from profiles.toml / xyzfarm.toml")
        p.add_argument("--workers-per-task", type=int, help="pinned workers in each task")
        p.add_argument(
            "--resource",
            "-r",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="e.g. -r walltime=2:00:00 -r mem_gb=4 -r partition=short",
        )
        p.add_argument("--max-array-size", type=int, help="override the site's array limit")
        if name == "submit":
            p.add_argument("--wait", action="store_true", help="wait until the batches are done")
            p.add_argument("--failed", action="store_true", help="only the failed batches")
            p.add_argument(
                "--retries",
                type=int,
                default=0,
                help="resubmit failed batches N times (waits; longer walltime or more "
                "memory after a timeout or memory failure)",
            )
        p.set_defaults(func=func)

    p = crop_command("reap", "merge a crop's results (no user code needed)")
    p.add_argument(
        "--into", help="merge into this h5netcdf file instead of what the crop was sown for"
    )
    p.add_argument(
        "--allow-incomplete", action="store_true", help="reap what exists (NaN elsewhere)"
    )
    p.add_argument("--overwrite", choices=["new", "old"], help="who wins where values differ")
    p.add_argument("--keep", action="store_true", help="keep the crop folder afterwards")
    p.set_defaults(func=cmd_reap)

    p = crop_command("cancel", "cancel every array job submitted for a crop")
    p.set_defaults(func=cmd_cancel)

    p = crop_command("clean", "delete a crop folder")
    p.add_argument("--yes", action="store_true", help="really delete it")
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser(
        "demo",
        help="run the demo sweep and show the result",
        description="Cultivate the demo grid with pinned local workers.",
    )
    p.add_argument("--data-name", default="xyzfarm-demo.h5", help="result file to write")
    p.add_argument("--num-workers", type=int, default=2, help="pinned worker processes")
    p.set_defaults(func=cmd_demo)
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
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"xyzfarm: error: {message}", file=sys.stderr)
        from .errors import CropIncompleteError

        return INCOMPLETE if isinstance(exc, CropIncompleteError) else ERROR
    return status
