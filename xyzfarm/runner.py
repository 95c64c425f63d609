"""Labelled functions: :func:`label`, :class:`Runner`, and the module-level sweep functions.

A Runner knows a function's named outputs and runs it over combos or cases in this process
(serially, or through an executor), returning an :class:`xarray.Dataset`.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import execute, storage
from .arguments import check_arguments, fn_arg_names
from .assemble import Schema, build_dataset, check_schema
from .combos import Case, check_cases, check_combos, iter_combos, product_with_cases
from .errors import InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

#: settings a sweep accepts, with xyzpy's meaning
RUNNER_SETTINGS = ("parallel", "num_workers", "executor", "verbosity", "shuffle", "desc")


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(RUNNER_SETTINGS))
    if unknown:
        raise InvalidInputError(
            f"unknown runner setting(s) {unknown}; the settings are {list(RUNNER_SETTINGS)}."
        )
    return dict(settings)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{what} must be a mapping of names to values, got {value!r}."
        ) from None


def sweep(
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: Sequence[Case],
    constants: Mapping[str, Any],
    resources: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> list[Any]:
    """Check the call, then run ``fn`` on every case (honouring ``shuffle``); raw results."""
    check_arguments(
        fn, {"the swept arguments": names, "constants": constants, "resources": resources}
    )
    fixed = {**constants, **resources}
    order = list(range(len(rows)))
    shuffle = settings.get("shuffle")
    if shuffle:
        # shuffling balances load between workers; results come back in case order. An int
        # is a seed (True is seed 1, as in xyzpy), but the global random state is left alone
        random.Random(int(shuffle)).shuffle(order)
        shuffled = [rows[i] for i in order]
    else:
        shuffled = list(rows)
    results = execute.run(
        fn,
        names,
        shuffled,
        fixed,
        executor=settings.get("executor"),
        num_workers=settings.get("num_workers"),
        parallel=bool(settings.get("parallel", False)),
        verbosity=int(settings.get("verbosity", 1)),
        desc=settings.get("desc"),
    )
    if settings.get("shuffle"):
        unshuffled: list[Any] = [None] * len(rows)
        for i, r in zip(order, results):
            unshuffled[i] = r
        results = unshuffled
    return results


def _nest(flat: list[Any], shape: Sequence[int]) -> list[Any]:
    if len(shape) <= 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def combo_runner(
    fn: Callable[..., Any],
    combos: Mapping[str, Iterable[Any]] | None = None,
    *,
    cases: Iterable[Mapping[str, Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    split: bool = False,
    flat: bool = False,
    shuffle: bool = False,
    parallel: bool = False,
    executor: Any = None,
    num_workers: int | None = None,
    verbosity: int = 1,
    desc: str | None = None,
) -> Any:
    """Evaluate ``fn`` over every combination of ``combos`` and return the raw results.

    Parameters
    ----------
    fn : callable
        The function, called with keyword arguments.
    combos : mapping of str to sequence
        Values of each argument; every combination is run (last argument varies fastest).
    cases : sequence of mappings, optional
        Explicit partial cases, each combined with every point of ``combos``.
    constants : mapping, optional
        Arguments passed unchanged to every call.
    split : bool, optional
        If ``fn`` returns a tuple, return one nested list per output instead.
    flat : bool, optional
        Return a flat list in case order instead of nested lists.
    shuffle : bool, optional
        Run the cases in random order (results keep their place).
    parallel, executor, num_workers, verbosity, desc
        How to run: see :func:`xyzfarm.execute.run`.

    Returns
    -------
    list
        Nested lists with one level per argument (cases first, then combos), or a flat list.
    """
    checked = check_combos(combos or {})
    if cases is not None:
        case_names, case_rows = check_cases(cases)
        names, rows = product_with_cases(case_names, case_rows, checked)
        shape: list[int] = [len(case_rows)] + [len(v) for v in checked.values()]
    else:
        names, rows = tuple(checked), list(iter_combos(checked))
        shape = [len(v) for v in checked.values()]
    settings = dict(
        shuffle=shuffle,
        parallel=parallel,
        executor=executor,
        num_workers=num_workers,
        verbosity=verbosity,
        desc=desc,
    )
    results = sweep(fn, names, rows, _mapping(constants, "constants"), {}, settings)
    if split:
        outputs = list(zip(*results)) if results else []
        return tuple(list(o) if flat else _nest(list(o), shape) for o in outputs)
    return results if flat else _nest(results, shape)


def case_runner(
    fn: Callable[..., Any],
    fn_args: str | Sequence[str] | None,
    cases: Iterable[Any],
    combos: Mapping[str, Iterable[Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    split: bool = False,
    shuffle: bool = False,
    parse: bool = True,
    parallel: bool = False,
    executor: Any = None,
    num_workers: int | None = None,
    verbosity: int = 1,
) -> tuple[Any, ...]:
    """Evaluate ``fn`` on each case and return the raw results as a tuple, in case order.

    Parameters
    ----------
    fn : callable
        The function.
    fn_args : str or sequence of str, optional
        Names of the values of tuple cases (not needed for mapping cases).
    cases : sequence of mappings or tuples
        The cases to run.
    combos : mapping, optional
        Run every case combined with every point of these combos (results nested per case).
    constants : mapping, optional
        Arguments passed unchanged to every call.
    split : bool, optional
        Return one tuple per output instead of one tuple of outputs per case.
    shuffle, parse, parallel, executor, num_workers, verbosity
        See :func:`combo_runner`; ``parse`` is accepted for compatibility.
    """
    del parse  # inputs are always validated
    fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
    names, rows = check_cases(cases, fn_args)
    settings = dict(
        shuffle=shuffle,
        parallel=parallel,
        executor=executor,
        num_workers=num_workers,
        verbosity=verbosity,
    )
    consts = _mapping(constants, "constants")
    if combos:
        checked = check_combos(combos)
        all_names, all_rows = product_with_cases(names, rows, checked)
        flat = sweep(fn, all_names, all_rows, consts, {}, settings)
        shape = [len(v) for v in checked.values()]
        per = len(flat) // len(rows)
        results: list[Any] = [_nest(flat[i * per : (i + 1) * per], shape) for i in range(len(rows))]
    else:
        results = sweep(fn, names, rows, consts, {}, settings)
    if split:
        return tuple(zip(*results))
    return tuple(results)


def _run_to_ds(
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: Sequence[Case],
    schema: Schema,
    constants: Mapping[str, Any],
    resources: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]] | None,
) -> xr.Dataset:
    with execute.paused_gc():
        results = sweep(fn, names, rows, constants, resources, check_settings(settings))
        return build_dataset(results, names, rows, schema, constants, attrs, grid)


def combo_runner_to_ds(
    fn: Callable[..., Any],
    combos: Mapping[str, Iterable[Any]] | None,
    var_names: str | Sequence[str] | None,
    *,
    var_dims: Mapping[str, Any] | None = None,
    var_coords: Mapping[str, Any] | None = None,
    cases: Iterable[Mapping[str, Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    **runner_settings: Any,
) -> xr.Dataset:
    """Evaluate ``fn`` over all combinations of ``combos`` and label the results as a Dataset.

    The Dataset has one variable per output name, with the combos' arguments as leading
    dimensions (in the given order) followed by the output's own ``var_dims``.
    Constants naming a dimension become its coordinate, other constants become attributes;
    resources are passed to ``fn`` but never stored. See :func:`combo_runner` for settings.
    """
    schema = check_schema(var_names, var_dims, var_coords)
    checked = check_combos(combos or {})
    if cases is not None:
        case_names, case_rows = check_cases(cases)
        names, rows = product_with_cases(case_names, case_rows, checked)
        grid = None
    else:
        names, rows, grid = tuple(checked), list(iter_combos(checked)), checked
    return _run_to_ds(
        fn,
        names,
        rows,
        schema,
        _mapping(constants, "constants"),
        _mapping(resources, "resources"),
        attrs,
        runner_settings,
        grid,
    )


def case_runner_to_ds(
    fn: Callable[..., Any],
    fn_args: str | Sequence[str] | None,
    cases: Iterable[Any],
    var_names: str | Sequence[str] | None,
    var_dims: Mapping[str, Any] | None = None,
    var_coords: Mapping[str, Any] | None = None,
    combos: Mapping[str, Iterable[Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    **runner_settings: Any,
) -> xr.Dataset:
    """Evaluate ``fn`` on each case and label the results as a Dataset.

    The Dataset's coordinates are the sorted unique values each argument takes across the
    cases; points of that grid no case covers hold the missing value (NaN, with integer and
    boolean outputs promoted to float).
    """
    schema = check_schema(var_names, var_dims, var_coords)
    fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
    runner_settings.pop("parse", None)
    names, rows = check_cases(cases, fn_args)
    if combos:
        names, rows = product_with_cases(names, rows, check_combos(combos))
    return _run_to_ds(
        fn,
        names,
        rows,
        schema,
        _mapping(constants, "constants"),
        _mapping(resources, "resources"),
        attrs,
        runner_settings,
        None,
    )


def _mapping_property(attr: str, doc: str) -> Any:
    """A validated mapping attribute: set from any mapping (or None), deleted to empty."""

    def get(self: Any) -> dict[str, Any]:
        return getattr(self, attr)

    def set_(self: Any, value: Mapping[str, Any] | None) -> None:
        setattr(self, attr, _mapping(value, attr.lstrip("_")))

    def delete(self: Any) -> None:
        setattr(self, attr, {})

    return property(get, set_, delete, doc)


class CropMaker:
    """Gives Runner, Harvester and Sampler xyzpy's ``.Crop(...)`` factory."""

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
        from .crop import Crop

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
        self._schema = check_schema(var_names, var_dims, var_coords)
        self.fn_args = fn_args
        self._constants = _mapping(constants, "constants")
        self._resources = _mapping(resources, "resources")
        self._attrs = _mapping(attrs, "attrs")
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
        return self._schema.var_names

    @var_names.setter
    def var_names(self, var_names: str | Sequence[str] | None) -> None:
        self._schema = check_schema(var_names, self._schema.var_dims, self.var_coords)

    @var_names.deleter
    def var_names(self) -> None:
        self._schema = check_schema(None, self._schema.var_dims, self.var_coords)

    @property
    def var_dims(self) -> dict[str, tuple[str, ...]]:
        """Each output's own dimensions (outputs without any map to ``()``)."""
        names = self._schema.var_names or ()
        return {**{v: () for v in names}, **self._schema.var_dims}

    @var_dims.setter
    def var_dims(self, var_dims: Mapping[str, Any] | None) -> None:
        self._schema = check_schema(self.var_names, var_dims, self.var_coords)

    @var_dims.deleter
    def var_dims(self) -> None:
        self._schema = check_schema(self.var_names, None, self.var_coords)

    @property
    def var_coords(self) -> dict[str, list[Any]]:
        """Coordinates of the outputs' own dimensions."""
        return dict(self._schema.var_coords)

    @var_coords.setter
    def var_coords(self, var_coords: Mapping[str, Any] | None) -> None:
        self._schema = check_schema(self.var_names, self._schema.var_dims, var_coords)

    @var_coords.deleter
    def var_coords(self) -> None:
        self._schema = check_schema(self.var_names, self._schema.var_dims, None)

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
        """The output description as one object."""
        return self._schema

    @property
    def last_ds(self) -> xr.Dataset | None:
        """The Dataset of the last run."""
        return self._last_ds

    # -- running ------------------------------------------------------------------------------

    def _settings(self, runner_settings: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.default_runner_settings, **check_settings(runner_settings)}

    def run_combos(
        self, combos: Mapping[str, Iterable[Any]], constants: Any = (), **runner_settings: Any
    ) -> xr.Dataset:
        """Run every combination of ``combos`` and return (and keep as ``last_ds``) a Dataset.

        Parameters
        ----------
        combos : mapping of str to sequence
            Values of each argument; every combination is run.
        constants : mapping, optional
            Extra constants for this run only, taking precedence over the stored ones.
        **runner_settings
            ``parallel``, ``num_workers``, ``executor``, ``verbosity``, ``shuffle``; and
            ``cases``: explicit partial cases, each combined with every point of ``combos``.
        """
        cases = runner_settings.pop("cases", None)
        checked = check_combos(combos)
        grid: dict[str, list[Any]] | None = checked
        if cases is not None:
            names, rows = product_with_cases(*check_cases(cases), checked)
            grid = None
        else:
            names, rows = tuple(checked), list(iter_combos(checked))
        self._last_ds = _run_to_ds(
            self.fn,
            names,
            rows,
            self._schema,
            {**self._constants, **_mapping(constants, "constants")},
            self._resources,
            self._attrs,
            self._settings(runner_settings),
            grid,
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
        names, rows = check_cases(cases, fn_args)
        self._last_ds = _run_to_ds(
            self.fn,
            names,
            rows,
            self._schema,
            {**self._constants, **_mapping(constants, "constants")},
            self._resources,
            self._attrs,
            self._settings(runner_settings),
            None,
        )
        return self._last_ds

    def __repr__(self) -> str:
        lines = ["<xyzfarm.Runner>", f"    fn: {self.fn}"]
        if self.fn_args is not None:
            lines.append(f"    fn_args: {self.fn_args}")
        lines.append(f"    var_names: {self.var_names}")
        lines.append(f"    var_dims: {self.var_dims}")
        if self._schema.var_coords:
            lines.append(f"    var_coords: {list(self._schema.var_coords)}")
        if self.constants:
            lines.append(f"    constants: {list(self.constants)}")
        if self.resources:
            lines.append(f"    resources: {list(self.resources)}")
        if self._last_ds is not None:
            lines.append(f"    last_ds: {dict(self._last_ds.sizes)}")
        return "\n".join(lines)


def label(
    var_names: str | Sequence[str] | None,
    fn_args: str | Sequence[str] | None = None,
    var_dims: Mapping[str, Any] | None = None,
    var_coords: Mapping[str, Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    harvester: bool | str = False,
    sampler: bool | str = False,
    engine: str | None = None,
    **default_runner_settings: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """Decorate a function into a :class:`Runner` (or a Harvester / Sampler).

    Parameters
    ----------
    var_names, fn_args, var_dims, var_coords, constants, resources, attrs
        As for :class:`Runner`.
    harvester : bool or str, optional
        Wrap the Runner in a :class:`~xyzfarm.Harvester`; a string is its ``data_name``.
    sampler : bool or str, optional
        Wrap the Runner in a :class:`~xyzfarm.Sampler`; a string is its ``data_name``.
    engine : str, optional
        File engine of the Harvester or Sampler.
    **default_runner_settings
        Defaults for every run.

    Examples
    --------
    >>> @label(var_names=["sum", "diff"])
    ... def foo(x, y):
    ...     return x + y, x - y
    >>> foo(1, 2)
    (3, -1)
    """
    if harvester and sampler:
        raise InvalidInputError("label() can make a harvester or a sampler, not both.")

    def wrapper(fn: Callable[..., Any]) -> Any:
        runner = Runner(
            fn,
            var_names,
            fn_args=fn_args,
            var_dims=var_dims,
            var_coords=var_coords,
            constants=constants,
            resources=resources,
            attrs=attrs,
            **default_runner_settings,
        )
        functools.update_wrapper(runner, fn, updated=())
        if harvester:
            from .harvester import Harvester

            data_name = harvester if isinstance(harvester, str) else None
            return Harvester(runner, data_name=data_name, engine=engine or "h5netcdf")
        if sampler:
            from .sampler import Sampler

            data_name = sampler if isinstance(sampler, str) else None
            return Sampler(runner, data_name=data_name, engine=engine or "pickle")
        return runner

    return wrapper
