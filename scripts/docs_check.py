"""Checks of the docs that ``mkdocs build --strict`` does not make: they fail the docs build
(as a mkdocs hook, see mkdocs.yml) and the tests (tests/test_docs.py).

- A Markdown table whose rows are cut from its header (a blank line inside it): the rows
  after the cut render as raw ``| ... |`` text, silently.
- A link between pages (docs/ and README.md) to a page or heading that does not exist.
- A page of docs/ missing from the site's navigation or from the map on docs/index.md.
- A part generated from the code (scripts/docs_reference.py) that the code has moved past.

``python scripts/docs_check.py`` prints every problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^\s*(```|~~~)")
_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
# [text](target) outside code; images too (their target must exist as well)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a Markdown text outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def table_problems(name: str, text: str) -> list[str]:
    """Tables whose second row is not a header separator: rows cut off their header."""
    problems = []
    run: list[tuple[int, str]] = []
    for number, line in [*prose_lines(text), (0, "")]:
        if line.lstrip().startswith("|"):
            run.append((number, line))
            continue
        if run and (len(run) < 2 or not _SEPARATOR.match(run[1][1])):
            problems.append(
                f"{name}:{run[0][0]}: table rows without a header row and a |---| line "
                "under it (a blank line splitting a table?): they render as plain text"
            )
        run = []
    return problems


def slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"<[^>]+>|[`*_]{2,}|`", "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(text: str) -> set[str]:
    return {slug(m.group(2)) for _, line in prose_lines(text) if (m := _HEADING.match(line))}


def link_problems(page: Path) -> list[str]:
    """Links to files or headings (of Markdown pages) that do not exist."""
    problems = []
    name = page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else str(page)
    for number, line in prose_lines(page.read_text()):
        for target in _LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            if not path.exists():
                problems.append(f"{name}:{number}: link to {target!r}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text()):
                problems.append(f"{name}:{number}: link to {target!r}: no such heading")
    return problems


def nav_pages(config: dict[str, Any] | None = None) -> set[str]:
    """Every page named in mkdocs.yml's nav (docs-relative paths)."""
    if config is None:
        # the nav only: mkdocs.yml may hold tags (!!python/name) a plain loader refuses
        text = (ROOT / "mkdocs.yml").read_text()
        return set(re.findall(r"^\s*-\s*[^:\n]+:\s*(\S+\.(?:md|ipynb))\s*$", text, re.M))
    pages: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, str):
            pages.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(config.get("nav") or [])
    return pages


def map_problems(nav: set[str]) -> list[str]:
    """Pages of docs/ missing from the navigation, or from the map on the home page
    (notebooks are downloads, not pages: they need only the map)."""
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.glob("*.md"))
    notebooks = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.glob("*.ipynb"))
    index = (DOCS / "index.md").read_text()
    linked = {t.partition("#")[0] for t in _LINK.findall(index)}
    problems = [f"docs/{p}: not in mkdocs.yml's nav" for p in pages if p not in nav]
    pages += notebooks
    problems += [
        f"docs/{p}: not linked from the map on docs/index.md"
        for p in pages
        if p != "index.md" and p not in linked
    ]
    return problems


def problems(config: dict[str, Any] | None = None) -> list[str]:
    """Every problem of the docs, one line each (empty: all good)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import docs_reference

    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    out = []
    for page in pages:
        name = page.relative_to(ROOT).as_posix()
        out += table_problems(name, page.read_text())
        out += link_problems(page)
    out += map_problems(nav_pages(config))
    out += [
        f"{page}: its generated parts are out of date with the code: run make docs (or "
        "python scripts/docs_reference.py)"
        for page in docs_reference.stale_pages()
    ]
    return out


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """mkdocs hook: refuse to build the site from docs with any of these problems."""
    from mkdocs.exceptions import PluginError

    found = problems(dict(config))
    if found:
        raise PluginError("docs check failed:\n" + "\n".join(found))


if __name__ == "__main__":
    found = problems()
    print("\n".join(found) or "docs check: no problem")
    raise SystemExit(1 if found else 0)
