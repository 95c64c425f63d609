"""A crop's results without a farmer's labels: xyzpy's ``reap_combos`` and ``reap_combos_to_ds``.

A crop sown from a bare function (no Runner) reaps, as in xyzpy, into the nested tuples
:func:`~xyzfarm.combo_runner` would have returned; ``reap_combos_to_ds`` labels the same raw
outputs at reap time with the ``var_names`` / ``var_dims`` given then. Results are read and
proven by :func:`xyzfarm.crop.reap.read_results`, exactly as for any other reap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import CropIncompleteError
from ..folder.layout import CropLayout
from ..sweep.assemble import Schema
from ..sweep.combos import iter_combos
from ..sweep.nested import grid_axes, nan_like, nest
from . import reap as reaping


def missing_stand_in(harvest: reaping.Harvest, layout: CropLayout) -> Any:
    """NaN shaped like the first finished result, for cases that have none (as xyzpy)."""
    if not harvest.outputs:
        raise CropIncompleteError(
            f"the crop {layout.name!r} has no finished case to take the shape of a missing "
            "result from; grow at least one batch (crop.grow(1)) before reaping incomplete."
        )
    return nan_like(harvest.outputs[min(harvest.outputs)])


def nested_results(harvest: reaping.Harvest, layout: CropLayout) -> Any:
    """The raw outputs as nested tuples: one level per argument, NaN where a case is missing.

    Combos crops nest over their combos in the sown order; cases crops over the sorted values
    each argument takes across the cases (the dense grid of ``combo_runner(cases=...)``).
    """
    sown = harvest.sown
    outputs = harvest.outputs
    fill = missing_stand_in(harvest, layout) if not harvest.complete else None
    store: dict[tuple[Any, ...], Any] = {}
    if sown.is_grid:
        combos = sown.decoded_combos()
        for i, row in enumerate(iter_combos(combos)):
            if i in outputs:
                store[row] = outputs[i]
        return nest(store, [list(v) for v in combos.values()], fill)
    rows: list[tuple[Any, ...]] = []
    cases = reaping.BatchCases(layout, sown)
    try:
        for batch in range(1, cases.num_batches + 1):
            indices, spec_rows = cases.spec(batch)
            for i, row in zip(indices, spec_rows or ()):
                rows.append(tuple(row))
                if i in outputs:
                    store[tuple(row)] = outputs[i]
    finally:
        cases.close()
    return nest(store, grid_axes(sown.arg_names, rows, {}), fill)


def labelled_dataset(
    harvest: reaping.Harvest,
    schema: Schema,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any],
) -> Any:
    """The raw outputs labelled with ``schema``, as ``combo_runner_to_ds`` would have."""
    return reaping.values_dataset(harvest, harvest.outputs, schema, dict(constants), dict(attrs))


def labelled_table(harvest: reaping.Harvest, schema: Schema) -> Any:
    """The raw outputs as a DataFrame, one row per case, labelled with ``schema``."""
    relabelled = reaping.Harvest(
        harvest.sown.relabelled(schema.var_names),
        harvest.outputs,
        harvest.rows,
        harvest.batches,
        harvest.missing,
        num_cells=harvest.num_cells,
    )
    return reaping.to_table(relabelled)
