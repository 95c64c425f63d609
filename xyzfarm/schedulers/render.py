"""Rendering array-job scripts from jinja2 templates (the only module that imports jinja2).

Templates are looked up in the user's folders first (``template_dirs=``, then
``$XYZFARM_TEMPLATES``, then ``~/.config/xyzfarm/templates``), then in the ones shipped with
xyzfarm, so a user can replace ``slurm.sh.j2`` or extend ``base.sh.j2`` and override one block.
Undefined variables are errors, and every value that lands in shell code passes the ``q``
(shell-quote) filter.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

#: the templates shipped inside this package (package data: a folder in wheels and checkouts alike)
PACKAGE_TEMPLATES = Path(str(resources.files(__package__ or "xyzfarm.schedulers") / "templates"))


def search_path(template_dirs: Sequence[str | os.PathLike[str]] | None = None) -> list[Path]:
    """Where templates are looked up, first match wins."""
    dirs = [Path(d) for d in (template_dirs or [])]
    env = os.environ.get("XYZFARM_TEMPLATES")
    if env:
        dirs += [Path(d) for d in env.split(os.pathsep) if d]
    dirs.append(Path.home() / ".config" / "xyzfarm" / "templates")
    dirs.append(PACKAGE_TEMPLATES)
    return dirs


def render(
    template: str,
    context: Mapping[str, Any],
    template_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> str:
    """Render ``template`` (e.g. ``"slurm.sh.j2"``) with ``context``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in search_path(template_dirs)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - shell scripts, not HTML; values are shell-quoted
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    return env.get_template(template).render(**context)
