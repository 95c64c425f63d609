"""Small edits and checks of labelled data, as xyzpy's ``trimna``, ``sort_dims``, ``post_fix``,
``auto_xyz_ds`` and ``check_runs``."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import xarray as xr

from ..errors import InvalidInputError

XarrayT = TypeVar("XarrayT", xr.Dataset, xr.DataArray)


def trimna(obj: XarrayT) -> XarrayT:
    """``obj`` without the coordinate values, along every dim, where everything is NaN."""
    trimmed: XarrayT = obj.copy()
    for dim in obj.dims:
        trimmed = trimmed.dropna(dim, how="all")
    return trimmed


def sort_dims(ds: xr.Dataset) -> None:
    """Reorder every variable's dims, in place, to follow the order of ``ds.dims``."""
    order = tuple(ds.dims)
    for var in list(ds.data_vars):
        ds[var] = ds[var].transpose(*(d for d in order if d in ds[var].dims))


def post_fix(ds: xr.Dataset, postfix: str) -> xr.Dataset:
    """``ds`` with ``"_<postfix>"`` appended to the name of every data variable."""
    return cast("xr.Dataset", ds.rename({v: f"{v}_{postfix}" for v in ds.data_vars}))


def auto_xyz_ds(x: Any, y_z: Any = None) -> xr.Dataset:
    """Arrays as a Dataset for plotting: ``y`` over ``(z, x)``, transposed if need be.

    Parameters
    ----------
    x : array_like
        The x values (or, without ``y_z``, the data itself, as variable ``x``).
    y_z : array_like, optional
        The y values, possibly one series per z; whichever axis matches ``x`` is taken as x.
    """
    x = np.asarray(x)
    if y_z is None:
        dims = ["yzwvu"[i] for i in range(x.ndim)]
        return xr.Dataset({"x": (dims, x)})
    y = np.array(np.squeeze(y_z), ndmin=2)
    if np.size(x) == y.shape[0]:
        y = y.T
    if x.ndim == 2:
        return xr.Dataset({"y": (["z", "_x"], y), "x": (["z", "_x"], x)})
    return xr.Dataset({"y": (["z", "x"], y)}, coords={"x": x, "z": np.arange(y.shape[0])})


def check_runs(
    obj: xr.Dataset | xr.DataArray, dim: str = "run", var: str | None = None, sel: Any = ()
) -> None:
    """Print the range of an integer dim where there is data, and the gaps in it.

    Parameters
    ----------
    obj : Dataset or DataArray
        The data.
    dim : str
        The integer dimension (default ``"run"``).
    var : str, optional
        Look at this variable only.
    sel : mapping, optional
        Select these coordinates first.

    Raises
    ------
    InvalidInputError
        If ``dim`` is not of integers.
    """
    try:
        if sel:
            obj = obj.loc[dict(sel)]
        if var:
            obj = obj[var]
        values = trimna(obj).dropna(dim, how="all")[dim].values  # type: ignore[type-var]
    except KeyError:
        print("* NO DATA *")
        return
    if values.size == 0:
        print("* NO DATA *")
        return
    if not np.issubdtype(values.dtype, np.integer):
        raise InvalidInputError(
            f"check_runs needs an integer dimension; {dim!r} is {values.dtype}."
        )
    gaps = values[1:] != values[:-1] + 1
    missing = list(zip((values[:-1][gaps] + 1).tolist(), values[1:][gaps].tolist()))
    msg = f"RANGE:  {values.min():>7} -> {values.max() + 1:<7} | TOTAL:  {len(values):^7}"
    if missing:
        msg += f" | MISSING: {missing}"
    print(msg)
