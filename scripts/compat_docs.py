"""The docs half of ``make compat``: xyzpy 1.3.5's documented farming usage, run as a user would.

The farming notebooks of xyzpy's documentation, its README quick-start and the examples in the
docstrings of its farming API are read from the same sdist as its tests, their import lines
rewritten (``import xyzpy as xyz`` -> ``import xyzfarm as xyz``, ``import xyzpy`` ->
``import xyzfarm as xyzpy``, ``from xyzpy.x import A`` -> ``from xyzfarm import A``; nothing
else changes; docstring examples get a first cell ``import xyzpy as xyz``, which they assume),
and executed cell by cell in a real Jupyter kernel (nbclient, ipykernel) in a fresh temporary
folder per notebook, this checkout of xyzfarm first on the kernel's path.

Cells about plotting, needing packages this project does not install, or submitting to a real
scheduler are not run: :data:`EXCLUDED_CELLS`, each with its reason. Notebooks that are not
about farming are not run at all (:data:`NOT_FARMING`). A cell that fails because xyzfarm
differs from xyzpy on purpose is in :data:`DELIBERATE_CELLS` (and docs/migrating-from-xyzpy.md)
and must still fail, so the list stays true.

Outputs are compared with the ones stored in the notebook only to be read by eye (reprs, random
values and paths differ harmlessly): :func:`output_differences` lists them in the log.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SDIST_ROOT = "xyzpy-1.3.5/"

#: files of the sdist that document farming, run in this order (the basic output example needs
#: scipy, which the test extra installs for it)
NOTEBOOKS = (
    "README.md",
    "docs/computing_results.ipynb",
    "docs/inputs_and_outputs.ipynb",
    "docs/examples/basic output example.ipynb",
    "docs/examples/complex output example.ipynb",
    "docs/examples/crop example.ipynb",
    "docs/examples/dask distributed example.ipynb",
    "docs/examples/farming example.ipynb",
    # the examples in the docstrings of the farming API
    "xyzpy/gen/combo_runner.py::combo_runner",
    "xyzpy/gen/farming.py::label",
)

#: documentation notebooks not run, with why: none of them touches the farming API
NOT_FARMING = {
    "docs/utilities.ipynb": "Timer, benchmark, Benchmarker, RunningStatistics: xyzpy.utils, "
    "not the farming API xyzfarm provides",
    "docs/plotting.ipynb": "ds.xyz.plot / infiniplot: xyzpy's plotting, not provided",
    "docs/visualization.ipynb": "visualize_matrix / visualize_tensor: plotting, not provided",
    "docs/examples/visualize linear algebra.ipynb": "visualize_matrix: plotting, not provided",
}

_PLOT = "plots with xyzpy's ds.xyz accessor (plotting is not part of xyzfarm)"
_NUMBA = "needs numba (not installed: its JIT is not what is being checked)"

#: (file, cell index in the notebook) -> why that cell is not run
EXCLUDED_CELLS: dict[tuple[str, int], str] = {
    ("README.md", 1): "the quick-start's second half (its code block split at '# plot!'): "
    "plots with ds.xyz.plot, then removes foo.h5 (the temporary folder goes anyway)",
    ("docs/computing_results.ipynb", 3): "`!xyzpy-grow --help`: xyzpy's console script "
    "(xyzfarm's is `xyzfarm grow`, a shell command, not the Python API)",
    ("docs/inputs_and_outputs.ipynb", 39): "plots with seaborn (not installed)",
    ("docs/examples/basic output example.ipynb", 7): _PLOT,
    ("docs/examples/complex output example.ipynb", 1): _NUMBA,
    ("docs/examples/complex output example.ipynb", 3): _NUMBA + " (the grid for cell 1)",
    ("docs/examples/complex output example.ipynb", 5): _NUMBA + " (a Runner of cell 1's mandel)",
    ("docs/examples/complex output example.ipynb", 7): _NUMBA + " (combos for cell 5's Runner)",
    ("docs/examples/complex output example.ipynb", 9): _NUMBA + " (runs cell 5's Runner)",
    ("docs/examples/complex output example.ipynb", 11): _PLOT,
    ("docs/examples/complex output example.ipynb", 13): _PLOT,
    ("docs/examples/crop example.ipynb", 32): _PLOT,
    ("docs/examples/dask distributed example.ipynb", 1): "needs dask.distributed (not "
    "installed); an executor with submit() is tested by tests/test_execute.py",
    ("docs/examples/dask distributed example.ipynb", 3): "starts a dask.distributed Client",
    ("docs/examples/dask distributed example.ipynb", 5): "reads the Client of cell 3",
    ("docs/examples/dask distributed example.ipynb", 7): "imports of cell 1 (numpy, xyzpy)",
    ("docs/examples/dask distributed example.ipynb", 9): "runs on the Client of cell 3",
    ("docs/examples/dask distributed example.ipynb", 11): _PLOT,
    ("docs/examples/farming example.ipynb", 8): _PLOT,
    ("docs/examples/farming example.ipynb", 13): _PLOT,
    ("docs/examples/farming example.ipynb", 18): _PLOT,
}

#: (file, cell index) -> why it fails on purpose (also in docs/migrating-from-xyzpy.md)
DELIBERATE_CELLS: dict[tuple[str, int], str] = {}

#: seconds one cell may run: the slowest documented cell sleeps 8 x 1 s over a process pool
CELL_TIMEOUT = 60

_IMPORT_AS = re.compile(r"^(\s*)import xyzpy as (\w+)\s*$")
_IMPORT = re.compile(r"^(\s*)import xyzpy\s*$")
_FROM = re.compile(r"^(\s*)from xyzpy((?:\.[\w.]+)?) import ")
_ANY_XYZPY_IMPORT = re.compile(r"^\s*(import xyzpy\b|from xyzpy\b)")
_PROGRESS = re.compile(r"\d+%\|")
_README_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


class DocsError(Exception):
    """The documentation could not be read or run at all."""


def rewrite_cell(source: str, where: str) -> str:
    """``source`` with its xyzpy import lines pointed at xyzfarm; nothing else changes."""
    lines = []
    for line in source.splitlines(keepends=True):
        end = "\n" if line.endswith("\n") else ""
        if m := _IMPORT_AS.match(line):
            line = f"{m.group(1)}import xyzfarm as {m.group(2)}{end}"
        elif m := _IMPORT.match(line):
            line = f"{m.group(1)}import xyzfarm as xyzpy{end}"
        elif m := _FROM.match(line):
            line = _FROM.sub(r"\1from xyzfarm import ", line)
        if _ANY_XYZPY_IMPORT.match(line):
            raise DocsError(f"{where}: an xyzpy import the rewrite does not handle: {line!r}")
        lines.append(line)
    return "".join(lines)


def readme_cells(text: str) -> list[str]:
    """The README's python code blocks as cells, each split before its ``# plot!`` comment, so
    the quick-start's computing half (cell 0) runs without its plotting half (cell 1)."""
    cells: list[str] = []
    for block in _README_BLOCK.findall(text):
        head, sep, tail = block.partition("# plot!")
        cells += [head, sep + tail] if sep else [block]
    return cells


