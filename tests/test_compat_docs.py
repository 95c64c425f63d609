"""scripts/compat_docs.py: xyzpy's documented usage run in a real kernel, and its verdict."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import compat_docs  # noqa: E402


def test_only_import_lines_are_rewritten_and_every_form_of_import_is_handled():
    source = "import xyzpy as xyz\nimport xyzpy\nfrom xyzpy.gen import grow\nx = 'import xyzpy'\n"
    assert compat_docs.rewrite_cell(source, "nb") == (
        "import xyzfarm as xyz\nimport xyzfarm as xyzpy\nfrom xyzfarm import grow\n"
        "x = 'import xyzpy'\n"
    )


def test_an_import_the_rewrite_does_not_know_stops_the_run_rather_than_run_xyzpy():
    with pytest.raises(compat_docs.DocsError, match="nb cell 3"):
        compat_docs.rewrite_cell("import xyzpy.gen as g\n", "nb cell 3")


def test_the_readme_quick_start_is_split_so_its_computing_half_runs_without_its_plot():
    text = "# t\n```python\nimport xyzpy as xyz\nds = 1\n# plot!\nds.xyz.plot()\n```\n"
    compute, plot = compat_docs.readme_cells(text)
    assert "ds = 1" in compute and "plot()" not in compute and plot.startswith("# plot!")
    assert ("README.md", 1) in compat_docs.EXCLUDED_CELLS


def cell(status: str, index: int = 0, error: str = "") -> compat_docs.CellResult:
    return compat_docs.CellResult("nb.ipynb", index, "x = 1\n", status, error)


def test_a_run_where_every_cell_runs_or_is_excluded_is_accepted():
    run = compat_docs.DocsRun([cell("ran"), cell("excluded", 1), cell("deliberate-failed", 2)])
    assert compat_docs.verdict(run) == []


def test_a_failing_cell_fails_the_run_naming_notebook_index_first_line_and_error():
    (problem,) = compat_docs.verdict(compat_docs.DocsRun([cell("failed", 4, "KeyError: 'a'")]))
    assert problem == "FAILED  nb.ipynb cell 4 `x = 1`: KeyError: 'a'"


def test_a_deliberate_cell_that_starts_running_fails_the_run_so_the_list_stays_true():
    (problem,) = compat_docs.verdict(compat_docs.DocsRun([cell("deliberate-passed", 2)]))
    assert problem.startswith("PASSED") and "remove it" in problem


def test_outputs_are_compared_without_addresses_floats_and_sizes():
    a = "<function f at 0x7f00>\nSize: 67kB\n  A  (i) float64 216B 0.3676 0.9331\n"
    b = "<function f at 0x30c8>\nSize: 12kB\n  A  (i) float64 216B 0.1 0.25\n"
    assert compat_docs.normalize(a) == compat_docs.normalize(b)
    assert compat_docs.normalize("(1, 2)") != compat_docs.normalize("[1, 2]")


def test_every_listed_cell_is_a_code_cell_of_a_notebook_that_is_run():
    names = set(compat_docs.NOTEBOOKS)
    for name, _ in {**compat_docs.EXCLUDED_CELLS, **compat_docs.DELIBERATE_CELLS}:
        assert name in names
    assert not names & set(compat_docs.NOT_FARMING)


def test_every_deliberate_cell_is_in_the_migration_guide():
    guide = (ROOT / "docs" / "migrating-from-xyzpy.md").read_text()
    for name, index in compat_docs.DELIBERATE_CELLS:
        assert f"`{name}` cell {index}" in guide


def _sdist(tmp_path: Path, cells: list[str]) -> Path:
    """A stand-in sdist holding one notebook of ``cells`` (the other files empty)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "fake.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in compat_docs.NOTEBOOKS:
            text = nbformat.writes(nb) if name.endswith(".ipynb") else ""
            data = text.encode()
            info = tarfile.TarInfo(compat_docs.SDIST_ROOT + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_cells_run_in_order_in_one_kernel_per_notebook_with_this_checkout_and_errors_caught(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(compat_docs, "NOTEBOOKS", ("docs/computing_results.ipynb",))
    monkeypatch.setattr(compat_docs, "EXCLUDED_CELLS", {})
    cells = [
        "import xyzpy as xyz\nprint(xyz.__file__)",
        "value = xyz.combo_runner(lambda a: 2 * a, {'a': [1, 2]}, verbosity=0)\nvalue",
        "1 / 0",
        "open('made-here.txt', 'w').close()",
    ]
    sdist = _sdist(tmp_path, cells)
    run = compat_docs.run_docs(sdist, tmp_path / "work", str(ROOT), tmp_path / "kernel.log")
    first, second, third, fourth = run.cells
    assert first.status == "ran" and first.output.strip() == str(ROOT / "xyzfarm" / "__init__.py")
    assert second.status == "ran" and second.output == "(2, 4)"
    assert third.status == "failed" and third.error.startswith("ZeroDivisionError")
    assert fourth.status == "ran"  # a failing cell does not stop the notebook
    assert (tmp_path / "work" / "nb0" / "cwd" / "made-here.txt").is_file()


def test_docstring_examples_become_cells_after_an_import_with_their_shown_output():
    source = '''
def f():
    """Run it::

        >>> xyz.combo_runner(
        ...     g, {'a': [1]})
        100%|##########| 1/1 [00:00<00:00]

        ((1,),)

    Then call::

        >>> f()
    """
'''
    cells = compat_docs.docstring_cells(source, "f")
    assert cells == [
        ("import xyzpy as xyz\n", ""),
        ("xyz.combo_runner(\n    g, {'a': [1]})\n", "((1,),)"),
        ("f()\n", ""),
    ]
