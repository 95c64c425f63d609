"""Monte Carlo policy comparison sown as an xyzpy crop from a Harvester, then reaped.

Source: bastianalt/correlation_priors_for_rl
Path: simulations/sim_full_planning.py (+ evaluation/eval_full_planning.py for load_ds)
Commit: 9a98f345ac10e9767d854cd7a9681057a50a9737
Exercises: xyzpy.Runner(var_names=None) of a function returning an xr.Dataset over string
    coords taken from a resource; constants and resources on the Runner; Harvester with a
    data file in a sub-folder; harvester.Crop(name='result.h5', batchsize=5); sow_combos of a
    dict (numpy range, list); grow_missing(parallel=True, num_workers=4); reap(); then
    xyz.load_ds of the file and its attrs['env'] (a constant) as the evaluation script does.
Stand-in: experiment() returns the same Dataset (vars value, rewards over policies x time)
    filled from a seeded generator instead of planning in an MDP.
Changed: MC 50 -> 3, nSteps 2000 -> 6; the results folder is relative.
"""
import sys
sys.path.append('..')

import os
import numpy as np
import xarray as xr
import xyzpy


def experiment(env, policies, seed, **params):
    # stand-in: same Dataset layout as the project's init_Dataset(vars=['value', 'rewards'])
    rng = np.random.default_rng(seed + 1000 * params['planningUpdateFreq'])
    dims = ['policies', 'time']
    coords = dict(policies=policies, time=np.r_[0:params['nSteps']])
    shape = (len(policies), params['nSteps'])
    XR = xr.Dataset(
        {'value': (dims, rng.random(shape)), 'rewards': (dims, rng.random(shape).cumsum(axis=1))},
        coords=coords,
    )
    return XR


if __name__ == '__main__':

    # path to store result
    name = 'result.h5'
    os.makedirs('results/fullplanning/', exist_ok=True)
    file = os.path.join('results/fullplanning/', name)
    assert os.path.isdir(os.path.dirname(file))

    # number of Monte Carlo runs
    MC = 3

    # "outer" parameter sweep (performed via xyzpy)
    combos = dict(
        seed=np.r_[0:MC],
        planningUpdateFreq=[10, 50],
    )

    # "inner" parameter sweep (manually implemented to share quantities across loops)
    resources = dict(
        policies=['dir_sparse_sampling',
                  'dir_sparse_mean',
                  'dir_uniform_sampling',
                  'dir_uniform_mean',
                  'pg_sampling',
                  'pg_mean',
                  ],
    )

    # other simulation parameters
    constants = dict(
        env='10x10_TunnelWorldCorner',
        epsilon=0.0,
        nModelSamples=10,
        nSteps=6,
    )

    # run experiments
    runner = xyzpy.Runner(experiment, var_names=None, constants=constants, resources=resources)
    harvester = xyzpy.Harvester(runner, file)
    crop = harvester.Crop(name=name, batchsize=5)
    crop.sow_combos(combos)
    crop.grow_missing(parallel=True, num_workers=4)
    crop.reap()

    # evaluation/eval_full_planning.py
    data_full = xyzpy.load_ds(file)
    env = data_full.attrs['env']
    data = data_full['value'].sel(planningUpdateFreq=10)

    RESULTS = {"full_ds": harvester.full_ds, "load_ds": data_full, "env": env,
               "value_sel": data}
    RESULT_FILES = [file]
