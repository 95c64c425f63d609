"""xyzpy's ``clean_slurm_outputs`` / ``manage_slurm_outputs``: tidy the ``slurm-<job>_<i>.out``
files that array tasks of an xyzpy-style job leave in the submission folder.

A task's file is deleted once it says its batch completed; a file mentioning an error is kept
and reported. (Jobs submitted by xyzfarm write their output to the crop's ``logs/`` and are
followed with ``crop.status()`` instead.)
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

_NAME = re.compile(r"slurm-\d+_(\d+)\.out$")


def _finished(text: str, task: int) -> bool:
    # xyzpy's scripts print "batch <i> completed"; xyzfarm's worker the same words
    return f"batch {task} completed" in text


def clean_slurm_outputs(
    job: int | str, directory: str | os.PathLike[str] = ".", cancel_if_finished: bool = True
) -> int:
    """Delete the output files of finished tasks of array ``job``; report the others.

    Parameters
    ----------
    job : int or str
        The array job id.
    directory : path-like
        Where the ``slurm-<job>_<i>.out`` files are.
    cancel_if_finished : bool
        Cancel (``scancel``) a task whose batch is done but which is still running.

    Returns
    -------
    int
        How many output files were found.
    """
    files = sorted(Path(directory).glob(f"slurm-{job}_*.out"))
    for path in files:
        match = _NAME.search(path.name)
        if match is None:
            continue
        task = int(match.group(1))
        text = path.read_text(errors="replace")
        name = f"{job}_{task}"
        line = [name]
        if _finished(text, task):
            line.append("xyzpy finished!")
            if cancel_if_finished:
                state = subprocess.run(
                    ["scontrol", "show", "job", name], capture_output=True, text=True
                ).stdout
                if "JobState=RUNNING" in state:
                    line.append("slurm cancelling,")
                    subprocess.run(["scancel", name], check=False)
                else:
                    line.append("slurm finished,")
            line.append("deleting output.")
            path.unlink()
        elif "error" in text.lower():
            line.append("appears to have an error!")
        else:
            line.append("xyzpy running...")
        print(" ".join(line))
    return len(files)


def manage_slurm_outputs(crop: Any, job: int | str, wait_time: float = 60) -> None:
    """Every ``wait_time`` seconds show ``crop`` and clean ``job``'s outputs, until the crop is
    ready to reap (or Ctrl-C)."""
    try:
        while True:
            print(crop)
            clean_slurm_outputs(job)
            if crop.is_ready_to_reap():
                break
            time.sleep(wait_time)
    except KeyboardInterrupt:
        pass
