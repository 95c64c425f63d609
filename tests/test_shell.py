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


def test_a_script_can_be_fed_on_standard_input_as_bsub_reads_it(tmp_path):
    script = tmp_path / "chunk-0.sh"
    script.write_text("#BSUB -J x\necho hi\n")
    assert run(["cat"], stdin_file=script).stdout == script.read_text()


def test_a_missing_script_is_not_mistaken_for_a_missing_program(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"chunk-9\.sh"):
        run(["cat"], stdin_file=tmp_path / "chunk-9.sh")
