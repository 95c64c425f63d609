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


def test_the_df_runners_give_the_labelled_dataset_with_to_df_false_as_in_xyzpy():
    ds = xyz.combo_runner_to_df(
        add, {"a": [1, 2]}, "s", constants={"b": 1}, to_df=False, parse=True, verbosity=0
    )
    assert dict(ds.sizes) == {"a": 2} and ds["s"].values.tolist() == [2, 3]
    assert ds.attrs == {"b": 1}
    ds = xyz.case_runner_to_df(add, ["a", "b"], [(1, 2), (3, 4)], "s", to_df=False, verbosity=0)
    assert dict(ds.sizes) == {"a": 2, "b": 2} and float(ds["s"].sel(a=3, b=4)) == 7
    df = xyz.combo_runner_to_df(add, {"a": [1, 2]}, "s", constants={"b": 1}, to_df=True)
    assert df["s"].tolist() == [2, 3]


def test_case_runner_to_df_takes_shuffle_where_xyzpy_does_and_keeps_the_case_order():
    cases = [(a, 1) for a in range(6)]
    args = (None, None, None, None, None, None)  # var_dims ... attrs
    df = xyz.case_runner_to_df(add, ["a", "b"], cases, "s", *args, 3, verbosity=0)
    assert df["s"].tolist() == [a + 1 for a in range(6)]
