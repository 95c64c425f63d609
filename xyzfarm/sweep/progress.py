"""Progress bars: a widget in a Jupyter notebook, text in a terminal.

``tqdm.auto`` picks the widget in a notebook but, when ipywidgets is not installed, warns
(``IProgress not found``) and falls back to text: here the fallback is silent, since text
bars render fine in a notebook's output area.
"""

from __future__ import annotations

import sys
from typing import Any


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (not a terminal IPython, not plain Python)."""
    ipython = sys.modules.get("IPython")  # never imported here: only if the user has
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress_bar(total: int, desc: str | None, unit: str) -> Any:
    """A tqdm bar: a notebook widget when that can render, else text on stderr."""
    if in_notebook() and _widgets_available():
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(total=total, desc=desc, unit=unit)
    from tqdm.std import tqdm

    return tqdm(total=total, desc=desc, unit=unit)


def write_beside_bars(text: str) -> None:
    """Write ``text`` to stderr without breaking a text bar being drawn there: the bar is
    cleared first and drawn again below (else it is left behind, and shown twice)."""
    tqdm_std = sys.modules.get("tqdm.std")  # no bar without tqdm imported: nothing to clear
    if tqdm_std is None:
        sys.stderr.write(text)
    else:
        with tqdm_std.tqdm.external_write_mode(file=sys.stderr):
            sys.stderr.write(text)
    sys.stderr.flush()
