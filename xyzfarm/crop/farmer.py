"""What a crop asks of its farmer: the protocol that Runner, Harvester and Sampler implement.

The farmers sit above the crop layer (they make crops: ``runner.Crop(...)``), so a crop never
imports or type-tests them: it reads the labelled function through :attr:`Farmer.runner`, asks
where reaped results go with :attr:`Farmer.reap_target`, and hands them over with
:meth:`Farmer.take_reaped`. A crop found by name gets back the farmer it was sown for through
:func:`rebuild_farmer`, which the layer above fills (:func:`set_rebuild`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

    from ..folder.manifest import Manifest
    from ..sweep.assemble import Schema


@dataclass(frozen=True)
class ReapTarget:
    """Where a farmer keeps reaped results.

    ``kind`` is ``"runner"`` (in memory: its ``last_ds``), ``"harvester"`` (a Dataset, merged
    into the file ``data_name`` if any) or ``"sampler"`` (rows of a table, appended to the file
    ``data_name`` if any); ``engine`` is the file's.
    """

    kind: str
    data_name: str | None = None
    engine: str = ""


class Labelled(Protocol):
    """The labelled function a farmer wraps (a Runner): what a crop sows and checks."""

    @property
    def fn(self) -> Callable[..., Any]: ...

    @property
    def fn_args(self) -> tuple[str, ...] | None: ...

    @property
    def var_names(self) -> tuple[str, ...] | None: ...

    @property
    def var_dims(self) -> dict[str, tuple[str, ...]] | None: ...

    @property
    def var_coords(self) -> dict[str, list[Any]] | None: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def constants(self) -> dict[str, Any] | None: ...

    @property
    def resources(self) -> dict[str, Any] | None: ...

    @property
    def attrs(self) -> dict[str, Any]: ...


@runtime_checkable
class Farmer(Protocol):
    """A crop's farmer: Runner, Harvester or Sampler."""

    @property
    def runner(self) -> Labelled:
        """The labelled function (a Runner is its own)."""
        ...

    @property
    def reap_target(self) -> ReapTarget:
        """Where reaped results go."""
        ...

    def expand_combos(self, combos: Mapping[str, Any]) -> Mapping[str, Any]:
        """``combos`` with ``...`` values filled in from the farmer's data, where it has any."""
        ...

    def check_fits(self, arg_names: Sequence[str]) -> None:
        """Refuse, before anything is sown, a sweep whose results the farmer could not keep."""
        ...

    def take_reaped(
        self,
        reaped: Any,
        provenance: xr.Dataset | None,
        *,
        sync: bool,
        overwrite: bool | None,
    ) -> Any:
        """Keep ``reaped`` (a Dataset, or a table for a Sampler); return what the reap returns."""
        ...

    def delivered(self) -> Any:
        """All the results the farmer holds (full dataset or table, or last Dataset)."""
        ...


class Sampling(Farmer, Protocol):
    """A farmer that draws cases at random (a Sampler)."""

    def gen_cases_fnargs(
        self, n: int, combos: Mapping[str, Any] | None = None
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]: ...

    def add_df(self, table: Any, sync: bool = True) -> None: ...


def runner_of(farmer: Any) -> Labelled | None:
    """The labelled function of ``farmer`` (None for no farmer).

    Raises
    ------
    InvalidInputError
        If ``farmer`` is not a Runner, Harvester or Sampler.
    """
    if farmer is None:
        return None
    if isinstance(farmer, Farmer):
        return farmer.runner
    raise InvalidInputError(f"farmer must be a Runner, Harvester or Sampler, got {farmer!r}.")


def as_sampler(farmer: Any) -> Sampling | None:
    """``farmer`` if it is a Sampler (a farmer of the ``"sampler"`` kind), else None."""
    if isinstance(farmer, Farmer) and farmer.reap_target.kind == "sampler":
        return farmer  # type: ignore[return-value]  # the one farmer of that kind: a Sampler
    return None


#: builds the farmer a crop was sown for: (its function, its manifest, the farmer's file)
Rebuild = Callable[[Callable[..., Any], "Manifest", "str | None"], Farmer]
#: the one registered rebuild (the farmers' constructors sit above this layer)
_rebuild: list[Rebuild] = []


def set_rebuild(rebuild: Rebuild) -> None:
    """Register how a crop found by name rebuilds its farmer: ``xyzfarm.labelling`` does, when
    imported (``xyzfarm.Crop`` and ``xyzfarm.load_crops`` import it first)."""
    _rebuild[:] = [rebuild]


def rebuild_farmer(fn: Callable[..., Any], sown: Manifest, data_name: str | None) -> Farmer | None:
    """The farmer ``sown`` records, around ``fn``; None while no rebuild is registered (a crop
    found by name then reaps by its manifest's record alone, into the same place)."""
    return _rebuild[0](fn, sown, data_name) if _rebuild else None
