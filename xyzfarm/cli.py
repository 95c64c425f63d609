"""The ``xyzfarm`` command line (also ``python -m xyzfarm``): the only module that prints.

Exit codes a shell script can rely on: 0 done, 1 the work is not complete (failed or missing
batches), 2 an error (bad arguments, missing crop, scheduler failure) reported in one line
(the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import CropIncompleteError, InvalidInputError, MergeConflictError, XyzfarmError

INCOMPLETE = 1
ERROR = 2
#: the folder prefix of crops (layout.FOLDER_PREFIX; repeated so that parsing imports nothing)
_PREFIX = ".xyz-"


# -- values argparse refuses (exit 2, naming the value) ---------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return value


def _batch_ids(text: str) -> list[int]:
    ids = [b.strip() for b in text.split(",") if b.strip()]
    if not ids or not all(b.isdigit() and int(b) >= 1 for b in ids):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of batch ids (positive integers, e.g. 1,5,9)"
        )
    return [int(b) for b in ids]


def _gpu_ids(text: str) -> str:
    from .slots import parse_gpu_ids  # only when --gpus is given: status stays lean

    try:
        return ",".join(parse_gpu_ids(text, "--gpus"))
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--gpus=")) from exc


# -- folders and crop names ------------------------------------------------------------------


def _folder(path: str, option: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"no such folder: {path!r} ({option}).")
    if not folder.is_dir():
        raise NotADirectoryError(f"{path!r} ({option}) is a file, not a folder of crops.")
    return folder


def _crop_names(folder: Path) -> list[str]:
    return sorted(
        p.name[len(_PREFIX) :] for p in folder.glob(f"{_PREFIX}*") if (p / "crop.json").is_file()
    )


def _no_such_crop(name: str, folder: Path, names: Sequence[str]) -> FileNotFoundError:
    where = folder.resolve()
    message = f"no crop {name!r} in {str(where)!r} (looked for {where / (_PREFIX + name)})"
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if close:
        message += f"; did you mean {' or '.join(map(repr, close))}?"
    elif names:
        message += f"; the crops there are {', '.join(names)}."
    else:
        message += "."
    return FileNotFoundError(message)


def _crop_layout(args: argparse.Namespace) -> Any:
    from .layout import CropLayout

    folder = _folder(args.dir, "--dir")
    layout = CropLayout(args.name, folder)
    if not layout.exists():
        raise _no_such_crop(args.name, folder, _crop_names(folder))
    return layout


# -- messages in the command line's own terms ------------------------------------------------


def _command(args: argparse.Namespace, command: str) -> str:
    name = getattr(args, "name", None)
    where = "" if getattr(args, "dir", ".") in (".", None) else f" --dir {args.dir}"
    return f"xyzfarm {command} {name if isinstance(name, str) else 'NAME'}{where}"


def _cli_terms(args: argparse.Namespace) -> list[tuple[str, Callable[[re.Match[str]], str]]]:
    """(pattern, replacement) for the Python advice the library's messages give."""
    workers = "--num-workers" if args.command == "demo" else "--workers"
    return [
        (r"\(?crop\.grow_missing\(\)\)?", lambda m: f"({_command(args, 'grow')})"),
        (
            r"grow it from the process that has the function \(crop\.grow\(\.\.\.\)\)",
            lambda m: (
                "the command line cannot grow it: grow it from Python, in the process "
                "that has the function (crop.grow())"
            ),
        ),
        (r"(pass )?allow_incomplete=True", lambda m: "reap with --allow-incomplete"),
        (
            r"pass scheduler='slurm'\|'pbs'\|'sge' or a profile",
            lambda m: "give --scheduler slurm|pbs|sge or --profile NAME",
        ),
        (r"scheduler='(\w+)'", lambda m: f"--scheduler {m.group(1)}"),
        (r"(pass )?overwrite=True", lambda m: "give --overwrite new"),
        (r"overwrite=False", lambda m: "--overwrite old"),
        (r"(--overwrite new[^.;]*), or False\b", lambda m: f"{m.group(1)}, or --overwrite old"),
        (r"crop\.delete_all\(\)", lambda m: f"{_command(args, 'clean')} --yes"),
        (r"\bnum_workers=(\S+?)(?=[\s,;:.]|$)", lambda m: f"{workers} {m.group(1)}"),
        (r"\bnum_workers\b", lambda m: workers),
        (r"\bnum_threads=(\S+?)(?=[\s,;:.]|$)", lambda m: f"--threads {m.group(1)}"),
        (r"\bnum_threads\b", lambda m: "--threads"),
        (r"\bworkers_per_task=", lambda m: "--workers-per-task "),
        (r"\bmax_array_size=", lambda m: "--max-array-size "),
        (r"\bdata_name=", lambda m: "--data-name "),
        (r"^batch ids ", lambda m: "--batches: batch ids "),
    ]


