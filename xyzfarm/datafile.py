"""Reading and writing datasets and dataframes, always atomically.

Unlike xyzpy, xyzfarm writes exactly the path it is given: ``save_ds(ds, "data")`` creates
``data``, not ``data.h5``. When reading a name that does not exist, the name xyzpy would have
written (``data.h5`` etc.) is tried too, with a warning, so files made by xyzpy keep loading.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from . import storage
from .errors import DataFileError, EngineError

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]

#: dataset engines that write a single file, and the extension xyzpy used for each
DS_ENGINES = {"h5netcdf": ".h5", "netcdf4": ".nc", "scipy": ".nc"}
#: dataframe engines
DF_ENGINES = ("pickle", "csv", "json", "hdf", "parquet")


def _check_ds_engine(engine: str) -> str:
    if engine not in DS_ENGINES:
        raise EngineError(
            f"dataset engine {engine!r} is not supported; use one of {sorted(DS_ENGINES)} "
            "(each writes a single file that can be replaced atomically)."
        )
    return engine


def resolve_existing(path: PathLike, engine: str) -> Path:
    """``path`` if it exists, else the extended name xyzpy would have used, if that exists."""
    p = Path(path)
    if p.exists():
        return p
    legacy = p.with_name(p.name + DS_ENGINES.get(engine, ""))
    if legacy != p and legacy.exists():
        warnings.warn(
            f"{os.fspath(p)!r} does not exist but {os.fspath(legacy)!r} does (xyzpy appends an "
            "extension); reading that. xyzfarm writes exactly the name given: rename the file "
            "or pass its full name.",
            stacklevel=3,
        )
        return legacy
    return p


def _netcdf_safe_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    # netCDF attributes hold numbers, strings and arrays of them; say the rest as text
    safe = {}
    for key, val in attrs.items():
        if val is None or isinstance(val, (bool, np.bool_)) or callable(val):
            safe[key] = str(val)
        elif isinstance(val, (dict, set, frozenset)) or (
            isinstance(val, (list, tuple))
            and not all(
                isinstance(v, (int, float, str, np.number)) and not isinstance(v, bool) for v in val
            )
        ):
            safe[key] = repr(val)
        else:
            safe[key] = val
    return safe


def save_ds(ds: xr.Dataset, file_name: PathLike, engine: str = "h5netcdf", **kwargs: Any) -> None:
    """Save a Dataset to ``file_name`` atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    ds : xarray.Dataset
        The data; not modified (attributes netCDF cannot hold are written as text).
    file_name : path-like
        Exactly where to write: no extension is added.
    engine : {'h5netcdf', 'netcdf4', 'scipy'}, optional
        The netCDF writer.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_netcdf`.
    """
    _check_ds_engine(engine)
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset()
    out = ds.copy(deep=False)
    out.attrs = _netcdf_safe_attrs(dict(ds.attrs))
    if engine == "h5netcdf" and any(v.dtype.kind in "cb" for v in out.variables.values()):
        # complex and bool are valid HDF5 but outside the netCDF-4 spec: allow them explicitly
        kwargs.setdefault("invalid_netcdf", True)
    with storage.atomic_path(file_name) as tmp:
        out.to_netcdf(tmp, engine=engine, **kwargs)


def load_ds(
    file_name: PathLike,
    engine: str = "h5netcdf",
    load_to_mem: bool | None = None,
    create_new: bool = False,
    chunks: Any = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Load a Dataset saved by :func:`save_ds` (or by xyzpy).

    Parameters
    ----------
    file_name : path-like
        The file; if absent, xyzpy's extended name (e.g. ``name.h5``) is tried.
    engine : {'h5netcdf', 'netcdf4', 'scipy'}, optional
        The netCDF reader.
    load_to_mem : bool, optional
        Read everything into memory and close the file; default True unless ``chunks``.
    create_new : bool, optional
        Return an empty Dataset if there is no file (instead of raising).
    chunks : int or dict, optional
        Open lazily with dask chunks.
    **kwargs
        Passed to :func:`xarray.open_dataset`.

    Raises
    ------
    FileNotFoundError
        If there is no such file and ``create_new`` is False.
    DataFileError
        If the file exists but cannot be read.
    """
    _check_ds_engine(engine)
    if load_to_mem and chunks is not None:
        raise DataFileError("load_ds: chunks and load_to_mem=True ask for opposite things.")
    path = resolve_existing(file_name, engine)
    if not path.exists():
        if create_new:
            return xr.Dataset()
        raise FileNotFoundError(f"no dataset file at {os.fspath(file_name)!r}.")
    try:
        ds = xr.open_dataset(path, engine=engine, chunks=chunks, **kwargs)
        if load_to_mem or (load_to_mem is None and chunks is None):
            ds.load()
            ds.close()
    except (OSError, ValueError, KeyError) as exc:
        raise DataFileError(
            f"cannot read the dataset file {os.fspath(path)!r} ({type(exc).__name__}: {exc}); "
            f"it may be truncated or not a {engine} file. A previous version may be at "
            f"{os.fspath(path)!r}{storage.BACKUP_SUFFIX!r}."
        ) from exc
    return ds


def _check_df_engine(engine: str) -> str:
    if engine not in DF_ENGINES:
        raise EngineError(
            f"dataframe engine {engine!r} is not supported; use one of {list(DF_ENGINES)}."
        )
    return engine


def save_df(
    df: pd.DataFrame, name: PathLike, engine: str = "pickle", key: str = "df", **kwargs: Any
) -> None:
    """Save a DataFrame to ``name`` atomically.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    name : path-like
        Exactly where to write.
    engine : {'pickle', 'csv', 'json', 'hdf', 'parquet'}, optional
        The pandas writer (``hdf`` needs PyTables, ``parquet`` pyarrow or fastparquet).
    key : str, optional
        The HDF5 group for ``engine='hdf'``.
    **kwargs
        Passed to the pandas writer.
    """
    _check_df_engine(engine)
    if engine == "hdf":
        kwargs["key"] = key
    if engine == "csv":
        kwargs.setdefault("index", False)
    if engine == "json":
        kwargs.setdefault("orient", "table")
    with storage.atomic_path(name) as tmp:
        getattr(df, f"to_{engine}")(tmp, **kwargs)


def load_df(name: PathLike, engine: str = "pickle", key: str = "df", **kwargs: Any) -> pd.DataFrame:
    """Load a DataFrame saved by :func:`save_df`.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    DataFileError
        If the file exists but cannot be read.
    """
    import pandas as pd

    _check_df_engine(engine)
    if engine == "hdf":
        kwargs["key"] = key
    if engine == "json":
        kwargs.setdefault("orient", "table")
    if not Path(name).exists():
        raise FileNotFoundError(f"no dataframe file at {os.fspath(name)!r}.")
    try:
        df: pd.DataFrame = getattr(pd, f"read_{engine}")(name, **kwargs)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFileError(
            f"cannot read the dataframe file {os.fspath(name)!r} ({type(exc).__name__}: {exc})."
        ) from exc
    return df
