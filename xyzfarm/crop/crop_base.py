"""What every part of a Crop shares: its identity, its manifest, and its state on disk."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import CropIncompleteError, InvalidInputError, XyzfarmError
from ..folder.display import SHOWN_FAILURES, crop_html
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..folder.results import ResultIndex
from ..folder.state import CropStatus, crop_status
from ..sweep.nested import nan_like
from . import grow as growing
from .crop_farmer import check_parent_dir, farmer_from_disk, unwrap_labelled
from .efficiency import EfficiencyReport, efficiency_report
from .farmer import Labelled, runner_of

if TYPE_CHECKING:
    import xarray as xr


class CropBase:
    """A crop's folder, function and farmer; the growing and reaping mixins build on it.

    See :class:`~xyzfarm.crop.crop.Crop` for the parameters.
    """

    def __init__(
        self,
        *,
        fn: Any = None,
        name: str | None = None,
        parent_dir: str | os.PathLike[str] | None = None,
        save_fn: bool | None = None,
        batchsize: int | None = None,
        num_batches: int | None = None,
        shuffle: bool | int = False,
        farmer: Any = None,
        autoload: bool = True,
    ) -> None:
        del autoload
        fn, farmer = unwrap_labelled(fn, farmer)
        runner = runner_of(farmer)
        if fn is None and runner is not None:
            fn = runner.fn
        if name is None:
            name = getattr(fn, "__name__", None)
            if name is None or name == "<lambda>":
                raise InvalidInputError("give the crop a name: its function has none to borrow.")
        if save_fn and fn is None:
            raise InvalidInputError("save_fn=True needs a function to save.")
        self.layout = CropLayout(name, parent_dir)
        check_parent_dir(self.layout.parent_dir)
        self._fn = fn
        if farmer is None and fn is None:
            # as xyzpy, a crop found by name brings back what it was sown for
            farmer = farmer_from_disk(self.layout)
            if farmer is not None:
                self._fn = farmer.fn
        self.farmer = farmer
        self.save_fn = save_fn is not False
        # what to sow with; once sown, the properties give the sown plan instead
        self._batchsize = batchsize
        self._num_batches = num_batches
        self.shuffle = shuffle
        #: where and how each case of the last reap was computed (``reap(provenance="beside")``)
        self.provenance: xr.Dataset | None = None

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def location(self) -> str:
        """The crop folder."""
        return str(self.layout.root)

    @property
    def parent_dir(self) -> str:
        return str(self.layout.parent_dir)

    @property
    def runner(self) -> Labelled | None:
        return runner_of(self.farmer)

    @property
    def fn(self) -> Any:
        return self._fn

    @fn.setter
    def fn(self, fn: Any) -> None:
        self._fn = fn

    @property
    def num_batches(self) -> int | None:
        """Number of batches: the sown plan's once sown (as xyzpy), else the number asked for."""
        if self.is_prepared():
            return self._manifest().plan.num_batches
        return self._num_batches

    @num_batches.setter
    def num_batches(self, value: int | None) -> None:
        self._num_batches = value

    @property
    def batchsize(self) -> int | None:
        """Cases per batch (the largest batch once sown, as xyzpy), else the size asked for."""
        if self.is_prepared():
            return self._manifest().plan.largest_batch
        return self._batchsize

    @batchsize.setter
    def batchsize(self, value: int | None) -> None:
        self._batchsize = value

    def is_prepared(self) -> bool:
        """Whether the crop has been sown."""
        return self.layout.exists()

    def _manifest(self) -> Manifest:
        return Manifest.read(self.layout)

    # -- state -------------------------------------------------------------------------------

    @property
    def num_sown_batches(self) -> int:
        """Number of batches sown (-1 if not sown)."""
        return self._manifest().plan.num_batches if self.is_prepared() else -1

    @property
    def num_results(self) -> int:
        """Number of batches with a result (-1 if not sown, as xyzpy)."""
        return len(self.completed_results()) if self.is_prepared() else -1

    @property
    def all_nan_result(self) -> Any:
        """A stand-in for a missing result: the first finished result's shape, all NaN.

        Raises
        ------
        CropIncompleteError
            If no batch has finished yet (there is no result to take the shape from).
        """
        if self.is_prepared():
            index = ResultIndex(self.layout, sowing=self._manifest().sowing_id).refresh()
            for batch in sorted(index.done()):
                with contextlib.suppress(KeyError):
                    return nan_like(index.load(batch)["outputs"][0])
        raise CropIncompleteError(
            f"the crop {self.name!r} has no finished batch to infer an all-NaN result from; "
            "grow at least one batch first (crop.grow(1))."
        )

    def completed_results(self) -> tuple[int, ...]:
        """Ids of batches with an intact result."""
        if not self.is_prepared():
            return ()
        sown = self._manifest()
        total = sown.plan.num_batches
        done = ResultIndex(self.layout, sowing=sown.sowing_id).refresh().done()
        return tuple(sorted(b for b in done if 1 <= b <= total))

    def missing_results(self) -> tuple[int, ...]:
        """Ids of batches without an intact result."""
        return tuple(growing.missing_batches(self.layout, self.num_sown_batches))

    def status(self) -> CropStatus:
        """Counts of done / failed / running / missing batches, from the folder's files."""
        return crop_status(self.layout)

    def report(self) -> EfficiencyReport:
        """What the grown batches used against what their tasks asked for, like ``seff`` per
        case and for the whole crop: distributions of wall, CPU and peak memory, CPU
        efficiency, flags for requests far above use, and a suggested next request.

        Returns
        -------
        xyzfarm.crop.efficiency.EfficiencyReport
            ``print`` it, or ``.to_dict()``; ``.suggested`` holds ``mem_gb``, ``walltime`` and
            ``cpus_per_task`` to pass as resources to the next ``grow(scheduler=...)``.
        """
        if not self.is_prepared():
            self.layout.check_not_orphaned()
        return efficiency_report(self.layout)

    def is_ready_to_reap(self) -> bool:
        """Whether every batch has a result."""
        return self.is_prepared() and not self.missing_results()

    def __repr__(self) -> str:
        state = str(self.status()) if self.is_prepared() else "not sown"
        return f"<xyzfarm.Crop {self.name!r} at {self.location}: {state}>"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """In a notebook: progress, failures with their last error line, folder, next step."""
        if not self.is_prepared():
            return crop_html(self.name, self.location, None)
        try:
            status = self.status()
        except (XyzfarmError, OSError) as exc:  # a damaged folder: say so, where, and why
            return crop_html(self.name, self.location, None, problem=exc)
        errors = {b: status.last_error(b) for b in status.failed_ids[:SHOWN_FAILURES]}
        return crop_html(self.name, self.location, status, errors)
