"""Randomised range-finder error swept with a labelled function that is its own harvester.

Source: jcmgray/quimb
Path: quimb/experimental/misc/renormalization.ipynb (cells 18-19)
Commit: e00a0e7c283b295e56fd3cabc7428b6fc665e1b0
Exercises: @xyz.label(["err"], harvester=True) (var_names given positionally, an in-memory
    Harvester with no file); run.harvest_combos(cases=[{...}], combos={three ranges}) --
    cases and combos together; run.full_ds.
Stand-in: none needed: run() is small numpy linear algebra; it is rewritten here with a
    seeded generator for the projection (the notebook draws it from np.random unseeded).
Changed: seed range(100) -> range(3), q range(4) -> range(2), r range(1, 11) -> range(1, 4).
"""
import numpy as np
import xyzpy as xyz


@xyz.label(["err"], harvester=True)
def run(m, n, r, q=1, seed=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    G = rng.normal(size=(X.shape[1], r))
    Q = np.linalg.qr(X @ G)[0]  # m x r
    for _ in range(q):
        Q = np.linalg.qr(X.T @ Q)[0]
        Q = np.linalg.qr(X @ Q)[0]
    B = Q.T @ X  # (r, m) (m, n)
    Xc = Q @ B  # (m, r) (r, n)
    return np.linalg.norm(X - Xc)


run.harvest_combos(
    cases=[
        {"m": 10, "n": 100},
    ],
    combos={
        "seed": range(3),
        "q": range(2),
        "r": range(1, 4),
    },
)

RESULTS = {"full_ds": run.full_ds}
