"""Microwave-transmission decay fits swept over the fit window, labelled by a DataArray.

Source: MHDLab-Projects/MHD-Photoionization
Path: final/analysis/mwt/fit_xyz_mwt.py
Commit: 9699b9c97d50762f62f6ec3be73365211f83cbb6
Exercises: xyzpy.Runner with var_names (3), constants=dict(da_mwt=<DataArray>,
    pipe_fit=<function>), var_dims given as a DataArray's .dims tuples (one with time, two
    without), var_coords=da.coords (a DataArrayCoordinates with a string coordinate 'date');
    run_combos of a dict of two lists; then xr.merge with the input DataArray,
    dropna('time', how='all'), a stack of the run dimensions and .sel/.mean.
Stand-in: pipe_fit_mwt_3() returns the same three Datasets (fit curve over the input's
    dims; krm, dne without time) computed in closed form instead of an lmfit fit; the data
    (dAS_abs over kwt x time x date x run_num) are made here instead of read from a .cdf.
Changed: ds_fit_mwt.interp(time=...) is dropped (the stand-in's fit is on the input's time
    grid already); .xr_utils.stack_run() (the project's accessor) is written as
    .stack(run=['date', 'run_num']).
"""
#%%
import numpy as np
import xarray as xr

kwt = [0.1, 1.0]
time = np.linspace(-1, 4, 6)
date = ['2023-04-07', '2023-05-12']
run_num = [1, 2]
rng = np.random.default_rng(0)
da_fit_lecroy = xr.DataArray(
    np.exp(-np.abs(time))[None, :, None, None] * (1 + 0.1 * rng.random((2, 6, 2, 2))),
    dims=['kwt', 'time', 'date', 'run_num'],
    coords={'kwt': kwt, 'time': time, 'date': date, 'run_num': run_num},
    name='dAS_abs',
)
da_fit_lecroy[:, 0] = np.nan  # before the pulse: no data


def pipe_fit_mwt_3(da):
    # stand-in for the project's lmfit pipeline: (fit curves, parameters, their errors)
    window = pipe_fit_mwt_3.perform_fit_kwargs['fit_timewindow']
    krm = 1 / (1 + window.stop - window.start) * da.isel(time=1)
    dne = da.isel(time=1) * window.stop
    ds_p = xr.Dataset({'krm': krm, 'dne': dne})
    ds_fit = xr.Dataset({'AS_fit': da.where(da.time >= 0) * (1 - 0.01 * window.start)})
    return ds_fit, ds_p, ds_p * 0.1


pipe_fit_mwt_3.perform_fit_kwargs = {}

#%%
import xyzpy

def run_model(da_mwt, pipe_fit, **kwargs):

    pipe_fit.perform_fit_kwargs['fit_timewindow'] = slice(
        kwargs['fit_window_min'], kwargs['fit_window_max']
        )

    ds_fit_mwt, ds_p_mwt, ds_p_stderr_mwt = pipe_fit_mwt_3(da_mwt)
    ds_p_mwt['decay'] = 1/ds_p_mwt['krm']

    return ds_fit_mwt['AS_fit'].values, ds_p_mwt['decay'].values, ds_p_mwt['dne'].values

combos = {
    'fit_window_max': [10,15],
    'fit_window_min': [0.1, 1, 2]
}

r = xyzpy.Runner(
    run_model,
    var_names  =['AS_fit', 'decay', 'dne'],
    constants=dict(da_mwt=da_fit_lecroy, pipe_fit=pipe_fit_mwt_3),
    var_dims = {
        'AS_fit': da_fit_lecroy.dims,
        'decay': da_fit_lecroy.isel(time=0).dims,
        'dne': da_fit_lecroy.isel(time=0).dims
        },
    var_coords=da_fit_lecroy.coords,

)

ds_mwt = r.run_combos(combos)
ran = ds_mwt

ds_mwt = xr.merge([ds_mwt, da_fit_lecroy])

ds_mwt = ds_mwt.dropna('time',how='all')

ds_mwt = ds_mwt.stack(run=['date', 'run_num'])

decay = ds_mwt['decay'].sel(fit_window_min=1).mean('run')

RESULTS = {"run_combos": ran, "merged": ds_mwt.reset_index('run'), "decay": decay}
