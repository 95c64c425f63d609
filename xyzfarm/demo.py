"""The demo sweep: a small physics-like model run over a grid, harvested into a file.

The model is a disordered tight-binding chain (Anderson model): ``n`` sites, nearest-neighbour
hopping 1, random on-site energies uniform in ``[-W/2, W/2]``, filled with free fermions to
half filling. Its outputs are the ground-state energy per site and the lowest few single-particle
levels, so the dataset has a scalar output and an output with its own dimension.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import InvalidInputError
from .harvester import Harvester
from .labelling import label

NUM_LEVELS = 4

#: the demo grid: 3 sizes x 6 disorder strengths x 4 disorder samples = 72 cases
DEMO_COMBOS: dict[str, Any] = {
    "n": [16, 32, 64],
    "disorder": [0.0, 0.5, 1.0, 2.0, 4.0, 8.0],
    "seed": [0, 1, 2, 3],
}


@label(
    var_names=["energy", "levels"],
    var_dims={"levels": ["level"]},
    var_coords={"level": range(NUM_LEVELS)},
)
def chain(n: int, disorder: float, seed: int = 0) -> tuple[float, np.ndarray]:
    """Half-filling ground-state energy per site and lowest levels of a disordered chain."""
    rng = np.random.default_rng(seed)
    h = np.diag(rng.uniform(-disorder / 2, disorder / 2, size=n))
    hop = -np.ones(n - 1)
    h += np.diag(hop, 1) + np.diag(hop, -1)
    levels = np.linalg.eigvalsh(h)
    return float(levels[: n // 2].sum() / n), levels[:NUM_LEVELS]


def check_demo_folder(data_name: str | os.PathLike[str]) -> str:
    """The folder ``data_name`` would be written in; refuse one that is not an existing folder
    (a mistyped path must not leave new folders behind)."""
    folder = os.path.dirname(os.path.abspath(data_name))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise InvalidInputError(
            f"data_name={os.fspath(data_name)!r}: its folder {folder!r} {what}; create it "
            "first or name a file in an existing folder."
        )
    return folder


def run_demo(data_name: str | os.PathLike[str] = "xyzfarm-demo.h5", num_workers: int = 2) -> Any:
    """Cultivate the demo grid into ``data_name`` with pinned local workers; return the Harvester.

    The missing cases are sown into a crop next to the file, grown by ``num_workers``
    persistent worker processes each pinned to its own core (one thread each), and reaped
    into the file. Cases already in the file are skipped, so running it twice is cheap.

    Raises
    ------
    InvalidInputError
        If the folder of ``data_name`` does not exist: a demo never creates folders.
    """
    folder = check_demo_folder(data_name)
    harvester = Harvester(chain, data_name=data_name)
    harvester.cultivate(
        DEMO_COMBOS,
        name="demo",
        parent_dir=folder,
        batchsize=6,
        num_workers=num_workers,
        num_threads=1,
        verbosity=1,
    )
    return harvester


def plot_demo(ds: Any, png: str | os.PathLike[str]) -> str | None:
    """Plot energy against disorder (mean and spread over seeds) to ``png``, if matplotlib is
    installed (``pip install xyzfarm[plot]``); return the path, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for n in ds.n.values:
        energy = ds.energy.sel(n=n)
        mean, spread = energy.mean("seed"), energy.std("seed")
        ax.errorbar(
            ds.disorder.values,
            mean.values,
            yerr=spread.values,
            marker="o",
            capsize=3,
            label=f"n = {n}",
        )
    ax.set_xlabel("disorder W")
    ax.set_ylabel("ground-state energy per site")
    ax.set_title("Disordered chain at half filling (xyzfarm demo)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return os.fspath(png)
