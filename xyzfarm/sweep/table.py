"""A sweep's raw results as a table: one row per case (arguments, constants, attrs, outputs).

What xyzpy's ``*_to_df`` runners and ``*_to_ds(..., to_df=True)`` give: a DataFrame rather
than a labelled Dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from .assemble import check_schema, split_outputs
from .combos import Case

if TYPE_CHECKING:
    import pandas as pd


def results_table(
    names: Sequence[str],
    rows: Sequence[Case],
    results: Sequence[Any],
    var_names: Any,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """One row per case: its arguments, the constants and attrs, then its outputs.

    Outputs without ``var_names`` are read from each result's keys (dicts).
    """
    # deferred: pandas is only needed when a table is asked for
    import pandas as pd

    table: dict[str, Any] = {n: [r[k] for r in rows] for k, n in enumerate(names)}
    # constants and attrs repeat on every row: a table has no other place for them
    table.update({k: [v] * len(rows) for k, v in {**constants, **dict(attrs or {})}.items()})
    schema = check_schema(var_names, None, None)
    if schema.var_names is None:
        keys = list(dict.fromkeys(k for r in results for k in dict(r)))
        table.update({k: [dict(r).get(k) for r in results] for k in keys})
    else:
        columns = split_outputs(list(results), schema.var_names, tuple(names), rows)
        table.update({v: list(c) for v, c in zip(schema.var_names, columns)})
    return cast("pd.DataFrame", pd.DataFrame(table))
