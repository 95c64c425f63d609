"""How to grow a crop's batches on this machine: :class:`GrowOptions`, checked once.

One record shared by :meth:`Crop.grow <xyzfarm.Crop.grow>`, :func:`xyzfarm.cultivate`,
:meth:`Harvester.cultivate <xyzfarm.Harvester.cultivate>` and ``xyzfarm grow``: each builds
it by keyword (construction by position is refused), so no caller depends on the order of
its fields. Submitting to a scheduler takes :class:`~xyzfarm.submit_options.SubmitOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..errors import InvalidOptionError


def check_count(name: str, value: Any, *, least: int = 1, optional: bool = True) -> None:
    """Refuse anything but an int of at least ``least`` (or None, when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise InvalidOptionError(f"{name}={value!r} must be an integer of at least {least}.")


def check_positive(name: str, value: Any) -> None:
    """Refuse anything but a number above zero (or None)."""
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise InvalidOptionError(f"{name}={value!r} must be a number above zero.")


@dataclass(frozen=True, kw_only=True)
class GrowOptions:
    """How to grow batches here: in this process, through an executor, or in pinned workers.

    Parameters
    ----------
    subprocess : {'auto', True, False}
        Grow in persistent pinned worker processes; 'auto' does so when ``num_threads``,
        ``gpus``, ``affinities``, ``batch_timeout_s`` or ``max_mem_gb`` is given.
    num_workers : int, optional
        Concurrent batches: pool workers, or the size of a process pool in-process.
    num_threads : int, optional
        Cores (and thread-variable value) per pool worker; each worker gets its own
        disjoint cores from those this process may use.
    gpus : int, str or sequence, optional
        GPU ids handed one per worker as ``CUDA_VISIBLE_DEVICES`` (repeat to share).
    affinities : int, str or sequence, optional
        Cores to pin workers to: a flat list is split into groups of ``num_threads``
        (default 1); a list of lists gives each worker's set.
    raise_errors : bool
        Stop at the first failed batch with :class:`~xyzfarm.errors.BatchFailedError`;
        otherwise failures are recorded in ``failed/`` and growing goes on.
    log : bool
        Pool workers write each batch's output to ``logs/batch-<i>.log``.
    verbosity : {0, 1, 2}
        0 silent, 1 a progress bar over batches, 2 also the latest batch.
    executor : concurrent.futures-style executor, optional
        Grow in-process through it (process pools, submitit executors, ...).
    desc : str
        The progress bar's label.
    batch_timeout_s : float, optional
        Kill a pool worker whose batch runs longer; the batch is recorded as failed
        (``BatchTimeout``). Implies worker processes.
    max_mem_gb : float, optional
        Kill a pool worker whose memory (children included) exceeds this; the batch is
        recorded as failed (``MemoryLimit``). Implies worker processes.
    retries : int
        Grow failed batches again up to this many times (each resumes from its checkpoint;
        every attempt's error stays in ``failed/<i>.json``).
    replace_fn : bool
        Grow with the crop's function although it differs from the one the crop was sown
        with (see :meth:`Crop.grow <xyzfarm.Crop.grow>`).

    Raises
    ------
    InvalidOptionError
        For a value an option cannot take, naming the option and the value.
    """

    subprocess: bool | str = "auto"
    num_workers: int | None = None
    num_threads: int | None = None
    gpus: Any = None
    affinities: Any = None
    raise_errors: bool = False
    log: bool = False
    verbosity: int = 1
    executor: Any = None
    desc: str = "Grow"
    batch_timeout_s: float | None = None
    max_mem_gb: float | None = None
    retries: int = 0
    replace_fn: bool = False

    def __post_init__(self) -> None:
        if self.subprocess not in ("auto", True, False):
            raise InvalidOptionError(
                f"subprocess must be 'auto', True or False, got {self.subprocess!r}."
            )
        check_count("num_workers", self.num_workers)
        check_count("num_threads", self.num_threads)
        if not isinstance(self.verbosity, int) or self.verbosity < 0:  # a bool reads as 0/1
            raise InvalidOptionError(f"verbosity={self.verbosity!r} must be 0, 1 or 2.")
        check_count("retries", self.retries, least=0, optional=False)
        check_positive("batch_timeout_s", self.batch_timeout_s)
        check_positive("max_mem_gb", self.max_mem_gb)
        if not isinstance(self.desc, str):
            raise InvalidOptionError(f"desc={self.desc!r} must be a string.")

    @property
    def limited(self) -> bool:
        """Whether a time or memory limit is set (they act on worker processes)."""
        return self.batch_timeout_s is not None or self.max_mem_gb is not None

    @property
    def pinned(self) -> bool:
        """Whether any option needs worker processes of their own."""
        pins = (self.num_threads, self.gpus, self.affinities)
        return self.limited or any(p is not None for p in pins)

    @property
    def in_workers(self) -> bool:
        """Whether batches grow in pinned worker processes ('auto' resolved)."""
        return self.pinned if self.subprocess == "auto" else bool(self.subprocess)

    @classmethod
    def names(cls) -> frozenset[str]:
        """Every option's name."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def from_keywords(cls, **keywords: Any) -> GrowOptions:
        """The options of these keywords, an unknown one refused by name (a typo would
        otherwise be a TypeError without the list of options).

        Raises
        ------
        InvalidOptionError
            For a keyword that is no option (resource options need a scheduler: see
            :class:`~xyzfarm.submit_options.SubmitOptions`), or a bad value.
        """
        unknown = sorted(set(keywords) - cls.names())
        if unknown:
            raise InvalidOptionError(
                f"unknown grow option(s) {unknown} (resource options need scheduler=...); "
                f"the options are {sorted(cls.names())}."
            )
        return cls(**keywords)
