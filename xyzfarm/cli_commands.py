"""What each ``xyzfarm`` subcommand does, given its parsed arguments (parsing and error
reporting live in :mod:`xyzfarm.cli`); these and ``cli`` are the only modules that print.

Each ``cmd_*`` returns the exit status: 0 done, :data:`INCOMPLETE` when the work is not complete.
Each imports what it needs in its body, deferred: parsing imports nothing of the package, and
``xyzfarm status`` loads no xarray, pandas or jinja2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, XyzfarmError

if TYPE_CHECKING:
    from .crop.submit_options import SubmitOptions

INCOMPLETE = 1
ERROR = 2
#: the folder prefix of crops (layout.FOLDER_PREFIX; repeated so that parsing imports nothing)
_PREFIX = ".xyz-"


# -- folders and crop names ------------------------------------------------------------------


def _folder(path: str, option: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"no such folder: {path!r} ({option}).")
    if not folder.is_dir():
        raise NotADirectoryError(f"{path!r} ({option}) is a file, not a folder of crops.")
    return folder


def first_line(exc: BaseException) -> str:
    """What an error says, in one line (its name if it says nothing)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _crop_names(folder: Path) -> list[str]:
    # every folder with a manifest in any form: one that cannot be read (a directory, a link,
    # a device in its place) is still a crop, to be reported, never silently skipped
    return sorted(
        p.name[len(_PREFIX) :]
        for p in folder.glob(f"{_PREFIX}*")
        if os.path.lexists(p / "crop.json")
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
    from .folder.layout import CropLayout

    folder = _folder(args.dir, "--dir")
    layout = CropLayout(args.name, folder)
    if not layout.exists():
        raise _no_such_crop(args.name, folder, _crop_names(folder))
    return layout


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def cmd_status(args: argparse.Namespace) -> int:
    # lean on purpose: layout/state/results only, no xarray, so it answers in milliseconds
    from .folder.layout import CropLayout
    from .folder.state import crop_status

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
    unreadable: dict[str, str] = {}
    for name in names:
        layout = CropLayout(name, folder)
        try:
            st = crop_status(layout)
        except (XyzfarmError, OSError) as exc:
            # said, and the exit status is an error's: a crop that cannot be read is no
            # crop that is fine (grow and reap refuse it too)
            unreadable[name] = f"{type(exc).__name__}: {first_line(exc)}"
            continue
        errors = {b: st.last_error(b) for b in st.failed_ids[: args.errors]}
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
                        "failure_classes": {
                            str(b): k for b, k in getattr(s, "failure_classes", ())
                        },
                        "last_errors": {str(b): e for b, e in errs.items()},
                    }
                    for n, s, errs in rows
                ]
                + [{"name": n, "error": why} for n, why in unreadable.items()],
                indent=1,
            )
        )
    elif not rows and not unreadable:
        print(f"no crops in {folder.resolve()}")
    else:
        width = max((len(n) for n, _, _ in rows), default=4)
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
            classes: dict[str, int] = getattr(st, "failures_by_class", dict)()
            if classes:
                shown = ", ".join(f"{n} {k}" for k, n in sorted(classes.items()))
                print(f"{'':<{width}}    failed batches by class: {shown}")
            for batch, error in errors.items():
                print(f"{'':<{width}}    batch {batch}: {error}")
            if damaged:
                ids = ", ".join(map(str, getattr(st, "damaged_ids", ())[:10]))
                print(
                    f"{'':<{width}}    damaged batches {ids or '?'}: regrown by xyzfarm grow {name}"
                )
    if not args.json:
        for name, why in unreadable.items():
            print(f"{name}: cannot be read: {why}")
    if unreadable:
        return ERROR
    complete = all(st.done == st.total for _, st, _ in rows)
    return 0 if complete else INCOMPLETE


def _crop(args: argparse.Namespace) -> Any:
    from .crop.crop import Crop

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
    from .crop.grow_options import GrowOptions

    pinned = args.threads is not None or args.gpus is not None
    options = GrowOptions(
        # per-batch log files are written by worker processes, so --log asks for one
        subprocess=pinned or args.log or (args.workers or 1) > 1,
        num_workers=args.workers,
        num_threads=args.threads or (1 if args.workers else None),
        gpus=args.gpus,
        log=args.log,
        verbosity=0 if args.quiet else 1,
        retries=args.retries,
    )
    state = crop.grow(batches, options=options)
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


