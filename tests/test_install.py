"""The package as users get it: a wheel built from this tree, installed (not editable) into a
folder of its own and used from other folders, never from the checkout.

The wheel is built once for this module (``pip wheel --no-deps --no-build-isolation``, with
hatchling from the test extra) and installed with ``pip install --no-deps --target``; every
child interpreter runs with that folder first on ``PYTHONPATH`` and its working directory
elsewhere, so a file the wheel forgot (a template, a module) fails here and not on a user's
cluster. The checkout's editable install stays behind site-packages, after the wheel's copy:
each test checks that the copy that ran is the installed one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import xyzfarm

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xyzfarm"

#: a user's script in its own folder: sows a crop of a function it defines, grows it in the
#: local worker pool, renders every scheduler's script, and (with SLURM_CONF set) submits to
#: SLURM and opens the reaped file with plain xarray. Each case also says whether the
#: xyzfarm that ran it is the installed copy (``installed``), in the workers and on the node.
USER_SCRIPT = """
import json, os, sys
import numpy as np
import xarray as xr
import xyzfarm as xyz

SITE, OUT = sys.argv[1], sys.argv[2]

def model(x, y):
    return x * y, np.arange(2) + x, float(sys.modules["xyzfarm"].__file__.startswith(SITE))

runner = xyz.Runner(model, ["p", "v", "installed"], var_dims={"v": ["k"]},
                    var_coords={"k": range(2)})
combos = {"x": [1, 2, 3], "y": [10, 20]}
report = {"xyzfarm": xyz.__file__}

crop = runner.Crop(name="pool", batchsize=2)
crop.sow_combos(combos)
crop.grow(num_workers=2, num_threads=1)
ds = crop.reap()
report["pool"] = {"p": ds.p.values.tolist(), "installed": ds.installed.values.tolist()}

report["scripts"] = {}
for scheduler in ("slurm", "pbs", "sge"):
    rendered = runner.Crop(name="render-" + scheduler, batchsize=3)
    rendered.sow_combos(combos)
    report["scripts"][scheduler] = rendered.render(scheduler, walltime="0:05:00", mem_gb=1)
    rendered.delete_all()

if os.environ.get("SLURM_CONF"):
    harvester = xyz.Harvester(runner, data_name="onslurm.h5")
    crop = harvester.Crop(name="onslurm", batchsize=2)
    crop.sow_combos(combos)
    job = crop.grow(scheduler="slurm", walltime="0:05:00")
    open(OUT + ".jobs", "w").write(json.dumps(job.job_ids))
    left = job.wait(timeout_s=150, poll_interval_s=0.5)
    if left:
        job.cancel()
        raise SystemExit(f"batches {left} never finished: {crop.status()}")
    crop.reap()
    with xr.open_dataset("onslurm.h5") as ds:  # plain xarray: no engine named, no xyzfarm
        report["slurm"] = {"p": ds.p.values.tolist(), "installed": ds.installed.values.tolist()}

