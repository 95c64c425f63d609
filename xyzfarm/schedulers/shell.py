"""The one place that starts scheduler commands (sbatch, squeue, qsub, ...).

Scheduler modules only build argv lists and parse output; this seam runs them, so tests can
record what would run, and the real-cluster tests run exactly the same code.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SchedulerError as SchedulerError  # defined with every other error


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout_s: float = 60.0,
    cwd: str | os.PathLike[str] | None = None,
    stdin_file: str | os.PathLike[str] | None = None,
) -> Completed:
    """Run a scheduler command and return what it printed.

    ``stdin_file`` is fed on its standard input (``bsub < script``).

    Raises
    ------
    SchedulerError
        If the program is missing, times out, or (with ``check``) exits non-zero; the message
        has the command and what it printed.
    """
    argv = tuple(str(a) for a in argv)
    # opened before the command starts: a missing script is not a missing program
    stdin = open(stdin_file, "rb") if stdin_file is not None else None  # noqa: SIM115
    try:
        proc = subprocess.run(
            argv,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=cwd,
        )
    except FileNotFoundError:
        raise SchedulerError(
            f"{argv[0]!r} is not installed here (running {' '.join(argv)}); submit from a "
            "login node of the cluster, or use Crop.render(...) to get the script."
        ) from None
    except subprocess.TimeoutExpired:
        raise SchedulerError(f"{' '.join(argv)} did not answer within {timeout_s} s.") from None
    finally:
        if stdin is not None:
            stdin.close()
    done = Completed(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise SchedulerError(
            f"{' '.join(argv)} failed with exit status {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()}"
        )
    return done
