from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import xyzfarm as xyz
from xyzfarm.cli import main


def sq(x):
    return x * x * 1.0


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
        "batch 1: ZeroDivisionError: division by zero at case {'x': '0'}" in capsys.readouterr().out
    )


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
    assert main(["reap", "sq"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "allow_incomplete" in err


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
    assert Path("d.h5").is_file()


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
