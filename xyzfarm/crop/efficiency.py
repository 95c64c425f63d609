"""How well a crop's tasks used what they asked for: ``seff``, per case and for the whole crop.

Each batch result records the growing process's usage of that batch (``usage``: wall and CPU
seconds, the process's peak resident memory so far, its pid; see :mod:`xyzfarm.worker`), and
its provenance the seconds of each case and the job and array task that grew it. From these
:func:`efficiency_report` gives distributions (median, 95th percentile, max), CPU efficiency,
flags for requests far above use, and a suggested request for the next submission.

Rules (documented in docs/clusters.md, "Efficiency report"):

- a request is flagged when the 95th percentile of the tasks' use is under
  :data:`UNDERUSE_FRACTION` (half) of it;
- the suggested memory per task is the 95th percentile of the tasks' peak memory times
  :data:`MEMORY_MARGIN`, rounded up to 0.1 GB; the suggested walltime is the 95th percentile of
  the tasks' wall time times :data:`TIME_MARGIN`, rounded up to the minute (at least one); the
  suggested cores per worker are the 95th percentile of the batches' CPU/wall ratio, rounded up.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import CropFormatError
from ..folder import manifest, submissions
from ..folder.layout import CropLayout
from ..folder.results import ResultIndex
from ..schedulers.resources import parse_walltime, walltime_seconds

UNDERUSE_FRACTION = 0.5
MEMORY_MARGIN = 1.25
TIME_MARGIN = 1.5


@dataclass(frozen=True)
class Distribution:
    """Median, 95th percentile and maximum of ``count`` values (NaN when there are none)."""

    count: int
    median: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Any) -> Distribution:
        data = np.asarray(values, dtype=float)
        data = data[~np.isnan(data)]
        if data.size == 0:
            return cls(0, math.nan, math.nan, math.nan)
        p50, p95 = np.percentile(data, [50, 95])
        return cls(int(data.size), float(p50), float(p95), float(data.max()))


@dataclass(frozen=True)
class EfficiencyReport:
    """What a crop's batches used, against what their tasks asked for.

    Attributes
    ----------
    crop : str
        The crop's name.
    batches : int
        Batches whose results record their usage (those grown by earlier releases do not).
    case_s : Distribution
        Seconds per case (for cases faster than a few ms: the average of their chunk).
    batch_wall_s, batch_cpu_s : Distribution
        Wall and CPU seconds (user + system, with waited-for subprocesses) per batch.
    peak_mem_gb : Distribution
        Peak resident memory of the process that grew each batch, up to its end.
    task_wall_s, task_peak_mem_gb : Distribution
        Per array task (per local run outside a scheduler): wall seconds (the longest of its
        workers), peak memory (the sum of its worker processes' peaks).
    cpu_efficiency : float
        CPU seconds over wall seconds times the cores each worker had (1 if unknown).
    requested : dict
        ``mem_gb``, ``walltime_s``, ``cpus_per_task``, ``workers_per_task`` of the latest
        submission (or the crop's saved resources), where recorded.
    flags : list of str
        Requests far above use, one sentence each.
    suggested : dict
        ``mem_gb``, ``walltime`` and ``cpus_per_task`` for the next submission.
    """

    crop: str
    batches: int
    case_s: Distribution
    batch_wall_s: Distribution
    batch_cpu_s: Distribution
    peak_mem_gb: Distribution
    task_wall_s: Distribution
    task_peak_mem_gb: Distribution
    cpu_efficiency: float
    requested: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    suggested: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values (None where a figure is unknown)."""

        def plain(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        rows = [
            ("seconds per case", self.case_s, "{:.3g}"),
            ("wall s per batch", self.batch_wall_s, "{:.3g}"),
            ("CPU s per batch", self.batch_cpu_s, "{:.3g}"),
            ("peak GB per process", self.peak_mem_gb, "{:.3g}"),
            ("wall s per task", self.task_wall_s, "{:.3g}"),
            ("peak GB per task", self.task_peak_mem_gb, "{:.3g}"),
        ]
        lines = [
            f"crop {self.crop}: usage of {self.batches} batches",
            f"  {'':<20} {'median':>10} {'p95':>10} {'max':>10} {'count':>7}",
        ]
        for label, dist, fmt in rows:
            values = (fmt.format(v) for v in (dist.median, dist.p95, dist.max))
            cells = " ".join(f"{v:>10}" for v in values)
            lines.append(f"  {label:<20} {cells} {dist.count:>7}")
        lines.append(f"  CPU efficiency: {self.cpu_efficiency:.0%}")
        if self.requested:
            lines.append("  requested: " + ", ".join(f"{k}={v}" for k, v in self.requested.items()))
        lines.extend(f"  flag: {flag}" for flag in self.flags)
        if self.suggested:
            lines.append(
                "  suggested next request: "
                + ", ".join(f"{k}={v}" for k, v in self.suggested.items())
            )
        return "\n".join(lines)


def _requested(layout: CropLayout) -> dict[str, Any]:
    """The latest submission's request (``jobs/*/submission.json``), else the crop's saved
    resources: ``mem_gb``, ``walltime_s``, ``cpus_per_task``, ``workers_per_task``."""
    resources: dict[str, Any] = {}
    options: dict[str, Any] = {}
    with contextlib.suppress(CropFormatError, OSError):  # damaged: the saved resources below
        arrays = [r for r in submissions.read_all(layout) if r.kind == "array"]
        if arrays:
            resources, options = dict(arrays[-1].resources), dict(arrays[-1].options)
    if not resources:
        # the runner's resources, saved when sown (a field the manifest keeps as is)
        resources = dict(manifest.Manifest.read(layout).extra.get("resources") or {})
    out: dict[str, Any] = {}
    if resources.get("mem_gb"):
        out["mem_gb"] = float(resources["mem_gb"])
    walltime = resources.get("walltime") or resources.get("time")
    if walltime:
        with contextlib.suppress(ValueError):
            out["walltime_s"] = walltime_seconds(str(walltime))
    workers = options.get("workers_per_task") or resources.get("workers_per_task")
    threads = resources.get("threads_per_worker") or 1
    cpus = resources.get("cpus_per_task") or (workers * threads if workers else None)
    if cpus:
        out["cpus_per_task"] = int(cpus)
    if workers:
        out["workers_per_task"] = int(workers)
    return out


def _usage_rows(layout: CropLayout) -> tuple[list[tuple[Any, ...]], list[float]]:
    """``(job, task, pid, wall_s, cpu_s, cpu_wall_s, peak_mb)`` per batch with usage (NaN
    where a batch shorter than a millisecond carries no reading), and case seconds."""
    rows: list[tuple[Any, ...]] = []
    case_s: list[float] = []
    with ResultIndex(
        layout, report=False, sowing=manifest.Manifest.read(layout).sowing_id
    ) as index:
        index.refresh()
        for batch in sorted(index.done()):
            try:
                record = index.load(batch)
            except KeyError:
                continue
            prov = record.get("prov") or ()
            for segment in prov:
                case_s.extend([float(segment[2])] * len(segment[0]))
            usage = record.get("usage")
            if not isinstance(usage, dict):
                continue  # grown by a release that did not record usage
            last: tuple[Any, ...] = tuple(prov[-1]) if prov else ()
            # the worker's context in each provenance segment: host, job, task, ...
            job = last[4] if len(last) > 4 else "local"
            task = last[5] if len(last) > 5 else ""
            rows.append(
                (
                    job,
                    task,
                    usage.get("pid"),
                    float(usage["wall_s"]),
                    float(usage.get("cpu_s", math.nan)),
                    # the seconds the CPU reading spans (the batch's own before they existed)
                    float(usage.get("cpu_wall_s") or usage["wall_s"]),
                    float(usage.get("peak_mb", math.nan)),
                )
            )
    return rows, case_s


def _per_task(rows: list[tuple[Any, ...]]) -> tuple[list[float], list[float]]:
    """Wall seconds (longest worker) and peak MB (sum of workers' peaks) per task."""
    walls: dict[tuple[Any, Any], dict[Any, float]] = {}
    peaks: dict[tuple[Any, Any], dict[Any, float]] = {}
    for job, task, pid, wall, _, _, peak in rows:
        key = (job, task)
        walls.setdefault(key, {})
        walls[key][pid] = walls[key].get(pid, 0.0) + wall
        peaks.setdefault(key, {})
        if not math.isnan(peak):
            peaks[key][pid] = max(peaks[key].get(pid, 0.0), peak)
    task_wall = [max(w.values()) for w in walls.values()]
    task_peak = [sum(p.values()) for p in peaks.values() if p]
    return task_wall, task_peak


def _suggest(
    task_wall: Distribution, task_peak_gb: Distribution, parallel_p95: float, workers: int
) -> dict[str, Any]:
    suggested: dict[str, Any] = {}
    if task_peak_gb.count:
        suggested["mem_gb"] = math.ceil(task_peak_gb.p95 * MEMORY_MARGIN * 10) / 10
    if task_wall.count:
        minutes = max(1, math.ceil(task_wall.p95 * TIME_MARGIN / 60))
        suggested["walltime"] = parse_walltime(minutes * 60)
    if not math.isnan(parallel_p95):
        suggested["cpus_per_task"] = max(1, math.ceil(parallel_p95 - 0.05)) * workers
    return suggested


def _flags(
    requested: dict[str, Any],
    task_wall_s: list[float],
    task_peak_gb: list[float],
    cpu_efficiency: float,
) -> list[str]:
    """A sentence per request that nearly every task (the 95th percentile) used less than
    :data:`UNDERUSE_FRACTION` of, saying how many tasks did."""
    flags = []
    for what, used, asked, unit in (
        ("memory", task_peak_gb, requested.get("mem_gb"), "GB"),
        ("walltime", task_wall_s, requested.get("walltime_s"), "s"),
    ):
        if not asked or not used or Distribution.of(used).p95 >= UNDERUSE_FRACTION * asked:
            continue
        under = sum(u < UNDERUSE_FRACTION * asked for u in used)
        flags.append(
            f"{what}: {under} of {len(used)} tasks used under half of the {asked:g} {unit} "
            f"requested (at most {max(used):.3g} {unit})"
        )
    if not math.isnan(cpu_efficiency) and cpu_efficiency < UNDERUSE_FRACTION:
        cpus = requested.get("cpus_per_task")
        flags.append(
            f"cpus: the workers kept {cpu_efficiency:.0%} of their "
            + (f"{cpus} cores" if cpus else "cores")
            + " busy"
        )
    return flags


def efficiency_report(layout: CropLayout) -> EfficiencyReport:
    """The :class:`EfficiencyReport` of the crop at ``layout``, from its files alone."""
    rows, case_s = _usage_rows(layout)
    requested = _requested(layout)
    workers = int(requested.get("workers_per_task", 1))
    cores_per_worker = requested.get("cpus_per_task", workers) / workers
    walls = np.array([r[3] for r in rows], dtype=float)
    spans = np.array([r[5] for r in rows], dtype=float)
    read = ~np.isnan(np.array([r[4] for r in rows], dtype=float))
    spans = spans[read]
    span_cpus = np.array([r[4] for r in rows], dtype=float)[read]
    # a reading spanning several short batches is shared out by their wall time
    cpus = span_cpus * np.divide(walls[read], spans, out=np.ones_like(spans), where=spans > 0)
    peaks_gb = np.array([r[6] for r in rows], dtype=float) / 1024
    total_span = float(spans.sum())
    cpu_efficiency = (
        float(span_cpus.sum()) / (total_span * cores_per_worker) if total_span > 0 else math.nan
    )
    task_wall_list, task_peak_list = _per_task(rows)
    task_wall = Distribution.of(task_wall_list)
    task_peak = Distribution.of(np.asarray(task_peak_list) / 1024)
    busy = spans > 0
    parallel = Distribution.of(span_cpus[busy] / spans[busy]).p95 if busy.any() else math.nan
    return EfficiencyReport(
        crop=layout.name,
        batches=len(rows),
        case_s=Distribution.of(case_s),
        batch_wall_s=Distribution.of(walls),
        batch_cpu_s=Distribution.of(cpus),
        peak_mem_gb=Distribution.of(peaks_gb),
        task_wall_s=task_wall,
        task_peak_mem_gb=task_peak,
        cpu_efficiency=cpu_efficiency,
        requested=requested,
        flags=_flags(requested, task_wall_list, [p / 1024 for p in task_peak_list], cpu_efficiency),
        suggested=_suggest(task_wall, task_peak, parallel, workers),
    )
