"""Shared fixtures: every test works in its own temporary folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent

# no example database: it would be written into the working tree (.hypothesis/), and the
# fuzz tests are seeded by their own strategies, not by examples remembered across runs
settings.register_profile("xyzfarm", database=None)
settings.load_profile("xyzfarm")


_HYPOTHESIS_HOME = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    # hypothesis also caches constants found in the source under its home (default
    # ./.hypothesis, written while collecting): keep it out of the working tree
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    home = tempfile.mkdtemp(prefix="xyzfarm-hypothesis-")
    config.stash[_HYPOTHESIS_HOME] = home
    set_hypothesis_home_dir(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    home = config.stash.get(_HYPOTHESIS_HOME, None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def python_env() -> dict[str, str]:
    """Environment for child interpreters that must import this checkout of xyzfarm."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a module of user functions into a folder on sys.path (workers inherit sys.path)."""

    def write(name: str, source: str) -> Path:
        folder = tmp_path / "usercode"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(source)
        monkeypatch.syspath_prepend(str(folder))
        return folder

    return write


@pytest.fixture
def slurm() -> str:
    """The local SLURM's config (``make test`` starts it); skip, or fail under make test."""
    import shutil

    conf = os.environ.get("SLURM_CONF")
    ok = bool(conf) and Path(str(conf)).is_file() and shutil.which("sbatch") is not None
    if not ok:
        if os.environ.get("XYZ_REQUIRE_SLURM"):
            pytest.fail(
                f"no local SLURM (SLURM_CONF={conf!r}): scripts/local-slurm.sh start failed?"
            )
        pytest.skip("no local SLURM: run `make cluster-up` and export SLURM_CONF")
    return str(conf)


@pytest.fixture
def sge() -> str:
    """The local Grid Engine (``make test`` starts it); skip, or fail under make test."""
    import shutil

    root = os.environ.get("SGE_ROOT")
    ok = bool(root) and shutil.which("qsub") is not None and shutil.which("qconf") is not None
    if ok:
        import subprocess

        ok = subprocess.run(["qconf", "-sq", "all.q"], capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("XYZ_REQUIRE_SGE"):
            pytest.fail(f"no local Grid Engine (SGE_ROOT={root!r}): scripts/local-sge.sh failed?")
        pytest.skip("no local Grid Engine: run `make cluster-up` and export SGE_ROOT SGE_CELL")
    return str(root)


@pytest.fixture(params=["slurm", "sge"])
def scheduler(request: pytest.FixtureRequest) -> str:
    """Each local cluster in turn (a test skips, or fails under make test, without it)."""
    request.getfixturevalue(request.param)
    return str(request.param)


class TaskBody:
    """Runs a rendered array-job script under bash as its scheduler would start one task, for
    schedulers without a daemon here (PBS, LSF) and to test any one without its daemon: the
    task's variables (``env``) are set, ``PYTHONPATH`` reaches the user's code folder, and
    every in-job variable of the shell running the tests is removed first, so only the
    variables given say which scheduler the task is in."""

    def __init__(self, code_folder: Path) -> None:
        self.code_folder = code_folder

    #: variables that would place the tests' own shell in a job (SLURM_CONF, SGE_ROOT stay)
    IN_JOB = ("SLURM_JOB", "SLURM_ARRAY", "SLURM_RESTART", "PBS_", "SGE_TASK", "LSB_", "JOB_ID")

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(self.IN_JOB)}
        base["PYTHONPATH"] = os.pathsep.join([str(self.code_folder), *sys.path])
        return {**base, **env}

    def run(self, script: Path, env: dict[str, str]):
        """Run the task to its end; its output is returned, its exit status checked."""
        import subprocess

        return subprocess.run(
            ["bash", str(script)],
            env=self.environment(env),
            check=True,
            capture_output=True,
            text=True,
        )

    def start(self, script: Path, env: dict[str, str]):
        """Start the task (its ``exec``'d worker keeps the pid, so signals reach it)."""
        import subprocess

        return subprocess.Popen(
            ["bash", str(script)],
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture
def task_body(tmp_path: Path) -> TaskBody:
    """:class:`TaskBody` whose tasks import the ``user_module`` folder's code."""
    return TaskBody(tmp_path / "usercode")
