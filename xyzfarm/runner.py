"""Labelled functions: :class:`Runner` (:func:`xyzfarm.label` makes them: see ``labelling``).

A Runner knows a function's named outputs and runs it over combos or cases in this process
(serially, or through an executor), returning an :class:`xarray.Dataset`. The module-level
runners live in :mod:`xyzfarm.sweep.run` and are re-exported here, as in xyzpy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from .crop.farmer import ReapTarget
from .errors import InvalidInputError
from .store import storage
from .store.datafile import check_writable_folder
from .sweep.arguments import fn_arg_names
from .sweep.assemble import Schema, check_schema
from .sweep.combos import make_sweep
from .sweep.run import (  # noqa: F401 - re-exported: xyzpy has them beside Runner
    RUNNER_SETTINGS,
    as_mapping,
    case_runner,
    case_runner_to_ds,
    check_settings,
    combo_runner,
    combo_runner_to_ds,
    run_to_ds,
    sweep,
)

if TYPE_CHECKING:
    import xarray as xr


def _mapping_property(attr: str, doc: str) -> Any:
    """A mapping attribute, as xyzpy's: set from any mapping, read as a dict, deleted to None."""

    def get(self: Any) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", getattr(self, attr))

    def set_(self: Any, value: Mapping[str, Any] | None) -> None:
        setattr(self, attr, as_mapping(value, attr.lstrip("_")))

    def delete(self: Any) -> None:
        setattr(self, attr, None)

    return property(get, set_, delete, doc)


class CropMaker:
    """Gives Runner, Harvester and Sampler xyzpy's ``.Crop(...)`` factory, and what a crop asks
    of its farmer that they share (see :class:`xyzfarm.crop.farmer.Farmer`)."""

    def expand_combos(self, combos: Mapping[str, Any]) -> Mapping[str, Any]:
        """``combos`` as given: only a Harvester fills in ``...`` values (from its file)."""
        return combos

    def check_fits(self, arg_names: Sequence[str]) -> None:
        """Refuse a sweep over ``arg_names`` whose results could not be kept: only a
        Harvester's file can refuse one (see :meth:`Harvester.check_fits`)."""
        del arg_names

    def Crop(
        self,
        name: str | None = None,
        parent_dir: str | None = None,
        save_fn: bool | None = None,
        batchsize: int | None = None,
        num_batches: int | None = None,
    ) -> Any:
        """A :class:`~xyzfarm.Crop` with this object as its farmer.

        Reaping it sets a Runner's ``last_ds``, merges into a Harvester's file, or appends to
        a Sampler's table.
        """
        # deferred: a Runner used in-process never loads the crop machinery
        from .crop.crop import Crop

        return Crop(
            farmer=self,
            name=name,
            parent_dir=parent_dir,
            save_fn=save_fn,
            batchsize=batchsize,
            num_batches=num_batches,
        )


class Farmer(CropMaker):
    """What Harvester and Sampler share: a wrapped Runner and a lockable data file."""

    runner: Runner
    data_name: str | None

    @property
    def fn(self) -> Any:
        """The labelled function."""
        return self.runner.fn

    @fn.setter
    def fn(self, fn: Any) -> None:
        self.runner.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.runner.fn(*args, **kwargs)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        if self.data_name is None:
            return contextlib.nullcontext()
        # a lock file that cannot be created would be waited for, for ever
        check_writable_folder(self.data_name)
        return storage.locked(self.data_name)


