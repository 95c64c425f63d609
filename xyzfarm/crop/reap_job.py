"""The reap job: results merged into a file with no process left on the login node.

``submit(..., reap_into=FILE)`` submits, after the crop's arrays, one more job held until
every task of them has ended, however (SLURM ``--dependency=afterany:``, Grid Engine
``-hold_jid``, PBS ``-W depend=afterany:``). It runs ``python -m xyzfarm.crop.reap_job CROP
--into FILE --record RECORD``, which reaps what exists into ``FILE`` (as ``xyzfarm reap
--into FILE --allow-incomplete``), and writes ``RECORD`` (``jobs/<id>/reap.json``): what was
merged, which batches are missing and the last error of each failed one. The existing rule
holds: the crop is deleted only when every case is in the file; otherwise it is kept, with
its failures, so the missing batches can be grown and reaped again later.

Submitting (:func:`submit_reap_job`) imports jinja2 through the renderer; running
(:func:`main`) only what ``xyzfarm reap`` needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..node.layout import CropLayout
from ..store import storage

#: the template of the reap job (it extends the scheduler's own)
TEMPLATE = "reap.sh.j2"
#: exit status of a reap job that left cases missing (``xyzfarm reap``'s INCOMPLETE)
INCOMPLETE_EXIT = 1


def check_reap_into(into: str | os.PathLike[str]) -> Path:
    """The file to reap into, absolute (the job runs elsewhere), its folder existing."""
    path = Path(into).absolute()
    if not path.parent.is_dir():
        raise InvalidInputError(
            f"reap_into={os.fspath(into)!r}: its folder {str(path.parent)!r} does not exist; "
            "create it first (the reap job writes the file, not the folder)."
        )
    return path


def submit_reap_job(
    layout: CropLayout,
    scheduler_name: str,
    after: Sequence[str],
    into: str | os.PathLike[str],
    res: Any,
    *,
    template_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> tuple[str, Path]:
    """Submit the reap job of ``layout``, held until every job in ``after`` has ended.

    Parameters
    ----------
    after : sequence of str
        The array job ids (as the scheduler printed them) to wait for.
    into : path
        The result file.
    res : Resources
        The arrays' request: the reap job keeps its site names, setup, interpreter,
        walltime and memory, and asks for one core and no GPU.

    Returns
    -------
    (job_id, job_dir)
        The reap job's id and its folder (``jobs/<id>/`` with ``reap.sh``,
        ``submission.json`` and, once it ran, ``reap.json``).
    """
    from ..schedulers import get, shell
    from ..schedulers.arrays import ArrayChunk
    from ..schedulers.render import render
    from .submit import new_job_dir, output_dir_of, script_context

    scheduler = get(scheduler_name)
    path = check_reap_into(into)
    job_res = replace(
        res,
        job_name=f"{res.job_name}-reap"[:64],
        cpus_per_task=1,
        gpus=None,
        nodes=1,
        array_throttle=None,
        # the hold is a directive of the script itself, so it travels with it however the
        # scheduler takes the script (named on the command line, or on stdin for bsub)
        extra_directives=(*res.extra_directives, scheduler.dependency_directive(list(after))),
    )
    job_dir = new_job_dir(layout, "reap")
    script = job_dir / "reap.sh"
    record = job_dir / "reap.json"
    argv = scheduler.submit_argv(str(script))
    out_dir = output_dir_of(layout, job_res)
    context = script_context(
        layout, scheduler, ArrayChunk(scheduler.FIRST_INDEX, ((),)), "", job_res, 1, str(script)
    )
    context.update(
        scheduler_template=scheduler.TEMPLATE,
        into=str(path),
        record=str(record),
        submit_command=f"cd {shlex.quote(str(out_dir))} && {shlex.join(argv)}".replace(
            "\n", "\\n"
        ),
    )
    text = render(TEMPLATE, context, template_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(script, text.encode(), mode=0o777)
    stdin = script if scheduler.SCRIPT_ON_STDIN else None
    job_id = scheduler.parse_job_id(shell.run(argv, cwd=out_dir, stdin_file=stdin).stdout)
    submission = {
        "kind": "reap",
        "scheduler": scheduler.NAME,
        "job_ids": [job_id],
        "after": list(after),
        "into": str(path),
        "script": str(script),
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    storage.write_bytes(job_dir / "submission.json", json.dumps(submission, indent=1).encode())
    return job_id, job_dir


def reap_into(layout: CropLayout, into: str | os.PathLike[str]) -> dict[str, Any]:
    """Reap what exists into ``into`` (keeping the crop if anything is missing) and say what
    happened: ``{"into", "complete", "missing", "failed", "error"}``."""
    from ..errors import CropIncompleteError, XyzfarmError
    from ..node.state import last_error
    from .crop import Crop
    from .grow import missing_batches

    outcome: dict[str, Any] = {"into": os.fspath(into), "complete": False, "error": None}
    crop = Crop(name=layout.name, parent_dir=layout.parent_dir)
    try:
        crop.reap(into=into, allow_incomplete=True, verbosity=0)
    except CropIncompleteError as exc:  # not one case finished: nothing to merge
        outcome["error"] = str(exc)
    except XyzfarmError as exc:  # e.g. the file holds other values: nothing was deleted
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    if not layout.manifest.is_file():
        # deleted: every case was published into the file
        return {**outcome, "complete": True, "missing": [], "failed": {}}
    status = crop.status()
    outcome["missing"] = missing_batches(layout, status.total)  # failed ones included
    outcome["failed"] = {str(b): last_error(layout, b) for b in status.failed_ids}
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xyzfarm.crop.reap_job CROP_DIR --into FILE --record RECORD`` (in the job)."""
    parser = argparse.ArgumentParser(prog="python -m xyzfarm.crop.reap_job")
    parser.add_argument("crop_dir")
    parser.add_argument("--into", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args(argv)
    layout = CropLayout.from_root(args.crop_dir)
    started = time.time()
    outcome = reap_into(layout, args.into)
    outcome["seconds"] = round(time.time() - started, 3)
    outcome["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not outcome["complete"]:
        # the crop (and so the record's folder) is kept: the record says what to grow again
        storage.write_bytes(Path(args.record), json.dumps(outcome, indent=1).encode())
    print(f"xyzfarm reap job: {json.dumps(outcome)}", flush=True)
    return 0 if outcome["complete"] else INCOMPLETE_EXIT


if __name__ == "__main__":
    sys.exit(main())
