"""Reaping: read every batch result of a crop and assemble them into one Dataset.

Only the crop folder is needed (the schema, coordinates and constants are in ``crop.json``),
so a crop copied to a workstation reaps there without the user's code.

Nothing is published unproven. Every result record is checked (length and checksum) and so
is its place: its case indices must be exactly those its batch was sown with, with one output
per case. A record failing either is reported, listed in ``results/damaged``, and its batch
counted as missing (so growing grows it again). The values placed are then counted against
the sown cases: a reap publishes every case, or (``allow_incomplete``) every finished case,
including those checkpointed by failed or interrupted batches.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import xarray as xr

from ..errors import CropFormatError, CropIncompleteError, InvalidInputError
from ..folder import records
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..folder.provenance import ProvenanceSegment
from ..folder.result_checks import positions_problem
from ..folder.results import ResultIndex
from ..store import storage
from ..store.full_data import append_to_file, merge_into_file
from ..sweep.assemble import (
    GridFiller,
    Schema,
    build_dataset,
    outputs_are_labelled,
    reindex_with_gaps,
    split_outputs,
)
from ..sweep.gc_pause import collect_young_if_due
from .farmer import Farmer
from .sow import batch_bounds, schema_from_json

#: provenance variables of a reaped Dataset: where and how each case was computed
PROVENANCE = (
    "xyz_host",
    "xyz_job",
    "xyz_task",
    "xyz_attempt",
    "xyz_restarts",
    "xyz_version",
    "xyz_fn",
    "xyz_start",
    "xyz_seconds",
)
#: where ``reap(provenance=...)`` puts them: a group of the same file beside the data
#: (default), variables in the data (xyzfarm's former default), or nowhere
PROVENANCE_MODES = ("beside", "in", False)


#: the provenance variables taken as they are from each segment's worker context
_CONTEXT_VARIABLES = {
    "xyz_host": "host",
    "xyz_job": "job",
    "xyz_task": "task",
    "xyz_attempt": "attempt",
    "xyz_restarts": "restarts",
    "xyz_version": "version",
}


def check_provenance_mode(provenance: Any) -> str | bool:
    """The mode ``provenance`` names (True means "beside"), or a typed error saying why not."""
    if provenance is True:
        return "beside"
    if provenance is False or (isinstance(provenance, str) and provenance in PROVENANCE_MODES):
        return provenance
    raise InvalidInputError(
        f"provenance must be one of {PROVENANCE_MODES} (or True for 'beside'), got {provenance!r}."
    )


class Harvest:
    """The results read from a crop: values per case, in the sown grid's case order."""

    def __init__(
        self,
        sown: Manifest,
        outputs: dict[int, Any],
        rows: dict[int, tuple[Any, ...]],
        batches: list[int],
        missing: list[int],
        prov: list[ProvenanceSegment] | None = None,
        filler: GridFiller | None = None,
        num_cells: int = 0,
    ) -> None:
        self.filler = filler
        #: the crop's manifest, as the harvest was read with it
        self.sown = sown
        self.outputs = outputs
        #: provenance segments, their positions in the sown case order
        self.prov = prov if prov is not None else []
        self.rows = rows
        #: batches reaped whole, and batches without a result (their finished cases, from
        #: checkpoints, are in the harvest when reaped with allow_incomplete)
        self.batches = batches
        self.missing = missing
        #: cases whose values the harvest holds, counted as they were placed
        self.num_cells = num_cells

    @property
    def complete(self) -> bool:
        """Whether every sown case has its value."""
        return not self.missing and self.num_cells == self.sown.plan.num_cases


class BatchCases:
    """Where each batch's cases sit in the sown case order, read from the crop's own files.

    A combos crop sown in order needs no file (:func:`~xyzfarm.crop.sow.batch_bounds`); a shuffled
    or cases crop reads record ``batch - 1`` of ``cases.bin``, which also holds the rows.
    """

    def __init__(self, layout: CropLayout, sown: Manifest) -> None:
        self.num_cases = sown.plan.num_cases
        self.num_batches = sown.plan.num_batches
        in_order = sown.is_grid and sown.plan.shuffle_seed is None
        reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=sown.sowing_id)
        if in_order:
            # not needed to place results, but opened all the same: it proves (one read of a
            # header) that crop.json and the case files are of one sowing, so a crop.json
            # copied in from a twin crop is refused, never taken to label what is here
            reader.close()
        self._cases = None if in_order else reader

    def spec(self, batch: int) -> tuple[Sequence[int], list[Any] | None]:
        """The sown-order indices of ``batch``'s cases (a range or list, as the worker stored
        them, so a record is compared with them in C), and their rows (None if not read)."""
        if self._cases is None:
            return range(*batch_bounds(self.num_cases, self.num_batches, batch)), None
        spec = self._cases.get(batch - 1)
        return spec["indices"], list(spec["rows"])

    def close(self) -> None:
        if self._cases is not None:
            self._cases.close()