class Runner(CropMaker):
    """A function with named outputs, ready to be swept over combos or cases.

    Parameters
    ----------
    fn : callable
        Function that produces a single instance of a result.
    var_names : str, sequence of str, or None
        Ordered name(s) of the outputs of ``fn``; None if ``fn`` returns dicts, Datasets or
        DataArrays that carry their own names.
    fn_args : str or sequence of str, optional
        Ordered names of the inputs of ``fn``; only needed for tuple cases (taken from the
        signature otherwise).
    var_dims : mapping, optional
        Each output's own named dimensions; may name constants.
    var_coords : mapping, optional
        The coordinate values of those dimensions.
    constants : mapping, optional
        Arguments given to every call; saved as coordinates when used as ``var_dims``,
        otherwise as attributes.
    resources : mapping, optional
        Like constants, but never saved (e.g. large objects).
    attrs : mapping, optional
        Extra attributes saved with the dataset.
    **default_runner_settings
        Defaults for every run (``parallel``, ``num_workers``, ``executor``, ``verbosity``,
        ``shuffle``).

    Examples
    --------
    >>> r = Runner(lambda x, y: (x + y, x - y), var_names=["sum", "diff"])
    >>> ds = r.run_combos({"x": [1, 2], "y": [10, 20, 30]}, verbosity=0)
    >>> ds["sum"].shape
    (2, 3)
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        var_names: str | Sequence[str] | None,
        fn_args: str | Sequence[str] | None = None,
        var_dims: Mapping[str, Any] | None = None,
        var_coords: Mapping[str, Any] | None = None,
        constants: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        **default_runner_settings: Any,
    ) -> None:
        if not callable(fn):
            raise InvalidInputError(f"fn must be callable, got {fn!r}.")
        self.fn = fn
        # each part is kept as given (normalised), so they can be set one at a time as in
        # xyzpy; they are checked against each other whenever the schema is used
        schema = check_schema(var_names, var_dims, var_coords)
        self._var_names: tuple[str, ...] | None = schema.var_names
        self._var_dims: dict[str, tuple[str, ...]] | None = schema.var_dims
        self._var_coords: dict[str, list[Any]] | None = schema.var_coords
        self.fn_args = fn_args
        self._constants: dict[str, Any] | None = as_mapping(constants, "constants")
        self._resources: dict[str, Any] | None = as_mapping(resources, "resources")
        self._attrs = as_mapping(attrs, "attrs")
        self.default_runner_settings = check_settings(default_runner_settings)
        self._last_ds: xr.Dataset | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    # -- described attributes, validated on every set ----------------------------------------

    @property
    def fn_args(self) -> tuple[str, ...] | None:
        """Ordered input names of ``fn``."""
        return self._fn_args

    @fn_args.setter
    def fn_args(self, fn_args: str | Sequence[str] | None) -> None:
        if fn_args is None:
            self._fn_args = fn_arg_names(self.fn)
        else:
            self._fn_args = (fn_args,) if isinstance(fn_args, str) else tuple(fn_args)

    @fn_args.deleter
    def fn_args(self) -> None:
        self._fn_args = None

    @property
    def var_names(self) -> tuple[str, ...] | None:
        """Ordered output names of ``fn`` (None: outputs are self-labelled)."""
        return self._var_names

    @var_names.setter
    def var_names(self, var_names: str | Sequence[str] | None) -> None:
        self._var_names = check_schema(var_names, None, None).var_names

    @var_names.deleter
    def var_names(self) -> None:
        self._var_names = None

    @property
    def var_dims(self) -> dict[str, tuple[str, ...]] | None:
        """Each output's own dimensions (outputs without any map to ``()``); None if deleted."""
        if self._var_dims is None:
            return None
        names = self._var_names or ()
        return {**{v: () for v in names}, **self._var_dims}

    @var_dims.setter
    def var_dims(self, var_dims: Any) -> None:
        # checked against the current var_names, as xyzpy does
        self._var_dims = check_schema(self._var_names, var_dims, None).var_dims

    @var_dims.deleter
    def var_dims(self) -> None:
        self._var_dims = None

    @property
    def var_coords(self) -> dict[str, list[Any]] | None:
        """Coordinates of the outputs' own dimensions; None if deleted."""
        return None if self._var_coords is None else dict(self._var_coords)

    @var_coords.setter
    def var_coords(self, var_coords: Mapping[str, Any] | None) -> None:
        self._var_coords = check_schema(None, None, var_coords).var_coords

    @var_coords.deleter
    def var_coords(self) -> None:
        self._var_coords = None

    constants = _mapping_property(
        "_constants", "Arguments given to every call and saved with the data."
    )
    resources = _mapping_property("_resources", "Arguments given to every call and never saved.")

    @property
    def attrs(self) -> dict[str, Any]:
        """Extra attributes saved with every dataset."""
        return self._attrs

    @property
    def schema(self) -> Schema:
        """The output description as one object, its parts checked against each other.

        Raises
        ------
        InvalidInputError
            If ``var_dims`` names an output that ``var_names`` (set since) does not have.
        """
        return check_schema(self._var_names, self._var_dims, self._var_coords)

    @property
    def last_ds(self) -> xr.Dataset | None:
        """The Dataset of the last run."""
        return self._last_ds

    #: (last_ds, its provenance) as a reap of a crop of this Runner delivered them
    _reaped_provenance: tuple[xr.Dataset, xr.Dataset | None] | None = None

    # -- as a crop's farmer (xyzfarm.crop.farmer.Farmer) --------------------------------------

    @property
    def runner(self) -> Runner:
        """This Runner: a Runner is its own labelled function."""
        return self

    @property
    def reap_target(self) -> ReapTarget:
        """A reap of a crop of this Runner sets :attr:`last_ds`."""
        return ReapTarget("runner")

    def take_reaped(
        self, reaped: xr.Dataset, provenance: xr.Dataset | None, *, sync: bool, overwrite: Any
    ) -> xr.Dataset:
        """Keep a crop's reaped Dataset as :attr:`last_ds` (with its provenance); return it."""
        del sync, overwrite  # nothing on disk
        self._last_ds = reaped
        self._reaped_provenance = (reaped, provenance)
        return reaped

    def delivered(self) -> xr.Dataset | None:
        """The results this Runner holds: :attr:`last_ds`."""
        return self.last_ds

    @property
    def last_provenance(self) -> xr.Dataset | None:
        """Where and how each case of :attr:`last_ds` was computed, when a crop's reap gave it.

        None when ``last_ds`` comes from running here (``run_combos``, ``run_cases``) or was
        reaped with ``provenance`` other than ``'beside'``.
        """
        held = self._reaped_provenance
        return held[1] if held is not None and held[0] is self._last_ds else None

    # -- running ------------------------------------------------------------------------------

    def _settings(self, runner_settings: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.default_runner_settings, **check_settings(runner_settings)}

    def run_combos(
        self, combos: Mapping[str, Iterable[Any]], constants: Any = (), **runner_settings: Any
    ) -> xr.Dataset:
        """Run every combination of ``combos`` and return (and keep as ``last_ds``) a Dataset.

        Parameters
        ----------
        combos : mapping of str to sequence, or sequence of (name, values) pairs
            Values of each argument; every combination is run.
        constants : mapping, optional
            Extra constants for this run only, taking precedence over the stored ones.
        **runner_settings
            ``parallel``, ``num_workers``, ``executor``, ``verbosity``, ``shuffle``; and
            ``cases``: explicit partial cases, each combined with every point of ``combos``.
        """
        cases = runner_settings.pop("cases", None)
        self._last_ds = run_to_ds(
            self.fn,
            make_sweep(combos, cases),
            self.schema,
            {**(self._constants or {}), **as_mapping(constants, "constants")},
            self._resources or {},
            self._attrs,
            self._settings(runner_settings),
        )
        return self._last_ds

    def run_cases(
        self,
        cases: Iterable[Any],
        constants: Any = (),
        fn_args: str | Sequence[str] | None = None,
        **runner_settings: Any,
    ) -> xr.Dataset:
        """Run explicit cases and return (and keep as ``last_ds``) a Dataset.

        Parameters
        ----------
        cases : sequence of mappings or tuples
            The cases; tuples follow ``fn_args``.
        constants : mapping, optional
            Extra constants for this run only.
        fn_args : sequence of str, optional
            Names for tuple cases (default: the Runner's ``fn_args``).
        **runner_settings
            As for :meth:`run_combos`.
        """
        fn_args = self._fn_args if fn_args is None else fn_args
        fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
        self._last_ds = run_to_ds(
            self.fn,
            make_sweep(None, cases, fn_args),
            self.schema,
            {**(self._constants or {}), **as_mapping(constants, "constants")},
            self._resources or {},
            self._attrs,
            self._settings(runner_settings),
        )
        return self._last_ds

    def __repr__(self) -> str:
        lines = ["<xyzfarm.Runner>", f"    fn: {self.fn}"]
        if self.fn_args is not None:
            lines.append(f"    fn_args: {self.fn_args}")
        lines.append(f"    var_names: {self.var_names}")
        lines.append(f"    var_dims: {self.var_dims}")
        if self._var_coords:
            lines.append(f"    var_coords: {list(self._var_coords)}")
        if self.constants:
            lines.append(f"    constants: {list(self.constants)}")
        if self.resources:
            lines.append(f"    resources: {list(self.resources)}")
        if self._last_ds is not None:
            lines.append(f"    last_ds: {dict(self._last_ds.sizes)}")
        return "\n".join(lines)
