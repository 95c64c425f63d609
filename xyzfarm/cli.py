"""The ``xyzfarm`` command line (also ``python -m xyzfarm``): parsing, errors and
warnings in the command's terms; what each command does is in :mod:`xyzfarm.cli_commands`
(these two are the only modules that print).

Exit codes a shell script can rely on: 0 done, 1 the work is not complete (failed or missing
batches), 2 an error (bad arguments, missing crop, scheduler failure) reported in one line
(the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .cli_commands import (
    ERROR,
    INCOMPLETE,
    cmd_cancel,
    cmd_clean,
    cmd_demo,
    cmd_grow,
    cmd_reap,
    cmd_render,
    cmd_report,
    cmd_status,
    cmd_submit,
    cmd_throttle,
    first_line,
)
from .errors import CropIncompleteError, InvalidInputError, MergeConflictError, XyzfarmError
from .schedulers import REGISTRY

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
    from .node.slots import parse_gpu_ids  # only when --gpus is given: status stays lean

    try:
        return ",".join(parse_gpu_ids(text, "--gpus"))
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--gpus=")) from exc


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
            r"pass scheduler='\w+'(\|'\w+')* or a profile",
            lambda m: f"give --scheduler {'|'.join(REGISTRY)} or --profile NAME",
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
    ``allow_incomplete=True``, ``scheduler='<name>'``, ...) told as this command's options."""
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
        p.add_argument("name", metavar="NAME", help="the crop's name (its folder is .xyz-NAME)")
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
        p.add_argument(
            "--scheduler",
            choices=list(REGISTRY),
            help="the scheduler to submit to (or the one a --profile names)",
        )
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
        p.add_argument(
            "--target-task-minutes",
            type=float,
            metavar="MIN",
            help="batches per task chosen so each task runs about MIN minutes (from the "
            "seconds per case of batches already grown, or a short timing here)",
        )
        if name == "submit":
            p.add_argument(
                "--reap-into",
                metavar="FILE",
                help="also submit a job that, once every task has ended, merges the results "
                "into FILE (no process needed here; the crop is kept if anything is missing)",
            )
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

    p = crop_command(
        "report", "what a crop's batches used against what they asked for, and a next request"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_report)

    p = crop_command(
        "throttle", "change how many batches or array tasks of a crop run at once, now"
    )
    p.add_argument("max_running", type=_positive_int, metavar="K", help="the most at once")
    p.set_defaults(func=cmd_throttle)

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
            message = first_line(exc)
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
