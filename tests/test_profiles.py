from __future__ import annotations

from pathlib import Path

import pytest

from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers.profiles import load_profile


def test_a_project_profile_overrides_a_users(monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "xyzfarm").mkdir(parents=True)
    (home / ".config" / "xyzfarm" / "profiles.toml").write_text(
        '[profile.hpc]\nscheduler = "slurm"\npartition = "user"\naccount = "me"\n'
    )
    Path("xyzfarm.toml").write_text('[profile.hpc]\npartition = "project"\n')
    monkeypatch.setenv("HOME", str(home))
    assert load_profile("hpc") == {"scheduler": "slurm", "partition": "project", "account": "me"}


def test_a_missing_profile_lists_what_exists(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    Path("xyzfarm.toml").write_text('[profile.a]\nscheduler = "sge"\n')
    with pytest.raises(InvalidInputError, match=r"'b'.*\['a'\]"):
        load_profile("b")


def test_a_broken_profile_file_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    Path("xyzfarm.toml").write_text("[profile.a\n")
    with pytest.raises(InvalidInputError, match="TOML"):
        load_profile("a")
