"""Run a notebook as Jupyter does: nbclient, a real ipykernel of this interpreter, in a folder.

The kernel imports this checkout of xyzfarm first (and anything in ``folder``), whatever is
installed; its spec lives in the test's temporary folder, so nothing is written elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def execute(nb: Any, folder: Path, env: dict[str, str] | None = None, timeout_s: int = 300) -> Any:
    """Execute ``nb`` in place in a fresh kernel whose working folder is ``folder``; return it.

    Raises nbclient's ``CellExecutionError`` at the first cell that fails.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    spec = folder.parent / f"{folder.name}-kernel" / "kernels" / "xyzfarm-test"
    spec.mkdir(parents=True, exist_ok=True)
    kernel_env = {"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]), "MPLBACKEND": "Agg"}
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "xyzfarm test",
                "language": "python",
                "env": {**kernel_env, **(env or {})},
            }
        )
    )
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
    manager = KernelManager(kernel_name="xyzfarm-test", kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=manager, timeout=timeout_s, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return nb


def outputs(cell: Any, mime: str) -> list[str]:
    """The ``mime`` parts (``text/html``, ``text/plain``) of a cell's displayed outputs."""
    return [
        "".join(o["data"][mime]) if isinstance(o["data"][mime], list) else o["data"][mime]
        for o in cell.get("outputs", [])
        if "data" in o and mime in o["data"]
    ]


def stream(cell: Any, name: str = "stdout") -> str:
    """What a cell printed on ``stdout`` or ``stderr``."""
    return "".join(o["text"] for o in cell.get("outputs", []) if o.get("name") == name)
