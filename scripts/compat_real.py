"""The real-usage half of ``make compat``: public code using xyzpy's farming API, run both ways.

Each harness in ``compat/real_usage/`` keeps a public project's xyzpy calls exactly as its
authors wrote them, with their heavy computation replaced by a cheap stand-in of the same
signature and output shapes (see ``compat/real_usage/README.md``). Each runs twice, each time
in a fresh temporary folder and its own subprocess:

* with xyzpy 1.3.5, in its own venv (``--xyzpy-python``, default ``.venv-xyzpy/bin/python``);
* with this checkout's xyzfarm (this interpreter), its import lines rewritten exactly as for
  xyzpy's documented usage (:func:`compat_docs.rewrite_cell`): nothing else changes.

``scripts/compat_real_driver.py`` runs the harness and canonicalises what it left in
``RESULTS`` and ``RESULT_FILES``; here the two are compared: values (NaN-aware, within
:data:`RTOL`), dimensions and their order, coordinates (values, order), dtypes, attributes, data
variable names, and whether each run raised and what (xyzfarm's errors subclass xyzpy's, so an
xyzfarm exception whose classes include xyzpy's exception's class counts as the same).

A harness may be listed in :data:`DELIBERATE` (name -> reason) only where xyzpy itself raises
or is documented as unsafe there; a listed harness that comes out the same fails the run, so
the list stays true. Prints a table (harness, source, verdict) and
``compat real: N same / M harnesses``. Exits 0 when every harness not listed comes out the
same, 1 when one differs (or a listed one does not), 2 when nothing could be compared (no
xyzpy venv, no harness, or no xyzpy run produced anything).
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import compat_docs
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
HARNESSES = ROOT / "compat" / "real_usage"
DRIVER = SCRIPTS / "compat_real_driver.py"
XYZPY_PYTHON = ROOT / ".venv-xyzpy" / "bin" / "python"
LOGS = ROOT / "build" / "compat" / "real-usage"

#: relative tolerance for floating point values (the stand-ins are deterministic; only the
#: order of a reduction could differ)
RTOL = 1e-9
#: seconds one run of one harness may take
TIMEOUT = 120
#: differences listed per harness
MAX_DIFFS = 4

#: harness name -> why it differs on purpose; only where xyzpy itself raises or is documented
#: as unsafe for that usage (each also in docs/migrating-from-xyzpy.md)
DELIBERATE: dict[str, str] = {}

#: harness -> what still differs: open work of issue 22, reported on every run but not failing
#: it (so `make test` stays green while it is fixed); one that becomes the same fails the run
#: until it is removed from here
OPEN: dict[str, str] = {}


class RealError(Exception):
    """The real-usage comparison could not be run at all."""


@dataclass
class Run:
    """One run of one harness under one library."""

    status: str  # "ok" (the driver wrote its output), "timeout", "crashed"
    output: dict[str, Any] | None = None
    seconds: float = 0.0
    log: str = ""


@dataclass
class Outcome:
    name: str
    source: str
    verdict: str  # "same", "differs", "xyzfarm raised", "deliberate", "error"
    detail: str = ""
    runs: dict[str, Run] = field(default_factory=dict)


def harnesses(folder: Path = HARNESSES) -> list[Path]:
    """The harness files, in name order (``_``-prefixed files are helpers, not harnesses)."""
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def describe(path: Path) -> dict[str, str]:
    """The ``Key: value`` lines of a harness's docstring (Source, Path, Commit, Exercises)."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    info: dict[str, str] = {}
    key = None
    for line in doc.splitlines():
        head, sep, rest = line.partition(":")
        if sep and head.strip() and " " not in head.strip() and not line.startswith(" "):
            key = head.strip().lower()
            info[key] = rest.strip()
        elif key and line.strip():
            info[key] += " " + line.strip()
        else:
            key = None
    return info


def source_of(path: Path) -> str:
    info = describe(path)
    return f"{info.get('source', '?')}: {info.get('path', '?')}"


