from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.cli import main
from xyzfarm.crop.reap import without_provenance

CORES = sorted(os.sched_getaffinity(0))
CROP_COMMANDS = ["grow", "submit", "render", "reap", "report", "cancel", "clean"]


def sq(x):
    return x * x * 1.0


@pytest.fixture
def xyzfarm(python, python_env):
    """Run the real command, as a user does, in the test's folder."""

    def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "xyzfarm", *argv],
            env=env or python_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def user_code_env(folder: Path) -> dict[str, str]:
    """The environment of a command that imports this xyzfarm and the user's code in
    ``folder`` (as a user's PYTHONPATH would)."""
    paths = [str(folder), str(Path(xyz.__file__).resolve().parent.parent)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture
def crop():
    c = xyz.Runner(sq, "y").Crop(name="sq", batchsize=2)
    c.sow_combos({"x": range(6)})
    return c


def test_status_lists_crops_with_counts_and_exits_1_until_done(crop, capsys):
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "sq" in out and "0/3" in out
    crop.grow(verbosity=0)
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["done"], row["total"]) == ("sq", 3, 3)


def test_status_shows_the_last_error_of_failed_batches(capsys):
    c = xyz.Runner(lambda x: 1 / x, "y").Crop(name="div", batchsize=1)
    c.sow_combos({"x": [0, 1]})
    c.grow(verbosity=0)
    assert main(["status"]) == 1
    assert (
        "batch 1: ZeroDivisionError: division by zero at case {'x': 0}" in capsys.readouterr().out
    )


