"""The Harvester: run a Runner and merge every result into one on-disk dataset.

Every read-modify-write of the file happens under an inter-process file lock, and every save
is atomic (temporary file + ``os.replace``) with the previous version kept as ``<name>.bak``:
several processes may harvest into the same file at once, and a crash at any moment leaves
the old file or the new one, never a broken one.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import xarray as xr

from .crop.farmer import ReapTarget
from .cultivation import cultivate_harvester
from .errors import InvalidInputError
from .runner import Farmer, Runner
from .store.datafile import (
    check_writable_folder,
    load_ds,
    load_provenance,
    resolve_existing,
)
from .store.full_data import merge_into_file as merge_into_file
from .store.full_data import merge_with_provenance, publish
from .store.merge import check_sweep_fits, merge_datasets, merge_provenance, missing_cases
from .sweep.combos import as_combos, check_cases, check_combos, iter_combos, product_with_cases


class Harvester(Farmer):
    """Run a :class:`Runner` and collect all results in a dataset kept on disk.

    Parameters
    ----------
    runner : Runner
        Performs the runs and describes the results.
    data_name : path-like, optional
        The file holding the full dataset, written exactly under this name. Without it the
        full dataset lives only in memory.
    chunks : int or dict, optional
        Open the full dataset lazily with these dask chunks.
    engine : {'h5netcdf', 'netcdf4', 'scipy'}, optional
        The netCDF engine.
    full_ds : xarray.Dataset, optional
        Start from this dataset instead of the file.
    in_place : bool, optional
        Merge results whose coordinates the file already holds by writing them into it
        directly: the cost of the new data instead of the whole file, but *not* atomic (a crash
        mid-write can leave some variables updated and others not). Default False.
    """

    def __init__(
        self,
        runner: Runner,
        data_name: str | os.PathLike[str] | None = None,
        chunks: Any = None,
        engine: str = "h5netcdf",
        full_ds: xr.Dataset | None = None,
        in_place: bool = False,
    ) -> None:
        if not isinstance(runner, Runner):
            raise InvalidInputError(f"Harvester needs a Runner (e.g. from @label), got {runner!r}.")
        self.runner = runner
        self.data_name = None if data_name is None else os.fspath(data_name)
        self.chunks = chunks
        self.engine = engine
        self.in_place = in_place
        self._full_ds = full_ds
        self._provenance: xr.Dataset | None = None

    # -- the wrapped runner -------------------------------------------------------------------

    @property
    def last_ds(self) -> xr.Dataset | None:
        """Dataset of the last run only."""
        return self.runner.last_ds

    # -- the on-disk full dataset ------------------------------------------------------------

    def _read_disk(self, chunks: Any, engine: str) -> xr.Dataset | None:
        assert self.data_name is not None
        path = resolve_existing(self.data_name, engine)
        if not path.exists():
            return None
        return load_ds(path, engine=engine, chunks=chunks)

    def load_full_ds(self, chunks: Any = None, engine: str | None = None) -> None:
        """Load the on-disk dataset into :attr:`full_ds` (nothing happens without a file)."""
        if self.data_name is None:
            return
        engine = engine or self.engine
        chunks = self.chunks if chunks is None else chunks
        with self._lock():
            ds = self._read_disk(chunks, engine)
        if ds is not None:
            self._close()
            self._full_ds = ds
            self._provenance = None  # read again with the file's data when asked for

    def _close(self) -> None:
        if self._full_ds is not None:
            self._full_ds.close()

    @property
    def full_ds(self) -> xr.Dataset | None:
        """Every result harvested so far (loaded from disk on first use)."""
        if self._full_ds is None:
            self.load_full_ds()
        return self._full_ds

    @property
    def provenance(self) -> xr.Dataset | None:
        """Where and how each case of :attr:`full_ds` computed by a crop was computed.

        The ``xyz_*`` variables (see :data:`xyzfarm.crop.reap.PROVENANCE`) over the swept
        dimensions, kept beside the data: in the data file's ``provenance`` group, which
        plain xarray reads with ``xr.open_dataset(data_name, group="provenance")``. Cases
        computed in this process (``harvest_combos``), or reaped with
        ``provenance=False``, have none. None if nothing has any. Read into memory whole,
        even with ``chunks``.
        """
        if self._provenance is None and self.data_name is not None:
            with self._lock():
                self._provenance = load_provenance(self.data_name, self.engine)
        return self._provenance

    def save_full_ds(
        self, new_full_ds: xr.Dataset | None = None, engine: str | None = None
    ) -> None:
        """Write the full dataset (or ``new_full_ds``, which becomes it) to disk atomically.

        The file being replaced is kept as ``<data_name>.bak``.
        """
        if self.data_name is None:
            raise InvalidInputError(
                "this Harvester has no data_name, so there is no file to save to; "
                "create it with Harvester(runner, data_name='results.h5')."
            )
        engine = engine or self.engine
        ds = self._full_ds if new_full_ds is None else new_full_ds
        if ds is None:
            raise InvalidInputError(
                "there is no full dataset to save yet; harvest something first."
            )
        with self._lock():
            described = self._provenance
            if described is None:
                described = load_provenance(self.data_name, engine)
            self._publish(ds, engine, described)

    def _publish(self, ds: xr.Dataset, engine: str, provenance: xr.Dataset | None) -> None:
        assert self.data_name is not None
        publish(ds, self.data_name, engine, provenance)
        self._close()
        self._provenance = provenance  # read whole into memory: it points at no file
        if self.chunks is not None:
            # lazy arrays must point at the new file, never at the replaced one
            self._full_ds = load_ds(self.data_name, engine=engine, chunks=self.chunks)
        else:
            self._full_ds = ds

    def delete_ds(self, backup: bool = False) -> None:
        """Delete the on-disk dataset, optionally keeping a time-stamped copy first."""
        if self.data_name is None:
            return
        with self._lock():
            path = resolve_existing(self.data_name, self.engine)
            if backup and path.exists():
                stamp = f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
                shutil.copy2(path, f"{path}.BAK-{stamp}")
            self._close()
            self._full_ds = None
            self._provenance = None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def add_ds(
        self,
        new_ds: xr.Dataset | xr.DataArray,
        sync: bool = True,
        overwrite: bool | None = None,
        chunks: Any = None,
        engine: str | None = None,
        *,
        provenance: xr.Dataset | None = None,
    ) -> None:
        """Merge ``new_ds`` into the full dataset (and, with ``sync``, into the file).

        Parameters
        ----------
        new_ds : Dataset or DataArray
            The data to merge.
        sync : bool, optional
            Re-read the file, merge and write it back, all under the file lock (default).
        overwrite : {None, True, False}, optional
            None: raise :class:`MergeConflictError` if values differ; True: new values win;
            False: old values win.
        chunks : int or dict, optional
            Dask chunks to open the file with.
        engine : str, optional
            The netCDF engine (default: the Harvester's).
        provenance : xarray.Dataset, optional
            Where and how the cases of ``new_ds`` were computed: merged into
            :attr:`provenance` (a case computed again takes its new description).
        """
        if isinstance(new_ds, xr.DataArray) and new_ds.name is None:
            # what a function returning DataArrays under one var name gives (as in xyzpy)
            names = self.runner.var_names or ()
            if len(names) == 1:
                new_ds = new_ds.rename(names[0])
        new = new_ds.to_dataset() if isinstance(new_ds, xr.DataArray) else new_ds
        engine = engine or self.engine
        chunks = self.chunks if chunks is None else chunks
        if chunks is not None:
            new = new.chunk(chunks)
        if not (sync and self.data_name is not None):
            self._full_ds = merge_datasets(self._full_ds, new, overwrite)
            if provenance is not None:
                self._provenance = merge_provenance(self.provenance, provenance, overwrite)
            return
        merged, described = merge_with_provenance(
            self.data_name,
            new,
            overwrite,
            engine,
            chunks,
            in_place=self.in_place,
            provenance=provenance,
        )
        self._close()
        # read again from the file when asked for if written in place or lazily
        self._provenance = described if chunks is None else None
        if merged is None:
            self._full_ds = None
            return
        self._full_ds = (
            load_ds(self.data_name, engine=engine, chunks=chunks) if chunks is not None else merged
        )

    def _rewrite(self, change: Any, engine: str | None, describe: Any = None) -> None:
        """Apply ``change`` to the full dataset and ``describe`` (default: ``change``) to its
        provenance, and save both."""
        describe = describe or change
        if self.data_name is None:
            if self.full_ds is None:
                raise InvalidInputError("there is no full dataset yet; harvest something first.")
            self._full_ds = change(self.full_ds)
            if self._provenance is not None:
                self._provenance = describe(self._provenance)
            return
        engine = engine or self.engine
        with self._lock():
            on_disk = self._read_disk(self.chunks, engine)
            if on_disk is None:
                raise FileNotFoundError(
                    f"no dataset file at {self.data_name!r}; harvest something first."
                )
            described = load_provenance(self.data_name, engine)
            self._publish(
                change(on_disk), engine, None if described is None else describe(described)
            )

    def expand_dims(self, name: str, value: Any, engine: str | None = None) -> None:
        """Give every variable a new length-1 dimension ``name`` at coordinate ``value``.

        Useful to turn a former constant into a swept argument; synced to disk at once.
        """
        self._rewrite(lambda ds: ds.expand_dims({name: [value]}), engine)

    def drop_sel(
        self,
        labels: Mapping[str, Any] | None = None,
        *,
        errors: str = "raise",
        engine: str | None = None,
        **labels_kwargs: Any,
    ) -> None:
        """Drop coordinate values from the full dataset (see :meth:`xarray.Dataset.drop_sel`).

        Synced to disk at once.
        """
        asked = {**(labels or {}), **labels_kwargs}
        self._rewrite(
            lambda ds: ds.drop_sel(asked, errors=errors),
            engine,
            # provenance has only the swept dims, and may lack values the data has
            lambda prov: prov.drop_sel(
                {d: v for d, v in asked.items() if d in prov.dims}, errors="ignore"
            ),
        )

    # -- harvesting ---------------------------------------------------------------------------

    def _check_location(self, sync: bool) -> None:
        # before computing: a file that can never be written is worth hearing about first
        if sync and self.data_name is not None:
            check_writable_folder(self.data_name)

    # -- as a crop's farmer (xyzfarm.crop.farmer.Farmer) --------------------------------------

    @property
    def reap_target(self) -> ReapTarget:
        """A reap of a crop of this Harvester merges into its file (or its data in memory)."""
        return ReapTarget("harvester", self.data_name, self.engine)

    def expand_combos(self, combos: Mapping[str, Any]) -> Mapping[str, Any]:
        """``combos`` with ``...`` values taking every value this Harvester's file has."""
        return self._maybe_expand_combos(combos)

    def check_fits(self, arg_names: Sequence[str]) -> None:
        """Refuse, before anything runs, a sweep over ``arg_names`` whose results could not
        be merged into this Harvester's full dataset (an output with other dimensions).

        Raises
        ------
        DimensionMismatchError
            Naming the output, both sets of dimensions, the file and the ways out.
        """
        schema = self.runner.schema
        check_sweep_fits(
            self.full_ds,
            arg_names,
            schema.var_names,
            schema.var_dims,
            where=f"the full dataset {self.data_name!r}",
            ways_out=(
                "Sweep the arguments the file has, or keep these results apart: a Harvester "
                "with another data_name, or a crop of the Runner alone (xyz.Crop(fn=runner, "
                "name=...)) reaped elsewhere with crop.reap(into='other.h5') or "
                "`xyzfarm reap NAME --into other.h5`."
            ),
        )

    def take_reaped(
        self,
        reaped: xr.Dataset,
        provenance: xr.Dataset | None,
        *,
        sync: bool,
        overwrite: bool | None,
    ) -> xr.Dataset | None:
        """Merge a crop's reaped Dataset as a harvest would; return the full dataset."""
        self.runner._last_ds = reaped  # as a harvest's: the data of this reap only
        self.add_ds(reaped, sync=sync, overwrite=overwrite, provenance=provenance)
        return self.full_ds

    def delivered(self) -> xr.Dataset | None:
        """The results this Harvester holds: :attr:`full_ds`."""
        return self.full_ds

    def _maybe_expand_combos(self, combos: Any) -> dict[str, Any]:
        expanded = as_combos(combos)
        for name, values in list(expanded.items()):
            if values is ...:
                full = self.full_ds
                if full is None or name not in full.coords:
                    raise InvalidInputError(
                        f"combos[{name!r}] is ... (all existing values), but the full dataset "
                        f"has no coordinate {name!r} yet; give its values explicitly."
                    )
                expanded[name] = list(full.coords[name].values)
        return expanded

    def harvest_combos(
        self,
        combos: Mapping[str, Any],
        *,
        cases: Iterable[Mapping[str, Any]] | None = None,
        missing_only: bool = False,
        sync: bool = True,
        overwrite: bool | None = None,
        chunks: Any = None,
        engine: str | None = None,
        **runner_settings: Any,
    ) -> None:
        """Run ``combos`` and merge the results into the full dataset (and file).

        Parameters
        ----------
        combos : mapping of str to sequence, or sequence of (name, values) pairs
            Values of each argument; ``...`` means every value the full dataset already has.
        cases : sequence of mappings, optional
            Explicit partial cases, each combined with every point of ``combos``.
        missing_only : bool, optional
            Run only the cases the full dataset lacks: see :func:`xyzfarm.store.merge.missing_cases`
            for exactly which those are. Nothing runs if none are missing.
        sync, overwrite, chunks, engine
            As for :meth:`add_ds`.
        **runner_settings
            As for :meth:`Runner.run_combos`.
        """
        self._check_location(sync)
        combos = self._maybe_expand_combos(combos)
        if missing_only:
            checked = check_combos(combos)
            if cases is None:
                names, rows = tuple(checked), list(iter_combos(checked))
            else:
                names, rows = product_with_cases(*check_cases(cases), checked)
            self.check_fits(names)
            todo = missing_cases(self.full_ds, names, rows, self.runner.schema.var_dims)
            if not todo:
                return
            ds = self.runner.run_cases([dict(zip(names, row)) for row in todo], **runner_settings)
        else:
            if cases is None:
                self.check_fits(tuple(as_combos(combos)))
            ds = self.runner.run_combos(combos, cases=cases, **runner_settings)
        self.add_ds(ds, sync=sync, overwrite=overwrite, chunks=chunks, engine=engine)

    def harvest_cases(
        self,
        cases: Iterable[Any],
        *,
        sync: bool = True,
        overwrite: bool | None = None,
        chunks: Any = None,
        engine: str | None = None,
        **runner_settings: Any,
    ) -> None:
        """Run explicit ``cases`` and merge the results into the full dataset (and file)."""
        self._check_location(sync)
        ds = self.runner.run_cases(cases, **runner_settings)
        self.add_ds(ds, sync=sync, overwrite=overwrite, chunks=chunks, engine=engine)

    def cultivate(
        self,
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
        **grow_kwargs: Any,
    ) -> xr.Dataset | None:
        """Sow the missing cases of a sweep into a crop, grow them, and reap them here.

        Parameters
        ----------
        combos, cases, constants
            The sweep, as for :meth:`harvest_combos` (``...`` takes existing values).
        name, parent_dir, batchsize, num_batches, shuffle
            The crop (see :class:`~xyzfarm.Crop`); ``shuffle`` balances load (seeded).
        missing_only : bool
            Sow only the cases the file lacks (see :func:`xyzfarm.store.merge.missing_cases`).
        subprocess, num_workers, num_threads, gpus, affinities, log, raise_errors, verbosity
            How to grow: see :meth:`Crop.grow`.
        on_existing : {'ask', 'reap', 'delete', 'skip', 'raise'}
            When a crop of that name holds a *different* sweep: merge its results and replace
            it, delete it, grow it as it is, or raise. 'ask' prompts on a terminal and
            otherwise takes 'reap', saying so. The same sweep is simply resumed.
        on_error : {'ask', 'reap', 'delete', 'skip', 'raise'}
            When batches fail: merge what succeeded and keep the crop ('reap'), delete it,
            leave it ('skip'), or raise. 'ask' without a terminal takes 'reap'.
        clean_up : bool, optional
            Delete the crop after a complete reap (default True).
        **grow_kwargs
            Further options of :meth:`Crop.grow` (e.g. ``executor``).

        Returns
        -------
        xarray.Dataset
            The full dataset.
        """
        return cast(
            "xr.Dataset | None",
            cultivate_harvester(
                self,
                combos=combos,
                cases=cases,
                constants=constants,
                name=name,
                parent_dir=parent_dir,
                batchsize=batchsize,
                num_batches=num_batches,
                missing_only=missing_only,
                shuffle=shuffle,
                subprocess=subprocess,
                num_workers=num_workers,
                num_threads=num_threads,
                gpus=gpus,
                affinities=affinities,
                log=log,
                raise_errors=raise_errors,
                verbosity=verbosity,
                on_existing=on_existing,
                on_error=on_error,
                clean_up=clean_up,
                **grow_kwargs,
            ),
        )

    def __repr__(self) -> str:
        where = self.data_name if self.data_name is not None else "(in memory)"
        exists = self.data_name is not None and Path(self.data_name).exists()
        note = "" if exists or self.data_name is None else " (not yet written)"
        lines = [
            "<xyzfarm.Harvester>",
            f"    data_name: {where}{note}",
            f"    engine: {self.engine}",
            "    runner: " + repr(self.runner).replace("\n", "\n    "),
        ]
        if self._full_ds is not None:
            lines.append(f"    full_ds: {dict(self._full_ds.sizes)}")
        return "\n".join(lines)