def docstring_cells(source: str, function: str) -> list[tuple[str, str]]:
    """The ``>>>`` examples of ``function``'s docstring in ``source`` as (cell, shown output)
    pairs: one cell per example (its prompt lines), its output the lines indented like the
    prompt until prose or the next prompt. A first cell ``import xyzpy as xyz`` comes
    before them (the docstrings assume it; it is rewritten like any import)."""
    node = next(
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.FunctionDef) and n.name == function
    )
    cells: list[tuple[str, str]] = [("import xyzpy as xyz\n", "")]
    code: list[str] = []
    shown: list[str] = []
    indent = 0

    def flush() -> None:
        if code:
            cells.append(("\n".join(code) + "\n", "\n".join(shown).strip()))
        code.clear()
        shown.clear()

    for line in (ast.get_docstring(node) or "").splitlines():
        text = line.strip()
        if text.startswith((">>>", "...")):
            if shown or (text.startswith(">>>") and code):
                flush()
            indent = len(line) - len(line.lstrip())
            code.append(text[4:])
        elif code and text and len(line) - len(line.lstrip()) >= indent:
            if not _PROGRESS.match(text):  # tqdm's bar goes to stderr, never compared
                shown.append(line[indent:])
        elif code and text:  # prose: the example ends
            flush()
    flush()
    return cells


