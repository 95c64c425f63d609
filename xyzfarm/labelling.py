"""Making farmers from a function and the labels of its outputs.

:func:`label` decorates a function into a Runner, Harvester or Sampler; :func:`cultivate`
labels one into a Harvester and cultivates it; :func:`farmer_from_record` gives a crop found by
name the farmer it was sown for. This module sits above the three farmers, so none of them
imports another to be made (the layers are in docs/architecture.md); importing it registers
:func:`farmer_from_record` with the crop layer (:func:`xyzfarm.crop.farmer.set_rebuild`), and
``xyzfarm.Crop`` / ``xyzfarm.load_crops`` import it first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .crop import farmer
from .crop.sow import schema_from_json
from .cultivation import cultivate_harvester
from .errors import InvalidInputError
from .folder.manifest import Manifest
from .harvester import Harvester
from .runner import Runner
from .sampler import Sampler


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
            data_name = harvester if isinstance(harvester, str) else None
            return Harvester(runner, data_name=data_name, engine=engine or "h5netcdf")
        if sampler:
            data_name = sampler if isinstance(sampler, str) else None
            return Sampler(runner, data_name=data_name, engine=engine or "pickle")
        return runner

    return wrapper


def cultivate(
    fn: Callable[..., Any],
    *,
    var_names: Any = None,
    data_name: str | None = None,
    runner_opts: Mapping[str, Any] | None = None,
    harvester_opts: Mapping[str, Any] | None = None,
    **cultivate_opts: Any,
) -> Any:
    """Label ``fn``, then sow, grow and reap the missing cases of a sweep in one call.

    Parameters
    ----------
    fn : callable
        The function; a Runner (or labelled function) is used as it is.
    var_names : str, sequence of str or None
        Output names when ``fn`` is a plain function.
    data_name : str, optional
        The dataset file to merge into (without it the result lives only in memory).
    runner_opts, harvester_opts : mapping, optional
        Keyword arguments for :class:`Runner` and :class:`Harvester`.
    **cultivate_opts
        Everything :meth:`Harvester.cultivate` takes: ``combos``, ``cases``, ``constants``,
        ``name``, ``parent_dir``, ``batchsize``, ``num_batches``, ``missing_only``,
        ``shuffle``, ``subprocess``, ``num_workers``, ``num_threads``, ``gpus``,
        ``affinities``, ``log``, ``raise_errors``, ``verbosity``, ``on_existing``,
        ``on_error``, ``clean_up`` and further grow options.

    Returns
    -------
    xarray.Dataset
        The full dataset after reaping.
    """
    runner = fn if isinstance(fn, Runner) else Runner(fn, var_names, **dict(runner_opts or {}))
    harvester = Harvester(runner, data_name=data_name, **dict(harvester_opts or {}))
    return cultivate_harvester(harvester, **cultivate_opts)


def farmer_from_record(fn: Callable[..., Any], sown: Manifest, data_name: str | None) -> Any:
    """The Runner, Harvester or Sampler a crop was sown for, around its function ``fn``.

    ``sown`` is the crop's manifest (its ``farmer`` record is not None); ``data_name`` the
    Harvester's or Sampler's file, as a path from here.
    """
    schema = schema_from_json(sown.schema)
    runner = Runner(
        fn,
        schema.var_names,
        var_dims=schema.var_dims,
        var_coords=schema.var_coords,
        constants=sown.recorded_constants(),
        attrs=sown.decoded_attrs(),
    )
    record = sown.farmer
    if record is not None and record.has_file:
        kind = Harvester if record.kind == "harvester" else Sampler
        return kind(runner, data_name=data_name, engine=str(record.engine))
    return runner


farmer.set_rebuild(farmer_from_record)
