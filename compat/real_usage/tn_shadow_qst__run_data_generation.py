"""Measurement samples of a DMRG ground state generated with a Runner over sample index.

Source: teng10/tn-shadow-qst
Path: tn_generative/run_data_generation.py
Commit: 41cc49cb9db8241a39a4d76921121a90d5a669a2
Exercises: xyzpy.Runner(<lambda>, var_names=['measurement', 'basis'],
    var_dims={'measurement': ['site'], 'basis': ['site']}, var_coords={'site': np.arange(L)});
    run_combos({'sample': np.arange(n)}, parallel=False); the result merged with the target
    state's Dataset (xr.merge), then assign_attrs(**kwargs) and attrs['name'], and written
    with to_netcdf as the project saves it.
Stand-in: the jitted MPS sampler returns (measurement, basis) int8/int32 arrays over the
    sites from a seeded generator keyed by the sample's key instead of sampling a quimb MPS
    with jax; the target state's Dataset holds two small arrays instead of the MPS tensors.
Changed: 4 sites, 5 samples; no config flags (their values written in); the output folder
    is relative.
"""
import functools
from datetime import datetime
import os

import numpy as np
import xarray as xr
import xyzpy


def sample_fn(key, mps):
  # stand-in for mps_sampling.SAMPLER_REGISTRY[...] jitted with jax
  rng = np.random.default_rng(key)
  basis = rng.integers(0, 3, size=mps['L'], dtype=np.int32)
  measurement = rng.integers(0, 2, size=mps['L']).astype(np.int8)
  return measurement, basis


def generate_data(config):
  mps = {'L': config['L']}
  all_keys = [1000 + i for i in range(config['num_samples'])]
  sample_fn_mps = functools.partial(sample_fn, mps=mps)
  generate_fn = lambda sample: sample_fn_mps(all_keys[sample])
  runner = xyzpy.Runner(
      generate_fn,
      var_names=['measurement', 'basis'],
      var_dims={'measurement': ['site'], 'basis': ['site']},
      var_coords={'site': np.arange(mps['L'])},
  )
  combos = {
      'sample': np.arange(config['num_samples']),
  }
  ds = runner.run_combos(combos, parallel=False)
  ran = ds
  target_mps_ds = xr.Dataset({'tensor_0': (('i', 'j'), np.eye(2)),
                              'energy': ((), -1.25)})
  ds = xr.merge([target_mps_ds, ds])
  ds = ds.assign_attrs(**config['task_kwargs'])
  ds.attrs['name'] = config['task_name']
  # Saving data
  data_dir = 'data/%CURRENT_DATE'.replace('%CURRENT_DATE', 'today')
  if not os.path.exists(data_dir):
    os.makedirs(data_dir)
  filename = os.path.join(data_dir, 'surface_code_%JOB_ID')
  filename = filename.replace('%JOB_ID', str(0))
  ds.to_netcdf(filename + '.nc')
  return ran, ds


config = {'L': 4, 'num_samples': 5, 'task_name': 'surface_code',
          'task_kwargs': {'size_x': 2, 'size_y': 2, 'onsite_z_field': 0.1}}
ran, ds = generate_data(config)
RESULTS = {"run_combos": ran, "ds": ds}
RESULT_FILES = ['data/today/surface_code_0.nc']
