"""The signature audit: every public name of xyzpy 1.3.5's farming API, and every parameter,
looked up on xyzfarm.

xyzfarm is a drop-in replacement: code written for ``import xyzpy as xyz`` must find the same
names, taking the same parameters with the same defaults, after ``import xyzfarm as xyz``.

Two modes:

* ``--snapshot`` (run with a Python that has xyzpy 1.3.5 installed, e.g. ``.venv-xyzpy``):
  inspects the names xyzpy exports at its top level that are defined in its farming modules
  (:data:`MODULES`), and the public methods and properties of those classes, and writes
  :data:`SNAPSHOT` (committed; sorted, so a re-run gives the same bytes).
* default (the dev venv, no xyzpy needed): looks every snapshot name up on ``xyzfarm`` (top
  level, then the same class and member names) and compares each parameter: present with the
  same default, present with a different default, at another position, or missing. Rewrites
  the table between :data:`START` and :data:`END` in docs/migrating-from-xyzpy.md (appending
  the heading and the markers once, at the end of the page, if they are not there yet);
  ``--check`` only compares, and exits 1 if the table is out of date.

Every difference is either kept on purpose (:data:`DELIBERATE`, each with its reason) or not
fixed yet (:data:`PENDING`, what xyzpy does); tests/test_signature_audit.py fails when a
missing name or parameter is in neither, or when an entry of either is no longer a
difference, so both lists stay true.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib
import inspect
import io
import json
import os
import re
import sys
import tempfile
import textwrap
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
XYZPY_VERSION = "1.3.5"
SNAPSHOT = ROOT / "compat" / f"xyzpy-{XYZPY_VERSION}-signatures.json"
DOC = ROOT / "docs" / "migrating-from-xyzpy.md"
HEADING = f"## Signature audit against xyzpy {XYZPY_VERSION}"
START = "<!-- signature-audit:start -->"
END = "<!-- signature-audit:end -->"
#: prose lines of the generated text are wrapped at this width, as the page's own
WIDTH = 95

#: xyzpy's farming modules: a top-level name of xyzpy is audited when it is defined in one
#: (for a ``functools.partial``, when the function it wraps is)
MODULES = (
    "xyzpy.gen.farming",
    "xyzpy.gen.cropping",
    "xyzpy.gen.case_runner",
    "xyzpy.gen.combo_runner",
    "xyzpy.gen.prepare",
    "xyzpy.manage",
)

_CROP_FOLDER = (
    "xyzpy's crop-folder internals (a pickle per batch and per result, an info pickle, batch "
    "arithmetic); an xyzfarm crop folder is a checksummed manifest, a case file and "
    "append-only result logs ([What differs on purpose](#what-differs-on-purpose)), so these "
    "steps have no counterpart: use `sow_*`, `grow*`, `status()`, `completed_results()`, "
    "`missing_results()` and `reap*`"
)

#: xyzpy name, or ``name.parameter``, -> why xyzfarm differs there on purpose (each is
#: also in docs/migrating-from-xyzpy.md, or follows from a difference listed there)
DELIBERATE: dict[str, str] = {
    f"Crop.{name}": _CROP_FOLDER
    for name in (
        "calc_progress",
        "choose_batch_settings",
        "ensure_dirs_exists",
        "handle_existing",
        "load_batch",
        "load_function",
        "load_info",
        "load_result",
        "parse_constants",
        "prepare",
        "save_function_to_disk",
        "save_info",
        "save_result",
    )
}
DELIBERATE["Crop.reap_samples.**kwargs"] = (
    "xyzpy hands them through reap_runner to reap_combos_to_ds, where each would relabel the "
    "sampler's own outputs or is unknown: refused by name rather than passed on"
)

#: xyzpy name, or ``name.parameter``, -> what xyzpy does there, for a difference not fixed
#: yet. The lead empties this list; the audit reports it on every run.
PENDING: dict[str, str] = {}


# ------------------------------------------------------------------------------------------
# inspecting either library


def _default_repr(value: Any) -> str:
    # addresses differ run to run: "<function f at 0x7f..>" -> "<function f>"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _parameters(sig: inspect.Signature, drop_first: bool = False) -> list[dict[str, Any]]:
    params = list(sig.parameters.values())
    if (
        drop_first
        and params
        and params[0].kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
    ):
        params = params[1:]  # self (xyzpy's partialmethods call it ``crop``)
    out = []
    for p in params:
        has_default = p.default is not inspect.Parameter.empty
        out.append(
            {
                "name": p.name,
                "kind": p.kind.name,
                "has_default": has_default,
                "default": _default_repr(p.default) if has_default else None,
            }
        )
    return out


def _signature(obj: Any, drop_first: bool = False) -> list[dict[str, Any]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return _parameters(sig, drop_first)


def _member_kind(static: Any) -> str:
    if isinstance(static, property | functools.cached_property):
        return "property"
    if isinstance(static, staticmethod):
        return "staticmethod"
    if isinstance(static, classmethod):
        return "classmethod"
    if inspect.isfunction(static) or isinstance(static, functools.partialmethod):
        return "method"
    return "attribute"


def describe_member(cls: type, name: str) -> dict[str, Any]:
    """Kind and parameters of ``cls.name`` (a method's without its ``self``)."""
    static = inspect.getattr_static(cls, name)
    kind = _member_kind(static)
    entry: dict[str, Any] = {"kind": kind}
    if kind in ("method", "staticmethod", "classmethod"):
        entry["parameters"] = _signature(getattr(cls, name), drop_first=kind == "method")
    return entry


def describe(obj: Any) -> dict[str, Any]:
    """Kind and parameters of a top-level name (a class's are its constructor's)."""
    if inspect.isclass(obj):
        return {"kind": "class", "parameters": _signature(obj)}
    if callable(obj):
        return {"kind": "function", "parameters": _signature(obj)}
    return {"kind": "attribute"}


def _defined_in(obj: Any) -> str | None:
    if isinstance(obj, functools.partial):
        obj = obj.func
    return getattr(obj, "__module__", None)


def _public_members(cls: type) -> list[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        names.update(n for n in vars(klass) if not n.startswith("_"))
    return sorted(names)


def snapshot_xyzpy() -> dict[str, Any]:
    """The snapshot of the installed xyzpy (see :data:`MODULES`)."""
    xyzpy = importlib.import_module("xyzpy")
    for module in MODULES:
        importlib.import_module(module)
    exported = set(getattr(xyzpy, "__all__", ())) | set(dir(xyzpy))
    names: dict[str, Any] = {}
    for name in sorted(n for n in exported if not n.startswith("_")):
        obj = getattr(xyzpy, name)
        if _defined_in(obj) not in MODULES:
            continue
        names[name] = describe(obj)
        if inspect.isclass(obj):
            for member in _public_members(obj):
                names[f"{name}.{member}"] = describe_member(obj, member)
    return {
        "library": "xyzpy",
        "version": xyzpy.__version__,
        "modules": list(MODULES),
        "generated_by": "scripts/signature_audit.py --snapshot",
        "names": names,
    }


def write_snapshot(path: Path = SNAPSHOT) -> None:
    data = snapshot_xyzpy()
    if data["version"] != XYZPY_VERSION:
        raise SystemExit(f"xyzpy {data['version']} is installed, not {XYZPY_VERSION}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(data['names'])} names")


def load_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def lookup_xyzfarm(qualname: str) -> dict[str, Any] | None:
    """``describe`` of ``qualname`` on xyzfarm, or None when it has no such name."""
    xyzfarm = importlib.import_module("xyzfarm")
    top, _, member = qualname.partition(".")
    try:
        obj = getattr(xyzfarm, top)
    except AttributeError:
        return None
    if not member:
        return describe(obj)
    if not inspect.isclass(obj):
        return None
    try:
        inspect.getattr_static(obj, member)
    except AttributeError:
        return None
    return describe_member(obj, member)


# ------------------------------------------------------------------------------------------
# keywords xyzfarm takes through **kwargs: checked by calling it


def _tiny(x: int, y: int = 1) -> int:
    return x + y


class _Calls:
    """Tiny calls of xyzfarm's callables, in the current folder (a crop sown once)."""

    def __init__(self) -> None:
        self.xyz = importlib.import_module("xyzfarm")
        self.count = 0
        self._crops: dict[bool, Any] = {}

    def unique(self) -> str:
        self.count += 1
        return f"audit{self.count}"

    def runner(self, **kw: Any) -> Any:
        return self.xyz.Runner(_tiny, var_names="z", **kw)

    def crop(self, grown: bool = True) -> Any:
        """A crop of two cases, grown (to grow again: nothing to do) or only sown (to write
        its cluster script)."""
        if grown not in self._crops:
            crop = self.runner().Crop(name=f"audit-{'grown' if grown else 'sown'}", save_fn=True)
            crop.sow_combos(_COMBOS)
            if grown:
                crop.grow(subprocess=False)
            self._crops[grown] = crop
        return self._crops[grown]

    def submitting(self, call: Callable[[], object]) -> object:
        """``call`` (a cluster submission) stopped where the scheduler would be called, after
        every option is read and the scripts are rendered: ``xyzfarm.crop.submit.submit`` is
        replaced by a stub, and no scheduler command can be found on the PATH meanwhile. A
        call that never reaches the stub fails, so nothing is ever sent to a scheduler."""
        submitting = importlib.import_module("xyzfarm.crop.submit")
        reached = []

        def stub(prepared: Any) -> Any:
            reached.append(prepared)
            return types.SimpleNamespace(
                job_ids=[], batches=[], attempts_before={}, task_batches={}
            )

        saved_submit, saved_path = submitting.submit, os.environ.get("PATH")
        empty = Path("no-commands").resolve()
        empty.mkdir(exist_ok=True)
        submitting.submit = stub
        os.environ["PATH"] = str(empty)
        try:
            call()
        finally:
            submitting.submit = saved_submit
            if saved_path is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = saved_path
        if not reached:
            raise RuntimeError("the submission returned before reaching the scheduler call")
        return reached[0]

    def cultivate(self, **kw: Any) -> Any:
        name = self.unique()
        base = {"combos": {"x": [1, 2]}, "name": name, "on_existing": "reap"}
        return self.xyz.cultivate(_tiny, var_names="z", data_name=f"{name}.h5", **base | kw)


_COMBOS = {"x": [1, 2]}
_CASES = [(1,), (2,)]

#: xyzpy name -> a tiny call of xyzfarm's, taking the keywords to check. A name whose xyzpy
#: keywords xyzfarm takes through ``**kwargs`` has one here when the call is cheap and local
#: (the ones that would submit a cluster job have none: their keywords are "not checked")
RECIPES: dict[str, Callable[[_Calls, dict[str, Any]], object]] = {
    "combo_runner": lambda c, kw: c.xyz.combo_runner(_tiny, _COMBOS, **kw),
    "case_runner": lambda c, kw: c.xyz.case_runner(_tiny, "x", _CASES, **kw),
    "combo_runner_to_ds": lambda c, kw: c.xyz.combo_runner_to_ds(_tiny, _COMBOS, "z", **kw),
    "combo_runner_to_df": lambda c, kw: c.xyz.combo_runner_to_df(_tiny, _COMBOS, "z", **kw),
    "case_runner_to_ds": lambda c, kw: c.xyz.case_runner_to_ds(_tiny, "x", _CASES, "z", **kw),
    "case_runner_to_df": lambda c, kw: c.xyz.case_runner_to_df(_tiny, "x", _CASES, "z", **kw),
    "label": lambda c, kw: c.xyz.label("z", **kw)(_tiny).run_combos(_COMBOS),
    "Runner": lambda c, kw: c.runner(**kw).run_combos(_COMBOS),
    "Runner.run_combos": lambda c, kw: c.runner().run_combos(_COMBOS, **kw),
    "Runner.run_cases": lambda c, kw: c.runner().run_cases(_CASES, fn_args="x", **kw),
    "Harvester.harvest_combos": lambda c, kw: c.xyz.Harvester(
        c.runner(), data_name=f"{c.unique()}.h5"
    ).harvest_combos(_COMBOS, **kw),
    "Harvester.harvest_cases": lambda c, kw: c.xyz.Harvester(
        c.runner(), data_name=f"{c.unique()}.h5"
    ).harvest_cases([{"x": 1}, {"x": 2}], **kw),
    "Sampler.sample_combos": lambda c, kw: c.xyz.Sampler(c.runner()).sample_combos(
        2, _COMBOS, **kw
    ),
    "cultivate": lambda c, kw: c.cultivate(**kw),
    "Harvester.cultivate": lambda c, kw: c.xyz.Harvester(
        c.runner(), data_name=f"{c.unique()}.h5"
    ).cultivate(**{"combos": _COMBOS, "name": c.unique(), "on_existing": "reap"} | kw),
    "Crop.grow": lambda c, kw: c.crop().grow(**kw),
    "Crop.grow_subprocess": lambda c, kw: c.crop().grow_subprocess(**kw),
    "Crop.grow_cluster": lambda c, kw: c.submitting(
        lambda: c.crop(grown=False).grow_cluster("slurm", **kw)
    ),
    "Crop.grow_slurm": lambda c, kw: c.submitting(lambda: c.crop(grown=False).grow_slurm(**kw)),
    "Crop.grow_sge": lambda c, kw: c.submitting(lambda: c.crop(grown=False).grow_sge(**kw)),
    "Crop.grow_pbs": lambda c, kw: c.submitting(lambda: c.crop(grown=False).grow_pbs(**kw)),
    "Crop.qsub_grow": lambda c, kw: c.submitting(lambda: c.crop(grown=False).qsub_grow(**kw)),
    "Crop.gen_cluster_script": lambda c, kw: c.crop(grown=False).gen_cluster_script("slurm", **kw),
    "Crop.gen_slurm_script": lambda c, kw: c.crop(grown=False).gen_slurm_script(**kw),
    "Crop.gen_sge_script": lambda c, kw: c.crop(grown=False).gen_sge_script(**kw),
    "Crop.gen_pbs_script": lambda c, kw: c.crop(grown=False).gen_pbs_script(**kw),
    "Crop.gen_qsub_script": lambda c, kw: c.crop(grown=False).gen_qsub_script(**kw),
}

#: the answer of a keyword check: taken, or why not
ACCEPTED = "accepted"
NOT_CHECKED = "not checked"
#: a keyword check whose call fails without any keyword: a problem of the audit itself
BROKEN = "its call fails without the keyword"


def _quiet_call(call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` with its output and warnings swallowed; the exception it raised, if any."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            call()
        except Exception as error:
            return error
    return None


def check_keywords(name: str, params: list[dict[str, Any]], calls: _Calls) -> dict[str, str]:
    """For each xyzpy parameter (keyword, xyzpy's default) that ``name`` on xyzfarm takes only
    through ``**kwargs``: :data:`ACCEPTED`, ``"refused: <error>"``, or why it was not checked.
    A keyword is refused when the call with it raises an error naming it that is a
    ``TypeError`` (unexpected keyword, multiple values) or says it is unknown; any other error
    is about its value or the call, so the keyword itself is taken."""
    recipe = RECIPES.get(name)
    if recipe is None:
        return {param_key(p): f"{NOT_CHECKED} (no local call)" for p in params}
    baseline = _quiet_call(lambda: recipe(calls, {}))
    if baseline is not None:
        why = f"{BROKEN}: {type(baseline).__name__}: {baseline}".splitlines()[0]
        return {param_key(p): f"{NOT_CHECKED} ({why})" for p in params}
    if not _refused(UNKNOWN, _quiet_call(lambda: recipe(calls, {UNKNOWN: 1}))):
        return {param_key(p): f"{NOT_CHECKED} (an unknown keyword is not refused)" for p in params}
    out = {}
    for p in params:
        key = param_key(p)
        try:
            value = ast.literal_eval(p["default"]) if p["has_default"] else None
        except (ValueError, SyntaxError):
            out[key] = f"{NOT_CHECKED} (xyzpy's default is not a literal)"
            continue
        if not p["has_default"]:
            out[key] = f"{NOT_CHECKED} (no default in xyzpy)"
            continue
        error = _quiet_call(lambda p=p, value=value: recipe(calls, {p["name"]: value}))
        if _refused(p["name"], error):
            out[key] = f"refused: {type(error).__name__}: {error}".splitlines()[0]
        else:
            out[key] = ACCEPTED
    return out


#: a keyword no callable takes: each recipe must refuse it, or it cannot tell
UNKNOWN = "signature_audit_unknown_keyword"


def _refused(keyword: str, error: BaseException | None) -> bool:
    text = str(error)
    named = error is not None and f"'{keyword}'" in text
    return named and (isinstance(error, TypeError) or "unknown" in text.lower())


# ------------------------------------------------------------------------------------------
# comparing


_POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
_VARIADIC = {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}


def param_key(param: dict[str, Any]) -> str:
    """A parameter's name in the audit: ``*args`` / ``**kwargs`` for the variadic ones."""
    return _VARIADIC.get(param["kind"], "") + param["name"]


@dataclass
class Finding:
    """How one xyzpy name compares on xyzfarm."""

    name: str
    kind: str
    #: the whole name is missing on xyzfarm
    missing: bool = False
    #: its parameters could not be inspected on one side (not compared)
    uninspectable: bool = False
    #: parameter key -> xyzpy's description of it
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: xyzpy parameters xyzfarm lacks (its ``**kwargs`` refusing them included)
    missing_params: list[str] = field(default_factory=list)
    #: parameter key -> (xyzpy default, xyzfarm default), where both have one
    defaults: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: parameter key -> how it may be passed on xyzfarm, where a positional call breaks
    positions: dict[str, str] = field(default_factory=dict)
    #: parameter key -> the result of its keyword check, for the ones xyzfarm has no name
    #: for but may take through its ``**kwargs``
    through: dict[str, str] = field(default_factory=dict)
    #: the name of xyzfarm's ``**kwargs`` parameter
    var_keyword: str | None = None
    #: "xyzpy kind -> xyzfarm kind", where they differ (a property that became a method)
    kind_differs: str | None = None

    def differences(self) -> set[str]:
        """The keys (``name`` or ``name.param``) at which xyzfarm differs."""
        if self.missing:
            return {self.name}
        out = {f"{self.name}.{p}" for p in self.missing_params}
        out |= {f"{self.name}.{p}" for p in self.defaults}
        out |= {f"{self.name}.{p}" for p in self.positions}
        if self.kind_differs:
            out.add(self.name)
        return out

    @property
    def unchecked(self) -> list[str]:
        return [k for k, v in self.through.items() if v.startswith(NOT_CHECKED)]


def compare(
    name: str, theirs: dict[str, Any], ours: dict[str, Any] | None, calls: _Calls | None = None
) -> Finding:
    """How xyzfarm's ``ours`` (None: it has no such name) matches xyzpy's ``theirs``; with
    ``calls``, the keywords xyzfarm takes only through ``**kwargs`` are checked by a call."""
    finding = Finding(name=name, kind=theirs["kind"])
    for p in theirs.get("parameters") or []:
        finding.params[param_key(p)] = p
    if ours is None:
        finding.missing = True
        return finding
    if ours["kind"] != theirs["kind"]:
        finding.kind_differs = f"{theirs['kind']} -> {ours['kind']}"
    if "parameters" not in theirs:
        return finding
    their_params, our_params = theirs["parameters"], ours.get("parameters")
    if their_params is None or our_params is None:
        finding.uninspectable = True
        return finding
    ours_by_key = {param_key(p): p for p in our_params if p["kind"] not in _VARIADIC}
    var_keyword = [p["name"] for p in our_params if p["kind"] == "VAR_KEYWORD"]
    finding.var_keyword = var_keyword[0] if var_keyword else None
    our_positional = [p["name"] for p in our_params if p["kind"] in _POSITIONAL]
    their_positional = [p["name"] for p in their_params if p["kind"] in _POSITIONAL]
    through = []
    for p in their_params:
        key = param_key(p)
        if p["kind"] in _VARIADIC:
            # any *args / **kwargs of xyzfarm's takes what xyzpy's took, whatever its name
            if not any(q["kind"] == p["kind"] for q in our_params):
                finding.missing_params.append(key)
            continue
        q = ours_by_key.get(key)
        if q is None:
            if finding.var_keyword is None or p["kind"] == "POSITIONAL_ONLY":
                finding.missing_params.append(key)
            else:
                through.append(p)
            continue
        if p["has_default"] and p["default"] != q["default"]:
            # xyzpy's required parameter given a default here breaks no call: not listed
            finding.defaults[key] = (str(p["default"]), _default_text(q))
        if p["kind"] in _POSITIONAL:
            index = their_positional.index(p["name"])
            if q["kind"] not in _POSITIONAL:
                finding.positions[key] = "keyword-only"
            elif our_positional.index(q["name"]) != index:
                ours_at = our_positional.index(q["name"]) + 1
                finding.positions[key] = f"positional argument {ours_at} (xyzpy: {index + 1})"
        elif p["kind"] == "KEYWORD_ONLY" and q["kind"] == "POSITIONAL_ONLY":
            finding.positions[key] = "positional-only"
    if through:
        if calls is None:
            finding.through = {param_key(p): f"{NOT_CHECKED} (no calls)" for p in through}
        else:
            finding.through = check_keywords(name, through, calls)
    for p in through:
        key = param_key(p)
        if finding.through[key].startswith("refused"):
            finding.missing_params.append(key)
        elif p["kind"] in _POSITIONAL:
            finding.positions[key] = f"keyword-only (through `**{finding.var_keyword}`)"
    return finding


def _default_text(param: dict[str, Any]) -> str:
    return str(param["default"]) if param["has_default"] else "required"


@dataclass
class Audit:
    findings: list[Finding]

    @property
    def differences(self) -> set[str]:
        return set().union(*(f.differences() for f in self.findings))

    @property
    def missing(self) -> set[str]:
        """Names and parameters of xyzpy that xyzfarm lacks."""
        out: set[str] = set()
        for f in self.findings:
            if f.missing:
                out.add(f.name)
            out |= {f"{f.name}.{p}" for p in f.missing_params}
        return out

    def counts(self) -> dict[str, int]:
        present = [f for f in self.findings if not f.missing]
        return {
            "names": len(self.findings),
            "names the same": sum(not f.differences() for f in self.findings),
            "names missing": sum(f.missing for f in self.findings),
            "params": sum(len(f.params) for f in self.findings),
            "params of present names": sum(len(f.params) for f in present),
            "params missing": sum(len(f.missing_params) for f in self.findings),
            "params through **kwargs, accepted": sum(
                list(f.through.values()).count(ACCEPTED) for f in self.findings
            ),
            "params through **kwargs, not checked": sum(len(f.unchecked) for f in self.findings),
            "defaults differing": sum(len(f.defaults) for f in self.findings),
            "positions differing": sum(len(f.positions) for f in self.findings),
            "kinds differing": sum(f.kind_differs is not None for f in self.findings),
            "uninspectable": sum(f.uninspectable for f in self.findings),
        }


def audit(snapshot: dict[str, Any] | None = None) -> Audit:
    """Every snapshot name compared with xyzfarm's (the keyword checks run in a temporary
    folder, left as it was)."""
    snapshot = load_snapshot() if snapshot is None else snapshot
    names = snapshot["names"]
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="xyzfarm-signature-audit-") as folder:
        os.chdir(folder)
        try:
            calls = _Calls()
            findings = [compare(n, names[n], lookup_xyzfarm(n), calls) for n in sorted(names)]
        finally:
            os.chdir(here)
    return Audit(findings)


def resolve_key(key: str, snapshot: dict[str, Any]) -> tuple[str, str | None] | None:
    """``(name, param)`` that a DELIBERATE/PENDING key names in the snapshot, else None."""
    names = snapshot["names"]
    if key in names:
        return key, None
    name, _, param = key.rpartition(".")
    if name in names and param in {param_key(p) for p in names[name].get("parameters") or []}:
        return name, param
    return None


def list_problems(
    result: Audit,
    snapshot: dict[str, Any] | None = None,
    deliberate: dict[str, str] | None = None,
    pending: dict[str, str] | None = None,
) -> list[str]:
    """What keeps the audit from being true, each starting with its kind:

    * ``UNLISTED``: a difference (a missing name or parameter, a different default or
      position) in neither :data:`DELIBERATE` nor :data:`PENDING`;
    * ``STALE``: an entry of either that is no longer a difference;
    * ``UNKNOWN``: an entry naming no xyzpy name or parameter; ``BOTH``: an entry in both;
    * ``BROKEN``: a keyword check whose call fails without any keyword.
    """
    snapshot = load_snapshot() if snapshot is None else snapshot
    deliberate = DELIBERATE if deliberate is None else deliberate
    pending = PENDING if pending is None else pending
    problems = []
    listed = set(deliberate) | set(pending)
    for key in sorted(set(deliberate) & set(pending)):
        problems.append(f"BOTH {key}: in DELIBERATE and PENDING; keep one")
    for key in sorted(listed):
        if resolve_key(key, snapshot) is None:
            problems.append(f"UNKNOWN {key}: xyzpy {XYZPY_VERSION} has no such name or param")
    for finding in result.findings:
        broken = sorted({v for v in finding.through.values() if BROKEN in v})
        problems += [f"BROKEN {finding.name}: the keyword check {v}" for v in broken]
    differences = result.differences
    for key in sorted(differences - listed):
        what = "missing in xyzfarm" if key in result.missing else "differs in xyzfarm"
        problems.append(
            f"UNLISTED {key}: {what}; add it to xyzfarm, or list it in DELIBERATE (with the "
            "reason) or PENDING (with what xyzpy does) in scripts/signature_audit.py"
        )
    for mapping, label in ((deliberate, "DELIBERATE"), (pending, "PENDING")):
        for key in sorted(set(mapping) - differences):
            if resolve_key(key, snapshot) is not None:
                problems.append(
                    f"STALE {key}: in {label} but no longer a difference; remove it from {label}"
                )
    return problems


# ------------------------------------------------------------------------------------------
# the table in docs/migrating-from-xyzpy.md


def _cell(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def _row_status(finding: Finding) -> str:
    keys = finding.differences()
    marks = []
    if keys & set(DELIBERATE):
        marks.append("deliberate")
    if keys & set(PENDING):
        marks.append("pending")
    if keys - set(DELIBERATE) - set(PENDING):
        marks.append("unlisted")
    return ", ".join(marks)


def _row(finding: Finding) -> str:
    if finding.missing:
        missing = f"the {finding.kind}"
    else:
        refused = [p for p in finding.missing_params if p in finding.through]
        plain = [_code(p) for p in finding.missing_params if p not in finding.through]
        if refused:
            plain.append(
                f"{', '.join(_code(p) for p in refused)} (refused by `**{finding.var_keyword}`)"
            )
        missing = ", ".join(plain)
    other = [
        f"{_code(p)}: {_code(a)} → {_code(b)}" for p, (a, b) in sorted(finding.defaults.items())
    ]
    by_how: dict[str, list[str]] = {}
    for p, how in sorted(finding.positions.items()):
        by_how.setdefault(how, []).append(_code(p))
    other += [f"{', '.join(params)} {how}" for how, params in by_how.items()]
    if finding.kind_differs:
        theirs, ours = finding.kind_differs.split(" -> ")
        other.append(f"a {ours} here, a {theirs} in xyzpy")
    if finding.unchecked:
        other.append(
            f"not checked (taken by `**{finding.var_keyword}`): "
            + ", ".join(_code(p) for p in finding.unchecked)
        )
    cells = [_code(finding.name), missing, "; ".join(other), _row_status(finding)]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def table(result: Audit) -> str:
    """The generated text between the markers."""
    c = result.counts()
    intro = (
        "Written by `scripts/signature_audit.py` from xyzpy's signatures recorded in "
        f"`compat/xyzpy-{XYZPY_VERSION}-signatures.json` (do not edit by hand; "
        "`tests/test_signature_audit.py` fails when it is stale). It covers every name xyzpy "
        "exports at its top level from its farming modules "
        f"({', '.join(_code(m) for m in MODULES)}) and every public method and property of "
        "those classes, looked up on `xyzfarm` under the same name. A keyword xyzfarm takes "
        "only through `**kwargs` is checked by a tiny call with xyzpy's default (refused: "
        "missing). Keywords only xyzfarm has, and xyzpy's required parameters that xyzfarm "
        "gives a default, break no call and are not listed."
    )
    names = (
        f"Names audited: {c['names']}; the same in xyzfarm (every parameter present, same "
        f"default, same position): {c['names the same']}; missing: {c['names missing']}."
    )
    params = (
        f"Parameters audited: {c['params']} ({c['params of present names']} of names "
        f"xyzfarm has); missing: {c['params missing']}; different default: "
        f"{c['defaults differing']}; not at xyzpy's position: {c['positions differing']}; "
        f"taken through `**kwargs`: {c['params through **kwargs, accepted']} checked, "
        f"{c['params through **kwargs, not checked']} not checked."
    )
    lines = [
        *_wrap(intro),
        "",
        *_wrap(names, "- "),
        *_wrap(params, "- "),
        "",
        "| xyzpy | missing in xyzfarm | differs (xyzpy → xyzfarm) | listed as |",
        "|---|---|---|---|",
    ]
    lines += [_row(f) for f in result.findings if f.differences() or f.unchecked]
    lines += ["", "Kept on purpose (`DELIBERATE` in the script):", ""]
    lines += _grouped(DELIBERATE) if DELIBERATE else ["- nothing"]
    lines += ["", "Not done yet (`PENDING` in the script; what xyzpy does there):", ""]
    lines += _grouped(PENDING) if PENDING else ["- nothing"]
    return "\n".join(lines)


def _grouped(mapping: dict[str, str]) -> list[str]:
    """One bullet per reason, naming every key that has it."""
    by_reason: dict[str, list[str]] = {}
    for key in sorted(mapping):
        by_reason.setdefault(mapping[key], []).append(key)
    out = []
    for reason, keys in by_reason.items():
        out += _wrap(f"{', '.join(_code(k) for k in keys)}: {reason}", "- ")
    return out


def _wrap(text: str, bullet: str = "") -> list[str]:
    """Prose lines of the page's width (code spans never split)."""
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=bullet,
        subsequent_indent=" " * len(bullet),
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_doc(text: str, body: str) -> str:
    """``text`` with the part between the markers replaced by ``body`` (the heading and the
    markers appended at the end when the page has none)."""
    block = f"{START}\n{body}\n{END}"
    if START not in text:
        return text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    before, _, rest = text.partition(START)
    if END not in rest:
        raise SystemExit(f"{DOC.relative_to(ROOT)}: {START!r} without {END!r}")
    _, _, after = rest.partition(END)
    return before + block + after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--snapshot", action="store_true", help="record the installed xyzpy's signatures"
    )
    mode.add_argument("--check", action="store_true", help="exit 1 if the docs table is stale")
    args = parser.parse_args(argv)
    if args.snapshot:
        write_snapshot()
        return 0
    sys.path.insert(0, str(ROOT))
    snapshot = load_snapshot()
    result = audit(snapshot)
    current = DOC.read_text()
    wanted = render_doc(current, table(result))
    for name, value in result.counts().items():
        print(f"{name}: {value}")
    problems = list_problems(result, snapshot)
    for problem in problems:
        print(f"PROBLEM {problem}")
    if PENDING:
        print(
            f"PENDING ({len(PENDING)}, see {DOC.relative_to(ROOT)}): {', '.join(sorted(PENDING))}"
        )
    if args.check:
        if wanted != current:
            print(
                f"PROBLEM TABLE {DOC.relative_to(ROOT)}: the signature audit is stale; run "
                "`python scripts/signature_audit.py` to rewrite it"
            )
            return 1
        return 1 if problems else 0
    if wanted != current:
        DOC.write_text(wanted)
        print(f"rewrote the signature audit in {DOC.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
