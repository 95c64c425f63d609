"""Levelised cost of storage over discharge duration with labelled functions.

Source: energy-storage-analysis/LDES-Survey
Path: lcos/vis_lcos_ddnom.py (functions in lcos/lcos_fns.py)
Commit: 289529c57924abff501b7cad25545e83afbba1b0
Exercises: @xyzpy.label(var_names=['lcos']) (and ['CF']) on plain functions;
    fn.run_combos(combos, constants=constants)['lcos'] with combos mixing a numpy logspace,
    int lists and a list of strings ('coupled', 'decoupled'), NaN outputs where a case does
    not apply; then the project's post-processing: coordinate attrs, .sel, .isel, .drop,
    assign_coords, rename and xr.concat. Also calc_CF.run_combos of two logspaces.
Stand-in: the cost functions are our own simple expressions with the same signatures (the
    project's LCOS formulas are not copied); NaN where the project returns NaN.
Changed: 6 durations instead of 100; plotting dropped.
"""
#%%
import numpy as np
import xarray as xr
import xyzpy

# lcos_fns.py (stand-ins with the project's signatures and labels)
max_DD_hours = 8760

@xyzpy.label(var_names=['CF'])
def calc_CF(num_cycles_year, DD):
    CF = num_cycles_year*(DD/max_DD_hours)
    if CF > 1:
        return np.nan
    else:
        return CF

@xyzpy.label(var_names=['lcos'])
def calc_lcos_DD_nom(DD,DD_nom,coupling, CF, C_Ein, eta_RT, C_kW, C_kWh, LT):
    if coupling == 'coupled' and DD < DD_nom:
        return np.nan
    nominal = DD if coupling == 'decoupled' else DD_nom
    return C_Ein / eta_RT + (C_kW * DD / nominal + C_kWh * DD) / (LT * max_DD_hours * CF)

# vis_lcos_ddnom.py
C_Ein = 0.011 #Taken from https://www.eia.gov/electricity/state/
CF = 0.5
LT = 10

DD_noms = [10]
C_kWhs = [1, 10,100]
DDs = np.logspace(np.log10(1),np.log10(300), num=6)

constants = dict(
CF = CF,
C_Ein = C_Ein,
C_kW = 75,
LT = LT,
eta_RT = 0.85
)

combos = dict(
DD = DDs,
C_kWh = C_kWhs,
DD_nom = DD_noms,
coupling = ['coupled','decoupled']
)

da_lcos = calc_lcos_DD_nom.run_combos(combos, constants=constants)['lcos']
ran = da_lcos.copy()
da_lcos.attrs = dict(long_name='LCOS', units='USD/kWh')
da_lcos.coords['DD'].attrs = dict(long_name='Discharge Duration', units='h')

dec = da_lcos.sel(coupling='decoupled').isel(DD_nom=-1).drop('DD_nom').drop("coupling")
dec = dec.assign_coords(case="Decoupled: $DD_{nom} = DD$")
coup = da_lcos.sel(coupling='coupled')
cases_coup = ["Coupled: $DD_nom = {} h$".format(DD_nom.item()) for DD_nom in da_lcos.coords['DD_nom']]
cases_coup = [s.replace("DD_nom", "DD_{nom}") for s in cases_coup]
coup = coup.assign_coords(DD_nom = cases_coup).rename(DD_nom='case').drop('coupling')
da = xr.concat([dec, coup], 'case')

# vis_lcos_pub.py / albertus.py: the capacity factor map
CF_combos = dict(
DD = np.logspace(np.log2(1),np.log2(1024), base=2, num=4),
num_cycles_year = np.logspace(np.log10(1),np.log10(10000), base=10, num=3),
)
da_CF = calc_CF.run_combos(CF_combos)['CF']

RESULTS = {"run_combos": ran, "da": da, "da_CF": da_CF}
