"""Non-equilibrium ionisation: Runners with var_names=None returning Datasets, in a loop.

Source: MHDLab-Projects/MHD-Photoionization
Path: modeling/viability/dataset/calc_gamma.py
Commit: a02674ea5a4f344bf9b70f5b33df2fc8196cdf85
Exercises: xyzpy.Runner(fn, constants=<dict of DataArrays and numbers, copied and changed per
    loop>, var_names=None).run_combos({'P_in': [0]}) where fn returns an xr.Dataset over the
    constants' dims; then assign_coords, expand_dims, stack, xr.concat and unstack of the
    results, as the project builds ds_NE.
Stand-in: calc_NE_all_const_nx() returns the same Dataset (ne, sigma, gamma over T) from
    closed-form expressions of our own, without pint units; the inputs (mobility, e- density,
    recombination rates over T) are made here instead of read from cantera outputs.
Changed: 2 x 2 loop instead of 2 x 6; no pint.
"""
import numpy as np
import xarray as xr
import xyzpy

Ts = np.array([1500.0, 2000.0, 2500.0, 3000.0])
def over_T(values, name):
    return xr.DataArray(np.asarray(values, dtype=float), coords={'T': Ts}, dims='T', name=name)

ds_TP_params_mobility = over_T([0.2, 0.3, 0.35, 0.4], 'mobility')
ne0 = over_T([1e8, 1e10, 1e11, 1e12], 'e-')
krm = {'mm_sum': over_T([3e-9, 2e-9, 1e-9, 8e-10], 'krm'),
       'O2_A': over_T([1e-9, 9e-10, 7e-10, 5e-10], 'krm')}
eta_PI = over_T([0.3, 0.4, 0.45, 0.5], 'eta_PI')


def calc_NE_all_const_nx(P_in, eta, krm, mue_cant, B, u, ne0):
    # stand-in for the project's non-equilibrium electron density model (no pint)
    G_NE = eta * P_in / 4.34
    ne = ne0 + G_NE / krm
    ne.name = 'ne'
    sig_NE = ne * mue_cant * 1.6e-19
    sig_NE.name = 'sigma'
    gamma = eta * (u ** 2) * (B ** 2) * mue_cant / (krm * 4.34e9)
    gamma.name = 'gamma'
    ds = xr.merge([ne, sig_NE, gamma])
    return ds


combos = {
    # 'P_in' : np.array([0, *np.logspace(-10,10,11)]),
    # 'P_in' : [Quantity(0, 'W/cm**3').magnitude],
    'P_in' : [0],
}

constants = {
    'mue_cant': ds_TP_params_mobility,
    'u': 1e5,
    'eta': 1,
    'B': 5
}

dss = []

eta_dict = {'perf': 1, 'KOH': eta_PI}

for eta_str, eta in eta_dict.items():
    for krm_val in ['mm_sum', 'O2_A']:
        constants_temp = constants.copy()
        constants_temp['eta'] = eta
        constants_temp['ne0'] = ne0
        constants_temp['krm'] = krm[krm_val]
        ds = xyzpy.Runner(calc_NE_all_const_nx, constants = constants_temp, var_names=None).run_combos(combos)
        dss.append(ds.assign_coords(rxn=krm_val).assign_coords(eta=eta_str))


#%%

dss_new = []

for ds in dss:
    ds_new = ds.expand_dims('rxn').expand_dims('eta')
    ds_new = ds_new.stack(temp=['eta', 'rxn'])
    dss_new.append(ds_new)

ds_NE = xr.concat(dss_new, 'temp').unstack('temp')

RESULTS = {"first_run": dss[0], "last_run": dss[-1], "ds_NE": ds_NE}
