from __future__ import annotations

import xyzfarm as xyz


def add(a, b):
    return a + b


def test_runners_to_df_give_one_row_per_case():
    df = xyz.case_runner_to_df(add, ["a", "b"], [(1, 2), (3, 4)], "s", verbosity=0)
    assert df.columns.tolist() == ["a", "b", "s"] and df["s"].tolist() == [3, 7]
    df = xyz.combo_runner_to_df(add, {"a": [1, 2]}, "s", constants={"b": 1}, verbosity=0)
    assert df["s"].tolist() == [2, 3]


def test_results_to_ds_labels_nested_results():
    ds = xyz.results_to_ds([1, 2, 3], [("a", [1, 2, 3])], ["s"])
    assert ds["s"].dtype == int and ds["s"].sel(a=2) == 2
