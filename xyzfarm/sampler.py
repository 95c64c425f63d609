"""The Sampler: run a Runner on randomly drawn cases and keep all results in one table.

Like the Harvester, every read-modify-write of the on-disk table happens under a file lock and
every save is atomic, so parallel samplers appending to one file lose nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .crop.farmer import ReapTarget
from .errors import ComboValueError, InvalidInputError, OutputMismatchError
from .runner import Farmer, Runner
from .store import storage
from .store.datafile import load_df, save_df
from .store.full_data import append_to_file as append_to_file
from .store.full_data import concat_rows
from .sweep.assemble import split_outputs
from .sweep.combos import as_combos
from .sweep.run import check_settings, sweep

if TYPE_CHECKING:
    import pandas as pd


class Sampler(Farmer):
    """Sample a :class:`Runner` at random combinations and collect a :class:`pandas.DataFrame`.

    Parameters
    ----------
    runner : Runner
        The labelled function.
    data_name : path-like, optional
        The file holding the full table (written exactly under this name).
    default_combos : mapping or sequence of (name, values) pairs, optional
        For each argument, the values to draw from (or a callable returning a random value).
    full_df : pandas.DataFrame, optional
        Start from this table instead of the file.
    engine : {'pickle', 'csv', 'json', 'hdf', 'parquet'}, optional
        How the table is stored.
    """

    def __init__(
        self,
        runner: Runner,
        data_name: str | os.PathLike[str] | None = None,
        default_combos: Mapping[str, Any] | None = None,
        full_df: pd.DataFrame | None = None,
        engine: str = "pickle",
    ) -> None:
        if not isinstance(runner, Runner):
            raise InvalidInputError(f"Sampler needs a Runner (e.g. from @label), got {runner!r}.")
        self.runner = runner
        self.data_name = None if data_name is None else os.fspath(data_name)
        self.default_combos = as_combos(default_combos)
        self._full_df = full_df
        self._last_df: pd.DataFrame | None = None
        self.engine = engine or "pickle"

    def _read_disk(self, engine: str) -> pd.DataFrame | None:
        assert self.data_name is not None
        if not Path(self.data_name).exists():
            return None
        return load_df(self.data_name, engine=engine)

    def load_full_df(self, engine: str | None = None) -> None:
        """Load the on-disk table into :attr:`full_df` (nothing happens without a file)."""
        if self.data_name is None:
            return
        with self._lock():
            df = self._read_disk(engine or self.engine)
        if df is not None:
            self._full_df = df

    @property
    def full_df(self) -> pd.DataFrame | None:
        """Every sample taken so far (loaded from disk on first use)."""
        if self._full_df is None:
            self.load_full_df()
        return self._full_df

    # -- as a crop's farmer (xyzfarm.crop.farmer.Farmer) --------------------------------------

    @property
    def reap_target(self) -> ReapTarget:
        """A reap of a crop of this Sampler appends rows to its table (and file)."""
        return ReapTarget("sampler", self.data_name, self.engine)

    def take_reaped(
        self, reaped: pd.DataFrame, provenance: Any, *, sync: bool, overwrite: Any
    ) -> pd.DataFrame:
        """Append a crop's reaped rows as a sample run would; return them."""
        del provenance, overwrite  # a table keeps no provenance; rows are only appended
        self._last_df = reaped  # as a sample run's: the rows of this reap only
        self.add_df(reaped, sync=sync)
        return reaped

    def delivered(self) -> pd.DataFrame | None:
        """The results this Sampler holds: :attr:`full_df`."""
        return self.full_df

    @property
    def last_df(self) -> pd.DataFrame | None:
        """The samples of the last run only."""
        return self._last_df

    def save_full_df(
        self, new_full_df: pd.DataFrame | None = None, engine: str | None = None
    ) -> None:
        """Write the full table (or ``new_full_df``, which becomes it) to disk atomically."""
        if self.data_name is None:
            raise InvalidInputError(
                "this Sampler has no data_name, so there is no file to save to."
            )
        df = self._full_df if new_full_df is None else new_full_df
        if df is None:
            raise InvalidInputError("there is no table to save yet; sample something first.")
        with self._lock():
            storage.keep_backup(self.data_name)
            save_df(df, self.data_name, engine=engine or self.engine)
        self._full_df = df

    def delete_df(self, backup: bool = False) -> None:
        """Delete the on-disk table, optionally keeping a time-stamped copy first."""
        if self.data_name is None:
            return
        with self._lock():
            path = Path(self.data_name)
            if backup and path.exists():
                shutil.copy2(path, f"{path}.BAK-{datetime.datetime.now():%Y%m%d-%H%M%S}")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._full_df = None

    def add_df(
        self, new_df: pd.DataFrame | Mapping[str, Any], sync: bool = True, engine: str | None = None
    ) -> None:
        """Append rows to the full table (and, with ``sync``, to the file, under its lock)."""
        import pandas as pd

        table = new_df if isinstance(new_df, pd.DataFrame) else pd.DataFrame(new_df)
        engine = engine or self.engine
        if not (sync and self.data_name is not None):
            self._full_df = concat_rows(self._full_df, table)
            return
        self._full_df = append_to_file(self.data_name, table, engine=engine)

    def gen_cases_fnargs(
        self, n: int, combos: Mapping[str, Any] | None = None
    ) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
        """Draw ``n`` random cases: ``(arg_names, cases)``.

        Each value is drawn uniformly (``numpy.random``, so ``np.random.seed`` makes it
        repeatable) from its sequence, or is the result of calling it if it is callable.
        """
        merged = {**self.default_combos, **as_combos(combos)}
        if not merged:
            raise InvalidInputError("nothing to sample from: give combos or default_combos.")
        for name, values in merged.items():
            if not callable(values) and (
                isinstance(values, (str, bytes)) or np.ndim(values) != 1 or len(values) == 0
            ):
                raise ComboValueError(
                    f"combos[{name!r}] is {values!r}: give a non-empty sequence to draw from, "
                    "or a callable returning a random value."
                )
        pickers = [
            values if callable(values) else _picker(list(values)) for values in merged.values()
        ]
        cases = tuple(tuple(pick() for pick in pickers) for _ in range(int(n)))
        return tuple(merged), cases

    def sample_combos(
        self,
        n: int,
        combos: Mapping[str, Any] | None = None,
        engine: str | None = None,
        **case_runner_settings: Any,
    ) -> pd.DataFrame:
        """Run ``n`` randomly drawn cases; append them to the table and return them.

        The table has one row per sample: a column per argument, then one per output.
        """
        import pandas as pd

        names, cases = self.gen_cases_fnargs(n, combos)
        runner = self.runner
        settings = {**runner.default_runner_settings, **check_settings(case_runner_settings)}
        constants = runner.constants or {}
        results = sweep(runner.fn, names, cases, constants, runner.resources or {}, settings)
        var_names = runner.var_names
        # columns: sampled arguments, constants, attrs (each repeated per row), outputs
        data: dict[str, Any] = {n: [c[i] for c in cases] for i, n in enumerate(names)}
        data.update({k: [v] * len(cases) for k, v in {**constants, **runner.attrs}.items()})
        if var_names is None:
            for r in results:
                if not isinstance(r, Mapping):
                    raise OutputMismatchError(
                        f"with var_names=None the function must return dicts, got {r!r}."
                    )
            keys = list(results[0]) if results else []
            data.update({k: [r.get(k) for r in results] for k in keys})
        else:
            columns = split_outputs(results, var_names, names, cases)
            data.update({v: list(col) for v, col in zip(var_names, columns)})
        table = pd.DataFrame(data)
        self._last_df = table
        self.add_df(table, engine=engine)
        return cast("pd.DataFrame", table)

    def __repr__(self) -> str:
        where = self.data_name if self.data_name is not None else "(in memory)"
        rows = "" if self._full_df is None else f"\n    full_df: {len(self._full_df)} rows"
        runner = repr(self.runner).replace("\n", "\n    ")
        head = f"<xyzfarm.Sampler>\n    data_name: {where}\n    engine: {self.engine}"
        return f"{head}\n    runner: {runner}{rows}"


def _picker(values: list[Any]) -> Any:
    n = len(values)
    return lambda: values[np.random.randint(n)]