def _finished_cases(
    layout: CropLayout, batch: int, size: int, sowing: bytes | None
) -> tuple[dict[int, Any], list[ProvenanceSegment]]:
    """The finished cases of an unfinished batch from its checkpoint ``partial/<batch>``.

    Positions are relative to the batch's rows; a chunk naming positions outside the batch
    is skipped whole (it cannot be placed with certainty), and a position already given by
    an earlier chunk keeps its first value and provenance.
    """
    outputs: dict[int, Any] = {}
    prov: list[ProvenanceSegment] = []
    path = layout.partial(batch)
    for chunk in records.read_appended(path, sowing=sowing):
        try:
            out = dict(chunk["out"])
            segments = [ProvenanceSegment.from_record(s) for s in chunk.get("prov") or ()]
            covered = [p for s in segments for p in s.positions]
        except (KeyError, TypeError, ValueError, IndexError):
            warnings.warn(f"{os.fspath(path)} holds a malformed checkpoint; skipped.", stacklevel=3)
            continue
        why = positions_problem(list(out), size) or positions_problem(covered, size)
        if why is not None:
            warnings.warn(
                f"{os.fspath(path)} holds a checkpoint that {why}; its cases are skipped.",
                stacklevel=3,
            )
            continue
        fresh = {int(p): v for p, v in out.items() if int(p) not in outputs}
        outputs.update(fresh)
        for seg in segments:
            kept = [int(p) for p in seg.positions if int(p) in fresh]
            if kept:
                prov.append(seg._replace(positions=kept))
    return outputs, prov


def read_results(layout: CropLayout, sown: Manifest, *, allow_incomplete: bool) -> Harvest:
    """Load every batch result, proving each value's place before it is used.

    Every record's case positions are checked against its batch's plan (a record that does
    not belong to its batch is marked damaged and its batch counts as missing), and the
    cases placed are counted against the plan's ``num_cases``. Without ``allow_incomplete``
    anything short of every case raises :class:`~xyzfarm.errors.CropIncompleteError`; with
    it, every finished case is kept, including those checkpointed by failed or interrupted
    batches in ``partial/<i>``.
    """
    num_batches = sown.plan.num_batches
    num_cases = sown.plan.num_cases
    index = ResultIndex(layout, sowing=sown.sowing_id).refresh()
    if not allow_incomplete:
        # refuse before reading anything when batches are plainly missing
        _refuse_missing(layout, [b for b in range(1, num_batches + 1) if not index.has(b)], sown)
    outputs: dict[int, Any] = {}
    prov: list[ProvenanceSegment] = []
    rows: dict[int, tuple[Any, ...]] = {}
    grown: list[int] = []
    missing: list[int] = []
    placed = 0
    filler: GridFiller | None = None
    # a grid of unlabelled outputs streams every batch straight into the final arrays; the
    # first result decides (labelled outputs, a DataArray under one name, are combined later)
    decided = not (sown.is_grid and sown.var_names is not None)

    # results wait here until FILL_CASES of them can go into the arrays at once: filling
    # costs ~10 us a call whatever its size, and a batch is often ~100 cases
    waiting: list[Any] = []
    waiting_at: list[Sequence[int]] = []

    def fill() -> None:
        if waiting:
            assert filler is not None
            filler.add(_joined(waiting_at), waiting)
            waiting.clear()
            waiting_at.clear()

    def place(indices: Sequence[int], results: list[Any], spec_rows: list[Any] | None) -> None:
        nonlocal placed, filler, decided
        if not decided and results:
            decided = True
            schema = schema_from_json(sown.schema)
            if not outputs_are_labelled(schema, results[0]):
                filler = GridFiller(sown.decoded_combos(), schema, sown.recorded_constants())
        if filler is not None:
            waiting.extend(results)
            waiting_at.append(indices)
            if len(waiting) >= FILL_CASES:
                fill()
        else:
            outputs.update(zip(_index_list(indices), results))
        if spec_rows is not None and not sown.is_grid:
            rows.update(zip(_index_list(indices), spec_rows))
        placed += len(results)

    cases = BatchCases(layout, sown)
    try:
        for batch in range(1, num_batches + 1):
            sown_indices, spec_rows = cases.spec(batch)
            try:
                result = index.load(batch, sown_indices=sown_indices)
            except KeyError:  # never grown, or no record of it intact (warned)
                missing.append(batch)
                continue
            if not allow_incomplete and missing:
                continue  # refused below: only the check of every record is still useful
            place(sown_indices, result["outputs"], spec_rows)
            # one named tuple per segment, its positions in the sown order (a range for a run)
            for positions, *rest in result.get("prov") or ():
                prov.append(ProvenanceSegment(_picked(sown_indices, positions), *rest))
            grown.append(batch)
            collect_young_if_due()  # the GC may be paused by the caller
        if not allow_incomplete:
            _refuse_missing(layout, missing, sown)
        for batch in missing:
            sown_indices, spec_rows = cases.spec(batch)
            expected = np.asarray(sown_indices, dtype=np.int64)
            finished, finished_prov = _finished_cases(layout, batch, expected.size, sown.sowing_id)
            if not finished:
                continue
            positions = np.array(sorted(finished), dtype=np.intp)
            place(
                expected[positions],
                [finished[int(p)] for p in positions],
                None if spec_rows is None else [spec_rows[int(p)] for p in positions],
            )
            for where, *rest in finished_prov:
                prov.append(ProvenanceSegment(expected[np.asarray(where, dtype=np.intp)], *rest))
        fill()
    finally:
        cases.close()
        index.close()
    filled = int(filler.filled.sum()) if filler is not None else len(outputs)
    if filled != placed or placed > num_cases:
        # positions were proven distinct per batch and batches partition the plan: only a
        # damaged cases.bin could make them overlap
        raise CropFormatError(
            f"the crop {layout.name!r} placed {placed} values in {filled} distinct cells of "
            f"{num_cases}: its case plan {os.fspath(layout.cases)!r} is damaged; delete the "
            "crop and sow it again."
        )
    if not allow_incomplete and filled != num_cases:
        raise CropIncompleteError(
            f"the crop {layout.name!r} has values for {filled} of its {num_cases} cases; "
            "nothing was published. Grow it again (crop.grow_missing()), then reap."
        )
    return Harvest(sown, outputs, rows, grown, missing, prov, filler, filled)


