"""One call for the whole cycle: find the missing cases, sow them, grow them, reap them.

:func:`cultivate_harvester` is the body of :meth:`Harvester.cultivate` (and so of
:func:`xyzfarm.cultivate`, in ``labelling``); it takes the harvester as its farmer, so it sits
below the farmers and imports none of them.

``on_existing`` and ``on_error`` accept ``'ask'`` as in xyzpy, but never crash without a
terminal: with no TTY to ask, the safe action is taken and a warning says which.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .crop.grow_options import GrowOptions
from .errors import BatchFailedError, CropIncompleteError, CropMismatchError, InvalidInputError
from .store.merge import missing_cases
from .sweep.combos import make_sweep

ACTIONS = ("ask", "reap", "delete", "skip", "raise")
#: taken for 'ask' when no terminal can answer: keeps every computed result
SAFE_ACTION = "reap"


def _decide(action: str, question: str, *, ask: Callable[[str], str] | None = None) -> str:
    if action not in ACTIONS:
        raise InvalidInputError(f"the action {action!r} is not one of {list(ACTIONS)}.")
    if action != "ask":
        return action
    if ask is None and not (sys.stdin is not None and sys.stdin.isatty()):
        warnings.warn(
            f"{question} No terminal to ask: taking the safe action {SAFE_ACTION!r} "
            "(results so far are merged, nothing is deleted unread).",
            stacklevel=3,
        )
        return SAFE_ACTION
    prompt = ask or input
    while True:
        answer = prompt(f"{question} [reap/delete/skip/raise]: ").strip().lower()
        if answer in ACTIONS[1:]:
            return answer


def cultivate_harvester(
    harvester: Any,
    *,
    combos: Mapping[str, Any] | None = None,
    cases: Any = None,
    constants: Mapping[str, Any] | None = None,
    name: str | None = None,
    parent_dir: str | None = None,
    batchsize: int | None = None,
    num_batches: int | None = None,
    missing_only: bool = True,
    shuffle: bool | int = True,
    subprocess: bool | str = "auto",
    num_workers: int | None = None,
    num_threads: int | None = None,
    gpus: Any = None,
    affinities: Any = None,
    log: bool = False,
    raise_errors: bool = True,
    verbosity: int = 1,
    on_existing: str = "ask",
    on_error: str = "ask",
    clean_up: bool | None = None,
    ask: Callable[[str], str] | None = None,
    **grow_kwargs: Any,
) -> Any:
    """The body of :meth:`Harvester.cultivate` (see there); returns the full dataset."""
    # deferred, as Runner.Crop's: a Harvester used in-process never loads the crop machinery
    from .crop.crop import Crop

    combos = harvester._maybe_expand_combos(combos or {})
    if missing_only:
        wanted = make_sweep(combos, cases)
        todo = missing_cases(
            harvester.full_ds, wanted.names, wanted.rows, harvester.runner.schema.var_dims
        )
        if not todo:
            return harvester.full_ds
        sow_cases, sow_combos = [dict(zip(wanted.names, row)) for row in todo], None
    else:
        sow_cases, sow_combos = cases, combos
    crop = Crop(
        farmer=harvester,
        name=name,
        parent_dir=parent_dir,
        batchsize=batchsize,
        num_batches=num_batches,
        shuffle=shuffle,
    )

    def sow() -> None:
        if sow_combos is not None:
            crop.sow_combos(sow_combos, cases=sow_cases, constants=constants)
        else:
            crop.sow_cases(None, sow_cases, constants=constants)

    try:
        sow()
    except CropMismatchError as exc:
        action = _decide(on_existing, f"A different crop {crop.name!r} exists ({exc}).", ask=ask)
        if action == "raise":
            raise
        if action == "reap":
            # reap keeps a crop with missing batches; replacing it discards them on purpose
            crop.reap(allow_incomplete=True, clean_up=False)
            crop.delete_all()
        elif action == "delete":
            crop.delete_all()
        if action == "skip":
            warnings.warn(f"growing the existing crop {crop.name!r} as it is.", stacklevel=2)
        else:
            sow()
    how = dict(
        subprocess=subprocess,
        num_workers=num_workers,
        num_threads=num_threads,
        gpus=gpus,
        affinities=affinities,
        log=log,
        raise_errors=raise_errors,
        verbosity=verbosity,
        **grow_kwargs,
    )
    try:
        if how.get("scheduler") is None and how.get("profile") is None:
            crop.grow(options=GrowOptions.from_keywords(**how))
        else:
            crop.grow(**how)  # xyzpy's spelling of submit (with wait=True to reap here)
        crop.reap(clean_up=clean_up)
        return harvester.full_ds  # as xyzpy's cultivate: the full dataset, not this reap's
    except (BatchFailedError, CropIncompleteError) as exc:
        action = _decide(on_error, f"Growing crop {crop.name!r} failed: {exc}", ask=ask)
        if action == "raise":
            raise
        if action == "reap":
            # keep the crop (and its failure records) to inspect or grow again
            crop.reap(allow_incomplete=True, clean_up=False)
            return harvester.full_ds
        if action == "delete":
            crop.delete_all()
        return harvester.full_ds