def in_cli_terms(message: str, args: argparse.Namespace, exc: BaseException | None = None) -> str:
    """``message`` with the library's Python advice (``crop.grow_missing()``,
    ``allow_incomplete=True``, ``scheduler='slurm'``, ...) told as this command's options."""
    for pattern, replace in _cli_terms(args):
        message = re.sub(pattern, replace, message)
    # whatever the library's wording, these errors always get their command-line way out
    if isinstance(exc, CropIncompleteError) and "--allow-incomplete" not in message:
        message += (
            f" (grow them: {_command(args, 'grow')}; or reap what exists: "
            f"{_command(args, 'reap')} --allow-incomplete)"
        )
    if isinstance(exc, MergeConflictError) and "--overwrite" not in message:
        message += " (choose who wins: --overwrite new or --overwrite old)"
    return message


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def cmd_status(args: argparse.Namespace) -> int:
    # lean on purpose: layout/state/results only, no xarray, so it answers in milliseconds
    from .layout import CropLayout
    from .state import crop_status, last_error

    folder = _folder(args.dir, "DIR")
    if folder.resolve().name.startswith(_PREFIX) and (folder / "crop.json").is_file():
        crop = folder.resolve()
        raise InvalidInputError(
            f"{args.dir!r} is a crop folder itself; ask its parent: xyzfarm status "
            f"{crop.parent} --name {crop.name[len(_PREFIX) :]}"
        )
    names = _crop_names(folder)
    if args.name:
        for name in args.name:
            if name not in names:
                raise _no_such_crop(name, folder, names)
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
                        "damaged": getattr(s, "damaged", 0),
                        "damaged_ids": list(getattr(s, "damaged_ids", ())),
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
        # the damaged column only when there is damage (fields newer than some CropStatus)
        damage = any(getattr(st, "damaged", 0) for _, st, _ in rows)
        print(
            f"{'crop':<{width}}  {'done':>7} {'failed':>6} {'running':>7} {'missing':>7}  "
            + (f"{'damaged':>7}  " if damage else "")
            + "progress"
        )
        for name, st, errors in rows:
            damaged = getattr(st, "damaged", 0)
            print(
                f"{name:<{width}}  {st.done:>7} {st.failed:>6} {st.running:>7} {st.missing:>7}  "
                + (f"{damaged:>7}  " if damage else "")
                + f"{_bar(st.done, st.total)} {st.done}/{st.total}"
            )
            for batch, error in errors.items():
                print(f"{'':<{width}}    batch {batch}: {error}")
            if damaged:
                ids = ", ".join(map(str, getattr(st, "damaged_ids", ())[:10]))
                print(
                    f"{'':<{width}}    damaged batches {ids or '?'}: regrown by xyzfarm grow {name}"
                )
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
    batches: list[int] | None = getattr(args, "batches", None)
    return batches