#: results put into the arrays at once when reaping (bounds the memory a reap adds to the
#: Dataset: these values, or one batch when batches are larger)
FILL_CASES = 1 << 16


def _index_array(indices: Sequence[int]) -> np.ndarray:
    """Case positions as an array: a range without a Python int per case."""
    if type(indices) is range:
        return np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    return np.asarray(indices, dtype=np.int64)


def _index_list(indices: Sequence[int]) -> list[int]:
    return list(indices) if type(indices) is range else _index_array(indices).tolist()


def _picked(sown: Sequence[int], positions: Sequence[int]) -> Any:
    """The sown-order indices at batch ``positions``: a range when both are ranges."""
    if type(sown) is range and type(positions) is range:
        return sown[positions.start : positions.stop : positions.step]
    return _index_array(sown)[np.asarray(positions, dtype=np.intp)]


def _joined(runs: list[Any]) -> Any:
    """The indices of ``runs`` as one range when they follow each other, else one array."""
    if all(type(r) is range and r.step == 1 for r in runs) and all(
        a.stop == b.start for a, b in itertools.pairwise(runs)
    ):
        return range(runs[0].start, runs[-1].stop)
    return np.concatenate([_index_array(r) for r in runs])


def _refuse_missing(layout: CropLayout, missing: list[int], sown: Manifest) -> None:
    if not missing:
        return
    num_batches = sown.plan.num_batches
    failed = sorted(layout.batch_ids_in("failed") & set(missing))
    shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
    raise CropIncompleteError(
        f"the crop {layout.name!r} has {len(missing)} of {num_batches} batches without a "
        f"result ({shown}; {len(failed)} of them failed); nothing was published. Grow them "
        "(crop.grow_missing()), or pass allow_incomplete=True to publish what exists."
    )


def to_dataset(harvest: Harvest, provenance: bool = False) -> xr.Dataset:
    """Assemble a Harvest into the Dataset ``run_combos`` / ``run_cases`` would have given.

    With ``provenance``, the :data:`PROVENANCE` variables of :func:`provenance_dataset` are
    merged into it (``reap(provenance="in")``).
    """
    sown = harvest.sown
    schema = schema_from_json(sown.schema)
    constants = sown.recorded_constants()
    attrs = sown.decoded_attrs()
    if harvest.filler is not None:
        ds = harvest.filler.dataset(attrs)
    else:
        ds = values_dataset(harvest, harvest.outputs, schema, constants, attrs)
    if not provenance or not harvest.prov:
        return ds
    prov = provenance_dataset(harvest, ds)
    assert prov is not None
    return cast("xr.Dataset", ds.merge(prov, join="outer", compat="no_conflicts"))


