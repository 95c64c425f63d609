"""The Crop: sow a big sweep into batches on disk, grow them anywhere, reap them into one place.

The crop folder is the truth: whatever grew the batches (this process, a pool of pinned
workers, array jobs on a cluster), done means a result file exists and checks out. Every
phase can be re-run: sowing the same sweep again changes nothing, growing skips finished
batches and resumes interrupted ones from their last finished case, and reaping publishes the
merged data atomically before it removes anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..folder.layout import FOLDER_PREFIX
from ..folder.manifest import Manifest
from ..sweep.assemble import check_schema
from ..sweep.combos import as_combos
from .crop_grow import CropGrowing
from .crop_reap import CropReaping
from .farmer import as_sampler
from .sow import farmer_record, sow


class Crop(CropGrowing, CropReaping):
    """A sweep sown into batches in the folder ``<parent_dir>/.xyz-<name>/``.

    Parameters
    ----------
    fn : callable, optional
        The function to grow (taken from ``farmer`` if not given); its name is the default
        crop name. A labelled function (a Runner) also gives the outputs' description, as
        ``farmer`` would; a farmer describing them otherwise raises
        :class:`~xyzfarm.errors.OutputMismatchError`.
    name : str, optional
        The crop's name; needed if there is no function.
    parent_dir : path-like, optional
        Folder holding the crop folder (default: the current directory).
    save_fn : bool, optional
        Save the function in the crop folder so worker processes and array tasks can load it
        (default: True when there is a function).
    batchsize, num_batches : int, optional
        Target cases per batch, or number of batches (default: one case per batch).
    shuffle : bool or int, optional
        Sow cases in a random (seeded) order, to balance slow and fast cases across batches.
    farmer : Runner, Harvester or Sampler, optional
        Where reaping delivers: the Runner's ``last_ds``, the Harvester's file, the Sampler's
        table. A crop loaded without one reaps into what it was sown for.
    autoload : bool, optional
        Accepted for xyzpy compatibility: an existing crop is always found by its folder.

    Raises
    ------
    InvalidInputError
        If the name is empty, too long for the filesystem, or would escape ``parent_dir``.
    LocationError
        If ``parent_dir`` (or a folder on its way) is a file.
    """

    # -- sowing ------------------------------------------------------------------------------

    def _schema_parts(self, constants: Mapping[str, Any] | None) -> dict[str, Any]:
        runner = self.runner
        given = dict(constants or {})
        own = dict(runner.constants or {}) if runner is not None else {}
        schema = runner.schema if runner is not None else check_schema(None, None, None)
        # as in xyzpy, constants given when sowing reach the function but are not saved with
        # its data (an object constant, a circuit or a model, cannot be an attribute); one
        # that names an output's dimension is still its coordinate
        dims = {d for var_dims in schema.var_dims.values() for d in var_dims}
        return {
            "schema": schema,
            "constants": {**own, **given},
            "unrecorded_constants": tuple(k for k in given if k not in own and k not in dims),
            "resources": (runner.resources or {}) if runner is not None else {},
            "attrs": runner.attrs if runner is not None else {},
        }

    def _sow(
        self,
        *,
        combos: Any,
        cases: Any,
        fn_args: Any,
        constants: Any,
        batchsize: int | None,
        num_batches: int | None,
        shuffle: bool | int,
        unique: bool = True,
    ) -> Manifest:
        batchsize = self._batchsize if batchsize is None else batchsize
        num_batches = self._num_batches if num_batches is None else num_batches
        if batchsize is None and num_batches is None:
            batchsize = 1
        return sow(
            self.layout,
            fn=self._fn,
            combos=combos,
            cases=cases,
            fn_args=fn_args,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=shuffle or self.shuffle,
            save_fn=self.save_fn,
            farmer=farmer_record(self.farmer, self.layout.parent_dir),
            unique=unique,
            check_fits=None if self.farmer is None else self.farmer.check_fits,
            **self._schema_parts(constants),
        )

    def sow_combos(
        self,
        combos: Mapping[str, Any],
        cases: Iterable[Mapping[str, Any]] | None = None,
        constants: Mapping[str, Any] | None = None,
        shuffle: bool | int = False,
        verbosity: int = 1,
        desc: str = "Sow",
        batchsize: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        """Sow every combination of ``combos`` (times any ``cases``) into batches.

        ``...`` as a value takes every value the farmer Harvester's file already has.
        As in xyzpy, the combos are sown sorted by name: the reaped Dataset's swept dims are
        in alphabetical order (``run_combos`` keeps the given order). Sowing the same sweep
        again is a no-op; a different sweep under the same name is refused with
        :class:`~xyzfarm.errors.CropMismatchError`.
        """
        del verbosity, desc
        if self.farmer is not None:
            combos = self.farmer.expand_combos(combos)
        # xyzpy sorts a crop's combos by name, so a reaped crop's dims are alphabetical (unlike
        # run_combos, which keeps the given order): scripts index .values[i, j] and merge into
        # files xyzpy wrote by that order
        combos = dict(sorted(as_combos(combos).items(), key=lambda item: item[0]))
        self._sow(
            combos=combos,
            cases=cases,
            fn_args=None,
            constants=constants,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=shuffle,
        )

    def sow_cases(
        self,
        fn_args: Sequence[str] | str | None,
        cases: Iterable[Any],
        combos: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        verbosity: int = 1,
        batchsize: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        """Sow explicit ``cases`` (tuples follow ``fn_args``), each times any ``combos``."""
        del verbosity
        fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
        if fn_args is None and self.runner is not None:
            fn_args = self.runner.fn_args
        self._sow(
            combos=combos,
            cases=cases,
            fn_args=fn_args,
            constants=constants,
            batchsize=batchsize,
            num_batches=num_batches,
            shuffle=False,
        )

    def sow_samples(
        self,
        n: int,
        combos: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        verbosity: int = 1,
    ) -> None:
        """Sow ``n`` random cases drawn by the farmer Sampler (repeats allowed)."""
        del verbosity
        sampler = as_sampler(self.farmer)
        if sampler is None:
            raise InvalidInputError("sow_samples needs a Sampler as the crop's farmer.")
        fn_args, cases = sampler.gen_cases_fnargs(n, combos)
        self._sow(
            combos=None,
            cases=cases,
            fn_args=fn_args,
            constants=constants,
            batchsize=None,
            num_batches=None,
            shuffle=False,
            unique=False,
        )


def load_crops(directory: str | os.PathLike[str] = ".") -> dict[str, Crop]:
    """Every crop found in ``directory``, by name."""
    crops = {}
    for entry in sorted(Path(directory).iterdir()):
        if entry.name.startswith(FOLDER_PREFIX) and (entry / "crop.json").is_file():
            name = entry.name[len(FOLDER_PREFIX) :]
            crops[name] = Crop(name=name, parent_dir=directory)
    return crops
