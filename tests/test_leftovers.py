"""scripts/leftovers.sh: the check in `make test` that the run left the working tree alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "leftovers.sh"


def tree(tmp_path: Path) -> Path:
    """A working tree of our own with the script in it (the script checks its own tree)."""
    root = tmp_path / "tree"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "scripts" / "leftovers.sh")
    (root / "README.md").write_text("hello\n")
    (root / "doomed.txt").write_text("bye\n")
    (root / "xyzfarm").mkdir()
    return root


def leftovers(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "leftovers.sh"), command, str(root / "build" / "snap")],
        capture_output=True,
        text=True,
    )


def test_an_untouched_tree_passes_the_check(tmp_path):
    root = tree(tmp_path)
    assert leftovers(root, "snapshot").returncode == 0
    checked = leftovers(root, "check")
    assert (checked.returncode, checked.stderr) == (0, "")


def test_the_check_names_every_file_added_changed_or_removed(tmp_path):
    root = tree(tmp_path)
    assert leftovers(root, "snapshot").returncode == 0
    (root / "slurm-1_0.out").write_text("")
    (root / "a folder").mkdir()
    (root / "README.md").write_text("hello, changed\n")
    (root / "doomed.txt").unlink()
    checked = leftovers(root, "check")
    assert checked.returncode == 1
    lines = [line.split(None, 1) for line in checked.stderr.splitlines() if line.startswith("  ")]
    assert sorted(lines) == sorted(
        [
            ["added", "slurm-1_0.out"],
            ["added", "a folder"],
            ["changed", "README.md"],
            ["removed", "doomed.txt"],
        ]
    )


def test_what_the_make_itself_writes_is_not_a_leftover(tmp_path):
    root = tree(tmp_path)
    assert leftovers(root, "snapshot").returncode == 0
    for made in [".venv/bin/python", "build/slurm/slurm.conf", "xyzfarm/__pycache__/a.pyc"]:
        (root / made).parent.mkdir(parents=True, exist_ok=True)
        (root / made).write_text("")
    assert leftovers(root, "check").returncode == 0


def test_a_check_without_a_snapshot_is_an_error_not_a_pass(tmp_path):
    checked = leftovers(tree(tmp_path), "check")
    assert checked.returncode == 2 and "snapshot" in checked.stderr