def _submit_options(args: argparse.Namespace, **more: Any) -> SubmitOptions:
    from .crop.submit_options import SubmitOptions

    if args.scheduler is None and args.profile is None:
        # without either, nothing says where to submit: never grow here instead, silently
        from .schedulers import REGISTRY

        raise InvalidInputError(
            f"{args.command} needs a scheduler: give --scheduler {'|'.join(REGISTRY)} or "
            "--profile NAME."
        )
    return SubmitOptions(
        scheduler=args.scheduler,
        profile=args.profile,
        workers_per_task=args.workers_per_task,
        resources=_resources(args.resource),
        max_array_size=args.max_array_size or None,
        target_task_minutes=getattr(args, "target_task_minutes", None),
        reap_into=getattr(args, "reap_into", None),
        **more,
    )


def cmd_submit(args: argparse.Namespace) -> int:
    crop = _crop(args)
    options = _submit_options(args, wait=args.wait, retries=args.retries)
    job = crop.submit(_batches(args, crop), options=options)
    print(
        f"{crop.name}: submitted {len(job.batches)} batches as {job.scheduler} job(s) "
        f"{' '.join(job.job_ids)}; follow with: xyzfarm status {args.dir}"
    )
    if job.reap_job_id is not None:
        print(f"{crop.name}: job {job.reap_job_id} merges the results into {args.reap_into}")
    if args.wait or args.retries:
        left = job.remaining()
        # why they failed, in the terms the tasks recorded (e.g. a function that cannot load)
        for batch, reason in sorted(job.failures().items())[:5]:
            print(f"{crop.name}: batch {batch}: {reason}", file=sys.stderr)
        return 0 if not left else INCOMPLETE
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    crop = _crop(args)
    rendered = crop._render_scripts(None, _submit_options(args))
    print(rendered.texts[0], end="")
    # the script on stdout stays pipeable; where it was written, and how to submit it, aside
    from .crop.submit import output_dir_of, submit_command

    out_dir = output_dir_of(rendered.layout, rendered.resources)
    for script in rendered.scripts:
        print(
            f"xyzfarm: wrote {script} (and its map file); submit it by hand with:\n"
            f"  {submit_command(rendered.scheduler, script, out_dir)}",
            file=sys.stderr,
        )
    return 0


def _refuse_to_reap_into_nothing(args: argparse.Namespace, layout: Any) -> None:
    """A crop whose results go to no file would be printed and then deleted: refuse that."""
    from .folder.manifest import Manifest

    record = Manifest.read(layout).farmer
    if record is not None and record.has_file:
        return
    origin = "from a Runner" if record is not None else "without a Harvester or Sampler"
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


def cmd_report(args: argparse.Namespace) -> int:
    from .crop.efficiency import efficiency_report

    report = efficiency_report(_crop_layout(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report)
    return 0


def cmd_throttle(args: argparse.Namespace) -> int:
    changed = _crop(args).set_max_running(args.max_running)
    arrays = [job for job, ok in changed.items() if ok]
    print(
        f"{args.name}: at most {args.max_running} at once"
        + (f"; changed array job(s) {' '.join(arrays)}" if arrays else " (no array running)")
    )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from .folder import submissions
    from .schedulers import get, shell

    layout = _crop_layout(args)
    cancelled = 0
    # every record is checked before any command runs: one crafted id cancels nothing
    for sub in submissions.read_all(layout):
        shell.run(get(sub.scheduler).cancel_argv(sub.job_ids), check=False)
        cancelled += len(sub.job_ids)
    print(f"{args.name}: cancelled {cancelled} job(s)")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from .crop import reap as reaping

    layout = _crop_layout(args)
    if not args.yes:
        raise XyzfarmError(f"this deletes {layout.root} and every result in it; add --yes.")
    reaping.delete_crop(layout)
    print(f"{args.name}: deleted {layout.root}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import check_demo_folder, plot_demo, run_demo

    check_demo_folder(args.data_name)  # before anything is imported, sown or written
    from .node.slots import plan_slots
    from .store.datafile import load_ds

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
