"""Transition-model estimation errors harvested into an on-disk dataset, then evaluated.

Source: bastianalt/correlation_priors_for_rl
Path: simulations/sim_transition_model_learning.py (+ evaluation/eval_transition_model_learning.py)
Commit: 9a98f345ac10e9767d854cd7a9681057a50a9737
Exercises: xyz.Runner(var_names=None) of a function returning an xr.Dataset whose dimensions
    are given as constants (an int numpy array and two lists of strings);
    xyz.Harvester(runner, file) with a path in a sub-folder; harvest_combos(combos,
    constants=constants, parallel=True) with a string combo; xyz.load_ds and .sel/.mean as the
    evaluation script does.
Stand-in: experiment() fills the same Dataset (mean, std over nData x methods x metrics) from a
    seeded generator instead of estimating MDP transition models.
Changed: MC 20 -> 3, 20 dataset sizes -> 4; the results folder is relative.
"""
import sys
sys.path.append('..')

import os
import numpy as np
import xarray as xr
import xyzpy as xyz


def experiment(env, nData, methods, metrics, seed):
    # stand-in: same Dataset as the project's init_Dataset(['mean', 'std'], coords, dims)
    rng = np.random.default_rng(seed)
    coords = dict(nData=nData, methods=methods, metrics=metrics)
    dims = ['nData', 'methods', 'metrics']
    shape = (len(nData), len(methods), len(metrics))
    XR = xr.Dataset({'mean': (dims, rng.random(shape)), 'std': (dims, rng.random(shape))},
                    coords=coords)
    return XR


if __name__ == '__main__':

    # path to store result
    os.makedirs('results/modellearning', exist_ok=True)
    file = 'results/modellearning/result.h5'
    assert os.path.isdir(os.path.dirname(file))

    # number of Monte Carlo runs
    MC = 3

    # "outer" parameter sweep (performed via xyzpy)
    combos = dict(
        seed=np.r_[0:MC],
        env=['10x10_TunnelWorldCorner'],
    )

    # "inner" parameter sweep (manually implemented to share quantities across loops)
    constants = dict(
        nData=np.linspace(0, 1e4, 4, dtype=int),
        metrics=[
            # 'emd',
            'hellinger'
        ],
        methods=[
            'dir_sparse',
            'dir_uniform',
            'pg',
        ],
    )

    # run experiments
    runner = xyz.Runner(experiment, var_names=None)
    harvester = xyz.Harvester(runner, file)
    harvester.harvest_combos(combos, constants=constants, parallel=True)

    # evaluation/eval_transition_model_learning.py
    data_full = xyz.load_ds(file)
    data = data_full.sel(metrics='hellinger', env='10x10_TunnelWorldCorner').mean('seed')

    RESULTS = {"last_ds": harvester.last_ds, "full_ds": harvester.full_ds,
               "load_ds": data_full, "evaluated": data}
    RESULT_FILES = [file]
