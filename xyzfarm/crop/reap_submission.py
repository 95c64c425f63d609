"""Submitting the reap job (``submit(..., reap_into=FILE)``): rendered, held until the arrays end.

What the job does is :mod:`xyzfarm.crop.reap_job`'s (its entry point, above the Crop); this
side sits below the Crop, as ``Crop.submit`` calls it.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..folder.layout import CropLayout
from ..folder.submissions import SubmissionRecord
from ..schedulers import get, shell
from ..schedulers.arrays import ArrayChunk
from ..schedulers.render import render
from ..store import storage
from .submit import new_job_dir, output_dir_of, script_context

#: the template of the reap job (it extends the scheduler's own)
TEMPLATE = "reap.sh.j2"


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
        submit_command=f"cd {shlex.quote(str(out_dir))} && {shlex.join(argv)}".replace("\n", "\\n"),
    )
    text = render(TEMPLATE, context, template_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(script, text.encode(), mode=0o777)
    stdin = script if scheduler.SCRIPT_ON_STDIN else None
    job_id = scheduler.parse_job_id(shell.run(argv, cwd=out_dir, stdin_file=stdin).stdout)
    SubmissionRecord(
        scheduler=scheduler.NAME,
        job_ids=(job_id,),
        kind="reap",
        details={
            "after": list(after),
            "into": str(path),
            "script": str(script),
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    ).write(job_dir)
    return job_id, job_dir
