"""What arguments a function takes, and whether a sweep supplies them.

Checking names against the signature up front turns a typo in a 10^5-case sweep into an
immediate error naming the argument, instead of 10^5 identical ``TypeError`` tracebacks (or,
worse, a file half-written before the first bad case).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ArgumentConflictError, MissingArgumentError, UnknownArgumentError

#: one case of a sweep: a value per swept argument, in the order of their names (the one
#: definition: combos, execute, assemble and sow all pass cases in this form)
Case = tuple[Any, ...]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # builtins and some C extensions have no introspectable signature


def fn_arg_names(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """The names that can be passed to ``fn`` by keyword, in order; None if unknown."""
    sig = _signature(fn)
    if sig is None:
        return None
    return tuple(p.name for p in sig.parameters.values() if p.kind in _NAMED)


def positional_names(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """Names of the leading parameters of ``fn`` that may be passed by position; None if unknown."""
    sig = _signature(fn)
    if sig is None:
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            break
        names.append(p.name)
    return tuple(names)


def check_arguments(
    fn: Callable[..., Any],
    sources: Mapping[str, Iterable[str]],
) -> None:
    """Check that the names given by each source are arguments of ``fn`` and none are missing.

    Parameters
    ----------
    fn : callable
        The function to be called with keyword arguments.
    sources : mapping of str to iterable of str
        For each source (e.g. ``"combos"``, ``"constants"``) the argument names it supplies.

    Raises
    ------
    UnknownArgumentError
        If a name is not an argument of ``fn`` (and ``fn`` takes no ``**kwargs``).
    MissingArgumentError
        If ``fn`` has a required argument that no source supplies.
    """
    sig = _signature(fn)
    if sig is None:
        return
    params = sig.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {n for n, p in params.items() if p.kind in _NAMED}
    given: dict[str, str] = {}
    for source, names in sources.items():
        for name in names:
            if name in given and given[name] != source:
                raise ArgumentConflictError(
                    f"argument {name!r} is given both in {given[name]} and in {source}; "
                    "give it in one place only."
                )
            given[name] = source
            if not takes_any and name not in accepted:
                raise UnknownArgumentError(
                    f"{source} name {name!r}, which is not an argument of "
                    f"{_fn_name(fn)}{sig}; the arguments are {sorted(accepted)}."
                )
    for name, p in params.items():
        if p.kind in _NAMED and p.default is inspect.Parameter.empty and name not in given:
            raise MissingArgumentError(
                f"{_fn_name(fn)}{sig} needs the argument {name!r}, which no combos, cases, "
                "constants or resources supply; add it to one of them."
            )


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
