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

from . import storage
from .errors import CropFormatError
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


def write(layout: CropLayout, manifest: Mapping[str, Any]) -> None:
    """Publish the manifest atomically."""
    text = json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=1)
    storage.write_bytes(layout.manifest, text.encode())


def read(layout: CropLayout) -> dict[str, Any]:
    """Read and check the manifest of an existing crop.

    Raises
    ------
    FileNotFoundError
        If the crop has no manifest (it was never sown, or was deleted).
    CropFormatError
        If the manifest is from a newer xyzfarm, or damaged.
    """
    try:
        text = layout.manifest.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no crop at {os.fspath(layout.root)!r}: sow it first (crop.sow_combos(...))."
        ) from None
    try:
        data: dict[str, Any] = json.loads(text)
    except ValueError as exc:
        raise CropFormatError(
            f"the manifest {os.fspath(layout.manifest)!r} is damaged ({exc}); delete the crop "
            "and sow it again."
        ) from exc
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CropFormatError(
            f"the crop {os.fspath(layout.root)!r} has format version {version!r}, newer than "
            f"this xyzfarm understands ({FORMAT_VERSION}); upgrade xyzfarm to reap or grow it."
        )
    return data
