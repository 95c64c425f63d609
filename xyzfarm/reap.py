"""Reaping: read every batch result of a crop and assemble them into one Dataset.

Only the crop folder is needed (the schema, coordinates and constants are in ``crop.json``),
so a crop copied to a workstation reaps there without the user's code. Every result record is
checked (length and checksum) before use; a damaged one is reported, listed in
``results/damaged``, and its batch counted as missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from . import manifest, records
from .assemble import GridFiller, Schema, build_dataset
from .errors import CropIncompleteError
from .layout import CropLayout
from .results import ResultIndex
from .sow import schema_from_json

#: provenance variables of a reaped Dataset: where and how each case was computed
PROVENANCE = (
    "xyz_host",
    "xyz_job",
    "xyz_task",
    "xyz_attempt",
    "xyz_restarts",
    "xyz_version",
    "xyz_start",
    "xyz_seconds",
)


class Harvest:
    """The results read from a crop: values per case, in the sown grid's case order."""

    def __init__(
        self,
        data: dict[str, Any],
        outputs: dict[int, Any],
        rows: dict[int, tuple[Any, ...]],
        batches: list[int],
        missing: list[int],
        prov: list[tuple[Any, ...]] | None = None,
        filler: GridFiller | None = None,
    ) -> None:
        self.filler = filler
        self.data = data
        self.outputs = outputs
        # provenance segments: (case indices, start, seconds per case, *context)
        self.prov = prov if prov is not None else []
        self.rows = rows
        self.batches = batches
        self.missing = missing


def read_results(layout: CropLayout, data: dict[str, Any], *, allow_incomplete: bool) -> Harvest:
    """Load every complete batch result; refuse (or note) missing ones."""
    num_batches = data["plan"]["num_batches"]
    outputs: dict[int, Any] = {}
    prov: list[tuple[Any, ...]] = []
    rows: dict[int, tuple[Any, ...]] = {}
    grown: list[int] = []
    missing: list[int] = []
    filler = None
    if data["kind"] == "combos" and data["schema"]["var_names"] is not None:
        # stream every batch straight into the final arrays
        filler = GridFiller(
            {n: manifest.decode(v) for n, v in data["combos"].items()},
            schema_from_json(data["schema"]),
            {k: manifest.decode(v) for k, v in data["constants"].items()},
        )
    index = ResultIndex(layout).refresh()
    cases = (
        records.IndexedReader(layout.cases, layout.cases_index)
        if data["kind"] != "combos"
        else None
    )
    try:
        for batch in range(1, num_batches + 1):
            try:
                result = index.load(batch)
            except KeyError:  # never grown, or every record of it damaged (warned)
                missing.append(batch)
                continue
            if filler is not None:
                filler.add(result["indices"], result["outputs"])
            else:
                outputs.update(zip(result["indices"], result["outputs"]))
            # numpy, not lists of ints: a million cases' indices take 8 MB, not 36 MB
            indices = np.asarray(result["indices"], dtype=np.int64)
            for positions, *rest in result.get("prov", ()):
                prov.append((indices[np.asarray(positions, dtype=np.intp)], *rest))
            grown.append(batch)
            if cases is not None:
                spec = cases.get(batch - 1)
                rows.update(zip(spec["indices"], spec["rows"]))
    finally:
        if cases is not None:
            cases.close()
    if missing and not allow_incomplete:
        failed = sorted(layout.batch_ids_in("failed") & set(missing))
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise CropIncompleteError(
            f"the crop {layout.name!r} has {len(missing)} of {num_batches} batches without a "
            f"result ({shown}; {len(failed)} of them failed); grow them (crop.grow_missing()) "
            "or pass allow_incomplete=True."
        )
    return Harvest(data, outputs, rows, grown, missing, prov, filler)


