from __future__ import annotations

import subprocess
from pathlib import Path

from xyzfarm.__main__ import main


def test_demo_command_writes_the_file_and_prints_a_summary(capsys):
    assert main(["demo", "--data-name", "d.h5", "--num-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Data variables" in out and "energy" in out
    assert Path("d.h5").is_file()


def test_errors_print_one_line_and_exit_2(capsys, monkeypatch):
    import xyzfarm.demo

    def broken(*args, **kwargs):
        from xyzfarm.errors import InvalidInputError

        raise InvalidInputError("bad value 42; do this instead")

    monkeypatch.setattr(xyzfarm.demo, "run_demo", broken)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "xyzfarm: error: bad value 42; do this instead"


def test_python_dash_m_xyzfarm_shows_help(python, python_env):
    out = subprocess.run(
        [python, "-m", "xyzfarm", "--help"],
        env=python_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "demo" in out
