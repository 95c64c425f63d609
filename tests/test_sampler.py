from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

import xyzfarm as xyz
from xyzfarm.errors import ComboValueError, InvalidInputError


def make_sampler(**kw):
    r = xyz.Runner(lambda x, y, c: (x + y + c, x - y), ["s", "d"], constants={"c": 100})
    return xyz.Sampler(r, default_combos={"x": [1, 2, 3], "y": np.linspace(0, 1, 5)}, **kw)


def test_sample_combos_returns_a_table_of_arguments_constants_and_outputs():
    np.random.seed(0)
    df = make_sampler().sample_combos(10, verbosity=0)
    assert list(df.columns) == ["x", "y", "c", "s", "d"]
    assert len(df) == 10
    np.testing.assert_allclose(df.s, df.x + df.y + 100)


def test_sampling_is_repeatable_with_numpy_seed():
    s = make_sampler()
    np.random.seed(3)
    a = s.gen_cases_fnargs(5)
    np.random.seed(3)
    assert s.gen_cases_fnargs(5) == a


def test_callables_draw_their_own_values():
    names, cases = make_sampler().gen_cases_fnargs(3, combos={"y": lambda: 7})
    assert names == ("x", "y") and all(c[1] == 7 for c in cases)


@pytest.mark.parametrize("engine", ["pickle", "csv", "json"])
def test_samples_accumulate_in_the_file(engine):
    s = make_sampler(data_name=f"samples.{engine}", engine=engine)
    s.sample_combos(4, verbosity=0)
    make_sampler(data_name=f"samples.{engine}", engine=engine).sample_combos(3, verbosity=0)
    df = xyz.load_df(f"samples.{engine}", engine=engine)
    assert len(df) == 7
    assert list(df.columns) == ["x", "y", "c", "s", "d"]


def test_add_df_accepts_dicts_and_appends():
    s = make_sampler(data_name="t.pkl")
    s.add_df({"x": [1], "s": [2.0]})
    s.add_df(pd.DataFrame({"x": [3], "s": [4.0]}))
    assert list(s.full_df.x) == [1, 3]


def test_a_bad_combo_to_sample_from_is_refused():
    with pytest.raises(ComboValueError, match="'x'"):
        make_sampler().gen_cases_fnargs(2, combos={"x": 5})
    with pytest.raises(InvalidInputError):
        xyz.Sampler(xyz.Runner(lambda x: x, "v")).gen_cases_fnargs(2)


PARALLEL_SAMPLE = """
import numpy as np, xyzfarm as xyz
r = xyz.Runner(lambda x: x * 2, "v")
s = xyz.Sampler(r, data_name="shared.pkl", default_combos={"x": range(10)})
for _ in range(5):
    s.sample_combos(2, verbosity=0)
"""


def test_parallel_samplers_appending_to_one_file_lose_nothing(python, python_env):
    procs = [subprocess.Popen([python, "-c", PARALLEL_SAMPLE], env=python_env) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    assert len(xyz.load_df("shared.pkl")) == 4 * 5 * 2


def test_delete_df_removes_the_file():
    s = make_sampler(data_name="t.pkl")
    s.sample_combos(2, verbosity=0)
    s.delete_df(backup=True)
    assert s.full_df is None
