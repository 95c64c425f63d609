"""Static flight envelope of a UAV: trim inputs over a 6-axis state grid with a Runner.

Source: Georacer/uav_ftc
Path: include/uav_ftc/trim_script.py
Commit: 8f098498f44969fae0183092b7efd53eb5eaabf1
Exercises: xyz.Runner with six var_names (floats, a float cost and a bool success flag),
    resources={'trimmer': obj}, run_combos of a dict of six axes where four are single-value
    lists and two are numpy linspaces; trimming fails in part of the envelope, where the
    project's model returns None for the four inputs (object outputs mixed with floats).
Stand-in: Trimmer.find_trim_input() returns (Inputs, cost, success) from a closed-form
    expression instead of scipy's minimize over the aircraft model; it fails (Inputs of
    None) above a fixed angle of attack, as an infeasible trim does.
Changed: the grid is 4 x 3 instead of 10 x 10.
"""
# Trim the aircraft model to find the domain where a trim input set exists

import numpy as np
import xarray as xr
import xyzpy as xyz


class Inputs:
    def __init__(self, delta_a=0, delta_e=0, delta_t=0, delta_r=0):
        self.delta_a = delta_a
        self.delta_e = delta_e
        self.delta_t = delta_t
        self.delta_r = delta_r


class Trimmer:
    # stand-in: same interface as the project's Trimmer, no optimisation
    def setup_trim_states(self, phi, theta, Va, alpha, beta, r, verbose=False):
        self.x_des = (phi, theta, Va, alpha, beta, r)

    def find_trim_input(self, verbose=False):
        phi, theta, Va, alpha, beta, r = self.x_des
        if alpha > np.deg2rad(6):
            return (Inputs(None, None, None, None), 1e3 * alpha, False)
        trim_inputs = Inputs(0.01 * phi, -0.1 * alpha * Va, 0.02 * Va + 0.1, 0.5 * beta + r)
        return (trim_inputs, float((alpha * Va) ** 2), True)


class FlightEnvelope:

    axes_dict = None
    axes_names = None
    trimmer = None
    static_trim = None

    def __init__(self, axes_dict: dict, trimmer: Trimmer):
        self.axes_dict = axes_dict
        self.axes_names = ['Va', 'alpha', 'beta', 'phi', 'theta', 'r']
        self.trimmer = trimmer

        # Verify axes_dict has the correct axes names
        if not set(self.axes_dict.keys()) == set(self.axes_names):
            raise KeyError('Not all state parameters provided')

    def find_static_trim(self):
        # Get data values dimension
        # domain_tuples = self.axes_dict.items()
        runner = xyz.Runner(build_fe_element,
                            var_names=['delta_a', 'delta_e', 'delta_t', 'delta_r', 'cost', 'success'],
                            # var_dims={#'trim_inputs': self.axes_names,
                                      #'cost': self.axes_names,
                                    #   'success': self.axes_names},
                            resources={'trimmer': self.trimmer},
                            # fn_args=['phi', 'theta', 'Va', 'alpha', 'beta', 'r', 'trimmer']
                            # fn_args=['trimmer']
                            )
        self.static_trim = runner.run_combos(self.axes_dict)


# def build_fe_element(*indices, axes_dict=None, trimmer=Trimmer()):
def build_fe_element(phi, theta, Va, alpha, beta, r, trimmer=Trimmer()):
    trimmer.setup_trim_states(phi, theta, Va, alpha, beta, r)
    trim_inputs, cost, success = trimmer.find_trim_input()
    return trim_inputs.delta_a, trim_inputs.delta_e, trim_inputs.delta_t, trim_inputs.delta_r, cost, success


if __name__ == "__main__":

    trimmer = Trimmer()

    # Static Flight envelope construction
    domain = {'Va': np.linspace(5, 15, 4),
              'alpha': np.linspace(np.deg2rad(0), np.deg2rad(10), 3),
              'beta': [0],
              'phi': [0],
              'theta': [0],
              'r': [0]}

    flight_envelope = FlightEnvelope(domain, trimmer)
    flight_envelope.find_static_trim()

    RESULTS = {"static_trim": flight_envelope.static_trim}
