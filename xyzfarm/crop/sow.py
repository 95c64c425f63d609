"""Sowing: validate a sweep, split its cases into batches and write the crop folder.

The case list is fingerprinted; sowing again with the same cases and plan is a no-op (so every
phase is safe to re-run), and sowing a *different* case list under the same name is refused
(xyzpy silently misaligns results then).

Each sowing mints an id, recorded in the manifest and carried by every record of the crop's
files (see :mod:`xyzfarm.folder.records`). The folder is written under a temporary name beside
the crop's (``..xyz-<name>.<host>~<pid>.<random>.tmp``) and published by one rename, under
the crop's lock (:attr:`~xyzfarm.folder.layout.CropLayout.crop_lock`, also held by reaps and
deletes): of two processes sowing one crop at once, one publishes, the other finds its crop
there (the same sweep: nothing to do; another: ``CropMismatchError``). A sow killed midway
leaves only its temporary folder, which the next sow of the crop removes.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    CropMismatchError,
    InvalidInputError,
    LocationError,
    OutputMismatchError,
    XyzfarmError,
)
from ..folder import manifest, records
from ..folder.layout import CropLayout
from ..folder.manifest import BatchPlan, FarmerRecord, Manifest
from ..node import shipping
from ..store import storage, temps
from ..sweep.arguments import check_arguments
from ..sweep.assemble import Schema
from ..sweep.combos import (
    Case,
    check_cases,
    check_combos,
    iter_combos,
    num_combos,
    product_with_cases,
)
from ..sweep.gc_pause import collect_young_if_due, paused_gc


def plan_batches(
    num_cases: int, batchsize: int | None = None, num_batches: int | None = None
) -> int:
    """The number of batches for ``num_cases``, from a target ``batchsize`` or ``num_batches``.

    Cases are then spread as evenly as possible: see :func:`batch_bounds`.
    """
    if batchsize is not None and num_batches is not None:
        raise InvalidInputError(
            f"give batchsize ({batchsize}) or num_batches ({num_batches}), not both."
        )
    for name, value in (("batchsize", batchsize), ("num_batches", num_batches)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    if num_cases < 1:
        raise InvalidInputError("there are no cases to sow.")
    if num_batches is not None:
        return min(num_batches, num_cases)
    return math.ceil(num_cases / (batchsize or 1))


def batch_bounds(num_cases: int, num_batches: int, batch: int) -> tuple[int, int]:
    """``(start, stop)`` positions of 1-based ``batch`` in the sown case order."""
    q, r = divmod(num_cases, num_batches)
    k = batch - 1
    start = k * q + min(k, r)
    return start, start + q + (1 if k < r else 0)


def _schema_json(schema: Schema) -> dict[str, Any]:
    return {
        "var_names": None if schema.var_names is None else list(schema.var_names),
        "var_dims": {k: list(v) for k, v in schema.var_dims.items()},
        # an array keeps its dtype (object IDs stay object, as xyzpy labels them)
        "var_coords": {
            k: manifest.encode(v if isinstance(v, np.ndarray) else list(v))
            for k, v in schema.var_coords.items()
        },
    }


def schema_from_json(schema: Mapping[str, Any]) -> Schema:
    """The output Schema recorded in a manifest (its ``schema`` field)."""
    names = schema["var_names"]
    return Schema(
        None if names is None else tuple(names),
        {k: tuple(v) for k, v in schema["var_dims"].items()},
        {k: manifest.decode(v) for k, v in schema["var_coords"].items()},
    )


def farmer_record(farmer: Any, parent_dir: Path) -> FarmerRecord | None:
    """How a crop's reap finds its way to a Harvester's or Sampler's file without the code."""
    target = farmer.reap_target if farmer is not None else None
    if target is not None and target.kind != "runner" and target.data_name is not None:
        path = Path(target.data_name).absolute()
        return FarmerRecord(
            kind=target.kind,
            data_name=os.path.relpath(path, parent_dir),
            engine=target.engine,
        )
    return FarmerRecord(kind="runner") if farmer is not None else None


