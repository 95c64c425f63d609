"""Combustor equilibrium over fuel/seed/temperature/pressure grids with two Runners.

Source: MHDLab-Projects/MHD-Photoionization
Path: modeling/viability/dataset/cantera_gen.py
Commit: 9699b9c97d50762f62f6ec3be73365211f83cbb6
Exercises: xyzpy.Runner(fn, constants={<gas object>, <electron-transport object>, a string},
    var_names=['T_adiabatic', *paramnames, *gas.species_names]) (many scalar outputs);
    run_combos of a dict of four lists/numpy arrays; coordinate attrs set afterwards and
    ds.attrs = dict() ("gets rid of attributes added by xyzpy that cannot be written to
    cdf"); a second Runner whose constants include an xr.Dataset from the first, then
    .squeeze().
Stand-in: calc_combustor() and calc_TP() return one float per var_name from closed-form
    expressions instead of cantera equilibrium; the gas object only has species_names.
Changed: grids of 2-3 values instead of 3-6; three species instead of the mechanism's ~40.
"""
import numpy as np
import xarray as xr
import xyzpy


class GasStandIn:
    """What the runner reads of the cantera Solution."""
    species_names = ['K', 'KOH', 'e-']


def calc_combustor(phi, Kwt, inlet_T, P_combustor, gas_tr, electron_trans, fueltype):
    T = 1800 + 600 * np.exp(-(phi - 1) ** 2) + 0.3 * inlet_T
    params = [P_combustor / (287 * T), 1e3 * T, 1.2, 0.9, 10 * Kwt * T / 2000, 0.01, 1e-5, 0.1]
    species = [Kwt, Kwt / 10, Kwt * 1e-3 * T / 2000]
    return (T, *params, *species)


def calc_TP(phi, Kwt, T, P, gas_tr, electron_trans, ds_HP_species):
    K = float(ds_HP_species['K'].sel(phi=phi, Kwt=Kwt).mean())
    params = [P / (287 * T), 1e3 * T, 1.2, 0.9, 10 * Kwt * T / 2000, 0.01, 1e-5, 0.1]
    return (*params, K, K / 10, K * 1e-3 * T / 2000)


paramnames = ['rho','enthalpy','Cp','Cv','sigma','mobility','viscosity','thermalConduct']

gas_tr, electron_trans = GasStandIn(), {'CrossSectionFile': 'NETL_CF2017.csv'}

combos_HP = {
    'phi':[0.8,1.0],
    'Kwt':np.logspace(-6,-1,3),
    'inlet_T': np.linspace(300,1000,2),
    'P_combustor': np.logspace(5,7,2),
}

r = xyzpy.Runner(calc_combustor,
    constants =
        {'gas_tr':gas_tr,
        'electron_trans':electron_trans,
        'fueltype' :'C12H26'},
    var_names = ['T_adiabatic', *paramnames,*gas_tr.species_names])
ds = r.run_combos(combos_HP)
ran_HP = ds.copy()

ds.coords['Kwt'].attrs = dict(long_name = 'K mass fraction')
ds.coords['phi'].attrs = dict(long_name = 'Equivalence Ratio')
ds.coords['inlet_T'].attrs = dict(units = 'K', long_name = 'Inlet Temperature')
ds.coords['P_combustor'].attrs = dict(units = 'Pa', long_name = 'Combustor Pressure')
ds.attrs = dict() # Gets rid of attributes added by xyzpy that cannot be written to cdf
ds_HP_species = ds[gas_tr.species_names]

combos_TP = {
    'phi': [0.8, 1.0],
    'Kwt': np.logspace(-6,-1,3),
    'T': [2000.0, 3000.0],
    'P': [1e5],
}

r = xyzpy.Runner(calc_TP,
    constants =
        {'gas_tr':gas_tr,
        'electron_trans':electron_trans,
        'ds_HP_species': ds_HP_species
        },
    var_names = [*paramnames,*gas_tr.species_names])
ds = r.run_combos(combos_TP)
ran_TP = ds.copy()

ds.coords['Kwt'].attrs = dict(long_name = 'K mass fraction')
ds.coords['phi'].attrs = dict(long_name = 'Equivalence Ratio')
ds.coords['T'].attrs = dict(units = 'K', long_name = 'Temperature')
ds.coords['P'].attrs = dict(units = 'Pa', long_name = 'Pressure')
ds.attrs = dict()
ds = ds.squeeze()

RESULTS = {"ran_HP": ran_HP, "ran_TP": ran_TP, "ds_TP": ds}
