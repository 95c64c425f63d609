"""The exception tree of xyzfarm.

Every error subclasses both :class:`XyzfarmError` (so ``except XyzfarmError`` catches all of
ours) and the builtin exception it refines (so code written for xyzpy, which raised plain
``ValueError``/``TypeError``/``OSError``, keeps working). Messages say what happened, the
offending value, and what to do about it.
"""

from __future__ import annotations


class XyzfarmError(Exception):
    """Base class of every error raised by xyzfarm on purpose."""


# -- bad input: refused before anything runs or is written -----------------------------------


class InvalidInputError(XyzfarmError, ValueError):
    """A value given by the user cannot be used as it is."""


class InvalidOptionError(InvalidInputError):
    """A grow or submit option has a value it cannot take; the message names both."""


class UnknownArgumentError(XyzfarmError, TypeError):
    """A combo, case, constant or resource names an argument the function does not take."""


class ArgumentConflictError(UnknownArgumentError, ValueError):
    """An argument is given in two places (a combo and a constant, say); also a
    ``ValueError``, which xyzpy raised there."""


class MissingArgumentError(XyzfarmError, TypeError):
    """The function needs an argument that no combo, case, constant or resource supplies."""


class ComboValueError(XyzfarmError, TypeError):
    """A combos entry is not a sequence of values (e.g. a bare scalar or a string)."""


class DuplicateValueError(XyzfarmError, ValueError):
    """A coordinate or a case appears more than once where each must be unique."""


class OutputMismatchError(XyzfarmError, ValueError):
    """What the function returned does not match ``var_names`` / ``var_dims`` / ``var_coords``."""


class FunctionPickleError(XyzfarmError, TypeError):
    """The function, or a value it reads, cannot be pickled for worker processes and array
    tasks; the message names the value (a global, closure variable or attribute path)."""


class ResourceError(InvalidInputError):
    """A cluster resource request is unknown or malformed (``walltime``, ``mem_gb``, ...)."""


# -- data files ---------------------------------------------------------------------------------


class MergeConflictError(XyzfarmError, ValueError):
    """New results disagree with results already in the full dataset (``overwrite=None``)."""


class EngineError(XyzfarmError, ValueError):
    """An unknown or unsupported file engine was asked for."""


class DataFileError(XyzfarmError, OSError):
    """A data file exists but cannot be read (truncated, corrupt, or not the expected format)."""


class DataFileWriteError(XyzfarmError, OSError):
    """A data file could not be written (disk full, quota, I/O error); the old file is intact."""


class LocationError(XyzfarmError, OSError):
    """A folder to write into cannot be used: it is a file, or files cannot be created in it."""


class UnsavableValueError(XyzfarmError, TypeError):
    """A variable holds values a data file cannot store (dicts, arbitrary objects)."""


class DimensionMismatchError(XyzfarmError, ValueError):
    """New results give a variable other dimensions than the full dataset has for it."""


class CoordinateTypeError(XyzfarmError, TypeError):
    """New coordinate values are of another kind than the full dataset's (e.g. 1 vs '1')."""


class LockTimeoutError(XyzfarmError, TimeoutError):
    """A file lock could not be acquired in the time allowed."""


# -- crops --------------------------------------------------------------------------------------


class CropFormatError(XyzfarmError, ValueError):
    """A crop folder is damaged, or was written by a newer xyzfarm."""


class SowingMismatchError(CropFormatError, DataFileError):
    """A file or record of a crop folder belongs to another sowing of the crop: the crop was
    deleted and sown again while something of the old one still ran, or the file was copied
    in from a twin crop (same name and shape). It is never taken for one of this crop's."""


class CropReplacedError(XyzfarmError, RuntimeError):
    """The crop a process was growing was deleted or sown again meanwhile: the process stops
    before it claims another batch, and what it grew of the old sowing is never reaped."""


class CropMismatchError(XyzfarmError, ValueError):
    """Sowing a different case list (or batch plan) under the name of an existing crop."""


class FunctionMismatchError(CropMismatchError):
    """Growing a crop with a function other than the one it was sown with."""


class CropIncompleteError(XyzfarmError, RuntimeError):
    """Reaping a crop whose batches are not all grown (without ``allow_incomplete``)."""


class BatchFailedError(XyzfarmError, RuntimeError):
    """A batch failed while growing and ``raise_errors`` asked to stop."""


class ResultWriteError(XyzfarmError, OSError):
    """A finished batch's result could not be written (disk full, read-only folder, quota)."""


# -- clusters -----------------------------------------------------------------------------------


class SchedulerError(XyzfarmError, RuntimeError):
    """A scheduler command (``sbatch``, ``qsub``, ...) failed or could not be started."""


# -- starting work: a task or worker that cannot begin ------------------------------------------


class FunctionLoadError(XyzfarmError, ImportError):
    """The crop's saved function cannot be loaded where the batches are grown.

    Its module is not importable there, or ``function.pkl`` is missing, empty or damaged.
    Growing again unchanged would fail the same way, so ``retries`` never resubmits it.
    """


class CropLoadError(DataFileError):
    """A task's inputs (its cases, their index, the manifest) cannot be read where it runs."""


class WorkerStartError(XyzfarmError, RuntimeError):
    """Pool workers kept dying before they were ready; the pool stopped instead of looping."""


#: xyzpy's name for its own errors: ``except XYZError`` written for xyzpy catches all of ours
XYZError = XyzfarmError
