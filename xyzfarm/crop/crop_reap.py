"""Reaping a crop: prove every result, deliver it to the farmer, then clean up if it is safe."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import CropIncompleteError, InvalidInputError, LocationError
from ..folder.manifest import Manifest
from ..folder.results import ResultIndex
from ..store import storage
from ..sweep.assemble import check_schema
from ..sweep.gc_pause import paused_gc
from . import reap as reaping
from .crop_base import CropBase
from .farmer import as_sampler
from .raw_reap import labelled_dataset, labelled_table, nested_results


class CropReaping(CropBase):
    """The reaping half of :class:`~xyzfarm.crop.crop.Crop`."""

    # -- reaping -----------------------------------------------------------------------------

    def _wait(self, timeout_s: float | None, poll_interval_s: float) -> None:
        start = time.monotonic()
        while self.missing_results():
            state = self.status()
            if state.running == 0 and state.failed and state.failed + state.done == state.total:
                return  # nothing left that could finish: reap reports the failures
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                return
            time.sleep(poll_interval_s)

    def reap(
        self,
        wait: bool = False,
        sync: bool = True,
        overwrite: bool | None = None,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        *,
        wait_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
        provenance: str | bool = "beside",
        into: str | os.PathLike[str] | None = None,
    ) -> Any:
        """Merge every result into the farmer and, once it is safe, delete the crop folder.

        With a Harvester the results are merged into its file under its lock and published
        atomically, and this crop's Dataset is returned (as xyzpy does; the Harvester's
        ``full_ds`` has everything); with a Runner they become its ``last_ds``; with a
        Sampler, rows of its table; with no farmer, the Dataset is returned. Two reaps at
        once are serialised; the second finds nothing left and returns the farmer's data.

        Every published value is proven first: each result record must hold exactly its
        batch's cases (a record that does not is marked damaged and its batch grown again),
        and the values placed are counted against the sown cases.

        What is deleted, and when (``clean_up``, default True when nothing is missing):

        * Harvester or Sampler with a file, or ``into=``: the crop folder is deleted only
          after the merged file has been published (written, synced and renamed into place).
        * Runner, a Harvester with ``sync=False``, or no farmer (a crop found by name that
          was sown by a Runner): the results exist only in memory, in the returned Dataset
          (and the Runner's ``last_ds``); the crop folder is deleted when they have been
          handed over, as xyzpy does. Pass ``clean_up=False`` (or ``into=``) to keep them on
          disk.
        * Any batch without a result: the crop folder is kept, whatever ``clean_up`` says
          (with ``clean_up=True`` a warning says so): its missing batches can still be
          grown. :meth:`delete_all` discards a crop on purpose.
        * An error while reading, checking or delivering: nothing is deleted, so the crop
          can simply be reaped again.

        Parameters
        ----------
        wait : bool
            Poll until every batch has a result (or only failed ones remain).
        sync : bool
            With a Harvester: merge into its file (True) or only into memory.
        overwrite : {None, True, False}
            Conflict handling when merging (see :meth:`Harvester.add_ds`).
        clean_up : bool, optional
            Delete the crop folder after reaping (default: when every batch has a result);
            never while a batch is missing.
        allow_incomplete : bool
            Reap what exists: every finished case, including those a failed or interrupted
            batch checkpointed in ``partial/<i>``; cases never finished are NaN. Otherwise a
            crop with any case missing raises :class:`~xyzfarm.errors.CropIncompleteError`
            and nothing is published.
        provenance : {'beside', 'in', False}
            Where to put, for every case, where and how it was computed (the ``xyz_*``
            variables: host, job, task, attempt, restarts, version, start, seconds; see
            :data:`xyzfarm.crop.reap.PROVENANCE`). ``'beside'`` (default; True means the same):
            next to the data, which stays exactly what xyzpy gives: in the data file's
            ``provenance`` group (a Harvester's :attr:`~xyzfarm.Harvester.provenance`), a
            Runner's ``last_provenance``, and this crop's :attr:`provenance`. ``'in'``: as
            variables of the reaped Dataset itself. False: nowhere.
        into : path-like, optional
            Merge into this h5netcdf file instead (under its lock, atomically), whatever the
            crop was sown for; the merged Dataset is returned.

        Raises
        ------
        CropIncompleteError
            If a case has no proven value and ``allow_incomplete`` is False.
        CropFormatError
            If the manifest fails its checks (see :meth:`xyzfarm.folder.manifest.Manifest.read`).
        """
        del verbosity, desc
        provenance = reaping.check_provenance_mode(provenance)
        if self.farmer is None and into is None and not self._sown_for_farmer():
            # sown from a bare function: xyzpy's raw nested results
            return self.reap_combos(
                wait=wait,
                clean_up=clean_up,
                allow_incomplete=allow_incomplete,
                wait_timeout_s=wait_timeout_s,
                poll_interval_s=poll_interval_s,
            )

        def deliver(harvest: reaping.Harvest, sown: Manifest) -> Any:
            out, self.provenance = reaping.deliver(
                self.farmer,
                self.layout,
                harvest,
                sown,
                sync=sync,
                overwrite=overwrite,
                provenance=provenance,
                into=None if into is None else os.fspath(into),
            )
            return out

        return self._reap(
            deliver,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=wait_timeout_s,
            poll_interval_s=poll_interval_s,
        )

    def _sown_for_farmer(self) -> bool:
        return self.is_prepared() and self._manifest().farmer is not None

    def _reap(
        self,
        deliver: Any,
        *,
        wait: bool,
        clean_up: bool | None,
        allow_incomplete: bool,
        wait_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
        raw: bool = False,
    ) -> Any:
        """Read and prove every result, hand them to ``deliver``, then clean up if it is safe.

        ``raw`` reads each output as the function returned it, whatever the crop was sown
        with; a crop that is gone raises then (there is no farmer to hold its data).
        """
        if wait:
            self._wait(wait_timeout_s, poll_interval_s)
        lock: Any = storage.locked(self.layout.crop_lock)
        kept_why = ""
        if self.layout.exists() and not os.access(self.layout.parent_dir, os.W_OK | os.X_OK):
            # a colleague's crop, or a read-only mount: no lock file can be made beside it,
            # nor the folder deleted; reading it (into a file of one's own) needs neither
            if clean_up:
                raise LocationError(
                    f"reaping with clean_up=True deletes the crop folder {self.location!r}, "
                    f"which this user cannot delete (its folder {str(self.layout.parent_dir)!r} "
                    "is not writable here); reap without clean_up (xyzfarm reap --keep), into "
                    "a file of your own, or ask the crop's owner to reap it."
                )
            lock, clean_up = contextlib.nullcontext(), False
            kept_why = f"its folder {str(self.layout.parent_dir)!r} is not writable here"
        with lock:
            if not self.is_prepared():
                self.layout.check_not_orphaned()
                if raw:
                    raise CropIncompleteError(
                        f"no crop at {self.location!r} to reap: it was reaped already or never "
                        "sown."
                    )
                # reaped and cleaned up already (perhaps by a concurrent reaper): the data
                # is where it was delivered, and there is nothing to do twice
                warnings.warn(
                    f"no crop at {self.location!r} to reap: it was reaped already or never sown.",
                    stacklevel=3,
                )
                return reaping.delivered(self.farmer)
            # the reap reads results and then deletes the folder: never through a link
            self.layout.check_no_links()
            sown = self._manifest()
            if raw:
                sown = sown.unlabelled()
            # as run_combos: reading and assembling allocate per case, and the collections
            # that would trigger scan every long-lived object (xarray, pandas) again and again
            with paused_gc():
                harvest = reaping.read_results(self.layout, sown, allow_incomplete=allow_incomplete)
                out = deliver(harvest, sown)
            if harvest.missing and clean_up:
                warnings.warn(
                    f"the crop {self.name!r} was kept at {self.location!r}: "
                    f"{len(harvest.missing)} of its batches have no result and can still be "
                    "grown; delete it on purpose with crop.delete_all().",
                    stacklevel=3,
                )
            elif clean_up if clean_up is not None else harvest.complete:
                reaping.delete_crop(self.layout)
            elif kept_why and harvest.complete:
                warnings.warn(
                    f"the crop {self.name!r} was reaped and kept at {self.location!r}: {kept_why}.",
                    stacklevel=3,
                )
        return out

    def reap_combos(
        self,
        wait: bool = False,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        *,
        wait_timeout_s: float | None = None,
        poll_interval_s: float = 0.5,
    ) -> Any:
        """The raw results as nested tuples, as :func:`~xyzfarm.combo_runner` returns them.

        One nesting level per swept argument; with ``allow_incomplete``, cases without a
        result hold NaN shaped like a finished result (:attr:`all_nan_result`). Cleaning up
        is as for :meth:`reap`.

        Raises
        ------
        CropIncompleteError
            If a case has no result and ``allow_incomplete`` is False, or no case has one.
        """
        del verbosity, desc
        return self._reap(
            lambda harvest, sown: nested_results(harvest, self.layout),
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            wait_timeout_s=wait_timeout_s,
            poll_interval_s=poll_interval_s,
            raw=True,
        )

    def reap_combos_to_ds(
        self,
        var_names: Any = None,
        var_dims: Any = None,
        var_coords: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        parse: bool = True,
        wait: bool = False,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        to_df: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
    ) -> Any:
        """The results labelled now, as :func:`~xyzfarm.combo_runner_to_ds` would label them.

        Parameters
        ----------
        var_names, var_dims, var_coords
            The outputs' description (see :class:`~xyzfarm.Runner`), whatever the crop was
            sown with.
        constants, attrs : mapping, optional
            Saved with the data: constants naming a dimension as its coordinate, the rest
            (and ``attrs``) as attributes.
        to_df : bool
            Return a DataFrame with one row per case instead.
        wait, clean_up, allow_incomplete
            As for :meth:`reap`; missing cases are NaN.
        """
        del parse, verbosity, desc
        schema = check_schema(var_names, var_dims, var_coords)

        def label(harvest: reaping.Harvest, sown: Manifest) -> Any:
            if to_df:
                return labelled_table(harvest, schema)
            return labelled_dataset(harvest, schema, dict(constants or {}), dict(attrs or {}))

        return self._reap(
            label,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            raw=True,
        )

    def reap_runner(
        self,
        runner: Any,
        wait: bool = False,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        to_df: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        **kwargs: Any,
    ) -> Any:
        """The results labelled by ``runner`` (its outputs' description, constants and
        attributes), kept as its ``last_ds`` as xyzpy does; ``to_df`` gives a DataFrame.

        ``kwargs`` go to :meth:`reap_combos_to_ds` (``var_names``... are ``runner``'s).
        """
        del verbosity, desc
        data = self.reap_combos_to_ds(
            var_names=runner.var_names,
            var_dims=runner.var_dims,
            var_coords=runner.var_coords,
            constants=runner.constants,
            attrs=runner.attrs,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            to_df=to_df,
            **kwargs,
        )
        if not to_df:
            runner.take_reaped(data, None, sync=False, overwrite=None)
        return data

    def reap_harvest(
        self,
        harvester: Any,
        wait: bool = False,
        sync: bool = True,
        overwrite: bool | None = None,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
        **kwargs: Any,
    ) -> Any:
        """Merge the results into ``harvester``'s full dataset (its file, under its lock,
        with ``sync``) and return the reaped Dataset, as xyzpy does.

        The crop folder is deleted only once the merged file is published (see :meth:`reap`).
        """
        del verbosity, desc
        if kwargs:
            raise InvalidInputError(
                f"reap_harvest takes no keywords {sorted(kwargs)}: the harvester's Runner "
                "describes the outputs."
            )

        runner = harvester.runner

        def deliver(harvest: reaping.Harvest, sown: Manifest) -> Any:
            # labelled by the harvester's Runner, whatever the crop was sown with
            constants, attrs = dict(runner.constants or {}), dict(runner.attrs)
            ds = labelled_dataset(harvest, runner.schema, constants, attrs)
            self.provenance = reaping.provenance_dataset(harvest, ds)
            harvester.take_reaped(ds, self.provenance, sync=sync, overwrite=overwrite)
            return ds  # this reap's data, as xyzpy returns

        return self._reap(
            deliver,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
            raw=True,
        )

    def reap_samples(
        self,
        sampler: Any = None,
        wait: bool = False,
        sync: bool = True,
        clean_up: bool | None = None,
        allow_incomplete: bool = False,
        verbosity: int = 1,
        desc: str = "Reap",
    ) -> Any:
        """The results as rows of ``sampler``'s table (default the crop's farmer Sampler).

        Returns the new rows as a DataFrame; with ``sync`` they are also appended to the
        Sampler's table (and file).
        """
        del verbosity, desc
        given = self.farmer if sampler is None else sampler
        sampler = as_sampler(given)
        if sampler is None:
            raise InvalidInputError(
                f"reap_samples needs a Sampler (given, or the crop's farmer), got {sampler!r}."
            )

        def deliver(harvest: reaping.Harvest, sown: Manifest) -> Any:
            table = reaping.to_table(harvest)
            if sync:
                sampler.add_df(table, sync=sync)
            return table

        return self._reap(
            deliver,
            wait=wait,
            clean_up=clean_up,
            allow_incomplete=allow_incomplete,
        )

    def delete_all(self) -> None:
        """Delete the crop folder and everything in it."""
        reaping.delete_crop(self.layout)

    def check_bad(self, delete_bad: bool = True) -> tuple[int, ...]:
        """Ids of batches whose every result record is damaged (they count as missing).

        A record is damaged when it fails its checksum or does not hold exactly its batch's
        cases, as reaping checks; such records are listed in ``results/damaged`` and ignored
        from then on, so growing grows their batches again. ``delete_bad`` is accepted for
        xyzpy compatibility.
        """
        del delete_bad
        sown = self._manifest()
        total = sown.plan.num_batches
        index = ResultIndex(self.layout, sowing=sown.sowing_id).refresh()
        for batch in self.completed_results():
            with contextlib.suppress(KeyError):
                index.load(batch)  # also refuses records that do not hold their batch's cases
        return tuple(sorted(b for b in index.damaged() if 1 <= b <= total))
