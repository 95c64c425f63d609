"""Per-cluster profiles: named sets of scheduler options kept in TOML files.

```toml
[profile.mycluster]
scheduler = "slurm"
partition = "compute"
account = "proj42"
walltime = "12:00:00"
setup = ["module load python/3.11", "source ~/venvs/sim/bin/activate"]
workers_per_task = 4
```

Files are read in this order, later ones overriding earlier ones profile by profile:
``~/.config/xyzfarm/profiles.toml`` (the user's), ``xyzfarm.toml`` in the current folder (the
project's), and every file in ``$XYZFARM_PROFILES`` (``os.pathsep``-separated).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def profile_files() -> list[Path]:
    files = [Path.home() / ".config" / "xyzfarm" / "profiles.toml", Path("xyzfarm.toml")]
    files += [Path(p) for p in os.environ.get("XYZFARM_PROFILES", "").split(os.pathsep) if p]
    return files


def load_profile(name: str) -> dict[str, Any]:
    """The options of profile ``name``.

    Raises
    ------
    InvalidInputError
        If no file defines it (the message lists the files read and the profiles found), or a
        file is not valid TOML.
    """
    found: dict[str, dict[str, Any]] = {}
    read = []
    for path in profile_files():
        if not path.is_file():
            continue
        read.append(str(path))
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(
                f"the profile file {str(path)!r} is not valid TOML: {exc}"
            ) from exc
        for key, options in dict(data.get("profile", {})).items():
            found[key] = {**found.get(key, {}), **dict(options)}
    if name not in found:
        raise InvalidInputError(
            f"no profile {name!r} in {read or 'any profile file'} (profiles: {sorted(found)}); "
            f"define [profile.{name}] in one of {[str(p) for p in profile_files()]}."
        )
    return found[name]
