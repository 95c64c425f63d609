"""Quantum-circuit compression experiments sown into a default Crop and reaped to a file.

Source: BryceFuller/qiskit_camp
Path: compress.py
Commit: 580779fe50d2127391418ffe1a3fb3522287a25c
Exercises: `import xyzpy as xy`; xy.Runner(fn, var_names=None) of a function returning an
    xr.Dataset with its own dims (a string coordinate among them) and 0-d variables;
    xy.Harvester(runner, data_name=<folder/timestamped .h5>); harvester.Crop() with no name or
    batch size; sow_combos(dict with a range, constants={object}) inside a context manager;
    grow_missing(parallel=True); reap(wait=True, overwrite=True).
Stand-in: cross_validate_qnn_depth() returns the same Dataset (fidelity over iteration x
    plusminus, last_theta over layer x qubit x angle, two depths) from a seeded generator
    instead of optimising a circuit with qiskit; target_circuit is a small object with width()
    and depth() (a qiskit QuantumCircuit in the project).
Changed: grid 1 x 1 x 4 x 50 -> 1 x 1 x 2 x 2 (n_iters 200 -> 3); the results folder is made.
"""
# Python
import logging
import os
from contextlib import contextmanager
import time

# External
import numpy as np
import xarray as xr
import xyzpy as xy

from _standins import TargetCircuit  # stands for the qiskit circuit the project builds


def cross_validate_qnn_depth(target_circuit, n_shots, n_iters, n_layers, run=0):
    # stand-in for the SPSA optimisation of the compression model
    rng = np.random.default_rng([n_shots, n_iters, n_layers, run])
    results_fidelity_list = rng.random(n_iters * 2).tolist()
    last_params = rng.uniform(0, 2 * np.pi, n_layers * target_circuit.width() * 3)

    # Output results
    return xr.Dataset({
        "fidelity": xr.DataArray(np.array(results_fidelity_list).reshape((n_iters, 2)), coords={"iteration": range(n_iters), "plusminus": range(2)}, dims=["iteration", "plusminus"]),
        "last_theta": xr.DataArray(np.array(last_params).reshape((n_layers, target_circuit.width(), 3)), coords={"layer": range(n_layers), "qubit": range(target_circuit.width()), "angle": ["theta", "phi", "lambda"]}, dims=["layer", "qubit", "angle"]),
        "uncompiled_target_depth": xr.DataArray(target_circuit.depth()),
        # "compiled_target_depth": xr.DataArray(compiled_depth),
        "uncompiled_model_depth": xr.DataArray(2 * n_layers),
    })


@contextmanager
def experiment_crop(fn, experiment_name):
    """ Defines how to run a crop of experiments (i.e. all the experiments in
    the grid) in parallel and store results in a file.
    """
    experiment_runner = xy.Runner(fn, var_names=None)
    timestr = time.strftime("%Y%m%d-%H%M%S")
    filename = "experiment_results/{}_{}.h5".format(experiment_name, timestr)
    logging.critical("Running experiments: {}".format(filename))
    experiment_harvester = xy.Harvester(experiment_runner, data_name=filename)
    experiment = experiment_harvester.Crop()

    yield experiment

    experiment.grow_missing(parallel=True)
    results = experiment.reap(wait=True, overwrite=True)
    logging.critical(results)
    logging.critical("Saved experiments: {}".format(filename))
    OUT["results"] = results
    OUT["filename"] = filename


OUT = {}

if __name__ == "__main__":
    os.makedirs("experiment_results", exist_ok=True)

    logging.critical("Creating the circuit...")
    in_strings = ["0101", "0011"]
    in_weights = [4, 7]
    target_circuit = TargetCircuit(in_weights, in_strings)
    logging.critical("Circuit depth (uncompiled): {}".format(target_circuit.depth()))

    logging.critical("Running the experiments...")
    with experiment_crop(cross_validate_qnn_depth, "experiments") as experiment:
        grid_search = {
            'n_shots': [1000],
            'n_iters': [3],
            'n_layers': [2, 3],

            'run': range(2),
        }
        constants = {
            'target_circuit': target_circuit
        }
        experiment.sow_combos(grid_search, constants=constants)

    RESULTS = {"reaped": OUT["results"], "on_disk": xr.load_dataset(OUT["filename"])}
