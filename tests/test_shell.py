from __future__ import annotations

import pytest

from xyzfarm.schedulers.shell import SchedulerError, run


def test_run_returns_what_the_command_printed():
    done = run(["bash", "-c", "echo out; echo err >&2"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "out\n", "err\n")


def test_a_failing_command_is_reported_with_its_output():
    with pytest.raises(SchedulerError, match="exit status 3: nope"):
        run(["bash", "-c", "echo nope >&2; exit 3"])
    assert run(["bash", "-c", "exit 3"], check=False).returncode == 3


def test_a_missing_program_says_where_to_submit_from():
    with pytest.raises(SchedulerError, match="login node"):
        run(["no-such-sbatch-here"])
