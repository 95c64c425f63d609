"""The reap job: results merged into a file with no process left on the login node.

``submit(..., reap_into=FILE)`` submits, after the crop's arrays, one more job held until
every task of them has ended, however (SLURM ``--dependency=afterany:``, Grid Engine
``-hold_jid``, PBS ``-W depend=afterany:``). It runs ``python -m xyzfarm.reaper CROP
--into FILE --record RECORD``, which reaps what exists into ``FILE`` (as ``xyzfarm reap
--into FILE --allow-incomplete``), and writes ``RECORD`` (``jobs/<id>/reap.json``): what was
merged, which batches are missing and the last error of each failed one. The existing rule
holds: the crop is deleted only when every case is in the file; otherwise it is kept, with
its failures, so the missing batches can be grown and reaped again later.

This module is the job's side (:func:`main`), above the Crop it reaps; submitting it is
:mod:`xyzfarm.crop.reap_submission`'s, below the Crop (``Crop.submit`` calls it), so neither
imports the other and the reap job imports no jinja2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CropIncompleteError, XyzfarmError
from ..folder.layout import CropLayout
from ..store import storage
from .crop import Crop
from .grow import missing_batches

#: exit status of a reap job that left cases missing (``xyzfarm reap``'s INCOMPLETE)
INCOMPLETE_EXIT = 1


def reap_into(layout: CropLayout, into: str | os.PathLike[str]) -> dict[str, Any]:
    """Reap what exists into ``into`` (keeping the crop if anything is missing) and say what
    happened: ``{"into", "complete", "missing", "failed", "error"}``."""
    outcome: dict[str, Any] = {"into": os.fspath(into), "complete": False, "error": None}
    crop = Crop(name=layout.name, parent_dir=layout.parent_dir)
    try:
        crop.reap(into=into, allow_incomplete=True, verbosity=0)
    except CropIncompleteError as exc:  # not one case finished: nothing to merge
        outcome["error"] = str(exc)
    except XyzfarmError as exc:  # e.g. the file holds other values: nothing was deleted
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    if not layout.manifest.is_file():
        # deleted: every case was published into the file
        return {**outcome, "complete": True, "missing": [], "failed": {}}
    status = crop.status()
    outcome["missing"] = missing_batches(layout, status.total)  # failed ones included
    outcome["failed"] = {str(b): status.last_error(b) for b in status.failed_ids}
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xyzfarm.reaper CROP_DIR --into FILE --record RECORD`` (in the job; also run
    as ``python -m xyzfarm.crop.reap_job``, the command of reap jobs queued by earlier
    releases)."""
    parser = argparse.ArgumentParser(prog="python -m xyzfarm.reaper")
    parser.add_argument("crop_dir")
    parser.add_argument("--into", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args(argv)
    layout = CropLayout.from_root(args.crop_dir)
    started = time.time()
    outcome = reap_into(layout, args.into)
    outcome["seconds"] = round(time.time() - started, 3)
    outcome["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not outcome["complete"]:
        # the crop (and so the record's folder) is kept: the record says what to grow again
        storage.write_bytes(Path(args.record), json.dumps(outcome, indent=1).encode())
    print(f"xyzfarm reap job: {json.dumps(outcome)}", flush=True)
    return 0 if outcome["complete"] else INCOMPLETE_EXIT


if __name__ == "__main__":
    sys.exit(main())
