"""scripts/signature_audit.py: xyzpy 1.3.5's farming names and parameters, looked up on
xyzfarm, from the committed snapshot (xyzpy itself is not needed)."""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_audit() -> Any:
    spec = importlib.util.spec_from_file_location(
        "signature_audit", ROOT / "scripts" / "signature_audit.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["signature_audit"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


audit = _load_audit()


@pytest.fixture(scope="module")
def check_run(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The output lines of ``signature_audit.py --check`` on this checkout (run once, in a
    child interpreter with a time limit: its keyword checks sow and grow a tiny crop)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "signature_audit.py"), "--check"],
        cwd=tmp_path_factory.mktemp("signature-audit"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout.splitlines()


def problems_of(lines: list[str], *kinds: str) -> list[str]:
    return [line for line in lines if line.startswith(tuple(f"PROBLEM {k} " for k in kinds))]


def snapshot_of(**names: dict[str, Any]) -> dict[str, Any]:
    return {"names": names}


def param(name: str, default: str | None = None, kind: str = "POSITIONAL_OR_KEYWORD") -> dict:
    return {"name": name, "kind": kind, "has_default": default is not None, "default": default}


def function(*params: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "function", "parameters": list(params)}


# --- the audit of this checkout -----------------------------------------------------------


def test_every_xyzpy_name_and_parameter_xyzfarm_lacks_is_deliberate_or_pending(check_run):
    assert problems_of(check_run, "UNLISTED") == []


def test_every_deliberate_and_pending_entry_is_still_a_difference_of_a_real_xyzpy_name(
    check_run,
):
    assert problems_of(check_run, "STALE", "UNKNOWN", "BOTH") == []


def test_every_keyword_check_can_call_xyzfarm(check_run):
    assert problems_of(check_run, "BROKEN") == []


def test_the_signature_table_in_the_migration_guide_is_current(check_run):
    assert problems_of(check_run, "TABLE") == []


def test_the_pending_differences_are_reported_until_they_are_fixed(check_run):
    (line,) = [line for line in check_run if line.startswith("PENDING")] or [""]
    if audit.PENDING:
        assert all(key in line for key in audit.PENDING)
        warnings.warn(
            f"{len(audit.PENDING)} xyzpy names or parameters still differ (PENDING in "
            f"scripts/signature_audit.py): {', '.join(sorted(audit.PENDING))}",
            UserWarning,
            stacklevel=1,
        )
    else:
        assert line == ""


# --- the snapshot ---------------------------------------------------------------------------


def test_the_committed_snapshot_holds_xyzpys_farming_names_and_nothing_else():
    snapshot = audit.load_snapshot()
    names = snapshot["names"]
    assert snapshot["version"] == audit.XYZPY_VERSION
    assert {"Runner", "Harvester", "Sampler", "Crop", "combo_runner", "load_ds"} <= set(names)
    assert {"Runner.run_combos", "Harvester.full_ds", "Crop.sow_combos"} <= set(names)
    assert names["Harvester.full_ds"]["kind"] == "property"
    assert not {"LinePlot", "plot", "Timer", "RayExecutor", "progbar"} & set(names)
    run_combos = {p["name"]: p for p in names["Runner.run_combos"]["parameters"]}
    assert "self" not in run_combos and run_combos["constants"]["default"] == "()"


def test_the_committed_snapshot_is_written_sorted_so_a_rerun_gives_the_same_bytes():
    import json

    text = audit.SNAPSHOT.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"


# --- the comparison ---------------------------------------------------------------------------


def test_a_name_xyzfarm_lacks_is_missing_and_unlisted():
    snapshot = snapshot_of(no_such_function=function(param("x")))
    result = audit.Audit([audit.compare("no_such_function", function(param("x")), None)])
    assert result.missing == {"no_such_function"}
    (problem,) = audit.list_problems(result, snapshot, {}, {})
    assert problem.startswith("UNLISTED no_such_function: missing in xyzfarm")


def test_a_parameter_xyzfarm_lacks_or_defaults_differently_is_a_difference():
    theirs = function(param("fn"), param("shuffle", "False"), param("verbosity", "1"))
    ours = function(param("fn"), param("verbosity", "2"))
    finding = audit.compare("f", theirs, ours)
    assert finding.missing_params == ["shuffle"]
    assert finding.defaults == {"verbosity": ("1", "2")}
    assert finding.differences() == {"f.shuffle", "f.verbosity"}


def test_a_required_xyzpy_parameter_given_a_default_here_breaks_no_call():
    finding = audit.compare("f", function(param("sampler")), function(param("sampler", "None")))
    assert finding.differences() == set()


def test_a_positional_parameter_that_moved_or_became_keyword_only_is_a_difference():
    theirs = function(param("a"), param("b", "1"), param("c", "2"))
    ours = function(param("a"), param("c", "2"), param("b", "1", kind="KEYWORD_ONLY"))
    finding = audit.compare("f", theirs, ours)
    assert finding.positions == {"b": "keyword-only", "c": "positional argument 2 (xyzpy: 3)"}


def test_a_parameter_taken_only_through_kwargs_is_not_called_missing_without_a_check():
    theirs = function(param("fn"), param("desc", "'Grow'", kind="KEYWORD_ONLY"))
    ours = function(param("fn"), param("options", kind="VAR_KEYWORD"))
    finding = audit.compare("f", theirs, ours)
    assert finding.missing_params == [] and finding.unchecked == ["desc"]


def test_a_keyword_the_call_refuses_by_name_is_missing():
    refusal = TypeError("f() got an unexpected keyword argument 'to_df'")
    assert audit._refused("to_df", refusal)
    assert not audit._refused("to_df", ValueError("to_df=3 is not a bool, 'to_df'"))
    assert not audit._refused("to_df", None)


def test_the_keyword_check_calls_xyzfarm_and_finds_an_unknown_runner_setting():
    theirs = function(param("made_up_setting", "False", kind="KEYWORD_ONLY"))
    theirs["parameters"] += [param("shuffle", "False", kind="KEYWORD_ONLY")]
    answers = audit.check_keywords("combo_runner_to_ds", theirs["parameters"], audit._Calls())
    assert answers["shuffle"] == audit.ACCEPTED
    refused = answers["made_up_setting"]
    assert refused.startswith("refused") and "made_up_setting" in refused


def test_a_listed_entry_that_is_no_longer_a_difference_is_stale():
    snapshot = snapshot_of(f=function(param("x")))
    result = audit.Audit([audit.compare("f", function(param("x")), function(param("x")))])
    problems = audit.list_problems(result, snapshot, {"f.x": "on purpose"}, {"f": "to do"})
    assert [p.split(":")[0] for p in problems] == ["STALE f.x", "STALE f"]


def test_an_entry_naming_no_xyzpy_name_or_parameter_is_refused():
    snapshot = snapshot_of(f=function(param("x")))
    result = audit.Audit([audit.compare("f", function(param("x")), None)])
    problems = audit.list_problems(result, snapshot, {"f": "why", "f.nope": "why"}, {})
    assert [p.split(":")[0] for p in problems] == ["UNKNOWN f.nope"]


def test_the_real_lists_only_name_xyzpy_names_and_parameters():
    snapshot = audit.load_snapshot()
    for key in [*audit.DELIBERATE, *audit.PENDING]:
        assert audit.resolve_key(key, snapshot) is not None, key
        assert (audit.DELIBERATE.get(key) or audit.PENDING[key]).strip(), key


# --- the table ------------------------------------------------------------------------------


def test_the_table_goes_between_its_markers_and_leaves_the_rest_of_the_page_alone():
    page = "# Migrating\n\nhand-written text\n"
    first = audit.render_doc(page, "table one")
    assert first.startswith(page.rstrip("\n")) and audit.HEADING in first
    assert first.count(audit.START) == 1 and first.endswith(f"table one\n{audit.END}\n")
    edited = first.replace("hand-written text", "edited by hand") + "\nlater text\n"
    second = audit.render_doc(edited, "table two")
    assert second == edited.replace("table one", "table two")


def test_the_table_has_one_row_per_name_that_differs_and_says_how_it_is_listed():
    snapshot = copy.deepcopy(snapshot_of(f=function(param("x"), param("y", "1"))))
    theirs = snapshot["names"]["f"]
    result = audit.Audit([audit.compare("f", theirs, function(param("x")))])
    text = audit.table(result)
    (row,) = [line for line in text.splitlines() if line.startswith("| `f`")]
    assert "`y`" in row and row.endswith("| unlisted |")
