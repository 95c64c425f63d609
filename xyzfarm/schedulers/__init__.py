"""Cluster schedulers: one pure module per scheduler, plus planning, rendering and submitting.

Adding a scheduler (LSF, Flux, ...) is one module in this package that satisfies
:class:`~xyzfarm.schedulers.base.Scheduler` and one template ``templates/<name>.sh.j2`` in
this package: the module is found here by itself (no list to edit), and :data:`REGISTRY`
drives everything that depends on the set of schedulers. The contract tests check each module found.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from ..errors import InvalidInputError
from .base import JobEnvironment, Scheduler, missing_members

#: the package's modules that are not schedulers (the others are imported and must be one);
#: heavy ones (render: jinja2) are never imported by the discovery, so array tasks stay lean
INFRASTRUCTURE = frozenset(
    {"accounting", "arrays", "base", "profiles", "render", "resources", "shell"}
)


def _discover() -> dict[str, Scheduler]:
    found: dict[str, Scheduler] = {}
    # the folder's *.py files, not pkgutil.iter_modules: that imports inspect, which would
    # add milliseconds to every array task's start
    names = {
        entry.name[:-3]
        for folder in __path__
        for entry in os.scandir(folder)
        if entry.name.endswith(".py") and entry.is_file()
    }
    for name in sorted(names - INFRASTRUCTURE):
        if name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        if not isinstance(module, Scheduler):
            raise ImportError(
                f"xyzfarm.schedulers.{name} is neither a scheduler (it lacks "
                f"{missing_members(module)}) "
                "nor listed in xyzfarm.schedulers.INFRASTRUCTURE: complete it, or list it there."
            )
        found[module.NAME] = module
    return found


#: every scheduler, by name (sorted)
REGISTRY: dict[str, Scheduler] = _discover()


def names() -> str:
    """The schedulers' names for messages: ``'lsf'|'pbs'|...``."""
    return "|".join(repr(name) for name in REGISTRY)


def get(name: str) -> Scheduler:
    """The module of scheduler ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown scheduler {name!r}; the schedulers are {sorted(REGISTRY)}."
        ) from None


def job_environment(env: Mapping[str, str] | None = None) -> JobEnvironment | None:
    """What the scheduler running this process says about its job, or ``None`` outside one.

    Each scheduler reads its own variables, and recognises ``env`` (default: ``os.environ``)
    only by a variable no other scheduler sets (Grid Engine's generic ``JOB_ID`` counts only
    beside ``SGE_TASK_ID``), so at most one answers inside a job.
    """
    env = os.environ if env is None else env
    for scheduler in REGISTRY.values():
        job = scheduler.job_environment(env)
        if job is not None:
            return job
    return None
