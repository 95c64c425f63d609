"""The crop manifest (``crop.json``): plain JSON a workstation can read without the user's code.

Values that JSON cannot hold exactly are tagged: numpy scalars and arrays keep their dtype,
tuples stay tuples, complex numbers survive; anything else is a base64 pickle (which then does
need its defining code to read back).

:class:`Manifest` is the typed record (fields named as in ``crop.json``): :meth:`Manifest.read`
is its one reader (checksum, format version and fingerprint checked) and :meth:`Manifest.write`
its one writer. The file's format is unchanged; manifests of earlier releases still read.

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import CropFormatError, CropLoadError
from ..store import storage
from .layout import FORMAT_VERSION, CropLayout


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` that :func:`decode` turns back into an equal value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) in (int, float):
        return value
    if isinstance(value, (list, range)):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, complex):
        return {"__complex__": [value.real, value.imag]}
    module = type(value).__module__
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray) and value.dtype.kind in "biufcU":
            return {
                "__ndarray__": encode(value.tolist()),
                "dtype": value.dtype.str,
                "shape": list(value.shape),
            }
        if isinstance(value, np.generic) and value.dtype.kind in "biufcU":
            return {"__npscalar__": encode(value.item()), "dtype": value.dtype.str}
    return {"__pickle__": base64.b64encode(storage.dumps(value)).decode("ascii")}


def decode(value: Any) -> Any:
    """Invert :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"].items()}
    if "__complex__" in value:
        re, im = value["__complex__"]
        return complex(re, im)
    if "__ndarray__" in value:
        import numpy as np

        data = decode(value["__ndarray__"])
        return np.array(data, dtype=value["dtype"]).reshape(value["shape"])
    if "__npscalar__" in value:
        import numpy as np

        return np.array(decode(value["__npscalar__"]), dtype=value["dtype"])[()]
    if "__pickle__" in value:
        return storage.loads(base64.b64decode(value["__pickle__"]))
    raise CropFormatError(f"unknown tagged value in crop manifest: {sorted(value)}")


def fingerprint(arg_names: Sequence[str], parts: Iterable[Any]) -> str:
    """A stable hash of a case list: its argument names and the exact repr of every value."""
    h = hashlib.sha256(repr(tuple(arg_names)).encode())
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


#: the manifest's own checksum: sha256 of the canonical JSON of every other field
CHECKSUM_KEY = "sha256"

#: every field a manifest of the release before checksums held; one without a checksum may
#: hold no other (a bit flipped in the checksum's own name must not pass as an old manifest)
_LEGACY_KEYS = frozenset(
    {
        "format_version",
        "name",
        "fn_name",
        "has_function",
        "fingerprint",
        "plan",
        "kind",
        "arg_names",
        "combos",
        "constants",
        "attrs",
        "schema",
        "farmer",
    }
)


def _checksum(content: Mapping[str, Any]) -> str:
    # canonical form: independent of key order and indentation, so only values count
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def combos_fingerprint(data: Mapping[str, Any]) -> str | None:
    """The fingerprint of a combos crop recomputed from its recorded combos.

    None where it cannot be recomputed faithfully: a cases crop (its cases are in
    ``cases.bin``, checked by their own checksums), or combos holding pickled objects, whose
    ``repr`` may carry a memory address and so differs between processes.
    """
    if data.get("kind") != "combos" or not isinstance(data.get("combos"), dict):
        return None
    if "__pickle__" in json.dumps(data["combos"]):
        return None
    names = list(data["combos"])
    if names != list(data.get("arg_names", names)):
        return "arg_names differ from the combos"  # never equal to a real fingerprint
    return fingerprint(names, ["combos", *(decode(data["combos"][n]) for n in names)])


