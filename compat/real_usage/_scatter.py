"""Stands for TomMelt/PES3's `scatter` package: runTrajectory's signature and Dataset.

The project integrates a three-body classical trajectory; here a seeded generator fills the
same Dataset (vectors over cmp1 x cmp2 with string coordinates, float/int/bool scalars).
"""

import numpy as np
import xarray as xr


def runTrajectory(seed, trajID, v, J, epsilon, bmax, returnTraj=False):
    rng = np.random.default_rng([seed, trajID, v, J, int(100 * epsilon), int(10 * bmax)])
    ri, pi, Ri, Pi = (rng.normal(size=3) for _ in range(4))
    rf, pf, Rf, Pf = (rng.normal(size=3) for _ in range(4))
    fail = bool(trajID % 5 == 4)

    cmp2 = ['x', 'y', 'z']
    cmp1 = ['i', 'f']

    ds = xr.Dataset(
        data_vars={
            'r': (['cmp1', 'cmp2'], [ri, rf]),
            'p': (['cmp1', 'cmp2'], [pi, pf]),
            'R': (['cmp1', 'cmp2'], [Ri, Rf]),
            'P': (['cmp1', 'cmp2'], [Pi, Pf]),
            'tf': float(rng.uniform(100, 200)),
            'maxErr': float(rng.uniform(0, 1e-6)),
            'countstep': int(rng.integers(100, 1000)),
            'maxstep': float(rng.uniform(0.1, 1)),
            'converge': not fail,
            'fail': fail,
            'l': float(rng.uniform(0, 5)),
            'n': float(rng.uniform(0, 5)),
            'case': int(rng.integers(1, 4)),
        },
        coords={
            'cmp2': cmp2,
            'cmp1': cmp1,
        }
    )
    return ds