def cmd_grow(args: argparse.Namespace) -> int:
    crop = _crop(args)
    batches = _batches(args, crop)
    pinned = args.threads is not None or args.gpus is not None
    state = crop.grow(
        batch_ids=batches,
        # per-batch log files are written by worker processes, so --log asks for one
        subprocess=pinned or args.log or (args.workers or 1) > 1,
        num_workers=args.workers,
        num_threads=args.threads or (1 if args.workers else None),
        gpus=args.gpus,
        log=args.log,
        verbosity=0 if args.quiet else 1,
        retries=args.retries,
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
    if args.scheduler is None and args.profile is None:
        # without either, Crop.grow would grow here instead of submitting: never do that silently
        raise InvalidInputError(
            f"{args.command} needs a scheduler: give --scheduler slurm|pbs|sge or --profile NAME."
        )
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
        # why they failed, in the terms the tasks recorded (e.g. a function that cannot load)
        for batch, reason in sorted(job.failures().items())[:5]:
            print(f"{crop.name}: batch {batch}: {reason}", file=sys.stderr)
        return 0 if not left else INCOMPLETE
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    crop = _crop(args)
    options = _cluster_options(args)
    plan = crop._render_plan(options.pop("scheduler"), None, **options)
    print(plan.texts[0], end="")
    # the script on stdout stays pipeable; where it was written, and how to submit it, aside
    from .schedulers.submit import output_dir_of, submit_command

    out_dir = output_dir_of(plan.layout, plan.resources)
    for script in plan.scripts:
        print(
            f"xyzfarm: wrote {script} (and its map file); submit it by hand with:\n"
            f"  {submit_command(plan.scheduler, script, out_dir)}",
            file=sys.stderr,
        )
    return 0


def _refuse_to_reap_into_nothing(args: argparse.Namespace, layout: Any) -> None:
    """A crop whose results go to no file would be printed and then deleted: refuse that."""
    from . import manifest

    record = manifest.read(layout).get("farmer") or {}
    if record.get("kind") in ("harvester", "sampler"):
        return
    origin = "from a Runner" if record.get("kind") == "runner" else "without a Harvester or Sampler"
    raise InvalidInputError(
        f"the crop {args.name!r} was sown {origin}, so its results go to no file and reaping "
        "would delete them with the crop; give --into FILE (the crop is removed once they are "
        "saved there) or --keep to only print them."
    )


def cmd_reap(args: argparse.Namespace) -> int:
    crop = _crop(args)
    if args.into is None and not args.keep:
        _refuse_to_reap_into_nothing(args, crop.layout)
    out = crop.reap(
        allow_incomplete=args.allow_incomplete,
        clean_up=False if args.keep else None,
        overwrite=None if args.overwrite is None else args.overwrite == "new",
        into=args.into,
        provenance=False if args.provenance == "none" else args.provenance,
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
    from .demo import check_demo_folder, plot_demo, run_demo

    check_demo_folder(args.data_name)  # before anything is imported, sown or written
    from .datafile import load_ds
    from .slots import plan_slots

    def cases_in_file() -> int:
        if not os.path.exists(args.data_name):
            return 0
        return int(load_ds(args.data_name)["energy"].notnull().sum())

    before = cases_in_file()
    start = time.perf_counter()
    run_demo(args.data_name, num_workers=args.num_workers)
    elapsed = time.perf_counter() - start
    ds = load_ds(args.data_name)  # read back from disk: what the user will get
    grown = int(ds["energy"].notnull().sum()) - before
    path = os.path.abspath(args.data_name)
    if grown:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # growing said it already, if fewer cores
            slots = plan_slots(args.num_workers, num_threads=1)
        cores = ", ".join(str(s.cpus) for s in slots)
        print(
            f"wrote {path} in {elapsed:.2f} s: {grown} missing cases grown by pinned worker "
            f"processes on cores {cores} (one thread each)"
        )
    else:
        print(f"{path}: every case was there already; nothing to grow ({elapsed:.2f} s)")
    print(ds)
    mean = ds["energy"].mean("seed")
    print("\nground-state energy per site, mean over seeds (rows: n, columns: disorder):")
    print(mean.to_pandas().round(4).to_string())
    png = plot_demo(ds, Path(args.data_name).with_suffix(".png"))
    print(f"\nplot: {png}" if png else "\n(pip install 'xyzfarm[plot]' for a plot of the result)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xyzfarm",
        description="Sweep labelled functions and farm the cases out.",
        epilog="Exit status: 0 done, 1 work incomplete (failed or missing batches), 2 error.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"xyzfarm {__version__}")
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
    p.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="folder holding crops (default: here)"
    )
    p.add_argument("--name", action="append", metavar="NAME", help="only this crop (repeatable)")
    p.add_argument(
        "--errors", type=_count, default=3, metavar="N", help="last errors shown per crop"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = crop_command("grow", "grow a crop's missing batches on this machine")
    p.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="pinned worker processes (at most one per core; more are run as fewer, with a "
        "warning)",
    )
    p.add_argument(
        "--threads", type=_positive_int, metavar="T", help="cores (and threads) per worker"
    )
    p.add_argument(
        "--gpus",
        type=_gpu_ids,
        metavar="IDS",
        help="GPU ids for the workers, one each, e.g. 0,1 (or GPU-UUIDs)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--batches", type=_batch_ids, metavar="IDS", help="only these batch ids, e.g. 1,5,9"
    )
    which.add_argument("--failed", action="store_true", help="only the failed batches")
    p.add_argument(
        "--retries",
        type=_count,
        default=0,
        metavar="N",
        help="grow failed batches again, up to N times (each resumes from its checkpoint)",
    )
    p.add_argument(
        "--log", action="store_true", help="per-batch log files (logs/batch-<i>.log; in workers)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_grow)

    for name, help_, func in (
        ("submit", "submit a crop's missing batches as array jobs", cmd_submit),
        ("render", "print the array-job script submit would use", cmd_render),
    ):
        p = crop_command(name, help_)
        p.add_argument("--scheduler", choices=["slurm", "pbs", "sge"])
        p.add_argument(
            "--profile", metavar="NAME", help="a profile from profiles.toml / xyzfarm.toml"
        )
        p.add_argument(
            "--workers-per-task",
            type=_positive_int,
            metavar="N",
            help="pinned workers in each task",
        )
        p.add_argument(
            "--resource",
            "-r",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="e.g. -r walltime=2:00:00 -r mem_gb=4 -r partition=short",
        )
        p.add_argument(
            "--max-array-size",
            type=_positive_int,
            metavar="N",
            help="override the site's array limit",
        )
        if name == "submit":
            p.add_argument("--wait", action="store_true", help="wait until the batches are done")
            p.add_argument("--failed", action="store_true", help="only the failed batches")
            p.add_argument(
                "--retries",
                type=_count,
                default=0,
                metavar="N",
                help="resubmit failed batches N times (waits; longer walltime or more "
                "memory after a timeout or memory failure)",
            )
        p.set_defaults(func=func)

    p = crop_command("reap", "merge a crop's results (no user code needed)")
    p.add_argument(
        "--into",
        metavar="FILE",
        help="merge into this h5netcdf file instead of what the crop was sown for (needed for "
        "a crop sown from a Runner, unless --keep)",
    )
    p.add_argument(
        "--allow-incomplete", action="store_true", help="reap what exists (NaN elsewhere)"
    )
    p.add_argument("--overwrite", choices=["new", "old"], help="who wins where values differ")
    p.add_argument(
        "--provenance",
        choices=["beside", "in", "none"],
        default="beside",
        help="where each case's host, job, start and seconds go: the file's 'provenance' group "
        "(default), xyz_* variables of the data, or nowhere",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the crop folder afterwards (without --into on a Runner's crop: only print)",
    )
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
    p.add_argument(
        "--data-name",
        default="xyzfarm-demo.h5",
        metavar="FILE",
        help="result file to write (its folder must exist)",
    )
    p.add_argument(
        "--num-workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="pinned worker processes",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer(args, warnings.showwarning)
        try:
            status: int = args.func(args)
        except (XyzfarmError, OSError) as exc:
            if args.debug:
                raise
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"xyzfarm: error: {in_cli_terms(message, args, exc)}", file=sys.stderr)
            return INCOMPLETE if isinstance(exc, CropIncompleteError) else ERROR
    return status


def _warning_printer(args: argparse.Namespace, fallback: Callable[..., None]) -> Any:
    """Show xyzfarm's own warnings as one ``xyzfarm: warning:`` line in the command's terms;
    other libraries' warnings as Python shows them."""
    package = str(Path(__file__).resolve().parent)

    def show(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        if not str(Path(filename).resolve()).startswith(package):
            fallback(message, category, filename, lineno, *rest)
            return
        print(f"xyzfarm: warning: {in_cli_terms(str(message), args)}", file=sys.stderr)

    return show
