"""How a crop, its status and a cluster submission show in a Jupyter notebook (``_repr_html_``).

Each view says four things: how far it got (a bar and the counts), what failed and why (the
last error line of the first few failed batches), where the crop folder is, and what to run
next. Every user string (names, paths, error messages) is escaped. Lean on purpose: no
IPython import, nothing read that ``xyzfarm status`` would not read, nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

#: failed batches whose last error is shown; the rest are counted
SHOWN_FAILURES = 5

# (state, colour) in the order the stacked bar draws them
_SEGMENTS = (("done", "#4caf50"), ("failed", "#e53935"), ("running", "#1e88e5"))


def status_bar_html(status: Any) -> str:
    """A stacked bar (done, failed, running, the rest missing) and the counts in words."""
    total = max(status.total, 1)
    parts = "".join(
        f'<div title="{name}: {count}" style="width:{100 * count / total:.2f}%;'
        f'background:{colour}"></div>'
        for name, colour in _SEGMENTS
        if (count := getattr(status, name))
    )
    bar = (
        '<div style="display:flex;width:24em;height:0.9em;background:#e0e0e0;'
        f'border-radius:3px;overflow:hidden">{parts}</div>'
    )
    return f"{bar}<div>{escape(str(status))}</div>"


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{key}</th>'
        f'<td style="text-align:left">{value}</td></tr>'
        for key, value in rows
    )
    return f"<table>{cells}</table>"


def _failures_html(errors: Mapping[int, str], failed: int) -> str:
    lines = "".join(
        f"<li>batch {batch}: <code>{escape(error)}</code></li>" for batch, error in errors.items()
    )
    more = f"<li>… and {failed - len(errors)} more</li>" if failed > len(errors) else ""
    return f'<ul style="margin:0">{lines}{more}</ul>'


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def crop_next_step(name: str, status: Any | None) -> str:
    """What to run next, as Python, for a crop in this state (``None``: not sown)."""
    if status is None:
        return "crop.sow_combos({...})  # or sow_cases / sow_samples"
    if status.done == status.total:
        return "crop.reap()"
    if status.running and not (status.missing or status.failed or status.damaged):
        return f"crop.status()  # batches are running (shell: xyzfarm status --name {name})"
    if status.failed:
        return "crop.grow_missing()  # grows the failed batches again; their errors are above"
    return "crop.grow()  # here; or crop.grow(scheduler='slurm', ...) on a cluster"


def status_html(status: Any, title: str = "crop status") -> str:
    """A :class:`~xyzfarm.CropStatus` on its own: the bar, and the failed batch ids."""
    rows = [("progress", status_bar_html(status))]
    if status.failed_ids:
        ids = ", ".join(map(str, status.failed_ids[:20]))
        rows.append(("failed batches", ids + (", …" if len(status.failed_ids) > 20 else "")))
    if status.damaged_ids:
        rows.append(("damaged batches", ", ".join(map(str, status.damaged_ids[:20]))))
    return f"<div><strong>{escape(title)}</strong>{_rows(rows)}</div>"


def crop_html(
    name: str,
    location: str,
    status: Any | None,
    errors: Mapping[int, str] | None = None,
    problem: BaseException | None = None,
) -> str:
    """A crop: its state (``None``: not sown), failures, folder and next step; or why its
    folder cannot be read (``problem``)."""
    rows = [("folder", _code(location))]
    if problem is not None:
        what = f"{type(problem).__name__}: {problem}".splitlines()[0]
        rows.insert(0, ("cannot be read", _code(what)))
        title = f"xyzfarm.Crop {escape(repr(name))}"
        return f"<div><strong>{title}</strong>{_rows(rows)}</div>"
    if status is None:
        rows.insert(0, ("state", "not sown"))
    else:
        rows.insert(0, ("progress", status_bar_html(status)))
        if status.failed:
            rows.append(("failures", _failures_html(errors or {}, status.failed)))
    rows.append(("next", _code(crop_next_step(name, status))))
    return f"<div><strong>xyzfarm.Crop {escape(repr(name))}</strong>{_rows(rows)}</div>"


def cluster_job_html(
    job: Any, status: Any, errors: Mapping[int, str], failed: int, output_dir: Any
) -> str:
    """A submission: scheduler and job ids, the crop's progress, why its ``failed`` batches
    failed (``errors``: the first few), where its scripts and the scheduler's output files
    are, what next."""
    name = job.layout.name
    rows = [
        ("jobs", f"{escape(job.scheduler)} {_code(' '.join(job.job_ids))}"),
        ("batches", f"{len(job.batches)} submitted"),
        ("progress", status_bar_html(status)),
        ("job scripts", _code(str(job.job_dir))),
        ("scheduler output", _code(str(output_dir))),
        ("crop folder", _code(str(job.layout.root))),
    ]
    if failed:
        rows.append(("failures", _failures_html(errors, failed)))
    done = status.done == status.total
    cancel = f"xyzfarm cancel {name} --dir {job.layout.parent_dir}"
    follow = "crop.reap()" if done else f"job.wait()  # then crop.reap(); to stop: {cancel}"
    rows.append(("next", _code(follow)))
    title = f"xyzfarm.ClusterJob of crop {escape(repr(name))}"
    return f"<div><strong>{title}</strong>{_rows(rows)}</div>"
