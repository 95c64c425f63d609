from __future__ import annotations

import numpy as np
import pytest

import xyzfarm as xyz
from xyzfarm.errors import ComboValueError, DuplicateValueError, InvalidInputError
from xyzfarm.sweep.assemble import check_schema
from xyzfarm.sweep.combos import (
    as_combos,
    check_cases,
    check_combos,
    iter_combos,
    num_combos,
    product_with_cases,
)


def test_combos_keep_their_order_and_values():
    combos = check_combos({"b": range(3), "a": np.array([0.5, 1.5])})
    assert list(combos) == ["b", "a"]
    assert combos["b"] == [0, 1, 2]
    assert isinstance(combos["a"][0], np.floating)


def test_the_last_argument_varies_fastest():
    combos = check_combos({"x": [1, 2], "y": ["a", "b", "c"]})
    cases = list(iter_combos(combos))
    assert cases[:3] == [(1, "a"), (1, "b"), (1, "c")]
    assert num_combos(combos) == len(cases) == 6


def test_combos_given_as_pairs_are_accepted():
    assert check_combos([("x", [1, 2])]) == {"x": [1, 2]}


@pytest.mark.parametrize(
    "combos",
    [
        {"x": [1, 2], "y": (3,)},
        [("x", [1, 2]), ("y", (3,))],
        (("x", [1, 2]), ("y", (3,))),
        iter([("x", [1, 2]), ("y", (3,))]),
    ],
    ids=["mapping", "list-of-pairs", "tuple-of-pairs", "iterator-of-pairs"],
)
def test_xyzpys_dict_like_forms_all_read_as_the_same_ordered_combos(combos):
    assert list(as_combos(combos).items()) == [("x", [1, 2]), ("y", (3,))]


@pytest.mark.parametrize("pair", [("x", [1, 2]), ["x", [1, 2]]])
def test_a_single_name_values_pair_sweeps_one_argument_as_in_xyzpy(pair):
    assert check_combos(pair) == {"x": [1, 2]}


@pytest.mark.parametrize("empty", [None, {}, [], ()])
def test_no_combos_read_as_none(empty):
    assert as_combos(empty) == {}


def test_ellipsis_values_pass_through_the_form_check_for_the_harvester():
    assert as_combos([("x", ...)]) == {"x": ...}


def test_a_pair_sequence_naming_an_argument_twice_is_refused():
    with pytest.raises(DuplicateValueError, match="'x' twice"):
        as_combos([("x", [1]), ("x", [2])])


@pytest.mark.parametrize("combos", [[("x", [1], [2])], [(1, [2])], "x", [["x"]]])
def test_a_malformed_pair_sequence_is_refused_naming_it(combos):
    with pytest.raises(InvalidInputError):
        as_combos(combos)


# every public entry point reads combos through as_combos: each accepts xyzpy's forms


def _add(x, y):
    return x + y


PAIRS = [("x", [1, 2]), ("y", [10, 20, 30])]
EXPECTED = [[11, 21, 31], [12, 22, 32]]


def _sown_and_reaped(crop):
    crop.sow_combos(PAIRS)
    crop.grow_missing(verbosity=0)
    return crop.reap()


ENTRY_POINTS = {
    "combo_runner": lambda: xyz.combo_runner(_add, PAIRS, verbosity=0),
    "combo_runner_to_ds": lambda: xyz.combo_runner_to_ds(_add, PAIRS, "s", verbosity=0)["s"],
    "Runner.run_combos": lambda: xyz.Runner(_add, "s").run_combos(PAIRS, verbosity=0)["s"],
    "Harvester.harvest_combos": lambda: _harvested(xyz.Harvester(xyz.Runner(_add, "s"))),
    "Crop.sow_combos": lambda: _sown_and_reaped(xyz.Runner(_add, "s").Crop(name="c", batchsize=2))[
        "s"
    ],
    "Harvester.Crop.sow_combos": lambda: _sown_and_reaped(
        xyz.Harvester(xyz.Runner(_add, "s"), "h.h5").Crop(name="h", batchsize=2)
    )["s"],
}


def _harvested(h):
    h.harvest_combos(PAIRS, verbosity=0)
    return h.full_ds["s"]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_accepts_combos_as_name_values_pairs(entry):
    result = ENTRY_POINTS[entry]()
    values = result.transpose("x", "y").values.tolist() if hasattr(result, "dims") else result
    if isinstance(values, tuple):  # combo_runner nests tuples, as xyzpy
        values = [list(row) for row in values]
    assert values == EXPECTED


