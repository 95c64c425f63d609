"""Absorption cross sections over temperature and wavelength, Series as constants.

Source: MHDLab-Projects/MHD-Photoionization
Path: pi_paper_utils/abscs.py (calc_ds_cs)
Commit: c29a81c611269d1babeeaef44151c887d452c899
Exercises: xyzpy.Runner(fn, var_names=[6 names], constants={three pandas Series indexed by
    wavelength}); run_combos({'T': numpy array, 'wl': list}); then coordinate attrs and each
    variable's .name/.attrs set in a loop, as the project does.
Stand-in: calc_css() returns six floats from the Series and closed-form temperature
    dependences of our own instead of the project's fits and literature data files; the
    Series are made here instead of read from the data files.
Changed: 3 temperatures and 2 wavelengths instead of 50 x 100.
"""
import numpy as np
import pandas as pd
import xyzpy


def calc_css(
        wl,
        T,
        cs_K,
        cs_KOH1800,
        cs_CO
):
    # stand-in temperature dependences
    H2O = 1e-22 * np.exp(-wl / 100) * T / 1000
    CO2 = 1e-23 * np.exp(-wl / 80) * (T / 1000) ** 2
    O2 = 1e-21 * np.exp(-(wl - 180) ** 2 / 400) * T / 2000
    K = cs_K[wl]
    KOH = cs_KOH1800[wl]
    CO = cs_CO[wl]

    return K, CO2, H2O, KOH, O2, CO


def calc_ds_cs(
        Ts,
        wls=np.linspace(190, 285, 100)
):
    idx = pd.Index(wls, name='wavelength')
    cs_K = pd.Series(np.linspace(1e-20, 2e-20, len(wls)), index=idx, name='K CS')
    cs_KOH1800 = pd.Series(np.linspace(3e-18, 1e-18, len(wls)), index=idx, name='KOH CS')
    cs_CO = pd.Series(np.linspace(5e-19, 0, len(wls)), index=idx, name='CO CS')

    combos = {
        'T': Ts,
        'wl': wls
    }

    r = xyzpy.Runner(
        calc_css,
        var_names=['K', 'CO2', 'H2O', 'KOH', 'O2', 'CO'],
        constants={
            'cs_K': cs_K,
            'cs_KOH1800': cs_KOH1800,
            'cs_CO': cs_CO
        }
    )

    ds_cs = r.run_combos(combos)
    ran = ds_cs.copy()

    ds_cs.coords['T'].attrs = dict(
        long_name='Temperature',
        units='K'
    )
    ds_cs.coords['wl'].attrs = dict(
        long_name='Wavelength',
        units='nm'
    )

    for var in ds_cs.data_vars:
        ds_cs[var].name = 'cross section'
        ds_cs[var].attrs = dict(
            long_name='Absorption Cross Section',
            units='cm^2/molecule'
        )

    return ran, ds_cs


if __name__ == '__main__':
    ran, ds = calc_ds_cs(np.linspace(1000,3000, 3), wls=[248, 266])
    RESULTS = {"run_combos": ran, "ds_cs": ds}