def _shown(values: Any, most: int = 6) -> str:
    items = [repr(v) for v in list(values)[: most + 1]]
    more = ", ..." if len(items) > most else ""
    return f"[{', '.join(items[:most])}{more}] ({len(list(values))} values)"


def what_differs(
    layout: CropLayout,
    old: Manifest,
    names: Sequence[str],
    kind: str,
    combos: Mapping[str, Any],
    rows: list[Case] | None,
) -> str:
    """The first difference between a crop's sown sweep and a new one, said plainly.

    Values compare by ``repr``, as the fingerprint does. Only called on the error path: a case
    list is read back from ``cases.bin`` to find its first differing case.
    """
    if old.kind != kind:
        return f"it was sown from {old.kind}, now from {kind}"
    if list(old.arg_names) != list(names):
        return f"it was sown over the arguments {list(old.arg_names)}, now {list(names)}"
    if kind == "combos":
        sown_combos = old.decoded_combos()
        for name in names:
            before = sown_combos[name]
            if [repr(v) for v in before] != [repr(v) for v in combos[name]]:
                now = _shown(combos[name])
                return f"argument {name!r} was sown with {_shown(before)}, now {now}"
        return "the values are the same but their types or order differ"
    sown: dict[int, Any] = {}
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=old.sowing_id)
    try:
        for batch in range(old.plan.num_batches):
            spec = reader.get(batch)
            sown.update(zip(spec["indices"], spec["rows"]))
    finally:
        reader.close()
    new_rows = rows or []
    if len(sown) != len(new_rows):
        return f"it was sown with {len(sown)} cases, now {len(new_rows)}"
    for i, row in enumerate(new_rows):
        if repr(tuple(sown[i])) != repr(tuple(row)):
            was = dict(zip(names, sown[i]))
            return f"case {i} was sown as {was}, now {dict(zip(names, row))}"
    return "the cases are the same but their types differ"


def _sown_in_other_order(old: Manifest, kind: str, checked: Mapping[str, list[Any]]) -> bool:
    """Whether a combos crop holds this very grid, sown with its names in another order.

    Crops sown before xyzfarm followed xyzpy's order (combos sorted by name) keep the given
    order: sowing the same sweep again must still find them, not refuse them as different.
    """
    if kind != "combos" or old.kind != "combos" or sorted(old.arg_names) != sorted(checked):
        return False
    in_old_order = [checked[n] for n in old.arg_names]
    return manifest.fingerprint(old.arg_names, [kind, *in_old_order]) == old.fingerprint