def read_cells(sdist: Path) -> dict[str, list[tuple[int, str, str]]]:
    """File -> its code cells (index, source, output xyzpy shows) for each of
    :data:`NOTEBOOKS`; ``path::function`` names a function's docstring examples."""
    import nbformat

    docs: dict[str, list[tuple[int, str, str]]] = {}
    with tarfile.open(sdist) as tar:
        for name in NOTEBOOKS:
            path, _, function = name.partition("::")
            member = tar.extractfile(SDIST_ROOT + path)
            if member is None:
                raise DocsError(f"the sdist has no {SDIST_ROOT}{path}")
            text = member.read().decode()
            if function:
                pairs = docstring_cells(text, function)
                docs[name] = [(i, src, out) for i, (src, out) in enumerate(pairs)]
            elif path.endswith(".md"):
                docs[name] = [(i, c, "") for i, c in enumerate(readme_cells(text))]
            else:
                nb = nbformat.reads(text, as_version=4)
                docs[name] = [
                    (i, c.source, output_text(c.get("outputs", [])))
                    for i, c in enumerate(nb.cells)
                    if c.cell_type == "code"
                ]
    return docs


def read_docs(sdist: Path) -> dict[str, list[tuple[int, str]]]:
    """File -> its code cells (index, source) for each of :data:`NOTEBOOKS`."""
    return {n: [(i, src) for i, src, _ in cells] for n, cells in read_cells(sdist).items()}


def stored_outputs(sdist: Path) -> dict[tuple[str, int], str]:
    """(file, cell index) -> the text xyzpy's documentation shows for that cell."""
    return {(n, i): out for n, cells in read_cells(sdist).items() for i, _, out in cells}


def output_text(outputs: list[Any]) -> str:
    """What a cell printed to stdout and its result's text/plain (progress bars left out)."""
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            parts.append(o["text"])
        elif o.get("output_type") in ("execute_result", "display_data"):
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "".join(parts)


_NOISE = [
    (re.compile(r"0x[0-9a-f]+"), "0x…"),
    (re.compile(r"-?\d+\.\d+(e[-+]?\d+)?"), "<float>"),
    (re.compile(r"Size: [\d.]+k?B|\d+(\.\d+)?k?B "), ""),
    (re.compile(r"\s+"), " "),
]


def normalize(text: str) -> str:
    """``text`` without what differs harmlessly between runs: addresses, floats, sizes."""
    for pattern, repl in _NOISE:
        text = pattern.sub(repl, text)
    return text.strip()


@dataclass
class CellResult:
    file: str
    index: int
    source: str
    status: str  # "ran", "failed", "excluded", "deliberate-failed", "deliberate-passed"
    error: str = ""
    output: str = ""


@dataclass
class DocsRun:
    cells: list[CellResult] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(c.status in statuses for c in self.cells)


