"""Bayesian-optimisation campaigns simulated per scenario and Monte Carlo run with label.

Source: emdgroup/baybe
Path: baybe/simulation/scenarios.py (simulate_scenarios)
Commit: 301ec87bd9fca010aa664baece7a467bdf2bf228
Exercises: @xyzpy.label(var_names=[name]) on a closure returning a dataclass that wraps a
    DataFrame (an object output); run_combos(combos, parallel=True) where combos is a dict
    of dict_keys (scenario names) and a range; [result_variable] of the Dataset;
    to_series() of the DataArray, unpacked into one DataFrame.
Stand-in: _simulate_groupby() returns a DataFrame of the same columns from a seeded
    generator instead of running a baybe Campaign; scenarios map names to strings instead
    of Campaign objects.
Changed: the function is shortened to its xyzpy part (no warnings filter, no env lookup of
    parallel_runs: True is its default); `from baybe._optional.simulation import xyzpy`
    -> `import xyzpy` (the module only re-exports it).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from xarray import DataArray

_DEFAULT_SEED = 1337


def _simulate_groupby(campaign, lookup=None, /, *, batch_size=1, n_doe_iterations=None,
                      initial_data=None, groupby=None, random_seed=_DEFAULT_SEED,
                      impute_mode="error", noise_percent=None):
    # stand-in for a baybe campaign run: same columns as simulate_experiment's result
    rng = np.random.default_rng([random_seed, len(str(campaign))])
    measurements = rng.random(n_doe_iterations)
    return pd.DataFrame({
        "Iteration": np.arange(n_doe_iterations),
        "Num_Experiments": np.arange(1, n_doe_iterations + 1) * batch_size,
        "Target_Measurements": [[m] for m in measurements],
        "Target_IterBest": measurements,
        "Target_CumBest": np.maximum.accumulate(measurements),
    })


def simulate_scenarios(
    scenarios,
    lookup=None,
    /,
    *,
    batch_size: int = 1,
    n_doe_iterations: int | None = None,
    initial_data: list[pd.DataFrame] | None = None,
    groupby: list[str] | None = None,
    n_mc_iterations: int = 1,
    random_seed: int | None = None,
    impute_mode="error",
    noise_percent: float | None = None,
    parallel_runs: bool | None = None,
) -> pd.DataFrame:

    @dataclass
    class SimulationResult:
        """A thin wrapper to enable dataframe-valued return values with xyzpy.

        Args:
            result: The result of the simulation.
        """

        result: pd.DataFrame

    def make_xyzpy_callable(result_variable: str) -> Callable:
        """Make a batch simulator that allows running campaigns in parallel."""
        import xyzpy

        @xyzpy.label(var_names=[result_variable])
        def simulate(
            Scenario: str,
            Monte_Carlo_Run: int,
            Initial_Data: int | None = None,
        ):
            """Callable for xyzpy simulation."""
            # The random seed logic is based on the assumption that exactly one of the
            # two counters is incremented by one per simulation run
            assert (Initial_Data is None) or (Monte_Carlo_Run == 0)
            Initial_Data = Initial_Data or 0

            # We increase the seed for every new run, i.e., even if only the initial
            # data is changed. This is particularly important for non-predictive
            # recommenders, which would otherwise repeatedly return the same candidates
            seed = (Monte_Carlo_Run + Initial_Data) + (
                _DEFAULT_SEED if random_seed is None else random_seed
            )

            data = None if initial_data is None else initial_data[Initial_Data]
            result = _simulate_groupby(
                scenarios[Scenario],
                lookup,
                batch_size=batch_size,
                n_doe_iterations=n_doe_iterations,
                initial_data=data,
                groupby=groupby,
                random_seed=seed,
                impute_mode=impute_mode,
                noise_percent=noise_percent,
            )
            if random_seed is not None:
                result["Random_Seed"] = seed
            return SimulationResult(result)

        return simulate

    def unpack_simulation_results(array: DataArray) -> pd.DataFrame:
        """Turn the xyzpy simulation results into a flat dataframe."""
        # Convert to dataframe and remove the wrapper layer
        series = array.to_series()
        series = series.apply(lambda x: x.result)

        # Un-nest all simulation results
        dfs = []
        for setting, df_result in series.items():
            df_setting = pd.DataFrame(
                [setting], columns=series.index.names, index=df_result.index
            )
            dfs.append(pd.concat([df_setting, df_result], axis=1))

        # Concatenate all results into a single dataframe
        return pd.concat(dfs, ignore_index=True)

    # Collect the settings to be simulated
    combos = {"Scenario": scenarios.keys()}
    combos["Monte_Carlo_Run"] = range(n_mc_iterations)
    if initial_data:
        combos["Initial_Data"] = range(len(initial_data))

    # Simulate and unpack
    result_variable = "simulation_result"
    batch_simulator = make_xyzpy_callable(result_variable)

    if parallel_runs is None:
        parallel_runs = True
    da_results = batch_simulator.run_combos(combos, parallel=parallel_runs)[
        result_variable
    ]

    df_results = unpack_simulation_results(da_results)

    return df_results


if __name__ == "__main__":
    scenarios = {"Random Recommender": "random", "Default Recommender": "botorch-gp"}
    df = simulate_scenarios(scenarios, None, n_doe_iterations=3, n_mc_iterations=3)
    df_seeded = simulate_scenarios(scenarios, None, n_doe_iterations=2, n_mc_iterations=2,
                                   random_seed=42, parallel_runs=False)
    RESULTS = {"df": df, "df_seeded": df_seeded}