def test_a_sampler_draws_from_pairs_and_single_pairs_as_from_mappings():
    sampler = xyz.Sampler(xyz.Runner(_add, "s"), default_combos=[("x", [1, 2])])
    df = sampler.sample_combos(4, ("y", [10]), verbosity=0)
    assert set(df["y"]) == {10} and set(df["s"]) <= {11, 12}


@pytest.mark.parametrize("value", [3, 2.5, None, "abc", b"ab", {"a": 1}, np.zeros((2, 2))])
def test_a_combo_that_is_not_a_sequence_is_refused_naming_it(value):
    with pytest.raises(ComboValueError, match="combos\\['x'\\]"):
        check_combos({"x": value})


def test_a_scalar_combo_error_says_how_to_fix_it():
    with pytest.raises(TypeError, match=r"combos\['n'\] = \[3\]"):
        check_combos({"n": 3})


def test_an_empty_combo_is_refused():
    with pytest.raises(InvalidInputError, match="empty"):
        check_combos({"x": []})


def test_a_repeated_combo_value_is_refused_naming_the_value():
    with pytest.raises(DuplicateValueError, match="repeats the value 2"):
        check_combos({"x": [1, 2, 2]})


def test_combos_that_are_not_a_mapping_are_refused():
    with pytest.raises(InvalidInputError):
        check_combos(42)  # type: ignore[arg-type]


def test_mapping_cases_keep_the_key_order_of_the_first_case():
    names, rows = check_cases([{"y": 1, "x": 2}, {"x": 3, "y": 4}])
    assert names == ("y", "x")
    assert rows == [(1, 2), (4, 3)]


def test_tuple_cases_need_fn_args():
    with pytest.raises(InvalidInputError, match="fn_args"):
        check_cases([(1, 2)])
    assert check_cases([(1, 2)], ("a", "b")) == (("a", "b"), [(1, 2)])


def test_a_single_value_case_with_one_fn_arg_is_wrapped():
    assert check_cases([1, 2], ("a",)) == (("a",), [(1,), (2,)])


def test_cases_with_different_keys_are_refused():
    with pytest.raises(InvalidInputError, match="same arguments"):
        check_cases([{"x": 1}, {"y": 2}])


def test_a_repeated_case_is_refused():
    with pytest.raises(DuplicateValueError, match="more than once"):
        check_cases([{"x": 1}, {"x": 1}])


def test_no_cases_is_refused():
    with pytest.raises(InvalidInputError, match="empty"):
        check_cases([])


def test_cases_combine_with_every_combo_point():
    names, rows = product_with_cases(("a",), [(1,), (2,)], {"b": [10, 20]})
    assert names == ("a", "b")
    assert rows == [(1, 10), (1, 20), (2, 10), (2, 20)]


def test_an_argument_in_both_cases_and_combos_is_refused():
    with pytest.raises(InvalidInputError, match="both"):
        product_with_cases(("a",), [(1,)], {"a": [1]})


# -- property-based: any combos either give the full grid or a typed error -------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xyzfarm.errors import XyzfarmError  # noqa: E402

VALUES = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
ENTRY = st.one_of(
    VALUES,
    st.lists(VALUES, max_size=4),
    st.tuples(VALUES, VALUES),
    st.dictionaries(st.text(max_size=2), VALUES, max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=4), ENTRY, max_size=3))
def test_any_combos_give_their_full_product_or_a_typed_error_naming_the_value(combos):
    try:
        checked = check_combos(combos)
    except XyzfarmError as exc:
        assert isinstance(exc, (TypeError, ValueError))
        assert any(repr(k) in str(exc) for k in combos)
        return
    expected = 1
    for values in combos.values():
        expected *= len(values)
    assert num_combos(checked) == expected == len(list(iter_combos(checked)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.integers(),
        ),
        max_size=5,
    )
)
def test_any_cases_are_checked_or_refused_with_a_typed_error(cases):
    try:
        names, rows = check_cases(cases, ("a", "b"))
    except XyzfarmError as exc:
        assert isinstance(exc, (TypeError, ValueError)) and str(exc)
        return
    assert len(rows) == len(cases) and all(len(r) == len(names) for r in rows)
    assert len(set(rows)) == len(rows)


@pytest.mark.parametrize(
    "values",
    [["1", 1], [float("nan"), float("nan")], [1.5, "1.5"]],
    ids=["text-int", "nans", "float-text"],
)
def test_values_that_would_share_one_coordinate_label_are_refused_naming_both(values):
    with pytest.raises(DuplicateValueError, match="same value"):
        check_combos({"a": values})
    with pytest.raises(DuplicateValueError, match="same value"):
        check_schema("y", {"y": ["k"]}, {"k": values})
