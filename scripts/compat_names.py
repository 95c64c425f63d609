"""What xyzpy's rewritten tests import their names from, during ``make compat``.

``from xyzpy.gen.cropping import Crop, grow`` becomes ``from compat_names import Crop, grow``:
each name is looked up on the top-level ``xyzfarm`` package (xyzpy's submodule layout is
internal; its public names are all top-level). A name xyzfarm lacks does not fail the whole
test module at import: it becomes a stand-in that fails, naming itself, only the tests that
use it, so the measurement counts tests rather than modules. Names handed out as stand-ins are
recorded for the report.
"""

from __future__ import annotations

from typing import Any, NoReturn

import xyzfarm

#: names some test imported that xyzfarm does not have
MISSING: set[str] = set()


class Missing:
    """Stands for a name xyzfarm lacks; any use raises ``AttributeError`` naming it."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AttributeError(f"xyzfarm has no {object.__getattribute__(self, '_name')!r}")

    __call__ = _fail

    def __getattr__(self, attr: str) -> NoReturn:
        self._fail()

    def __repr__(self) -> str:
        return f"<missing xyzfarm.{object.__getattribute__(self, '_name')}>"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(xyzfarm, name)
    except AttributeError:
        MISSING.add(name)
        return Missing(name)