def _kernel_manager(kernel_dir: Path, pythonpath: str) -> Any:
    """A kernel of this interpreter with ``pythonpath`` first on its path."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = kernel_dir / "kernels" / "xyzfarm-compat"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "xyzfarm compat",
                "language": "python",
                "env": {"PYTHONPATH": pythonpath, "MPLBACKEND": "Agg"},
            }
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir / "kernels")])
    return KernelManager(kernel_name="xyzfarm-compat", kernel_spec_manager=ksm)


def run_notebook(
    name: str, cells: list[tuple[int, str]], folder: Path, pythonpath: str, kernel_log: Any
) -> list[CellResult]:
    """Run the cells of one notebook not excluded, in order, in one kernel in ``folder``; the
    kernel's own stderr (its start-up warnings, tracebacks of its threads) goes to
    ``kernel_log``."""
    import nbformat
    from nbclient import NotebookClient

    results = []
    nb = nbformat.v4.new_notebook()
    for index, source in cells:
        if (name, index) in EXCLUDED_CELLS:
            results.append(CellResult(name, index, source, "excluded"))
            continue
        cell = nbformat.v4.new_code_cell(rewrite_cell(source, f"{name} cell {index}"))
        cell.metadata["xyz_index"] = index
        nb.cells.append(cell)
    folder.mkdir(parents=True)
    client = NotebookClient(
        nb,
        km=_kernel_manager(folder.parent / "kernel", pythonpath),
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    try:
        client.execute(stdout=kernel_log, stderr=kernel_log)
    except Exception as e:  # a dead kernel or a timeout fails the cells not run yet
        failure = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    else:
        failure = ""
    for cell in nb.cells:
        index = cell.metadata["xyz_index"]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        executed = cell.get("execution_count") is not None or cell.get("outputs")
        if errors:
            error = f"{errors[0]['ename']}: {errors[0]['evalue']}"
        elif not executed:
            error = failure or "not executed"
        else:
            error = ""
        deliberate = (name, index) in DELIBERATE_CELLS
        status = ("deliberate-" if deliberate else "") + ("failed" if error else "")
        status = status or "ran"
        if deliberate and not error:
            status = "deliberate-passed"
        results.append(
            CellResult(
                name, index, cell.source, status, error, output_text(cell.get("outputs", []))
            )
        )
    return sorted(results, key=lambda c: c.index)


def run_docs(sdist: Path, work: Path, pythonpath: str, kernel_log_path: Path) -> DocsRun:
    """Run every notebook of :data:`NOTEBOOKS` from ``sdist``, each in a folder under ``work``."""
    run = DocsRun()
    kernel_log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(kernel_log_path, "w") as kernel_log:
        for n, (name, cells) in enumerate(read_docs(sdist).items()):
            folder = work / f"nb{n}" / "cwd"
            run.cells += run_notebook(name, cells, folder, pythonpath, kernel_log)
    return run


def output_differences(run: DocsRun, stored: dict[tuple[str, int], str]) -> list[str]:
    """Cells that ran and printed something else than xyzpy's notebook shows, to read by eye."""
    lines = []
    for c in run.cells:
        if c.status != "ran" or (c.file, c.index) not in stored:
            continue
        ours, theirs = normalize(c.output), normalize(stored[(c.file, c.index)])
        if ours != theirs:
            lines.append(
                f"--- {c.file} cell {c.index}: {first_line(c.source)}\n"
                f"xyzpy:\n{stored[(c.file, c.index)]}\nxyzfarm:\n{c.output}\n"
            )
    return lines


def first_line(source: str) -> str:
    """The first line of a cell that is not blank, a comment or a magic."""
    for line in source.splitlines():
        s = line.strip()
        if s and not s.startswith(("#", "%")):
            return s[:80]
    return source.strip().splitlines()[0][:80] if source.strip() else ""


def verdict(run: DocsRun) -> list[str]:
    """One line per cell that failed outside the deliberate list, or passed inside it."""
    problems = []
    for c in run.cells:
        if c.status == "failed":
            problems.append(
                f"FAILED  {c.file} cell {c.index} `{first_line(c.source)}`: {c.error[:300]}"
            )
        elif c.status == "deliberate-passed":
            problems.append(
                f"PASSED  {c.file} cell {c.index} is listed as a deliberate "
                "difference: remove it from DELIBERATE_CELLS and the migration guide"
            )
    return problems


def report(run: DocsRun, stored: dict[tuple[str, int], str], log_path: Path) -> list[str]:
    """Print the counts, the lists and the verdict; return the verdict's problems."""
    total, excluded = len(run.cells), run.count("excluded")
    print()
    print(f"compat docs: {run.count('ran')} cells ran / {total} ({excluded} excluded)")
    print("notebooks not run (not about farming):")
    for name, reason in NOT_FARMING.items():
        print(f"  {name}: {reason}")
    print("excluded cells:")
    for (name, index), reason in EXCLUDED_CELLS.items():
        print(f"  {name} cell {index}: {reason}")
    if DELIBERATE_CELLS:
        print("deliberate differences (fail on purpose; docs/migrating-from-xyzpy.md):")
        for (name, index), reason in DELIBERATE_CELLS.items():
            print(f"  {name} cell {index}: {reason}")
    diffs = output_differences(run, stored)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("\n".join(diffs) or "no cell's output differs\n")
    print(
        f"compat docs: {len(diffs)} cell(s) print other than xyzpy's notebook shows "
        f"(to read by eye: {log_path})"
    )
    problems = verdict(run)
    if problems:
        print(f"compat docs FAILED: {len(problems)} cell(s) differ from what is expected:")
        for line in problems:
            print(f"  {line}")
    else:
        print("compat docs OK: every cell runs but the excluded and deliberate ones")
    return problems