def provenance_dataset(harvest: Harvest, ds: xr.Dataset) -> xr.Dataset | None:
    """Where and how each reaped case was computed, on the swept dims of ``ds``; None if unknown.

    The :data:`PROVENANCE` variables: host, job id ("local" outside a scheduler), array task,
    attempt, scheduler restarts, xyzfarm version, start time (UTC) and seconds taken (for
    cases faster than a few ms, the average of the chunk they ran in). Cases not reaped are
    missing (NaN / NaT).
    """
    if not harvest.prov:
        return None
    return _provenance_dataset(harvest, ds)


def _per_case(values: list[Any], counts: np.ndarray, total: int, dtype: Any = None) -> np.ndarray:
    """One value per case from one per segment.

    When they are all the same (one host, job, version, function...: the usual case) this is
    a read-only view of that one value (``np.broadcast_to``): no memory per case, where a
    filled copy would write ``total`` times the text (64 characters of function fingerprint,
    256 bytes a case: 256 MB at 10^6 cases).
    """
    first = values[0]
    if all(v == first and type(v) is type(first) for v in values):
        return np.broadcast_to(np.asarray([first], dtype=dtype), (total,))
    return np.repeat(np.array(values, dtype=dtype), counts)


def _one_value(column: np.ndarray) -> bool:
    """Whether ``column`` is a view of one value (see :func:`_per_case`)."""
    return column.ndim == 1 and column.strides == (0,)


def _provenance_columns(harvest: Harvest) -> tuple[Any, dict[str, np.ndarray]]:
    """Per-case provenance arrays from the per-chunk segments, vectorised, and the cases'
    indices (a range when the segments follow each other)."""
    # one column per field, across segments (a transpose in C, no per-field Python loop)
    by_field = dict(zip(ProvenanceSegment._fields, zip(*harvest.prov)))
    counts = np.array([len(p) for p in by_field["positions"]])
    joined = _joined(list(by_field["positions"]))
    index = np.asarray(joined, dtype=np.int64) if type(joined) is not range else joined
    total = len(index)
    per_segment = np.array(by_field["seconds_per_case"], dtype=float)
    seconds = _per_case(per_segment.tolist(), counts, total, float)
    # start of each case k: its segment's start + (k - the segment's first k) * its seconds per
    # case, computed as k * seconds + (start - first k * seconds): one array per case, not four
    first_k = np.cumsum(counts) - counts
    start = np.arange(total, dtype=float)
    start *= seconds
    offset = np.array(by_field["start"], dtype=float) - first_k * per_segment
    start += np.repeat(offset, counts)
    start *= 1e9
    columns = {"xyz_start": start.astype("datetime64[ns]"), "xyz_seconds": seconds}
    del start
    # the worker's context (a function fingerprint absent from records of earlier releases
    # is "")
    for name, field in _CONTEXT_VARIABLES.items():
        columns[name] = _per_case(list(by_field[field]), counts, total)
    fn_prints = [str(p) for p in by_field["fn_fingerprint"]]
    columns["xyz_fn"] = _per_case(fn_prints, counts, total, str)
    return index, columns


def _provenance_dataset(harvest: Harvest, ds: xr.Dataset) -> xr.Dataset:
    """The :data:`PROVENANCE` variables on the dims of the swept arguments of ``ds``."""
    index, columns = _provenance_columns(harvest)
    sown = harvest.sown
    names = list(sown.arg_names)
    total = sown.plan.num_cases
    if sown.is_grid and len(index) == total:
        combos = sown.decoded_combos()
        shape = tuple(len(v) for v in combos.values())
        # a complete grid: its distinct indices in increasing order are 0..total-1, already in
        # place (sown in order); otherwise one argsort puts every case in place
        in_place = type(index) is range or not np.any(index[1:] < index[:-1])
        order = None if in_place else np.argsort(index, kind="stable")
        data_vars = {}
        for name in list(columns):
            # reorder one column at a time, dropping the unordered one: peak memory stays at
            # the final arrays plus one column
            column = columns.pop(name)
            if _one_value(column):  # the same everywhere: no order, and still no copy
                placed = np.broadcast_to(column[:1].reshape((1,) * len(shape)), shape)
            else:
                placed = (column if order is None else column[order]).reshape(shape)
            data_vars[name] = (names, placed)
        return xr.Dataset(data_vars, coords={n: ds.coords[n] for n in names})
    rows = {int(i): tuple(col[k] for col in columns.values()) for k, i in enumerate(index)}
    prov = values_dataset(harvest, rows, Schema(tuple(columns), {}, {}), {}, {})
    return cast("xr.Dataset", prov.reindex({n: ds.coords[n].values for n in names}))