def _write_json(layout: CropLayout, manifest: Mapping[str, Any]) -> None:
    """Publish the manifest atomically, with a checksum of its content."""
    content = {"format_version": FORMAT_VERSION, **manifest}
    content.pop(CHECKSUM_KEY, None)
    content[CHECKSUM_KEY] = _checksum(content)
    text = json.dumps(content, indent=1)
    storage.write_bytes(layout.manifest, text.encode())


def _read_regular_file(layout: CropLayout, where: str, redo: str) -> bytes:
    """The bytes of ``crop.json``, read only if it is a regular file of the crop's own.

    A link is never followed (its target could be another crop's manifest, or anything), and
    a directory, device or pipe in its place is refused rather than read (a pipe would block).

    Raises
    ------
    FileNotFoundError
        If there is no manifest (never sown, or deleted).
    CropFormatError
        If something other than a regular file stands there, naming what.
    CropLoadError
        If the file cannot be read (permission denied, an I/O error).
    """
    path = layout.manifest
    if path.is_symlink():
        raise CropFormatError(
            f"the manifest {where!r} is a symbolic link (to {os.readlink(path)!r}); a crop's "
            f"files are never links, so it is not followed: {redo}"
        )
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no crop at {os.fspath(layout.root)!r}: sow it first (crop.sow_combos(...))."
        ) from None
    except PermissionError as exc:
        raise CropLoadError(
            f"the manifest {where!r} cannot be read: permission denied ({exc.strerror}); ask "
            "its owner for read access, or copy the crop folder to a place of your own."
        ) from None
    except OSError as exc:  # a loop of links, a directory on some systems, I/O errors
        raise CropFormatError(f"the manifest {where!r} cannot be read ({exc}); {redo}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            kind = "a directory" if path.is_dir() else "not a regular file"
            raise CropFormatError(f"the manifest {where!r} is {kind}; {redo}")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    except OSError as exc:
        raise CropLoadError(f"the manifest {where!r} cannot be read ({exc}); {redo}") from None
    finally:
        os.close(fd)


def _read_json(layout: CropLayout) -> dict[str, Any]:
    """Read and verify the manifest of an existing crop.

    Every read checks the manifest's checksum (manifests written before checksums existed
    are read without one) and, for a combos crop, recomputes its fingerprint from the
    recorded combos: a manifest changed after sowing would otherwise label results with
    values they were not computed with.

    Raises
    ------
    FileNotFoundError
        If the crop has no manifest (it was never sown, or was deleted).
    CropFormatError
        If the manifest is from a newer xyzfarm, or damaged.
    """
    where = os.fspath(layout.manifest)
    redo = "restore crop.json from a copy of the crop folder, or delete the crop and sow it again."
    raw = _read_regular_file(layout, where, redo)
    try:
        data: dict[str, Any] = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise CropFormatError(f"the manifest {where!r} is damaged ({exc}); {redo}") from exc
    if not isinstance(data, dict):
        raise CropFormatError(f"the manifest {where!r} is damaged (not a JSON object); {redo}")
    version = data.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise CropFormatError(
            f"the manifest {where!r} has format version {version}, newer than this xyzfarm "
            f"understands ({FORMAT_VERSION}); upgrade xyzfarm to reap or grow it."
        )
    recorded = data.pop(CHECKSUM_KEY, None)
    if recorded is None:
        unknown = sorted(set(data) - _LEGACY_KEYS)
        if unknown:
            raise CropFormatError(
                f"the manifest {where!r} has no checksum and unknown fields {unknown}: it is "
                f"damaged; {redo}"
            )
    elif recorded != _checksum(data):
        raise CropFormatError(
            f"the manifest {where!r} fails its checksum (sha256 {recorded!r} recorded, "
            f"{_checksum(data)!r} now): it changed after sowing, so its coordinates cannot be "
            f"trusted to label the results; {redo}"
        )
    if not isinstance(version, int):
        raise CropFormatError(
            f"the manifest {where!r} is damaged (format version {version!r}); {redo}"
        )
    try:
        recomputed = combos_fingerprint(data)
    except Exception as exc:  # a damaged tagged value
        raise CropFormatError(
            f"the manifest {where!r} has combos that cannot be read back ({exc}); {redo}"
        ) from exc
    if recomputed is not None and recomputed != data.get("fingerprint"):
        raise CropFormatError(
            f"the manifest {where!r} records the fingerprint {data.get('fingerprint')!r}, but "
            f"its combos give {recomputed!r}: the combos changed after sowing, so they cannot "
            f"be trusted to label the results; {redo}"
        )
    return data


@dataclass(frozen=True)
class BatchPlan:
    """How a crop's cases are split into batches: ``crop.json``'s ``plan``."""

    num_cases: int
    num_batches: int
    #: the seed the case order was shuffled with; None: cases in sown order
    shuffle_seed: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BatchPlan:
        return cls(int(raw["num_cases"]), int(raw["num_batches"]), raw.get("shuffle_seed"))

    def to_json(self) -> dict[str, Any]:
        return {
            "num_cases": self.num_cases,
            "num_batches": self.num_batches,
            "shuffle_seed": self.shuffle_seed,
        }

    @property
    def largest_batch(self) -> int:
        """Cases in the largest batch (batches differ by at most one case)."""
        return max(1, -(-self.num_cases // max(1, self.num_batches)))

    def __str__(self) -> str:
        return str(self.to_json())


@dataclass(frozen=True)
class FarmerRecord:
    """What a crop was sown for: ``crop.json``'s ``farmer``; reaping delivers there."""

    #: 'runner', 'harvester' or 'sampler'
    kind: str
    #: the Harvester's or Sampler's file, relative to the crop's parent folder
    data_name: str | None = None
    engine: str | None = None

    @property
    def has_file(self) -> bool:
        """Whether reaping merges into a file (a Harvester's or Sampler's)."""
        return self.kind in ("harvester", "sampler")

    def data_path(self, parent_dir: Path) -> str:
        """The farmer's file, confined to the crop's parent folder.

        A crop file (perhaps a colleague's, copied in) must not decide where a reap writes:
        a ``data_name`` that is absolute or leads out of ``parent_dir`` (``..``, or a link
        there) is refused. Reaping into it is still one word away, with the path given by
        the user: ``--into`` on the command line, or the Harvester in the code.

        Raises
        ------
        CropFormatError
            Naming the path, the folder, and both ways out.
        """
        name = str(self.data_name)
        inside = parent_dir.resolve()
        target = (parent_dir / name).resolve()
        if not os.path.isabs(name) and target.is_relative_to(inside) and target != inside:
            return os.fspath(parent_dir / name)
        raise CropFormatError(
            f"crop.json names the {self.kind}'s file {name!r}, outside the crop's parent folder "
            f"{os.fspath(parent_dir)!r}: xyzfarm does not write where a crop's file says outside "
            f"it. Reap into it by naming it yourself: `xyzfarm reap ... --into "
            f"{os.fspath(target)}`, or crop.reap() on the crop made from your {self.kind}."
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FarmerRecord:
        return cls(str(raw["kind"]), raw.get("data_name"), raw.get("engine"))

    def to_json(self) -> dict[str, Any]:
        if self.kind == "runner":
            return {"kind": "runner"}
        return {"kind": self.kind, "data_name": self.data_name, "engine": self.engine}


@dataclass(frozen=True)
class Manifest:
    """A crop's manifest, ``crop.json``: what was sown, and how to label its results.

    Fields are named as in the file. ``combos``, ``constants`` and ``attrs`` hold the tagged
    JSON of :func:`encode` (decoded on demand: a pickled value needs its code);
    ``schema`` is the output description (``var_names`` / ``var_dims`` / ``var_coords``).
    """

    name: str
    #: a hash of the case list (see :func:`fingerprint`): sowing another sweep is refused
    fingerprint: str
    plan: BatchPlan
    #: 'combos' (a grid, values in ``combos``) or 'cases' (rows in ``cases.bin``)
    kind: str
    arg_names: tuple[str, ...]
    schema: Mapping[str, Any]
    combos: Mapping[str, Any] | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: constants passed to the function but not saved with its data: those given to
    #: ``sow_combos``/``sow_cases`` rather than by the Runner (as in xyzpy), unless they name
    #: a dimension (then they are its coordinate)
    unrecorded_constants: tuple[str, ...] = ()
    fn_name: str | None = None
    #: whether ``function.pkl`` was saved (workers and array tasks load it)
    has_function: bool = False
    fn_qualname: str | None = None
    #: the function's fingerprint (code, closure, defaults): growing with another is refused
    fn_fingerprint: str | None = None
    #: sha256 of ``function.pkl``, checked before it is unpickled
    fn_sha256: str | None = None
    #: digests of the globals the function reads, by name (see
    #: :func:`xyzfarm.node.shipping.globals_digests`): growing here with other values is
    #: refused, as workers compute with those pickled in ``function.pkl``
    fn_globals: Mapping[str, str] = field(default_factory=dict)
    farmer: FarmerRecord | None = None
    #: this sowing's id (16 hex digits), minted when the crop was sown and carried by every
    #: record of its files (see :mod:`xyzfarm.folder.records`); None for crops sown before ids
    sowing: str | None = None
    format_version: int = FORMAT_VERSION
    #: fields this release does not know (written by a newer one): kept, and written back
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- reading and writing -----------------------------------------------------------------

    @classmethod
    def read(cls, layout: CropLayout) -> Manifest:
        """Read and verify the manifest of the crop at ``layout``.

        Every read checks the manifest's checksum (manifests written before checksums existed
        are read without one) and, for a combos crop, recomputes its fingerprint from the
        recorded combos: a manifest changed after sowing would otherwise label results with
        values they were not computed with.

        Raises
        ------
        FileNotFoundError
            If the crop has no manifest (it was never sown, or was deleted).
        CropFormatError
            If the manifest is from a newer xyzfarm, or damaged.
        """
        return cls.from_json(_read_json(layout), where=os.fspath(layout.manifest))

    def write(self, layout: CropLayout) -> None:
        """Publish the manifest atomically, with a checksum of its content."""
        _write_json(layout, self.to_json())

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str = "crop.json") -> Manifest:
        """The manifest of a verified ``crop.json`` object (see :meth:`read`).

        Raises
        ------
        CropFormatError
            If a field the manifest needs is missing or of the wrong kind.
        """
        named = {f.name for f in fields(cls)} - {"extra"}
        try:
            farmer = raw.get("farmer")
            return cls(
                name=str(raw["name"]),
                fingerprint=str(raw["fingerprint"]),
                plan=BatchPlan.from_json(raw["plan"]),
                kind=str(raw["kind"]),
                arg_names=tuple(raw["arg_names"]),
                schema=dict(raw["schema"]),
                combos=None if raw.get("combos") is None else dict(raw["combos"]),
                constants=dict(raw.get("constants") or {}),
                attrs=dict(raw.get("attrs") or {}),
                unrecorded_constants=tuple(map(str, raw.get("unrecorded_constants") or ())),
                fn_name=raw.get("fn_name"),
                has_function=bool(raw.get("has_function", False)),
                fn_qualname=raw.get("fn_qualname"),
                fn_fingerprint=raw.get("fn_fingerprint"),
                fn_sha256=raw.get("fn_sha256"),
                fn_globals={str(k): str(v) for k, v in (raw.get("fn_globals") or {}).items()},
                farmer=FarmerRecord.from_json(farmer) if farmer else None,
                sowing=_sowing_hex(raw.get("sowing")),
                format_version=int(raw.get("format_version", FORMAT_VERSION)),
                extra={k: v for k, v in raw.items() if k not in named and k != CHECKSUM_KEY},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CropFormatError(
                f"the manifest {where!r} is damaged (field {exc} missing or malformed); "
                "restore crop.json from a copy of the crop folder, or delete the crop and sow "
                "it again."
            ) from exc

    def to_json(self) -> dict[str, Any]:
        """The ``crop.json`` object (without its checksum, which :meth:`write` adds)."""
        return {
            "format_version": self.format_version,
            "name": self.name,
            "fn_name": self.fn_name,
            "has_function": self.has_function,
            "fn_qualname": self.fn_qualname,
            "fn_fingerprint": self.fn_fingerprint,
            "fn_sha256": self.fn_sha256,
            # written only when there are some: other crop.json files stay as they were
            **({"fn_globals": dict(self.fn_globals)} if self.fn_globals else {}),
            "fingerprint": self.fingerprint,
            "plan": self.plan.to_json(),
            "kind": self.kind,
            "arg_names": list(self.arg_names),
            "combos": None if self.combos is None else dict(self.combos),
            "constants": dict(self.constants),
            "attrs": dict(self.attrs),
            # written only when there are some: other crop.json files stay as they were
            **(
                {"unrecorded_constants": list(self.unrecorded_constants)}
                if self.unrecorded_constants
                else {}
            ),
            "schema": dict(self.schema),
            "farmer": None if self.farmer is None else self.farmer.to_json(),
            # written only when there is one: crops sown before sowing ids stay as they were
            **({"sowing": self.sowing} if self.sowing is not None else {}),
            **self.extra,
        }

    # -- decoded values ----------------------------------------------------------------------

    @property
    def sowing_id(self) -> bytes | None:
        """The sowing id as the crop's records carry it (None: a crop sown before ids)."""
        return None if self.sowing is None else bytes.fromhex(self.sowing)

    @property
    def is_grid(self) -> bool:
        """Whether the crop was sown from combos alone (its cases form a grid)."""
        return self.kind == "combos"

    @property
    def var_names(self) -> tuple[str, ...] | None:
        """The output names; None for a function sown without labels (raw outputs)."""
        names = self.schema.get("var_names")
        return None if names is None else tuple(names)

    def decoded_combos(self) -> dict[str, Any]:
        """Each swept argument's values, in sown order ({} for a cases crop)."""
        return {n: decode(v) for n, v in (self.combos or {}).items()}

    def decoded_constants(self) -> dict[str, Any]:
        """Every constant the function is called with."""
        return {k: decode(v) for k, v in self.constants.items()}

    def recorded_constants(self) -> dict[str, Any]:
        """The constants saved with the data: coordinates or attributes of the Dataset."""
        skip = set(self.unrecorded_constants)
        return {k: decode(v) for k, v in self.constants.items() if k not in skip}

    def decoded_attrs(self) -> dict[str, Any]:
        return {k: decode(v) for k, v in self.attrs.items()}

    def unlabelled(self) -> Manifest:
        """This manifest as if sown without ``var_names``: reading keeps raw outputs."""
        return self.relabelled(None)

    def relabelled(self, var_names: Sequence[str] | None) -> Manifest:
        """This manifest with other output names (reaping raw outputs under new labels)."""
        names = None if var_names is None else list(var_names)
        return replace(self, schema={**self.schema, "var_names": names})


def _sowing_hex(raw: Any) -> str | None:
    """A manifest's sowing id, checked: 16 lowercase hex digits, or absent."""
    if raw is None:
        return None
    if not (isinstance(raw, str) and len(raw) == 16 and all(c in "0123456789abcdef" for c in raw)):
        raise ValueError(f"sowing {raw!r}")
    return raw


def sowing_or_none(layout: CropLayout) -> bytes | None:
    """The crop's sowing id, or None if it has none or its manifest cannot be read (what a
    failure that may be about that very manifest is recorded with)."""
    try:
        return Manifest.read(layout).sowing_id
    except (OSError, ValueError):
        return None
