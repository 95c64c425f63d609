"""Zero crossing of beta(P) for every other coordinate of a DataArray, swept with a Runner.

Source: MHDLab-Projects/MHD-Photoionization
Path: modeling/viability/dataset/calc_P_zero.py
Commit: a02674ea5a4f344bf9b70f5b33df2fc8196cdf85
Exercises: xyzpy.Runner(fn, constants={'beta': <DataArray>}, var_names=['P_zero']) of a
    function taking **coords; run_combos of a dict built from the DataArray's coordinate
    .values (float arrays and numpy string arrays: eta, rxn); NaN results where no or several
    roots; ds_out.attrs = {} and ds_out.to_netcdf(...).
Stand-in: calc_beta_zero() finds sign changes of beta along P with numpy instead of a scipy
    spline's roots; beta is made here instead of read from the project's dataset.
Changed: a 2 x 2 x 1 x 2 x 2 x 2 grid; output/ is made.
"""
import os
import numpy as np
import xarray as xr

coords = {
    'T': [2000.0, 3000.0], 'phi': [0.8, 1.0], 'Kwt': [0.01], 'eta': ['perf', 'KOH'],
    'l_flow': [0.0, 0.9], 'rxn': ['mm_sum', 'O2_A'], 'P': np.logspace(4, 7, 7),
}
shape = [len(v) for v in coords.values()]
grid = np.indices(shape[:-1]).sum(axis=0)[..., None]
beta = xr.DataArray(
    np.cos(np.log10(coords['P']) * (1 + 0.3 * grid)) - 0.2 * grid,
    dims=list(coords), coords=coords, name='beta')


def calc_beta_zero(beta, **coords):

    beta_sel_T = beta.sel(**coords)
    xs = beta_sel_T.coords['P'].values
    ys = beta_sel_T.values
    # stand-in for InterpolatedUnivariateSpline(xs, ys).roots()
    crossings = np.nonzero(np.diff(np.sign(ys)))[0]
    roots = [xs[i] - ys[i] * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i]) for i in crossings]
    if len(roots) == 0:
        return np.nan
    elif len(roots) == 1:
        return roots[0]
    else:
        return np.nan

# %%

import xyzpy

r = xyzpy.Runner(calc_beta_zero,
    constants={'beta': beta},
    var_names = ['P_zero'])

combos = {
    'T' : beta.coords['T'].values,
    'phi': beta.coords['phi'].values,
    'Kwt': beta.coords['Kwt'].values,
    # 'P_in' : [0],
    # 'analysis': beta.coords['analysis'].values,
    'eta': beta.coords['eta'].values,
    'l_flow': beta.coords['l_flow'].values,
    'rxn': beta.coords['rxn'].values
}

ds_out = r.run_combos(combos)
ran = ds_out.copy()

ds_out.attrs = {}
os.makedirs('output', exist_ok=True)
ds_out.to_netcdf('output/P_zero.cdf')

RESULTS = {"run_combos": ran, "ds_out": ds_out}
RESULT_FILES = ['output/P_zero.cdf']