def sow(
    layout: CropLayout,
    *,
    fn: Callable[..., Any] | None,
    schema: Schema,
    combos: Mapping[str, Any] | None = None,
    cases: Any = None,
    fn_args: Sequence[str] | None = None,
    constants: Mapping[str, Any] | None = None,
    unrecorded_constants: Sequence[str] = (),
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    batchsize: int | None = None,
    num_batches: int | None = None,
    shuffle: bool | int = False,
    save_fn: bool = True,
    farmer: FarmerRecord | None = None,
    unique: bool = True,
    check_fits: Callable[[Sequence[str]], None] | None = None,
) -> Manifest:
    """Write a crop folder for these cases and return its manifest.

    Parameters
    ----------
    layout : CropLayout
        Where the crop lives.
    fn : callable or None
        The function (saved as ``function.pkl`` when ``save_fn``); checked against the
        swept names, constants and resources.
    schema : Schema
        Output description (recorded as JSON for reaping without the code).
    combos, cases, fn_args
        The sweep: combos alone (a grid), cases alone, or cases times combos.
    constants, resources, attrs
        As for :class:`~xyzfarm.Runner`; resources are pickled with the function, never in
        the manifest.
    unrecorded_constants : sequence of str
        Constants passed to the function but not saved with the reaped data.
    batchsize, num_batches : int, optional
        Target size or number of batches (default: one case per batch, as xyzpy).
    shuffle : bool or int
        Sow cases in a random order (an int is the seed; True derives a seed from the
        fingerprint, so sowing again gives the same plan).
    save_fn : bool
        Save the function so workers and array tasks can load it.
    farmer : FarmerRecord, optional
        Where reaping should deliver (see :func:`farmer_record`).
    unique : bool
        Refuse repeated cases (False for random samples).
    check_fits : callable, optional
        Called with the swept names before anything is written: the farmer's refusal of a
        sweep whose results it could not keep (see ``Harvester.check_fits``).

    Raises
    ------
    CropMismatchError
        If the crop exists with a different case list or batch plan.
    """
    constants = dict(constants or {})
    resources = dict(resources or {})
    checked = check_combos(combos or {})
    if cases is not None:
        names, rows = product_with_cases(*check_cases(cases, fn_args, unique=unique), checked)
        kind = "cases"
        print_parts: Any = rows
    else:
        if not checked:
            raise InvalidInputError("nothing to sow: give combos or cases.")
        names, rows = tuple(checked), None
        kind = "combos"
        print_parts = [checked[n] for n in names]
    if fn is not None:
        check_arguments(
            fn, {"the swept arguments": names, "constants": constants, "resources": resources}
        )
    dims = {d for own in schema.var_dims.values() for d in own}
    clash = sorted(set(schema.var_names or ()) & {*names, *dims})
    if clash:
        # the Dataset would hold the name twice, as a variable and a coordinate: refused
        # before anything is written, not by xarray once every batch has grown
        raise OutputMismatchError(
            f"the output(s) {clash} have the name of a swept argument or an output dimension: "
            "a Dataset cannot hold a variable and a coordinate of one name; give the "
            "output another var_name."
        )
    if check_fits is not None:
        check_fits(names)
    num_cases = len(rows) if rows is not None else num_combos(checked)
    sweep_fingerprint = manifest.fingerprint(names, [kind, *print_parts])
    batches = plan_batches(num_cases, batchsize, num_batches)
    seed = None
    if shuffle:
        seed = int(sweep_fingerprint[:8], 16) if shuffle is True else int(shuffle)
    plan = BatchPlan(num_cases=num_cases, num_batches=batches, shuffle_seed=seed)

    def same_as_sown(old: Manifest, meanwhile: str = "") -> Manifest:
        """``old`` if it holds this very sweep and plan (sowing again changes nothing)."""
        fingerprint, planned = sweep_fingerprint, plan
        if old.fingerprint != fingerprint and _sown_in_other_order(old, kind, checked):
            fingerprint = old.fingerprint
            if shuffle is True:  # its seed derives from the fingerprint
                planned = replace(plan, shuffle_seed=int(fingerprint[:8], 16))
        if old.fingerprint != fingerprint:
            differs = what_differs(layout, old, names, kind, checked, rows)
            raise CropMismatchError(
                f"the crop {layout.name!r} at {str(layout.root)!r} was sown{meanwhile} with a "
                f"different case list: {differs} (fingerprint {old.fingerprint[:8]}, now "
                f"{fingerprint[:8]}); reap or delete it first (crop.delete_all()), or "
                "choose another name."
            )
        if old.plan != planned:
            raise CropMismatchError(
                f"the crop {layout.name!r} was sown{meanwhile} with the batch plan {old.plan}, "
                f"not {planned}; sow with the same batchsize/num_batches/shuffle, or delete it "
                "first."
            )
        return old

    if layout.exists():
        return same_as_sown(Manifest.read(layout))

    fn_sha256 = payload = None
    if fn is not None and save_fn:
        # local code (__main__, the user's modules) travels by value: see xyzfarm.node.shipping;
        # pickled before anything is written, so a value that cannot be pickled leaves nothing
        payload = shipping.dumps_function(fn, {**constants, **resources})
        # the manifest (itself checksummed) proves the function file: a flipped bit in a
        # constant of the pickled code would otherwise compute other values unnoticed
        fn_sha256 = hashlib.sha256(payload).hexdigest()
    sowing = secrets.token_hex(records.SOWING_BYTES)
    # written under a temporary name beside the crop's, published by one rename below
    writer = temps.prefix(layout.root)[len(layout.root.name) + 2 :]  # "<host>~<pid>."
    staged = layout.staged(f"{writer}{secrets.token_hex(4)}{temps.SUFFIX}")
    for left in temps.stale(layout.root):  # the folders of sows killed midway
        shutil.rmtree(left, ignore_errors=True)
    try:
        staged.make_folders()
        if payload is not None:
            # its rename is made durable by the manifest's, published last (see atomic_path)
            storage.write_bytes(staged.function, payload, sync_dir=False)

        def batch_records() -> Any:
            if seed is None:
                # in order: one pass over the cases, never all of them in memory at once
                source = iter(rows) if rows is not None else iter_combos(checked)
                for b in range(1, batches + 1):
                    start, stop = batch_bounds(num_cases, batches, b)
                    yield {
                        "indices": range(start, stop),
                        "rows": list(itertools.islice(source, stop - start)),
                    }
                    collect_young_if_due()
                return
            all_rows: list[Case] = rows if rows is not None else list(iter_combos(checked))
            order = list(range(num_cases))
            random.Random(seed).shuffle(order)
            for b in range(1, batches + 1):
                start, stop = batch_bounds(num_cases, batches, b)
                picked = order[start:stop]
                yield {"indices": picked, "rows": [all_rows[i] for i in picked]}

        # the case values decide how every record is pickled: checked once, not per batch, and
        # only when records are small (cloudpickle's extra cost is per record, the check's per
        # value)
        values = rows if rows is not None else list(itertools.chain.from_iterable(checked.values()))
        plain = len(values) <= storage.PLAIN_CHECK_MAX * batches and storage.is_plain(values)
        with paused_gc():  # a tuple per case: as for run_combos, see paused_gc
            records.write_indexed(
                staged.cases,
                staged.cases_index,
                batch_records(),
                plain=plain,
                sowing=bytes.fromhex(sowing),
            )
        # the manifest comes last, and with the folder's fsync that also makes the renames of
        # function.pkl, cases.bin and cases.idx durable (published without one): 5 fsyncs, not 8
        Manifest(
            name=layout.name,
            fn_name=getattr(fn, "__name__", None),
            has_function=bool(fn is not None and save_fn),
            # one function per crop: growing with another one is refused (see Crop.grow)
            fn_qualname=None if fn is None else shipping.qualname(fn),
            fn_fingerprint=None if fn is None else shipping.fingerprint(fn),
            fn_sha256=fn_sha256,
            # what it reads from its module, as pickled: growing with other values is refused
            fn_globals={} if fn is None else shipping.globals_digests(fn),
            fingerprint=sweep_fingerprint,
            plan=plan,
            kind=kind,
            arg_names=tuple(names),
            combos={n: manifest.encode(v) for n, v in checked.items()}
            if kind == "combos"
            else None,
            constants={k: manifest.encode(v) for k, v in constants.items()},
            unrecorded_constants=tuple(unrecorded_constants),
            attrs={k: manifest.encode(v) for k, v in dict(attrs or {}).items()},
            schema=_schema_json(schema),
            farmer=farmer,
            sowing=sowing,
        ).write(staged)
        with storage.locked(layout.crop_lock):
            if layout.exists():  # sown meanwhile by another process
                return same_as_sown(Manifest.read(layout), " meanwhile by another process")
            if os.path.lexists(layout.root):
                layout.check_not_orphaned()  # never sow over results
                layout.remove_folder()  # an interrupted sow of an earlier release
            os.rename(staged.root, layout.root)
            storage.fsync_dir(layout.parent_dir)
    except OSError as exc:
        if isinstance(exc, XyzfarmError):
            raise
        # nothing was published: the crop (if any) is as it was
        raise LocationError(
            f"could not sow the crop {layout.name!r} in {str(layout.parent_dir)!r}: "
            f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}. Nothing was "
            "published. Free some space or inodes, or choose a folder you can write in "
            "(parent_dir=...), then sow again."
        ) from exc
    finally:
        staged.remove_folder()  # a sow that failed, or lost to another one
    return Manifest.read(layout)