def test_status_shows_the_failure_class_of_each_failed_batch(crop, capsys):
    from xyzfarm.folder.failures import write_failure
    from xyzfarm.folder.manifest import Manifest

    # as ClusterJob.poll records a task the scheduler's accounting says was killed: with the
    # crop's sowing
    sowing = Manifest.read(crop.layout).sowing_id
    for batch, kind in ((1, "TIMEOUT"), (2, "OUT_OF_MEMORY"), (3, "OUT_OF_MEMORY")):
        write_failure(crop.layout, batch, error_type=kind, message="killed", sowing=sowing)
    assert crop.status().failures_by_class() == {"TIMEOUT": 1, "OUT_OF_MEMORY": 2}
    assert main(["status"]) == 1
    assert "failed batches by class: 2 OUT_OF_MEMORY, 1 TIMEOUT" in capsys.readouterr().out
    assert main(["status", "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["failure_classes"] == {"1": "TIMEOUT", "2": "OUT_OF_MEMORY", "3": "OUT_OF_MEMORY"}


def test_status_answers_without_importing_xarray(crop, python, python_env):
    code = (
        "import sys; from xyzfarm.cli import main; main(['status']); print('xarray' in sys.modules)"
    )
    out = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, text=True
    ).stdout
    assert out.strip().endswith("False")


def test_grow_uses_the_saved_function(crop, capsys):
    assert main(["grow", "sq", "--quiet"]) == 0
    assert "3/3 done" in capsys.readouterr().out


def test_grow_in_pinned_workers(crop, capsys):
    assert main(["grow", "sq", "--workers", "2", "--quiet"]) == 0
    assert crop.status().done == 3


def test_render_prints_the_script(crop, capsys):
    assert (
        main(["render", "sq", "--scheduler", "slurm", "-r", "walltime=1:5:0", "-r", "mem_gb=2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "#SBATCH --time=01:05:00" in out and "#SBATCH --mem=2048M" in out


def test_reap_into_a_file_needs_no_user_code(crop, capsys):
    crop.grow(verbosity=0)
    assert main(["reap", "sq", "--into", "out.h5"]) == 0
    assert list(xyz.load_ds("out.h5").y.values) == [0, 1, 4, 9, 16, 25]
    assert not crop.is_prepared()


def test_reaping_an_incomplete_crop_exits_1_with_one_line(crop, capsys):
    crop.grow(batch_ids=[1], verbosity=0)
    assert main(["reap", "sq", "--into", "out.h5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-incomplete" in err


def test_clean_asks_for_yes(crop, capsys):
    assert main(["clean", "sq"]) == 2
    assert "--yes" in capsys.readouterr().err and crop.is_prepared()
    assert main(["clean", "sq", "--yes"]) == 0
    assert not crop.is_prepared()


def test_a_missing_crop_is_one_line_and_exit_2(capsys):
    assert main(["grow", "nothing"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"xyzfarm: error: no crop 'nothing' in {str(Path('.').resolve())!r} "
        f"(looked for {Path('.').resolve() / '.xyz-nothing'})."
    )


def test_debug_shows_the_traceback():
    with pytest.raises(FileNotFoundError):
        main(["--debug", "grow", "nothing"])


def test_bad_resources_are_one_line(crop, capsys):
    assert main(["render", "sq", "--scheduler", "slurm", "-r", "walltme=1"]) == 2
    assert "unknown resource(s) ['walltme']" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["status", "grow", "submit", "render", "reap", "cancel", "clean", "demo"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_demo_command_writes_the_file_and_prints_a_summary(capsys):
    assert main(["demo", "--data-name", "d.h5", "--num-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Data variables" in out and "energy" in out and "pinned worker" in out
    assert "72 missing cases grown" in out
    assert Path("d.h5").is_file()
    # again: nothing is missing, and it says so instead of claiming to have grown cases
    assert main(["demo", "--data-name", "d.h5", "--num-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "every case was there already; nothing to grow" in out and "grown" not in out


def test_python_dash_m_xyzfarm_runs_the_command_line(python, python_env):
    out = subprocess.run(
        [python, "-m", "xyzfarm", "--help"],
        env=python_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "status" in out and "Exit status" in out


def test_submit_and_cancel_on_the_local_slurm(user_module, slurm, capsys):
    user_module("climodel", "def cube(x):\n    return x ** 3 * 1.0\n")
    import climodel

    c = xyz.Runner(climodel.cube, "y").Crop(name="cube", batchsize=2)
    c.sow_combos({"x": range(6)})
    assert main(["submit", "cube", "--scheduler", "slurm", "-r", "walltime=0:05:00", "--wait"]) == 0
    assert "submitted 3 batches as slurm job(s)" in capsys.readouterr().out
    assert c.status().done == 3
    assert main(["cancel", "cube"]) == 0
    assert "cancelled 1 job(s)" in capsys.readouterr().out


def test_grow_failed_regrows_only_the_failed_batches(capsys, user_module, tmp_path, monkeypatch):
    user_module(
        "cliflaky",
        (
            "import os\nfrom pathlib import Path\n"
            "def f(x):\n"
            "    marker = Path(os.environ['FLAKY_DIR']) / 'once'\n"
            "    if x == 1 and not marker.exists():\n"
            "        marker.write_text('x')\n"
            "        raise ValueError('not yet')\n"
            "    return x * 1.0\n"
        ),
    )
    import cliflaky

    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    c = xyz.Runner(cliflaky.f, "y").Crop(name="some", batchsize=1)
    c.sow_combos({"x": [0, 1, 2]})
    c.grow(batch_ids=[2], verbosity=0)
    assert c.status().failed_ids == (2,)
    assert main(["status"]) == 1 and "ValueError: not yet" in capsys.readouterr().out
    assert main(["grow", "some", "--failed", "--quiet"]) == 1  # batch 1 and 3 still missing
    assert c.status().failed == 0 and c.status().done == 1
    assert main(["grow", "some", "--failed", "--quiet"]) == 2  # nothing failed: one-line error
    assert "no failed batch" in capsys.readouterr().err


# -- a crop whose results go to no file is never reaped into nothing ---------------------------


def test_reap_without_into_refuses_a_runner_crop_and_a_reap_into_a_file_then_equals_run_combos(
    crop, xyzfarm
):
    crop.grow(verbosity=0)
    refused = xyzfarm("reap", "sq")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert "--into FILE" in refused.stderr and "--keep" in refused.stderr
    assert crop.is_prepared()
    done = xyzfarm("reap", "sq", "--into", "out.h5")
    assert done.returncode == 0, done.stderr
    expected = xyz.Runner(sq, "y").run_combos({"x": range(6)}, verbosity=0)
    xr.testing.assert_identical(without_provenance(xyz.load_ds("out.h5")), expected)
    assert not crop.is_prepared()


def test_reap_keep_without_into_prints_a_runner_crop_and_keeps_it(crop, xyzfarm):
    crop.grow(verbosity=0)
    kept = xyzfarm("reap", "sq", "--keep")
    assert kept.returncode == 0, kept.stderr
    assert "Data variables" in kept.stdout and crop.is_prepared()


def test_reap_without_into_refuses_a_crop_sown_without_any_farmer(xyzfarm):
    c = xyz.Crop(fn=sq, name="bare")
    c.sow_combos({"x": range(2)})
    c.grow(verbosity=0)
    refused = xyzfarm("reap", "bare")
    assert refused.returncode == 2 and "without a Harvester or Sampler" in refused.stderr
    assert c.is_prepared()


def test_reap_without_into_delivers_a_harvester_crop_into_its_file(xyzfarm):
    c = xyz.Harvester(xyz.Runner(sq, "y"), data_name="h.h5").Crop(name="hv")
    c.sow_combos({"x": range(3)})
    c.grow(verbosity=0)
    done = xyzfarm("reap", "hv")
    assert done.returncode == 0, done.stderr
    assert list(xyz.load_ds("h.h5").y.values) == [0, 1, 4] and not c.is_prepared()


# -- unknown crops and folders are mistakes, not empty answers -------------------------------


def test_status_of_a_mistyped_crop_name_exits_2_with_a_did_you_mean(xyzfarm):
    xyz.Runner(sq, "y").Crop(name="big").sow_combos({"x": range(2)})
    out = xyzfarm("status", "--name", "bgi")
    assert out.returncode == 2 and out.stdout == ""
    assert "no crop 'bgi'" in out.stderr and "did you mean 'big'?" in out.stderr


def test_status_of_a_folder_that_does_not_exist_exits_2_saying_so(xyzfarm):
    out = xyzfarm("status", "nowhere/at/all")
    assert out.returncode == 2
    assert out.stderr.strip() == "xyzfarm: error: no such folder: 'nowhere/at/all' (DIR)."
    assert not Path("nowhere").exists()


def test_status_of_a_crop_folder_itself_points_to_its_parent(xyzfarm):
    xyz.Runner(sq, "y").Crop(name="big").sow_combos({"x": range(2)})
    out = xyzfarm("status", ".xyz-big")
    assert out.returncode == 2 and "--name big" in out.stderr


@pytest.mark.parametrize("damage", ["directory", "dangling link", "link loop", "device link"])
def test_status_of_a_crop_it_cannot_read_says_why_and_exits_2_listing_the_others(xyzfarm, damage):
    xyz.Runner(sq, "y").Crop(name="fine").sow_combos({"x": range(2)})
    xyz.Runner(sq, "y").Crop(name="broken").sow_combos({"x": range(2)})
    manifest = Path(".xyz-broken/crop.json")
    manifest.unlink()
    if damage == "directory":
        manifest.mkdir()
    elif damage == "dangling link":
        manifest.symlink_to("nowhere.json")
    elif damage == "link loop":
        manifest.symlink_to("crop.json")
    else:
        manifest.symlink_to("/dev/null")
    out = xyzfarm("status")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "fine" in out.stdout and "broken: cannot be read: CropFormatError" in out.stdout
    assert "crop.json" in out.stdout
    out = xyzfarm("status", "--json")
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert out.returncode == 2 and "error" in rows["broken"] and rows["fine"]["total"] == 2
    assert Path("/dev/null").is_char_device()  # never written through


def test_status_of_an_empty_folder_is_no_mistake(xyzfarm):
    out = xyzfarm("status")
    assert out.returncode == 0 and "no crops in" in out.stdout


@pytest.mark.parametrize("command", CROP_COMMANDS)
def test_every_crop_command_refuses_a_mistyped_name_with_a_did_you_mean(command, xyzfarm):
    xyz.Runner(sq, "y").Crop(name="big").sow_combos({"x": range(2)})
    out = xyzfarm(command, "bgi")
    assert out.returncode == 2 and "did you mean 'big'?" in out.stderr
    assert Path(".xyz-big", "crop.json").is_file()


@pytest.mark.parametrize("command", CROP_COMMANDS)
def test_every_crop_command_refuses_a_dir_that_does_not_exist(command):
    assert main([command, "big", "--dir", "nowhere"]) == 2
    assert not Path("nowhere").exists()


def test_a_dir_that_is_a_file_is_refused(capsys):
    Path("plain").write_text("x")
    assert main(["grow", "big", "--dir", "plain"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# -- messages in the command's own terms ---------------------------------------------------


def test_an_incomplete_reap_gives_the_commands_not_python_advice(crop, xyzfarm):
    crop.grow(batch_ids=[1], verbosity=0)
    out = xyzfarm("reap", "sq", "--into", "out.h5")
    assert out.returncode == 1
    assert "xyzfarm grow sq" in out.stderr and "--allow-incomplete" in out.stderr
    assert "crop.grow_missing()" not in out.stderr and "allow_incomplete=True" not in out.stderr


@pytest.mark.parametrize("command", ["submit", "render"])
def test_submit_without_a_scheduler_names_the_option_and_grows_nothing(command, crop, xyzfarm):
    out = xyzfarm(command, "sq")
    assert out.returncode == 2
    from xyzfarm.schedulers import REGISTRY

    assert "--scheduler " + "|".join(REGISTRY) in out.stderr
    assert "scheduler='" not in out.stderr
    assert crop.status().done == 0


def test_a_merge_conflict_names_the_overwrite_option(crop, capsys):
    crop.grow(verbosity=0)
    xyz.save_ds(xyz.Runner(lambda x: x + 0.5, "y").run_combos({"x": range(6)}), "out.h5")
    assert main(["reap", "sq", "--into", "out.h5"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite new" in err and "overwrite=True" not in err and crop.is_prepared()


# -- requests that cannot be met are refused or said out loud ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["grow", "sq", "--workers", "0"],
        ["grow", "sq", "--workers", "-2"],
        ["grow", "sq", "--threads", "0"],
        ["grow", "sq", "--retries", "-1"],
        ["render", "sq", "--scheduler", "slurm", "--workers-per-task", "0"],
        ["demo", "--num-workers", "0"],
        ["status", "--errors", "-1"],
    ],
)
def test_counts_that_are_not_positive_are_refused_naming_the_value(argv, crop, xyzfarm):
    out = xyzfarm(*argv)
    assert out.returncode == 2 and repr(argv[-1]) in out.stderr
    assert crop.status().done == 0


def test_gpu_ids_that_are_not_integers_are_refused_naming_the_value(crop, xyzfarm):
    out = xyzfarm("grow", "sq", "--gpus", "x,y")
    assert out.returncode == 2 and "'x' is not a GPU id" in out.stderr
    assert crop.status().done == 0


def test_batch_ids_that_are_not_ids_are_refused(crop, xyzfarm):
    out = xyzfarm("grow", "sq", "--batches", "1,x")
    assert out.returncode == 2 and "'1,x' is not a list of batch ids" in out.stderr


def test_a_batch_id_beyond_the_plan_is_refused_naming_the_option(crop, xyzfarm):
    out = xyzfarm("grow", "sq", "--batches", "9")
    assert out.returncode == 2 and "--batches: batch ids [9] are not in 1..3" in out.stderr


def test_batches_and_failed_together_are_refused(crop, xyzfarm):
    out = xyzfarm("grow", "sq", "--batches", "1", "--failed")
    assert out.returncode == 2 and "not allowed with" in out.stderr


def test_more_workers_than_cores_is_said_out_loud_naming_both_numbers(user_module, xyzfarm):
    env = user_code_env(user_module("cliwide", "def double(x):\n    return 2.0 * x\n"))
    import cliwide

    c = xyz.Runner(cliwide.double, "y").Crop(name="wide", batchsize=2)
    c.sow_combos({"x": range(6)})
    asked = len(CORES) + 1
    out = xyzfarm("grow", "wide", "--workers", str(asked), "--quiet", env=env)
    assert out.returncode == 0, out.stderr
    (warning,) = [line for line in out.stderr.splitlines() if "warning" in line]
    assert warning.startswith(f"xyzfarm: warning: --workers {asked} asks for more workers")
    assert f"may use {len(CORES)} core(s)" in warning and "running" in warning
    assert c.status().done == 3


# -- every parsed option acts --------------------------------------------------------------


FLAKY = (
    "import os\nfrom pathlib import Path\n"
    "def f(x):\n"
    "    marker = Path(os.environ['FLAKY_DIR']) / f'tried-{x}'\n"
    "    if x == 1 and not marker.exists():\n"
    "        marker.write_text('x')\n"
    "        raise ValueError('not yet')\n"
    "    return x * 1.0\n"
)


def test_grow_retries_grows_failed_batches_again(user_module, tmp_path, xyzfarm):
    folder = user_module("cliretry", FLAKY)
    import cliretry

    c = xyz.Runner(cliretry.f, "y").Crop(name="flaky", batchsize=1)
    c.sow_combos({"x": [0, 1, 2]})
    env = {**user_code_env(folder), "FLAKY_DIR": str(tmp_path)}
    out = xyzfarm("grow", "flaky", "--retries", "1", "--quiet", env=env)
    assert out.returncode == 0, out.stderr
    assert "3/3 done" in out.stdout and c.status().failed == 0


def test_grow_log_writes_each_batchs_output_without_asking_for_workers(user_module, xyzfarm):
    folder = user_module("clilog", "def talk(x):\n    print('said', x)\n    return x * 1.0\n")
    import clilog

    c = xyz.Runner(clilog.talk, "y").Crop(name="talk", batchsize=1)
    c.sow_combos({"x": [0, 1]})
    env = user_code_env(folder)
    out = xyzfarm("grow", "talk", "--log", "--quiet", env=env)
    assert out.returncode == 0, out.stderr
    assert "said 1" in c.layout.log(2).read_text()


def test_demo_refuses_a_data_name_in_a_missing_folder_and_creates_no_folder(xyzfarm):
    out = xyzfarm("demo", "--data-name", "nowhere/dir/x.h5")
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert "--data-name 'nowhere/dir/x.h5'" in out.stderr
    assert not Path("nowhere").exists()


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_the_version_flag_prints_the_version(flag, xyzfarm):
    out = xyzfarm(flag)
    assert out.returncode == 0 and out.stdout.strip() == f"xyzfarm {xyz.__version__}"


def test_the_resource_aliases_time_cpus_and_name_work_and_mem_is_refused_pointing_to_mem_gb(
    crop, xyzfarm
):
    out = xyzfarm(
        "render", "sq", "--scheduler", "slurm", "-r", "time=1:00:00", "-r", "cpus=2",
        "-r", "name=aliased",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "#SBATCH --time=01:00:00" in out.stdout and "#SBATCH --cpus-per-task=2" in out.stdout
    assert "#SBATCH --job-name=aliased" in out.stdout
    refused = xyzfarm("submit", "sq", "--scheduler", "slurm", "-r", "mem=4")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "'mem': did you mean 'mem_gb'?" in refused.stderr
    for alias in ("time (= walltime)", "cpus (= cpus_per_task)", "name (= job_name)"):
        assert alias in refused.stderr


def test_demo_without_matplotlib_suggests_the_plot_extra(python, python_env):
    # matplotlib made unimportable, as in an environment installed without the extra
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from xyzfarm.cli import main\n"
        "sys.exit(main(['demo', '--num-workers', '1']))\n"
    )
    out = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "(pip install 'xyzfarm[plot]' for a plot of the result)" in out.stdout
    assert "pip install matplotlib" not in out.stdout and not os.path.exists("xyzfarm-demo.png")


@pytest.mark.parametrize(
    "job_ids",
    [["--user=root"], ["1234", "-a"], ["12 34"], [1234], "1234", []],
    ids=["option", "second-option", "space", "number", "not-a-list", "none"],
)
def test_cancel_refuses_a_crafted_submission_record_naming_it_and_runs_no_command(
    crop, capsys, monkeypatch, job_ids
):
    from xyzfarm.schedulers import shell

    ran: list[list[str]] = []
    monkeypatch.setattr(shell, "run", lambda argv, **kw: ran.append(list(argv)))
    good = Path(crop.location) / "jobs" / "1-array"
    good.mkdir(parents=True)
    (good / "submission.json").write_text(json.dumps({"scheduler": "slurm", "job_ids": ["77"]}))
    bad = Path(crop.location) / "jobs" / "2-array"
    bad.mkdir(parents=True)
    (bad / "submission.json").write_text(json.dumps({"scheduler": "slurm", "job_ids": job_ids}))
    assert main(["cancel", "sq"]) == 2
    err = capsys.readouterr().err
    assert "2-array/submission.json" in err and ran == []  # not even the good record's


def test_cancel_refuses_a_submission_record_that_is_a_link_or_not_json(crop, capsys):
    jobs = Path(crop.location) / "jobs"
    (jobs / "1-array").mkdir(parents=True)
    (jobs / "1-array" / "submission.json").write_text("{not json")
    assert main(["cancel", "sq"]) == 2
    assert "is not JSON" in capsys.readouterr().err
    (jobs / "1-array" / "submission.json").unlink()
    (jobs / "1-array" / "submission.json").symlink_to("/etc/hostname")
    assert main(["cancel", "sq"]) == 2
    assert "not a regular file" in capsys.readouterr().err