def values_dataset(
    harvest: Harvest, outputs: dict[int, Any], schema: Any, constants: Any, attrs: Any
) -> xr.Dataset:
    """Assemble a Harvest into the Dataset ``run_combos`` / ``run_cases`` would have given."""
    sown = harvest.sown
    names = sown.arg_names
    if sown.is_grid:
        combos = sown.decoded_combos()
        total = sown.plan.num_cases
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
        results = [outputs[i] for i in index]
        ds = build_dataset(results, names, rows, schema, constants, attrs)
        labelled = outputs_are_labelled(schema, results[0])
        return cast(
            "xr.Dataset",
            reindex_with_gaps(ds, {n: np.asarray(v) for n, v in combos.items()}, labelled),
        )
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
    import pandas as pd  # deferred: a reap into a Dataset never needs pandas

    sown = harvest.sown
    names = list(sown.arg_names)
    index = sorted(harvest.outputs)
    if sown.is_grid:
        combos = list(sown.decoded_combos().values())
        shape = [len(v) for v in combos]
        rows = [
            tuple(combos[k][j] for k, j in enumerate(np.unravel_index(i, shape))) for i in index
        ]
    else:
        rows = [harvest.rows[i] for i in index]
    table: dict[str, Any] = {n: [r[k] for r in rows] for k, n in enumerate(names)}
    extra = {**sown.recorded_constants(), **sown.decoded_attrs()}
    table.update({k: [v] * len(rows) for k, v in extra.items()})
    var_names = sown.var_names
    results = [harvest.outputs[i] for i in index]
    if var_names is None:
        keys = list(results[0]) if results else []
        table.update({k: [r.get(k) for r in results] for k in keys})
    else:
        columns = split_outputs(results, tuple(var_names), names, rows)
        table.update({v: list(c) for v, c in zip(var_names, columns)})
    return pd.DataFrame(table)


def delete_crop(layout: CropLayout) -> None:
    """Remove a crop folder (under the crop's lock: never while it is sown or reaped)."""
    # the lock file is not removed here: its holder removes it on release
    with storage.locked(layout.crop_lock):
        layout.remove_folder()


def _target(
    farmer: Farmer | None, layout: CropLayout, sown: Manifest, into: str | None = None
) -> tuple[str, str | None, str]:
    if into is not None:
        return "harvester", into, "h5netcdf"
    if farmer is not None:
        target = farmer.reap_target
        return target.kind, target.data_name, target.engine
    record = sown.farmer
    if record is not None and record.has_file:
        return record.kind, record.data_path(layout.parent_dir), str(record.engine)
    return "dataset", None, ""


def deliver(
    farmer: Farmer | None,
    layout: CropLayout,
    harvest: Harvest,
    sown: Manifest,
    *,
    sync: bool,
    overwrite: bool | None,
    provenance: str | bool = "beside",
    into: str | None = None,
) -> tuple[Any, xr.Dataset | None]:
    """Hand the harvest to the farmer (or file ``into``); return what the reap returns and
    the provenance of the cases reaped (None unless ``provenance="beside"``)."""
    kind, data_name, engine = _target(farmer, layout, sown, into)
    if kind == "sampler":
        table = to_table(harvest)
        if farmer is not None:
            farmer.take_reaped(table, None, sync=sync, overwrite=overwrite)
        elif data_name is not None:
            append_to_file(data_name, table, engine=engine)
        return table, None
    ds = to_dataset(harvest, provenance=provenance == "in")
    prov = provenance_dataset(harvest, ds) if provenance == "beside" else None
    if kind == "harvester":
        if farmer is not None and into is None:
            # the Harvester's full dataset takes it; the reap returns this crop's data, as
            # xyzpy's does (a loop reaping several crops into one file gets each one's)
            farmer.take_reaped(ds, prov, sync=sync, overwrite=overwrite)
            return ds, prov
        assert data_name is not None
        return merge_into_file(data_name, ds, overwrite, engine=engine, provenance=prov), prov
    if kind == "runner" and farmer is not None:
        farmer.take_reaped(ds, prov, sync=sync, overwrite=overwrite)
    return ds, prov


def delivered(farmer: Farmer | None) -> Any:
    """All the results ``farmer`` holds (None without a farmer)."""
    return farmer.delivered() if farmer is not None else None


def without_provenance(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the :data:`PROVENANCE` variables of ``reap(provenance="in")``."""
    return cast("xr.Dataset", ds.drop_vars([v for v in PROVENANCE if v in ds.variables]))
