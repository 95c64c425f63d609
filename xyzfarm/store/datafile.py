"""Reading and writing datasets and dataframes, always atomically.

Unlike xyzpy, xyzfarm writes exactly the path it is given: ``save_ds(ds, "data")`` creates
``data``, not ``data.h5``. When reading a name that does not exist, the name xyzpy would have
written (``data.h5`` etc.) is tried too, with a warning, so files made by xyzpy keep loading.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import xarray as xr

from ..errors import (
    DataFileError,
    EngineError,
    LocationError,
    UnsavableValueError,
)
from . import storage, temps
from .data_errors import FailureAbsorbingFile, read_error, typed_write_errors

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]

#: dataset engines that write a single file, and the extension xyzpy used for each
DS_ENGINES = {"h5netcdf": ".h5", "netcdf4": ".nc", "scipy": ".nc"}
#: dataframe engines
DF_ENGINES = ("pickle", "csv", "json", "hdf", "parquet")
#: the netCDF group beside the data that holds where and how each case was computed
PROVENANCE_GROUP = "provenance"
#: time stamps are stored exactly, in one unit, so a later in-place write can encode its own
_TIME_ENCODING = {"units": "nanoseconds since 1970-01-01", "dtype": "int64"}


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


#: what pandas calls the values of an object array that netCDF can store
_STORABLE_OBJECT_KINDS = {
    "string",
    "bytes",
    "empty",
    "floating",
    "integer",
    "mixed-integer-float",
    "boolean",
    "complex",
    "decimal",
    "datetime",
    "datetime64",
    "date",
    "timedelta",
    "timedelta64",
}
_SCALAR_TYPES = (str, bytes, int, float, complex, np.generic)


def check_savable(ds: xr.Dataset) -> None:
    """Refuse a Dataset holding values no data file can store, naming the variable.

    Only object arrays can hold such values (dicts, lists, arbitrary objects, or a mixture of
    text and numbers); numeric, text and time arrays always pass. Lazy (dask) variables are not
    computed for this check.

    Raises
    ------
    UnsavableValueError
        If a variable holds such values.
    """
    import pandas as pd

    for name, var in ds.variables.items():
        if var.dtype != object or var.chunks is not None:
            continue
        values = np.asarray(var.values).ravel()
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in _STORABLE_OBJECT_KINDS:
            continue
        odd = next((v for v in values if not isinstance(v, _SCALAR_TYPES) and v is not None), None)
        if odd is not None:
            found = f"a value of type {type(odd).__name__} ({_short_repr(odd)})"
        else:
            types = sorted({type(v).__name__ for v in values if v is not None})
            found = f"a mixture of {', '.join(types)}"
        raise UnsavableValueError(
            f"the variable {str(name)!r} holds {found}, which a data file cannot store; return "
            "numbers, strings or arrays instead (a dict of outputs: list them in var_names, or "
            "use var_names=None and return the dict itself). Nothing was written."
        )


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_writable_folder(file_name: PathLike) -> None:
    """Make sure files can be created beside ``file_name`` (its folder is made if absent).

    Run before any computing, so that a data file that can never be saved (or locked) is
    reported at once instead of after the work, or by a lock that waits for ever.

    Raises
    ------
    LocationError
        If the folder cannot be created, is not a folder, or refuses new files.
    """
    folder = Path(file_name).absolute().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a uniquely named probe: creating the lock file itself could race with its holders
        fd, probe = tempfile.mkstemp(prefix=".xyz-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LocationError(
            f"cannot create files in {os.fspath(folder)!r}, the folder of the data file "
            f"{os.fspath(file_name)!r} ({type(exc).__name__}: {exc.strerror or exc}); choose a "
            "data_name in a folder you can write to."
        ) from exc


def save_ds(
    ds: xr.Dataset,
    file_name: PathLike,
    engine: str = "h5netcdf",
    *,
    provenance: xr.Dataset | None = None,
    **kwargs: Any,
) -> None:
    """Save a Dataset to ``file_name`` atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    ds : xarray.Dataset
        The data; not modified (attributes netCDF cannot hold are written as text).
    file_name : path-like
        Exactly where to write: no extension is added.
    engine : {'h5netcdf', 'netcdf4', 'scipy'}, optional
        The netCDF writer.
    provenance : xarray.Dataset, optional
        Where and how each case was computed, written into the same file as the netCDF group
        :data:`PROVENANCE_GROUP` (``xr.open_dataset(file_name, group="provenance")`` reads
        it), published together with the data by the same rename. netCDF3 (``scipy``) has
        no groups: it is left out there, with a warning.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_netcdf`.

    Raises
    ------
    UnsavableValueError
        If a variable holds values no file can store (checked before writing).
    DataFileWriteError
        If writing failed (e.g. a full disk): ``file_name`` is left as it was.
    """
    _check_ds_engine(engine)
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset()
    check_savable(ds)
    # Any: xarray's to_netcdf overloads do not take a **kwargs of options
    out: Any = _writable(ds, engine, kwargs)
    beside: Any = None
    beside_kwargs: dict[str, Any] = {}
    if provenance is not None and engine == "scipy":
        warnings.warn(
            f"{os.fspath(file_name)!r} is written as netCDF3 (engine='scipy'), which has no "
            "groups: the provenance beside the data is left out. Use engine='h5netcdf' to "
            "keep it.",
            stacklevel=2,
        )
    elif provenance is not None:
        check_savable(provenance)
        beside = _writable(provenance, engine, beside_kwargs)
        for var in beside.data_vars.values():
            if var.dtype.kind == "M":
                var.encoding = dict(_TIME_ENCODING)
    # what saves killed here before left (a whole dataset each): gone with the next save
    temps.remove_stale(file_name)
    with typed_write_errors(file_name), storage.atomic_path(file_name) as tmp:
        if engine != "h5netcdf":
            out.to_netcdf(tmp, engine=engine, **kwargs)
            if beside is not None:
                beside.to_netcdf(
                    tmp, engine=engine, mode="a", group=PROVENANCE_GROUP, **beside_kwargs
                )
            return
        with FailureAbsorbingFile(tmp) as target:
            out.to_netcdf(target, engine=engine, **kwargs)
            if beside is not None and target.error is None:
                # the same temporary file: data and provenance are published by one rename
                beside.to_netcdf(
                    target,
                    engine=engine,
                    mode="a",
                    group=PROVENANCE_GROUP,
                    **beside_kwargs,
                )
        if target.error is not None:
            raise target.error


#: kinds of values HDF5 checksums: numbers, bools, times (text is stored variable-length,
#: which HDF5's filters do not cover)
CHECKSUMMED_KINDS = "biufcmM"


def _writable(ds: xr.Dataset, engine: str, kwargs: dict[str, Any]) -> xr.Dataset:
    """A shallow copy of ``ds`` whose attributes netCDF can hold; sets ``invalid_netcdf``.

    With h5netcdf every array of numbers, bools or times carries an HDF5 Fletcher-32
    checksum per chunk: a bit flipped on disk is then a read error (a typed
    :class:`~xyzfarm.errors.DataFileError` from :func:`load_ds`), never a wrong value.
    """
    out = ds.copy(deep=False)
    out.attrs = _netcdf_safe_attrs(dict(ds.attrs))
    if engine == "h5netcdf":
        for var in out.variables.values():
            if var.ndim and var.dtype.kind in CHECKSUMMED_KINDS:
                # on the copy's own encoding: the caller's Dataset is left as it was
                var.encoding = {**var.encoding, "fletcher32": True}
    if engine == "h5netcdf" and any(v.dtype.kind in "cb" for v in out.variables.values()):
        # complex and bool are valid HDF5 but outside the netCDF-4 spec: allow them explicitly
        kwargs.setdefault("invalid_netcdf", True)
    return cast("xr.Dataset", out)


def load_provenance(
    file_name: PathLike, engine: str = "h5netcdf", chunks: Any = None
) -> xr.Dataset | None:
    """The provenance saved beside the data in ``file_name`` (see :func:`save_ds`), or None.

    None when the file, or its :data:`PROVENANCE_GROUP` group, does not exist (a file of
    xyzpy's, or one reaped with ``provenance=False``).

    Raises
    ------
    DataFileError
        If the file exists but its provenance cannot be read.
    """
    _check_ds_engine(engine)
    path = resolve_existing(file_name, engine)
    if engine == "scipy" or not path.exists() or not _has_group(path, engine):
        return None
    return load_ds(path, engine=engine, chunks=chunks, group=PROVENANCE_GROUP)


def _has_group(path: Path, engine: str) -> bool:
    try:
        if engine == "h5netcdf":
            import h5py

            with h5py.File(path, "r") as f:
                return PROVENANCE_GROUP in f
        import netCDF4

        with netCDF4.Dataset(path) as f:
            return PROVENANCE_GROUP in f.groups
    except OSError as exc:
        raise DataFileError(
            f"cannot read the dataset file {os.fspath(path)!r} ({type(exc).__name__}: {exc})."
        ) from exc


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
        with warnings.catch_warnings():
            # the checksummed variables are stored in HDF5 chunks (Fletcher-32 needs them):
            # dask chunks the user chose across them are theirs to choose, not a mistake
            warnings.filterwarnings("ignore", "The specified chunks separate", UserWarning)
            ds = xr.open_dataset(path, engine=engine, chunks=chunks, **kwargs)
        if load_to_mem or (load_to_mem is None and chunks is None):
            ds.load()
            ds.close()
    except (OSError, ValueError, KeyError) as exc:
        raise read_error(path, engine, exc) from exc
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
    temps.remove_stale(name)  # what killed saves left beside it
    with typed_write_errors(name), storage.atomic_path(name) as tmp:
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
