"""Temporary files of atomic saves: who writes each, and removing those whose writer died.

:func:`xyzfarm.store.storage.atomic_path` writes every file under a temporary name beside
its destination, ``.<name>.<host>~<pid>.<random>.tmp``. A save killed with ``kill -9`` leaves
that file behind (a whole dataset, for a data file); the writer's host and pid in its name
let a later save tell it from one being written right now, on this host or another.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
from pathlib import Path

PathLike = str | os.PathLike[str]

SUFFIX = ".tmp"


def prefix(dest: Path) -> str:
    """The start of the temporary name of a save of ``dest`` by this process.

    Read at each save, not once: a process forked from another (a ``fork`` pool) has a pid
    of its own.
    """
    # ``~`` is in no host name, so the host and the pid split unambiguously
    return f".{dest.name}.{socket.gethostname()}~{os.getpid()}."


def _writer_is_dead(tmp_name: str, dest_name: str) -> bool:
    """Whether the temporary file ``tmp_name`` of ``dest_name`` was left by a process of this
    host that no longer runs. Another host's, or an older release's without a writer in its
    name, is never taken for dead."""
    middle = tmp_name[len(dest_name) + 2 : -len(SUFFIX)]  # "<host>~<pid>.<random>"
    host, sep, pid = middle.rsplit(".", 1)[0].rpartition("~")
    if not sep or host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this process's own save may be in flight (another thread)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False


def stale(path: PathLike) -> list[Path]:
    """The temporary names beside ``path`` left by killed writers of this host (files, or
    folders: a crop is sown in a temporary folder, see :mod:`xyzfarm.crop.sow`)."""
    dest = Path(path)
    with contextlib.suppress(OSError):  # an unreadable folder: the save itself will say
        return [
            tmp
            for tmp in dest.parent.glob(f".{glob.escape(dest.name)}.*{SUFFIX}")
            if _writer_is_dead(tmp.name, dest.name)
        ]
    return []


def remove_stale(path: PathLike) -> list[Path]:
    """Remove the temporary files that killed saves of ``path`` left beside it; return them.

    Only those of dead writers on this host: a save in flight anywhere keeps its file.
    """
    removed = []
    for tmp in stale(path):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            tmp.unlink()
            removed.append(tmp)
    return removed
