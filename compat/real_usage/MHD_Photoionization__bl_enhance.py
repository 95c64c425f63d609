"""Boundary-layer conductivity enhancement: a Runner over a DataArray-valued function.

Source: MHDLab-Projects/MHD-Photoionization
Path: modeling/viability/analysis/bl_enhance.py
Commit: a02674ea5a4f344bf9b70f5b33df2fc8196cdf85
Exercises: xyzpy.Runner(fn, constants={two DataArrays}, var_names=['sigma_tot']) where fn
    returns an xr.DataArray (broadcast over the constants' dims: xyzpy 1.3.5 gives back a
    DataArray, not a Dataset); run_combos({'l_flow': np.linspace}).squeeze(); then .name =,
    .attrs = {} and .sel(T=[...], method='nearest') on it.
Stand-in: none for the function (noneq.calc_dsigma_tot is the formula itself, rewritten);
    the two conductivities are made here (DataArrays over T and P) instead of read from the
    project's cantera .cdf files.
Changed: l_flow has 5 values instead of 100.
"""
# %%
import numpy as np
import xarray as xr
import xyzpy

T = np.array([1500, 2000, 2500, 2700, 3000])
sig_flow = xr.DataArray(12.5, attrs={'units': 'S/m'})
sigma_bl = xr.DataArray(np.array([0.1, 0.5, 2.0, 5.0, 9.0])[:, None] * [1.0, 0.5],
                        dims=['T', 'P'], coords={'T': T, 'P': [1e5, 1e6]}, name='sigma')


def calc_dsigma_tot(sigma_bl, sigma_flow, l_flow):
    # the ratio of the layered conductivity to the flow's (written here, not copied)
    layered = sigma_flow + l_flow * (sigma_bl - sigma_flow)
    return (1 - l_flow) * sigma_flow ** 2 / layered ** 2


combos_l_flow = {'l_flow' :  np.linspace(0,1,5)}

r = xyzpy.Runner(calc_dsigma_tot, constants = {'sigma_flow' :sig_flow, 'sigma_bl': sigma_bl }, var_names = ['sigma_tot'])
ran = r.run_combos(combos_l_flow)
da_dsigma_tot = ran.squeeze()
da_dsigma_tot.name = 'enhancement factor'
da_dsigma_tot.attrs = {}

da_plot = da_dsigma_tot.sel(T=[1500,2000,2500,2700,3000], method='nearest')

RESULTS = {"run_combos": ran, "da_plot": da_plot, "last_ds": r.last_ds}
