"""Sine-Gordon kink scattering off a Robin boundary, swept over velocity and k with a Runner.

Source: rparini/solitonscattering-examples
Path: snapshot/SGRobinSnapshot_xyz.py
Commit: bf763f5fd979408598edb4de5df84c078eb23fda
Exercises: xyz.Runner(fn, var_names=['u']); run_combos of a list of (name, numpy array)
    pairs with parallel=True, verbosity=2; the result written with
    to_netcdf(..., engine='h5netcdf') and read back.
Stand-in: tevolve() returns a float computed from (v, k) instead of time-evolving the field.
Changed: the grid is 4 x 3 instead of 981 x 501.
"""
import numpy as np
import xarray as xr

v0 = np.linspace(0.01, 0.99, 4)
k  = np.linspace(0, 0.5, 3)

### Make and save field
import xyzpy as xyz
def tevolve(v, k):
	# stand-in for SG.SineGordon(...).time_evolve(...) and the boundary value of u
	return float(2 * np.pi * np.tanh(3 * v) * np.exp(-k))

r = xyz.Runner(tevolve,
		var_names = ['u'],
		# var_coords = {'x':x}	# XXX: Issue is we don't know x before tevolve is run!  So we'll just save u at boundary for now.
	)

combos = [('v', v0), ('k', k)]
result = r.run_combos(combos, parallel=True, verbosity=2)
result.to_netcdf('Snapshot_xyz_t100_001.nc', engine='h5netcdf')

RESULTS = {"result": result}
RESULT_FILES = ['Snapshot_xyz_t100_001.nc']