def run_one(python: str, harness: Path, source: str, lib: str, log_dir: Path) -> Run:
    """Run ``source`` (the harness, imports already rewritten for ``lib``) in a fresh folder."""
    work = Path(tempfile.mkdtemp(prefix=f"xyzfarm-real-{harness.stem[:24]}-{lib}-"))
    try:
        script = work / harness.name
        script.write_text(source)
        for helper in harness.parent.glob("_*.py"):  # stand-ins a harness imports, as a
            shutil.copy(helper, work / helper.name)  # project imports its own modules
        out_path = work / "out.pkl"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(
            MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1"
        )
        if lib == "xyzfarm":
            env["PYTHONPATH"] = str(ROOT)  # this checkout, whatever is installed
        # the harness runs in a folder of its own (its current directory) and writes only there
        data_dir = work / "run"
        data_dir.mkdir()
        cmd = [python, str(DRIVER), str(script), str(out_path)]
        t0 = time.monotonic()
        # a session of its own: on a timeout the harness's worker processes go too
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            log, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            log += f"\n[compat real: killed after {TIMEOUT} s]"
        seconds = time.monotonic() - t0
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{harness.stem}.{lib}.log").write_text(log)
        if proc.returncode != 0 and seconds >= TIMEOUT:
            return Run("timeout", None, seconds, log)
        if proc.returncode != 0 or not out_path.exists():
            return Run("crashed", None, seconds, log)
        with open(out_path, "rb") as f:
            output = pickle.load(f)
        return Run("ok", output, seconds, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------- comparing ---


def _short(value: Any, width: int = 60) -> str:
    if isinstance(value, tuple) and value and value[0] == "ndarray":
        _, dtype, shape, data = value
        if isinstance(data, np.ndarray):
            text = np.array2string(data.ravel()[:6], threshold=6, precision=6)
        else:
            text = repr(data[:4])
        text = f"{dtype}{list(shape)} {text}"
    elif isinstance(value, np.ndarray):
        text = f"{value.dtype}{list(value.shape)} " + np.array2string(
            value.ravel()[:6], threshold=6, precision=6
        )
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _values_differ(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return not np.allclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True)
    try:
        return not np.array_equal(a, b, equal_nan=a.dtype.kind in "fcmM")
    except TypeError:
        return not np.array_equal(a, b)


def _first_difference(a: np.ndarray, b: np.ndarray, path: str) -> str:
    if a.shape != b.shape:
        return f"{path}: shape {a.shape} vs {b.shape}"
    flat_a, flat_b = a.ravel(), b.ravel()
    for i, (x, y) in enumerate(zip(flat_a, flat_b)):
        if _values_differ(np.asarray([x]), np.asarray([y])):
            where = np.unravel_index(i, a.shape) if a.ndim else ()
            count = sum(
                _values_differ(np.asarray([p]), np.asarray([q])) for p, q in zip(flat_a, flat_b)
            )
            return (
                f"{path}{list(map(int, where))}: {x!r} vs {y!r} ({count} of {a.size} values differ)"
            )
    return f"{path}: {_short(a)} vs {_short(b)}"


#: keys of a canonical Dataset / DataArray whose value is a list of (name, value) pairs
_NAMED = ("sizes", "coords", "data_vars")


def _diff_named(a: list[Any], b: list[Any], path: str) -> list[str]:
    """Two lists of (name, value) pairs: the names and their order, then each value."""
    names_a = [x[0] for x in a]
    names_b = [x[0] for x in b]
    if names_a != names_b:
        return [f"{path}: {_short(names_a, 90)} vs {_short(names_b, 90)}"]
    out = []
    for (name, va), (_, vb) in zip(a, b):
        out += diff(va, vb, f"{path}[{name!r}]")
    return out


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where the canonical forms ``a`` (xyzpy) and ``b`` (xyzfarm) differ, one line each."""
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL)
        return [] if same else [f"{path}: {a!r} vs {b!r}"]
    if type(a) is not type(b):
        return [f"{path}: {_short(a)} vs {_short(b)}"]
    if isinstance(a, np.ndarray):
        return [_first_difference(a, b, path)] if _values_differ(a, b) else []
    if isinstance(a, dict):
        out = []
        for key in dict.fromkeys([*a, *b]):
            if key not in a or key not in b:
                out.append(
                    f"{path}.{key}: {'missing' if key not in a else 'present'} vs "
                    f"{'missing' if key not in b else 'present'}"
                )
            elif key in _NAMED:
                out += _diff_named(a[key], b[key], f"{path}.{key}")
            else:
                out += diff(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        out = []
        for i, (va, vb) in enumerate(zip(a, b)):
            out += diff(va, vb, f"{path}[{i}]")
        return out
    if isinstance(a, tuple) and a[:1] == ("mapping",) and b[:1] == ("mapping",):
        return _diff_named(a[1], b[1], path)
    if isinstance(a, tuple):
        if a and isinstance(a[0], str) and a[:1] != b[:1]:
            return [f"{path}: {_short(a)} vs {_short(b)}"]
        if a and a[0] == "ndarray":
            _, dtype_a, shape_a, data_a = a
            _, dtype_b, shape_b, data_b = b
            if dtype_a != dtype_b or shape_a != shape_b:
                return [f"{path}: dtype/shape {dtype_a}{list(shape_a)} vs {dtype_b}{list(shape_b)}"]
            return diff(data_a, data_b, path)
        if len(a) != len(b):
            return [f"{path}: {_short(a)} vs {_short(b)}"]
        tagged = bool(a) and isinstance(a[0], str)
        out = []
        for i, (va, vb) in enumerate(zip(a, b)):
            if tagged and i == 0:
                continue  # the tags are equal
            out += diff(va, vb, path if tagged and len(a) == 2 else f"{path}<{i}>")
        return out
    return [] if a == b else [f"{path}: {_short(a)} vs {_short(b)}"]


def compare(xyzpy: dict[str, Any], xyzfarm: dict[str, Any]) -> tuple[str, list[str]]:
    """The verdict for two driver outputs: ``(kind, details)``."""
    ra, rb = xyzpy["raised"], xyzfarm["raised"]
    if ra is None and rb is not None:
        return "xyzfarm raised", [f"{rb['type']}: {rb['message']}".splitlines()[0][:200]]
    problems = []
    if ra is not None and rb is None:
        problems.append(f"xyzpy raised {ra['type']}: {ra['message'][:100]}; xyzfarm did not")
    elif ra is not None and rb is not None and ra["type"] not in rb["mro"]:
        problems.append(f"raised {ra['type']} vs {rb['type']}: {rb['message'][:100]}")
    problems += diff(xyzpy["results"], xyzfarm["results"], "RESULTS")
    problems += diff(xyzpy["files"], xyzfarm["files"], "FILES")
    if not problems and ra is not None:
        return "same", [f"both raised {ra['type']}: {ra['message'][:80]}"]
    return ("differs" if problems else "same"), problems


def judge(name: str, source: str, runs: dict[str, Run]) -> Outcome:
    a, b = runs["xyzpy"], runs["xyzfarm"]
    outcome = Outcome(name, source, "error", runs=runs)
    if a.status != "ok" or a.output is None:
        outcome.detail = f"xyzpy run {a.status} (not comparable): {a.log.strip()[-200:]}"
        return outcome
    if b.status != "ok" or b.output is None:
        outcome.verdict = "xyzfarm raised"
        outcome.detail = f"xyzfarm run {b.status}: {b.log.strip()[-200:]}"
    else:
        outcome.verdict, details = compare(a.output, b.output)
        outcome.detail = "; ".join(details[:MAX_DIFFS])
        if len(details) > MAX_DIFFS:
            outcome.detail += f"; ... ({len(details)} differences)"
    if name in DELIBERATE:
        if outcome.verdict == "same":
            outcome.verdict = "differs"
            outcome.detail = "listed in DELIBERATE but the same now: remove it from the list"
        else:
            outcome.verdict = "deliberate"
            outcome.detail = DELIBERATE[name]
    elif name in OPEN:
        if outcome.verdict == "same":
            outcome.verdict = "differs"
            outcome.detail = "listed in OPEN but the same now: remove it from the list"
        else:
            outcome.verdict = "open"
            outcome.detail = f"{OPEN[name]} ({outcome.detail})"
    return outcome


def run_harness(path: Path, xyzpy_python: str, log_dir: Path) -> Outcome:
    original = path.read_text()
    try:
        rewritten = compat_docs.rewrite_cell(original, str(path.relative_to(ROOT)))
    except compat_docs.DocsError as e:
        return Outcome(path.stem, source_of(path), "error", f"import not rewritable: {e}")
    runs = {
        "xyzpy": run_one(xyzpy_python, path, original, "xyzpy", log_dir),
        "xyzfarm": run_one(sys.executable, path, rewritten, "xyzfarm", log_dir),
    }
    return judge(path.stem, source_of(path), runs)


def report(outcomes: list[Outcome]) -> int:
    width = max([len(o.name) for o in outcomes] + [7])
    print()
    print(f"{'harness':<{width}}  verdict")
    for o in outcomes:
        took = "/".join(f"{r.seconds:.0f}s" for r in o.runs.values())
        print(f"{o.name:<{width}}  {o.verdict}{': ' + o.detail if o.detail else ''}")
        print(f"{'':<{width}}    source {o.source}  ({took})")
    same = sum(o.verdict == "same" for o in outcomes)
    still_open = sum(o.verdict == "open" for o in outcomes)
    if still_open:
        print(f"compat real: {still_open} harness(es) still differ, listed in OPEN (issue 22)")
    deliberate = sum(o.verdict == "deliberate" for o in outcomes)
    compared = [o for o in outcomes if o.verdict != "error"]
    print()
    print(
        f"compat real: {same} same / {len(outcomes)} harnesses"
        + (f" ({deliberate} deliberate)" if deliberate else "")
    )
    if not compared:
        print("compat real: nothing could be compared (see the logs)", file=sys.stderr)
        return 2
    bad = [o for o in outcomes if o.verdict not in ("same", "deliberate", "open")]
    if bad:
        print(f"compat real FAILED: {len(bad)} harness(es) differ from xyzpy 1.3.5")
        return 1
    print("compat real OK: every harness gives what xyzpy 1.3.5 gives")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--xyzpy-python",
        default=str(XYZPY_PYTHON),
        help="python of a venv with xyzpy==1.3.5, matplotlib and h5netcdf",
    )
    parser.add_argument("--jobs", type=int, default=2, help="harnesses run at once")
    parser.add_argument("--logs", type=Path, default=LOGS, help="where each run's output goes")
    parser.add_argument("names", nargs="*", help="only these harnesses (file stems)")
    args = parser.parse_args(argv)
    # absolute but not resolved: the venv's python is a link to the base interpreter
    args.xyzpy_python = os.path.abspath(args.xyzpy_python)
    try:
        if not Path(args.xyzpy_python).exists():
            raise RealError(f"no xyzpy venv at {args.xyzpy_python} (make .venv-xyzpy/.installed)")
        paths = harnesses()
        if args.names:
            paths = [p for p in paths if p.stem in args.names]
        if not paths:
            raise RealError(f"no harness in {HARNESSES}")
    except RealError as e:
        print(f"compat real: could not run: {e}", file=sys.stderr)
        return 2
    print(
        f"compat real: {len(paths)} harnesses of public xyzpy usage, each run with xyzpy 1.3.5 "
        f"and with xyzfarm (logs in {args.logs})"
    )
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda p: run_harness(p, args.xyzpy_python, args.logs), paths))
    return report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