def to_dataset(harvest: Harvest, provenance: bool = True) -> xr.Dataset:
    """Assemble a Harvest into the Dataset ``run_combos`` / ``run_cases`` would have given.

    With ``provenance``, each case also gets the :data:`PROVENANCE` variables: host, job id
    ("local" outside a scheduler), array task, attempt, scheduler restarts, xyzfarm version,
    start time (UTC) and seconds taken (for cases faster than a few ms, the average of the
    chunk they ran in).
    """
    data = harvest.data
    schema = schema_from_json(data["schema"])
    constants = {k: manifest.decode(v) for k, v in data["constants"].items()}
    attrs = {k: manifest.decode(v) for k, v in data["attrs"].items()}
    if harvest.filler is not None:
        ds = harvest.filler.dataset(attrs)
    else:
        ds = _values_dataset(harvest, harvest.outputs, schema, constants, attrs)
    if not provenance or not harvest.prov:
        return ds
    prov = _provenance_dataset(harvest, ds)
    return ds.merge(prov, join="outer", compat="no_conflicts")


def _provenance_columns(harvest: Harvest) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-case provenance arrays from the per-chunk segments, vectorised."""
    counts = np.array([len(seg[0]) for seg in harvest.prov])
    index = np.concatenate([seg[0] for seg in harvest.prov])
    # offset of each case inside its segment: start + k * seconds per case
    ends = np.cumsum(counts)
    offsets = np.arange(len(index)) - np.repeat(ends - counts, counts)
    seconds = np.repeat(np.array([seg[2] for seg in harvest.prov], dtype=float), counts)
    start = np.repeat(np.array([seg[1] for seg in harvest.prov], dtype=float), counts)
    start += offsets * seconds
    del offsets
    start *= 1e9
    columns = {"xyz_start": start.astype("datetime64[ns]"), "xyz_seconds": seconds}
    del start
    # the worker's context: host, job, task, attempt, restarts, version
    for k, name in enumerate(
        ("xyz_host", "xyz_job", "xyz_task", "xyz_attempt", "xyz_restarts", "xyz_version")
    ):
        columns[name] = np.repeat(np.array([seg[3 + k] for seg in harvest.prov]), counts)
    return index, columns


def _provenance_dataset(harvest: Harvest, ds: xr.Dataset) -> xr.Dataset:
    """The :data:`PROVENANCE` variables on the dims of the swept arguments of ``ds``."""
    index, columns = _provenance_columns(harvest)
    data = harvest.data
    names = list(data["arg_names"])
    total = data["plan"]["num_cases"]
    if data["kind"] == "combos" and len(index) == total:
        # a complete grid: one argsort puts every case in place, no per-case Python
        combos = {n: manifest.decode(v) for n, v in data["combos"].items()}
        shape = tuple(len(v) for v in combos.values())
        order = np.argsort(index, kind="stable")
        data_vars = {}
        for name in list(columns):
            # reorder one column at a time, dropping the unordered one: peak memory stays at
            # the final arrays plus one column
            data_vars[name] = (names, columns.pop(name)[order].reshape(shape))
        return xr.Dataset(data_vars, coords={n: ds.coords[n] for n in names})
    rows = {int(i): tuple(col[k] for col in columns.values()) for k, i in enumerate(index)}
    prov = _values_dataset(harvest, rows, Schema(tuple(columns), {}, {}), {}, {})
    return prov.reindex({n: ds.coords[n].values for n in names})


def _values_dataset(
    harvest: Harvest, outputs: dict[int, Any], schema: Any, constants: Any, attrs: Any
) -> xr.Dataset:
    """Assemble a Harvest into the Dataset ``run_combos`` / ``run_cases`` would have given."""
    data = harvest.data
    names = tuple(data["arg_names"])
    if data["kind"] == "combos":
        combos = {n: manifest.decode(v) for n, v in data["combos"].items()}
        total = data["plan"]["num_cases"]
        if len(outputs) == total:
            import itertools

            results = [outputs[i] for i in range(total)]
            rows = list(itertools.product(*combos.values()))
            return build_dataset(results, names, rows, schema, constants, attrs, grid=combos)
        # incomplete: assemble what exists, then put it on the full grid (NaN elsewhere)
        shape = [len(v) for v in combos.values()]
        index = sorted(outputs)
        values = list(combos.values())
        rows = [
            tuple(values[k][j] for k, j in enumerate(np.unravel_index(i, shape))) for i in index
        ]
        if not index:
            return xr.Dataset(coords={n: list(v) for n, v in combos.items()})
        ds = build_dataset([outputs[i] for i in index], names, rows, schema, constants, attrs)
        return ds.reindex({n: np.asarray(v) for n, v in combos.items()})
    index = sorted(outputs)
    if not index:
        return xr.Dataset()
    return build_dataset(
        [outputs[i] for i in index],
        names,
        [harvest.rows[i] for i in index],
        schema,
        constants,
        attrs,
    )


def to_table(harvest: Harvest) -> Any:
    """A DataFrame with one row per reaped case: arguments, constants, attrs, then outputs."""
    import pandas as pd

    from .assemble import split_outputs

    data = harvest.data
    names = list(data["arg_names"])
    index = sorted(harvest.outputs)
    if data["kind"] == "combos":
        combos = [manifest.decode(v) for v in data["combos"].values()]
        shape = [len(v) for v in combos]
        rows = [
            tuple(combos[k][j] for k, j in enumerate(np.unravel_index(i, shape))) for i in index
        ]
    else:
        rows = [harvest.rows[i] for i in index]
    table: dict[str, Any] = {n: [r[k] for r in rows] for k, n in enumerate(names)}
    extra = {**data["constants"], **data["attrs"]}
    table.update({k: [manifest.decode(v)] * len(rows) for k, v in extra.items()})
    var_names = data["schema"]["var_names"]
    results = [harvest.outputs[i] for i in index]
    if var_names is None:
        keys = list(results[0]) if results else []
        table.update({k: [r.get(k) for r in results] for k in keys})
    else:
        columns = split_outputs(results, tuple(var_names), names, rows)
        table.update({v: list(c) for v, c in zip(var_names, columns)})
    return pd.DataFrame(table)


def delete_crop(layout: CropLayout) -> None:
    """Remove a crop folder; renamed away first, so no reader ever sees half of it."""
    # the reap lock file is not removed here: its holder removes it on release
    if not layout.root.exists():
        return
    doomed = layout.root.with_name(f"{layout.root.name}.deleting-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(layout.root, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def _target(
    farmer: Any, layout: CropLayout, data: Mapping[str, Any], into: str | None = None
) -> tuple[str, str | None, str]:
    from .harvester import Harvester
    from .runner import Runner
    from .sampler import Sampler

    if into is not None:
        return "harvester", into, "h5netcdf"
    if isinstance(farmer, Harvester):
        return "harvester", farmer.data_name, farmer.engine
    if isinstance(farmer, Sampler):
        return "sampler", farmer.data_name, farmer.engine
    if isinstance(farmer, Runner):
        return "runner", None, ""
    record = data.get("farmer") or {}
    if record.get("kind") in ("harvester", "sampler"):
        return (
            record["kind"],
            str(layout.parent_dir / record["data_name"]),
            record["engine"],
        )
    return "dataset", None, ""


def deliver(
    farmer: Any,
    layout: CropLayout,
    harvest: Harvest,
    data: Mapping[str, Any],
    *,
    sync: bool,
    overwrite: bool | None,
    provenance: bool = True,
    into: str | None = None,
) -> Any:
    from .harvester import Harvester, merge_into_file
    from .runner import Runner
    from .sampler import Sampler, append_to_file

    kind, data_name, engine = _target(farmer, layout, data, into)
    if kind == "sampler":
        table = to_table(harvest)
        if isinstance(farmer, Sampler):
            farmer.add_df(table, sync=sync)
        elif data_name is not None:
            append_to_file(data_name, table, engine=engine)
        return table
    ds = to_dataset(harvest, provenance=provenance)
    if kind == "harvester":
        if isinstance(farmer, Harvester):
            farmer.add_ds(ds, sync=sync, overwrite=overwrite)
            return farmer.full_ds
        assert data_name is not None
        return merge_into_file(data_name, ds, overwrite, engine=engine)
    if kind == "runner" and isinstance(farmer, Runner):
        farmer._last_ds = ds
    return ds


def delivered(farmer: Any) -> Any:
    from .harvester import Harvester
    from .runner import Runner
    from .sampler import Sampler

    if isinstance(farmer, Harvester):
        return farmer.full_ds
    if isinstance(farmer, Sampler):
        return farmer.full_df
    if isinstance(farmer, Runner):
        return farmer.last_ds
    return None


def without_provenance(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the :data:`PROVENANCE` variables (e.g. to compare values only)."""
    return ds.drop_vars([v for v in PROVENANCE if v in ds.variables])
