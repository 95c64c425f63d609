"""xyzfarm's own adversary (issue 23), run whole: twin files, delete and re-sow while
growing, concurrent sows, links, a colleague's and a read-only crop, a full disk and no
inodes (where root may mount a tmpfs), checkpoints torn at every offset, SIGTERM and kill -9
of every grow path, crafted files and inputs. Every trial must end in the exact dataset or a
typed error; the table is printed (``pytest -s``) and kept in docs/reliability.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "adversary.py"


@pytest.mark.slow
@pytest.mark.timeout(1300)
def test_no_trial_of_the_adversary_ends_badly(tmp_path, python_env):
    trials = tmp_path / "trials.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(trials)],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(done.stdout[done.stdout.find("| class") :])
    bad = [t for t in json.loads(trials.read_text()) if t["outcome"] == "bad"]
    assert done.returncode == 0 and not bad, (bad, done.stderr[-3000:])
    # every class ran trials (access and disk need root and a tmpfs mount: there may be none)
    classes = {t["class"] for t in json.loads(trials.read_text())}
    assert {"twin", "resow", "sow", "links", "torn", "kill", "inputs"} <= classes
