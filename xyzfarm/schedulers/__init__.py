"""Cluster schedulers: one pure module per scheduler, plus planning, rendering and submitting.

Adding a scheduler (LSF, Flux, ...) is one module here with the same names as ``slurm`` and
one template ``templates/<name>.sh.j2`` in this package; the contract tests pick it up from
:data:`REGISTRY`.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import InvalidInputError
from . import pbs, sge, slurm

REGISTRY: dict[str, ModuleType] = {"slurm": slurm, "pbs": pbs, "sge": sge}


def get(name: str) -> ModuleType:
    """The module of scheduler ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown scheduler {name!r}; the schedulers are {sorted(REGISTRY)}."
        ) from None
