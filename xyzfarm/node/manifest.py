"""The crop manifest (``crop.json``): plain JSON a workstation can read without the user's code.

Values that JSON cannot hold exactly are tagged: numpy scalars and arrays keep their dtype,
tuples stay tuples, complex numbers survive; anything else is a base64 pickle (which then does
need its defining code to read back).

This module must stay lean: the worker imports it on every compute node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import CropFormatError
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


def write(layout: CropLayout, manifest: Mapping[str, Any]) -> None:
    """Publish the manifest atomically, with a checksum of its content."""
    content = {"format_version": FORMAT_VERSION, **manifest}
    content.pop(CHECKSUM_KEY, None)
    content[CHECKSUM_KEY] = _checksum(content)
    text = json.dumps(content, indent=1)
    storage.write_bytes(layout.manifest, text.encode())


def read(layout: CropLayout) -> dict[str, Any]:
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
    try:
        raw = layout.manifest.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no crop at {os.fspath(layout.root)!r}: sow it first (crop.sow_combos(...))."
        ) from None
    where = os.fspath(layout.manifest)
    redo = (
        "restore crop.json from a copy of the crop folder, or delete the crop and sow it again."
    )
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
