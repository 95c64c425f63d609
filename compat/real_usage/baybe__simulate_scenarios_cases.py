"""Bayesian-optimisation rollouts simulated as cases (DataFrame records) with label.

Source: emdgroup/baybe
Path: baybe/simulation/scenarios.py (simulate_scenarios, _Rollouts)
Commit: 700a0a0345370fe099d7649aeadffd487f84cdc0
Exercises: @xyzpy.label(var_names=[name]) on a closure returning a dataclass wrapping a
    DataFrame; run_cases(cases, parallel=True) where cases is a list of dicts from
    DataFrame.to_dict(orient="records") -- with a NaN Initial_Data in every case when no
    initial data is given, and paired (seed, data) cases otherwise; [result_variable];
    to_series().dropna() of the result, unpacked into one DataFrame.
Stand-in: _simulate_groupby() returns a DataFrame of the same columns from a seeded
    generator instead of running a baybe Campaign; scenarios map names to strings.
Changed: shortened to the xyzpy part (no warnings filter; active_settings'
    parallelize_simulation_runs default True is written in); _Rollouts.cases is inlined as
    a function; `from baybe._optional.simulation import xyzpy` -> `import xyzpy`.
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
    offset = 0.0 if initial_data is None else float(initial_data["Target"].max())
    measurements = offset + rng.random(n_doe_iterations)
    return pd.DataFrame({
        "Iteration": np.arange(n_doe_iterations),
        "Num_Experiments": np.arange(1, n_doe_iterations + 1) * batch_size,
        "Target_IterBest": measurements,
        "Target_CumBest": np.maximum.accumulate(measurements),
    })


def rollout_cases(n_mc_iterations, n_initial_data, initial_random_seed=_DEFAULT_SEED):
    """_Rollouts(...).cases"""
    # When MC iterations is None, we pair each initial dataset with its own seed
    if n_mc_iterations is None:
        return pd.DataFrame(
            {
                "Random_Seed": range(
                    initial_random_seed,
                    initial_random_seed + n_initial_data,
                ),
                "Initial_Data": range(n_initial_data),
            }
        )

    # Otherwise, create cross-product of MC iterations and initial data
    random_seeds = range(
        initial_random_seed, initial_random_seed + n_mc_iterations
    )
    initial_data = (
        range(n_initial_data) if n_initial_data else [float("nan")]
    )
    return pd.MultiIndex.from_product(
        [random_seeds, initial_data],
        names=["Random_Seed", "Initial_Data"],
    ).to_frame(index=False)


def simulate_scenarios(
    scenarios,
    lookup=None,
    /,
    *,
    batch_size: int = 1,
    n_doe_iterations: int | None = None,
    initial_data: list[pd.DataFrame] | None = None,
    groupby: list[str] | None = None,
    n_mc_iterations: int | None = 1,
    random_seed: int | None = None,
    impute_mode="error",
    noise_percent: float | None = None,
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
            Random_Seed: int,
            Initial_Data: int | None = None,
        ):
            """Callable for xyzpy simulation."""
            data = None if initial_data is None else initial_data[Initial_Data]
            result = _simulate_groupby(
                scenarios[Scenario],
                lookup,
                batch_size=batch_size,
                n_doe_iterations=n_doe_iterations,
                initial_data=data,
                groupby=groupby,
                random_seed=Random_Seed,
                impute_mode=impute_mode,
                noise_percent=noise_percent,
            )
            return SimulationResult(result)

        return simulate

    def unpack_simulation_results(array: DataArray) -> pd.DataFrame:
        """Turn the xyzpy simulation results into a flat dataframe."""
        # Convert to dataframe and remove the wrapper layer
        series = array.to_series().dropna()
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
    rollouts = rollout_cases(
        n_mc_iterations,
        len(initial_data) if initial_data is not None else None,
        _DEFAULT_SEED if random_seed is None else random_seed,
    )
    cases = pd.merge(
        pd.DataFrame({"Scenario": scenarios.keys()}), rollouts, how="cross"
    ).to_dict(orient="records")

    # Simulate and unpack
    result_variable = "simulation_result"
    batch_simulator = make_xyzpy_callable(result_variable)

    da_results = batch_simulator.run_cases(
        cases, parallel=True
    )[result_variable]

    df_results = unpack_simulation_results(da_results)

    return df_results


if __name__ == "__main__":
    scenarios = {"Random Recommender": "random", "Default Recommender": "botorch-gp"}
    df_mc = simulate_scenarios(scenarios, None, n_doe_iterations=3, n_mc_iterations=2)
    initial = [pd.DataFrame({"x": [0.1, 0.2], "Target": [0.5, 0.7]}),
               pd.DataFrame({"x": [0.3], "Target": [0.9]})]
    df_init = simulate_scenarios(scenarios, None, n_doe_iterations=2, n_mc_iterations=None,
                                 initial_data=initial)
    RESULTS = {"df_mc": df_mc, "df_init": df_init}
