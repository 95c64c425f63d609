"""Every path inside a crop folder, in one place.

```
.xyz-<name>/
  crop.json          manifest: format version, fingerprint, batch plan, output schema
  function.pkl       the cloudpickled function and constants (absent when sown without code)
  cases.bin          every batch's cases, one framed record per batch ...
  cases.idx          ... found through this index of byte offsets
  results/*.log      finished batches: one append-only log per growing process
  results/damaged    records found damaged (their batches count as missing)
  results/.done.<sowing>.map
                     byte i-1 set once batch i has a result: growers' one-pread hint (the
                     logs stay the truth for status and reap)
  partial/<i>        case-level checkpoint (append-only records) while batch i runs
  running.lock       byte i is locked (POSIX record lock) by the process growing batch i
  failed/<i>.json    why batch i failed: error, traceback, case, host, attempt
  logs/batch-<i>.log stdout and stderr of batch i (when logging)
  jobs/<id>/         scheduler submissions (rendered script, array map, record)
```

and beside it ``.xyz-<name>.reap.lock``, the crop's lock (:attr:`CropLayout.crop_lock`), held
while the crop is sown, reaped or deleted. Every record of the files above carries the id of
the sowing that made the folder (see :mod:`xyzfarm.folder.records`).

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import shutil
import stat
import warnings
from pathlib import Path

from ..errors import CropFormatError, InvalidInputError, LocationError

FORMAT_VERSION = 2
FOLDER_PREFIX = ".xyz-"


#: the longest file name most filesystems take, in bytes (NAME_MAX on Linux and macOS)
NAME_MAX_BYTES = 255
#: the longest name made from a crop's: ``.xyz-<name>.reap.softlock`` beside its folder
_LONGEST_AFFIXES = len(f"{FOLDER_PREFIX}.reap.softlock")
#: the longest crop name, in bytes of UTF-8
MAX_CROP_NAME_BYTES = NAME_MAX_BYTES - _LONGEST_AFFIXES


def check_crop_name(name: str) -> str:
    """Refuse crop names that are empty, too long, or would escape the parent folder."""
    if not isinstance(name, str) or not name or name.strip() != name:
        raise InvalidInputError(f"crop name {name!r} must be a non-empty string without padding.")
    bad = {"/", "\\", "\0", "\n"}
    if any(c in name for c in bad) or name in {".", ".."} or name.startswith(".."):
        raise InvalidInputError(
            f"crop name {name!r} may not contain path separators or '..': it names the folder "
            f"{FOLDER_PREFIX}<name> inside parent_dir. Use parent_dir to choose the location."
        )
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_CROP_NAME_BYTES:
        raise InvalidInputError(
            f"crop name {name[:40]!r}... is {size} bytes long, over the limit of "
            f"{MAX_CROP_NAME_BYTES} bytes: the files named after it (such as "
            f"{FOLDER_PREFIX}<name>.reap.softlock) must fit the filesystem's {NAME_MAX_BYTES}-"
            "byte limit on file names. Give the crop a shorter name."
        )
    return name


class CropLayout:
    """The paths of one crop folder.

    Parameters
    ----------
    name : str
        The crop's name; its folder is ``.xyz-<name>``.
    parent_dir : path-like, optional
        Where the folder lives (default: the current directory).
    """

    def __init__(self, name: str, parent_dir: str | os.PathLike[str] | None = None) -> None:
        self.name = check_crop_name(name)
        self.parent_dir = Path(parent_dir if parent_dir is not None else ".").absolute()
        self.root = self.parent_dir / f"{FOLDER_PREFIX}{name}"
        if self.root.is_symlink():
            # resolved once, here, and said: everything after works in the folder itself, so
            # a reap's cleanup removes the crop, not the link (leaving the files behind)
            real = self.root.resolve()
            warnings.warn(
                f"the crop folder {os.fspath(self.root)!r} is a symbolic link to "
                f"{os.fspath(real)!r}: xyzfarm works in {os.fspath(real)!r} itself.",
                stacklevel=2,
            )
            self.root, self.parent_dir = real, real.parent

    def staged(self, suffix: str) -> CropLayout:
        """This layout with its root moved to a temporary folder beside it, named
        ``.<folder name>.<suffix>`` (where a crop is sown before it is published)."""
        staged = copy.copy(self)
        staged.root = self.parent_dir / f".{self.root.name}.{suffix}"
        return staged

    @classmethod
    def from_root(cls, root: str | os.PathLike[str]) -> CropLayout:
        """The layout of an existing crop folder given its own path."""
        root = Path(root).absolute()
        if not root.name.startswith(FOLDER_PREFIX):
            raise InvalidInputError(
                f"{os.fspath(root)!r} is not a crop folder (its name must start with "
                f"{FOLDER_PREFIX!r})."
            )
        return cls(root.name[len(FOLDER_PREFIX) :], root.parent)

    @property
    def manifest(self) -> Path:
        return self.root / "crop.json"

    @property
    def function(self) -> Path:
        return self.root / "function.pkl"

    @property
    def cases(self) -> Path:
        return self.root / "cases.bin"

    @property
    def cases_index(self) -> Path:
        return self.root / "cases.idx"

    @property
    def crop_lock(self) -> Path:
        """What :func:`~xyzfarm.store.storage.locked` locks while the crop is sown, reaped
        or deleted: one of these at a time."""
        # beside the folder, not in it: a reaper waiting on it must not need the folder,
        # which the reaper before it may have deleted. Named .reap as in earlier releases,
        # whose reapers must exclude this one's sowers too
        return self.parent_dir / f"{FOLDER_PREFIX}{self.name}.reap"

    @property
    def max_running(self) -> Path:
        """The crop's throttle (see :mod:`xyzfarm.folder.throttle`), read live by a local pool."""
        return self.root / "max_running.json"

    def partial(self, batch: int) -> Path:
        return self.root / "partial" / str(batch)

    @property
    def running_locks(self) -> Path:
        return self.root / "running.lock"

    def failed(self, batch: int) -> Path:
        return self.root / "failed" / f"{batch}.json"

    def log(self, batch: int) -> Path:
        return self.root / "logs" / f"batch-{batch}.log"

    def folder(self, kind: str) -> Path:
        """One of the folders: results, partial, failed, logs."""
        return self.root / kind

    def check_no_links(self) -> None:
        """Refuse a crop folder in which anything xyzfarm reads or writes is a symbolic link.

        Every entry of the folder, of its sub-folders and of theirs (``results/``'s logs and
        ``.done.map``, ``partial/``, ``failed/``, ``logs/``, ``jobs/<id>/``) is looked at
        without following it (one ``scandir`` a folder, no ``stat`` per entry): a link there
        (copied by ``rsync -l``, planted, or a folder moved elsewhere and linked back) would
        make growers, reapers and the cleanup write through it, outside the crop folder.

        Raises
        ------
        CropFormatError
            Naming the link, where it points and what to do.
        """
        folders: list[str | Path] = [self.root]
        for depth in range(3):
            deeper: list[str | Path] = []
            for folder in folders:
                try:
                    entries = list(os.scandir(folder))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for entry in entries:
                    if entry.is_symlink():
                        raise CropFormatError(
                            f"{entry.path!r} in the crop folder is a symbolic link (to "
                            f"{os.readlink(entry.path)!r}); xyzfarm never reads or writes a "
                            "crop's files through a link, which could lead outside the crop "
                            "folder. Put the file or folder itself in its place (rsync "
                            "without -l, cp -L), or delete the crop and sow it again."
                        )
                    if depth < 2 and entry.is_dir(follow_symlinks=False):
                        deeper.append(entry.path)
            folders = deeper

    def open_file(self, path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
        """Open a file of the crop folder, following no link on the way: every folder from
        the crop's own down is opened relative to the one above it with ``O_NOFOLLOW``, and
        so is the file. A link planted after :meth:`check_no_links` looked (while growing)
        is refused here, at the open, never written through.

        Raises
        ------
        CropFormatError
            If ``path`` is not inside the crop folder, or a link (or a file where a folder
            should be) is on its way.
        OSError
            As ``os.open`` (``FileNotFoundError`` for a file or folder that is not there).
        """
        relative = os.path.relpath(path, self.root)
        parts = relative.split(os.sep)
        if os.path.isabs(relative) or ".." in parts or relative == ".":
            raise CropFormatError(
                f"{os.fspath(path)!r} is not inside the crop folder {os.fspath(self.root)!r}; "
                "xyzfarm never opens a crop's files elsewhere."
            )
        folder_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            dir_fd = os.open(self.root, folder_flags)
        except OSError as exc:
            raise self._link_error(exc, self.root) from None
        try:
            where = self.root
            for part in parts[:-1]:
                where = where / part
                try:
                    deeper = os.open(part, folder_flags, dir_fd=dir_fd)
                except OSError as exc:
                    raise self._link_error(exc, where) from None
                os.close(dir_fd)
                dir_fd = deeper
            flags |= os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                return os.open(parts[-1], flags, mode, dir_fd=dir_fd)
            except OSError as exc:
                raise self._link_error(exc, where / parts[-1]) from None
        finally:
            os.close(dir_fd)

    def _link_error(self, exc: OSError, where: Path) -> OSError | CropFormatError:
        """``exc`` itself, or the typed refusal of a link (or a file) in the way."""
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not os.path.lexists(where):
            return exc
        kind = "a symbolic link" if os.path.islink(where) else "not a folder"
        return CropFormatError(
            f"{os.fspath(where)!r} in the crop folder is {kind}; xyzfarm never writes a "
            "crop's files through a link, which could lead outside the crop folder. Put the "
            "file or folder itself in its place, or delete the crop and sow it again."
        )

    def check_writable(self, doing: str) -> None:
        """Refuse, typed and before anything is written, a crop folder this process cannot
        write in: a colleague's, or on a read-only filesystem.

        Raises
        ------
        LocationError
            Naming the folder, why it cannot be written, and the ways out.
        """
        for folder in (self.root, *(self.folder(k) for k in ("results", "partial", "failed"))):
            if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
                raise LocationError(
                    f"{doing} writes in {os.fspath(folder)!r}, which this user "
                    f"({_user(os.getuid())}) cannot write: {_why_not_writable(folder)}. Grow "
                    f"a copy you own (cp -r {os.fspath(self.root)!r} <your folder>/, then "
                    f"xyz.Crop(name={self.name!r}, parent_dir=<your folder>)), or ask the "
                    "folder's owner to grow it."
                )

    def make_folders(self) -> None:
        """Create the crop folder: with the user's umask, but never writable by everyone."""
        for path in (
            self.root,
            # no logs/: it is made by whatever writes there (log=True, a submission), as
            # xyzpy makes it only when asked to log
            *(self.folder(k) for k in ("results", "partial", "failed")),
        ):
            path.mkdir(parents=True, exist_ok=True)
            mode = path.stat().st_mode & 0o7777
            if mode & 0o002:
                # a world-writable crop folder would let anyone plant pickles we then load
                path.chmod(mode & ~0o002)

    def remove_folder(self) -> None:
        """Remove the crop folder; renamed away first, so no reader ever sees half of it."""
        if not os.path.lexists(self.root):
            return
        doomed = self.root.with_name(f"{self.root.name}.deleting-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.root, doomed)
            if doomed.is_symlink() or not doomed.is_dir():
                doomed.unlink()
            else:
                shutil.rmtree(doomed, ignore_errors=True)

    def batch_ids_in(self, kind: str) -> set[int]:
        """Batch ids that have a file in one of the per-batch folders (one directory scan)."""
        try:
            names = os.listdir(self.folder(kind))
        except FileNotFoundError:
            return set()
        ids = set()
        for entry in names:
            stem = entry.split(".", 1)[0]
            if stem.isdigit() and not entry.startswith("."):
                ids.add(int(stem))
        return ids

    def exists(self) -> bool:
        """Whether the crop was sown: its manifest exists in any form. One that is not a
        regular file (a directory, a link) is still there: reading it refuses it by name,
        never taking the crop for unsown (a sow would replace the folder)."""
        return os.path.lexists(self.manifest)

    def check_not_orphaned(self) -> None:
        """Refuse a folder that holds grown results but lost its manifest.

        An interrupted sow leaves a folder without ``crop.json`` that the next sow may
        replace; results (or checkpoints) without one are another matter: they cannot be
        labelled, and must never be overwritten by a sow or taken for "nothing to reap".

        Raises
        ------
        CropFormatError
            If ``crop.json`` is missing but result logs or checkpoints exist.
        """
        if self.manifest.is_file():
            return
        grown = [
            kind
            for kind in ("results", "partial")
            if any(not n.startswith(".") for n in _listdir(self.folder(kind)))
        ]
        if grown:
            raise CropFormatError(
                f"the crop folder {os.fspath(self.root)!r} holds {' and '.join(grown)} but no "
                f"crop.json, which labels them: restore {os.fspath(self.manifest)!r} from a "
                "copy of the folder, or delete the crop (crop.delete_all()) to start again."
            )


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _why_not_writable(folder: Path) -> str:
    """Why ``folder`` cannot be written, said plainly: a read-only filesystem, or its owner
    and mode."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only filesystem"
        info = os.stat(folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    return f"it belongs to {_user(info.st_uid)}, with mode {stat.filemode(info.st_mode)}"
