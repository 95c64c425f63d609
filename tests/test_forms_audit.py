"""scripts/forms_audit.py: each input form xyzpy 1.3.5 accepts, run under xyzfarm and compared
with xyzpy's recorded outcome (the committed snapshot; xyzpy itself is not needed)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load_forms() -> Any:
    spec = importlib.util.spec_from_file_location(
        "forms_audit", ROOT / "scripts" / "forms_audit.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


forms = _load_forms()
SAME = {"value": {"Dataset": {"dims": {"a": 2}}}}


def raises(name: str, builtin: str) -> dict[str, str]:
    return {"raises": name, "builtin": builtin, "message": "no"}


def test_every_xyzpy_input_form_gives_xyzpys_outcome_or_is_listed_with_its_reason(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "forms_audit.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    problems = [line for line in out.stdout.splitlines() if line.startswith("PROBLEM")]
    assert out.returncode == 0 and problems == [], out.stdout + out.stderr
    assert f"of {len(forms.PROBES)}" in out.stdout


def test_the_committed_snapshot_records_xyzpys_outcome_of_every_probe():
    recorded = json.loads(forms.SNAPSHOT.read_text())
    assert set(recorded) == set(forms.PROBES)
    assert all(("value" in o) != ("raises" in o) for o in recorded.values())


def test_each_verdict_names_which_side_raised_or_where_the_values_differ():
    assert forms.verdict(SAME, SAME) == ("same", "")
    other = {"value": {"Dataset": {"dims": {"a": 3}}}}
    answer, detail = forms.verdict(SAME, other)
    assert answer == "differs" and "Dataset.dims.a" in detail and "2 vs 3" in detail
    assert forms.verdict(SAME, raises("ComboValueError", "TypeError"))[0] == "xyzfarm raises"
    assert forms.verdict(raises("TypeError", "TypeError"), SAME)[0] == "xyzpy raises"


def test_both_raising_agrees_but_notes_an_error_that_is_not_xyzpys_builtin_class():
    answer, detail = forms.verdict(
        raises("TypeError", "TypeError"), raises("ComboValueError", "TypeError")
    )
    assert answer == "both raise" and detail == "TypeError / ComboValueError"
    answer, detail = forms.verdict(
        raises("ValueError", "ValueError"), raises("UnknownArgumentError", "TypeError")
    )
    assert answer == "both raise" and "xyzpy ValueError, xyzfarm TypeError" in detail


def test_an_unlisted_difference_is_a_problem_and_a_listed_probe_that_agrees_is_stale():
    probe = next(iter(p for p in forms.PROBES if p not in forms.KNOWN))
    theirs = {p: SAME for p in forms.PROBES}
    rows = [(p, "same", "") for p in forms.PROBES if p != probe]
    problems = forms.problems_of([*rows, (probe, "xyzfarm raises", "E: no")], theirs)
    stale = [p for p in problems if p.startswith("STALE")]
    assert [p for p in problems if not p.startswith("STALE")] == [
        f"UNLISTED {probe}: xyzfarm raises: E: no; list it in DELIBERATE (why) or PENDING "
        "(what xyzpy does) in scripts/forms_audit.py"
    ]
    assert sorted(p.split(":")[0] for p in stale) == sorted(f"STALE {k}" for k in forms.KNOWN)
