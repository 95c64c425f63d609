from __future__ import annotations

import subprocess
import sys

from xyzfarm.sweep.progress import in_notebook, progress_bar, write_beside_bars


def test_outside_a_notebook_the_bar_is_text_on_stderr(capsys):
    assert not in_notebook()
    bar = progress_bar(3, "Grow", "batch")
    bar.update(3)
    bar.close()
    err = capsys.readouterr().err
    assert "Grow: 100%" in err and "3/3" in err


def test_a_line_written_beside_a_bar_leaves_one_bar_not_two(python, python_env):
    code = (
        "from xyzfarm.sweep.progress import progress_bar, write_beside_bars\n"
        "bar = progress_bar(2, 'Grow', 'batch')\n"
        "bar.update(1)\n"
        "write_beside_bars('a worker says hello\\n')\n"
        "bar.update(1)\n"
        "bar.close()\n"
    )
    # bytes: text mode would turn the bar's "\r" into "\n"
    err = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, check=True
    ).stderr.decode()
    # a text bar redraws with carriage returns: what remains on screen is the last frame of
    # each line; the worker's line must stand alone, and the bar continue below it
    screen = [line.rsplit("\r", 1)[-1] for line in err.split("\n") if line.strip("\r")]
    assert screen[0] == "a worker says hello", err
    assert len(screen) == 2 and "2/2" in screen[1], err


def test_without_tqdm_imported_a_line_goes_straight_to_stderr(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "tqdm.std", raising=False)
    write_beside_bars("plain\n")
    assert capsys.readouterr().err == "plain\n"
