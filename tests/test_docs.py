"""The docs run and say what the code does: every ```python block runs; the parts written
from the code (command line, errors, tutorial) are current; the API reference lists every
public name; tables, links and the map of pages hold; the site builds, and refuses to build
with a table cut in two."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xyzfarm
from xyzfarm.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import docs_check  # noqa: E402
import docs_reference  # noqa: E402

#: tutorial.md is the notebook's text: tests/test_tutorial.py runs it, in a Jupyter kernel
PAGES = [
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "tutorial.md"),
    ROOT / "README.md",
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_python_examples_of_each_page_run(page: Path):
    blocks = BLOCK.findall(page.read_text())
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)


def test_the_parts_written_from_the_code_are_current():
    # cli.md from the parser, errors.md from xyzfarm/errors.py, tutorial.md from the notebook
    assert docs_reference.stale_pages() == {}, "run make docs (or scripts/docs_reference.py)"


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from xyzfarm.cli import main

    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_every_option_that_help_shows_is_in_the_command_line_reference(capsys):
    page = (ROOT / "docs" / "cli.md").read_text()
    commands = re.findall(r"^### `xyzfarm (\w+)`$", page, re.M)
    # every subcommand the parser has, in its order: a new command cannot go undocumented
    assert commands == list(docs_reference._subparsers(build_parser()))
    for command in commands:
        section = page.split(f"### `xyzfarm {command}`")[1].split("### ")[0]
        shown = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", _help([command], capsys)))
        documented = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", section))
        assert shown - {"-h", "--help"} <= documented, (command, shown - documented)
        # what --help calls optional is optional in the usage line of the page too
        usage = re.search(r"```text\n(.*?)```", section, re.S).group(1)
        assert "--scheduler" not in usage or "[--scheduler" in usage


def test_the_api_reference_lists_every_public_name_by_its_public_path():
    page = (ROOT / "docs" / "api.md").read_text()
    listed = re.findall(r"^::: (\S+)$", page, re.M)
    public = set(xyzfarm.__all__) - {"__version__"}
    missing = {n for n in public if f"xyzfarm.{n}" not in listed}
    assert not missing, f"add '::: xyzfarm.NAME' to docs/api.md for {sorted(missing)}"
    # a public object is named where users get it, not by the module that defines it
    internal = [p for p in listed if p.count(".") > 1 and p.rsplit(".", 1)[1] in public]
    assert not internal, internal


def test_the_docs_have_no_cut_table_broken_link_unmapped_page_or_stale_part():
    assert docs_check.problems() == []


def test_a_table_cut_by_a_blank_line_is_found_naming_where():
    page = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n| 5 | 6 |\n\ntext\n"
    assert docs_check.table_problems("p.md", page) == [
        "p.md:5: table rows without a header row and a |---| line under it (a blank line "
        "splitting a table?): they render as plain text"
    ]
    assert docs_check.table_problems("p.md", "```\n| not | a table |\n```\n") == []


def test_a_link_to_a_missing_page_or_heading_is_found(tmp_path):
    (tmp_path / "there.md").write_text("# There\n\n## The `grow` step\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#the-grow-step) [gone](nowhere.md) [no heading](there.md#nope)\n"
        "[web](https://example.org) `[code](not-a-link.md)`\n"
    )
    found = docs_check.link_problems(page)
    assert len(found) == 2, found
    assert "'nowhere.md': no such file" in found[0] and "'there.md#nope'" in found[1]


def test_every_resource_and_alias_is_in_the_clusters_table():
    from xyzfarm.schedulers.resources import _ALIASES, Resources

    table = (ROOT / "docs" / "clusters.md").read_text().split("## Resources")[1]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    named = {n for row in rows for n in re.findall(r"`(\w+)`", row)}
    fields = {f.name for f in dataclasses.fields(Resources)}
    assert fields | set(_ALIASES) <= named, (fields | set(_ALIASES)) - named


def test_the_extras_the_readme_installs_exist_with_what_it_says_they_bring():
    readme = (ROOT / "README.md").read_text()
    first_screen = readme.split("## What is better")[0]
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = re.findall(r"pip install '\.\[(\w+)\]'\s+# and (\w+)", first_screen)
    assert sorted(installed) == [("dask", "dask"), ("plot", "matplotlib"), ("submitit", "submitit")]
    for extra, package in installed:
        assert any(req.startswith(package) for req in extras[extra]), (extra, package)
    assert first_screen.index("pip install .") < first_screen.index("make demo")


@pytest.mark.slow
def test_the_site_builds_with_the_crop_factories_in_the_api_reference(tmp_path):
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    out = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    api = (site / "api" / "index.html").read_text()
    for name in ("Runner.Crop", "Harvester.Crop", "Sampler.Crop", "ClusterJob", "XYZError"):
        assert f'id="xyzfarm.{name}"' in api, name
    assert (site / "tutorial.ipynb").is_file()  # the notebook is a download of the site


@pytest.mark.slow
def test_the_site_refuses_to_build_with_a_table_cut_in_two(tmp_path):
    pytest.importorskip("mkdocs")
    for part in ("docs", "scripts"):
        shutil.copytree(ROOT / part, tmp_path / part)
    for name in ("mkdocs.yml", "README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "xyzfarm").symlink_to(ROOT / "xyzfarm")
    page = tmp_path / "docs" / "migrating-from-xyzpy.md"
    text = page.read_text()
    row = "| `shuffle=True` reseeds"
    page.write_text(text.replace(row, "\n" + row, 1))  # the blank line the issue found
    build = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")]
    out = subprocess.run(build, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "docs/migrating-from-xyzpy.md:" in out.stderr and "plain text" in out.stderr