json.dump(report, open(OUT, "w"))
"""

EXPECTED_P = [[10, 20], [20, 40], [30, 60]]
ALL_INSTALLED = [[1.0, 1.0]] * 3


@pytest.fixture(scope="module")
def wheel_and_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel built from this tree and the folder it is installed into."""
    base = tmp_path_factory.mktemp("install")
    dist, site = base / "dist", base / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    for argv in (
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        [*pip, "install", "--no-deps", "--target", str(site), "WHEEL"],
    ):
        if argv[-1] == "WHEEL":
            argv[-1] = str(next(dist.glob("xyzfarm-*.whl")))
        proc = subprocess.run(argv, cwd=base, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (
            f"{' '.join(argv)} failed (hatchling comes with the test extra: "
            f"pip install -e '.[test]'):\n{proc.stdout}{proc.stderr}"
        )
    return next(dist.glob("xyzfarm-*.whl")), site


@pytest.fixture
def site(wheel_and_site: tuple[Path, Path]) -> Path:
    return wheel_and_site[1]


def user_env(site: Path) -> dict[str, str]:
    """A user's shell with the installed folder first on the path, nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return env


def run_elsewhere(argv: list[str], site: Path, cwd: Path, timeout_s: float = 120):
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        argv, cwd=cwd, env=user_env(site), capture_output=True, text=True, timeout=timeout_s
    )


def test_the_wheel_holds_every_module_template_and_py_typed_and_no_tests_or_docs(
    wheel_and_site,
):
    wheel, _ = wheel_and_site
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    templates = {n for n in shipped if n.endswith(".sh.j2")}
    source = ROOT / "xyzfarm" / "schedulers" / "templates"
    assert templates == {f"xyzfarm/schedulers/templates/{p.name}" for p in source.glob("*.sh.j2")}
    assert "xyzfarm/py.typed" in shipped
    assert shipped <= names, sorted(shipped - names)
    assert not [n for n in names if n.split("/")[0] in ("tests", "docs", "scripts", "benchmarks")]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "xyzfarm = xyzfarm.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_python_imports_the_installed_copy_from_another_folder(site, tmp_path):
    code = (
        "import importlib.metadata, json, xyzfarm\n"
        "print(json.dumps([xyzfarm.__file__, xyzfarm.__version__,"
        " importlib.metadata.version('xyzfarm')]))"
    )
    proc = run_elsewhere([sys.executable, "-c", code], site, tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    path, version, metadata_version = json.loads(proc.stdout)
    assert Path(path).is_relative_to(site), path
    assert version == metadata_version


def run_user_script(site: Path, tmp_path: Path) -> dict:
    script = tmp_path / "project" / "session.py"
    script.parent.mkdir()
    script.write_text(USER_SCRIPT)
    out = tmp_path / "report.json"
    proc = run_elsewhere(
        [sys.executable, str(script), str(site), str(out)], site, tmp_path / "work", 240
    )
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return dict(json.loads(out.read_text()))
    finally:
        jobs = Path(str(out) + ".jobs")
        if jobs.exists() and proc.returncode != 0:
            subprocess.run(["scancel", *json.loads(jobs.read_text())], check=False)


def test_a_script_in_another_folder_grows_its_function_in_local_workers_and_renders_scripts(
    site, tmp_path, monkeypatch
):
    monkeypatch.delenv("SLURM_CONF", raising=False)  # the cluster has a test of its own
    report = run_user_script(site, tmp_path)
    assert Path(report["xyzfarm"]).is_relative_to(site)
    assert report["pool"] == {"p": EXPECTED_P, "installed": ALL_INSTALLED}
    marks = {
        "slurm": "#SBATCH --time=00:05:00",
        "pbs": "#PBS -l walltime=00:05:00",
        "sge": "#$ -l h_rt=00:05:00",
    }
    for scheduler, text in report["scripts"].items():
        assert marks[scheduler] in text, text
        assert " -m xyzfarm.worker task " in text
    assert not (tmp_path / "work" / "onslurm.h5").exists()


def test_a_script_in_another_folder_grows_on_slurm_and_plain_xarray_opens_the_file(
    site, tmp_path, slurm
):
    report = run_user_script(site, tmp_path)
    assert report["slurm"] == {"p": EXPECTED_P, "installed": ALL_INSTALLED}


def test_the_commands_run_from_another_folder_as_module_and_console_script(site, tmp_path):
    where = tmp_path / "elsewhere"
    worker = run_elsewhere([sys.executable, "-m", "xyzfarm.worker", "--help"], site, where)
    assert worker.returncode == 0 and "task" in worker.stdout, worker.stderr
    cli = run_elsewhere([sys.executable, "-m", "xyzfarm", "--help"], site, where)
    assert cli.returncode == 0 and "status" in cli.stdout, cli.stderr
    # the console script pip wrote runs this interpreter (its shebang, or a /bin/sh line for a
    # long path) and our main
    script = site / "bin" / "xyzfarm"
    assert sys.executable in script.read_text() and "xyzfarm.cli" in script.read_text()
    version = run_elsewhere([str(script), "--version"], site, where)
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["xyzfarm", xyzfarm.__version__]
    status = run_elsewhere([str(script), "status"], site, where)
    assert status.returncode == 0 and "no crops" in status.stdout, status.stderr


def test_a_task_started_by_the_command_of_earlier_scripts_grows_with_the_installed_worker(
    site, tmp_path
):
    # array-job scripts rendered before the modules moved into sub-packages run exactly this
    # command line; a task still queued at the upgrade starts the installed worker with it
    work = tmp_path / "work"
    sow = (
        "import xyzfarm as xyz\n"
        "def square(x):\n    return x * x\n"
        "crop = xyz.Runner(square, 'y').Crop(name='queued', batchsize=2)\n"
        "crop.sow_combos({'x': range(5)})\n"
        "crop.render('slurm', walltime='0:05:00')\n"
    )
    assert run_elsewhere([sys.executable, "-c", sow], site, work).returncode == 0
    crop = work / ".xyz-queued"
    (map_file,) = crop.glob("jobs/*/chunk-0.map.json")
    tasks = json.loads(map_file.read_text())["tasks"]
    for task in tasks:
        argv = [
            sys.executable,
            "-m",
            "xyzfarm.worker",
            "task",
            str(crop),
            "--map",
            str(map_file),
            "--task",
            task,
            "--workers",
            "1",
            "--threads",
            "1",
        ]
        proc = run_elsewhere(argv, site, tmp_path / "node")
        assert proc.returncode == 0, proc.stderr
    reap = run_elsewhere(
        [sys.executable, "-m", "xyzfarm", "reap", "queued", "--into", "squares.h5"], site, work
    )
    assert reap.returncode == 0, reap.stderr
    import xarray as xr

    with xr.open_dataset(work / "squares.h5") as ds:
        assert ds.y.values.tolist() == [0, 1, 4, 9, 16]
