from __future__ import annotations

import concurrent.futures as cf
import os

import pytest

from xyzfarm.errors import InvalidInputError
from xyzfarm.sweep import execute


def add(x, y, c=0):
    return x + y + c


def test_make_caller_passes_values_by_name_and_fixed_arguments():
    call = execute.make_caller(add, ("y", "x"), {"c": 100})
    assert call(1, 2) == 103


def test_make_caller_handles_names_that_are_not_identifiers():
    def fn(**kw):
        return kw

    call = execute.make_caller(fn, ("not an id", "x"), {"class": 1, "ok": 2})
    assert call(1, 2) == {"not an id": 1, "x": 2, "class": 1, "ok": 2}


def test_a_value_is_never_compiled_into_the_trampoline():
    evil = "__import__('os').system('false')"
    call = execute.make_caller(lambda x, c: (x, c), ("x",), {"c": evil})
    assert call(1) == (1, evil)


def test_serial_run_returns_results_in_case_order():
    rows = [(i, 10 * i) for i in range(200)]
    assert execute.run(add, ("x", "y"), rows) == [11 * i for i in range(200)]


def test_serial_run_with_a_progress_bar_gives_the_same_results(capsys):
    rows = [(i, 1) for i in range(500)]
    out = execute.run(add, ("x", "y"), rows, verbosity=2, desc="adding")
    assert out == [i + 1 for i in range(500)]
    assert "adding" in capsys.readouterr().err


def test_a_failing_case_is_named_in_the_exception():
    def fail_on_3(x):
        if x == 3:
            raise ZeroDivisionError("boom")
        return x

    with pytest.raises(ZeroDivisionError) as info:
        execute.run(fail_on_3, ("x",), [(i,) for i in range(6)])
    assert any("x=3" in note for note in getattr(info.value, "__notes__", []))


def test_thread_executor_runs_every_case_in_order():
    rows = [(i, i) for i in range(100)]
    with cf.ThreadPoolExecutor(2) as ex:
        assert execute.run(add, ("x", "y"), rows, executor=ex) == [2 * i for i in range(100)]


def test_process_pool_runs_lambdas_and_closures():
    offset = 7
    rows = [(i,) for i in range(50)]
    out = execute.run(lambda x: (x + offset, os.getpid()), ("x",), rows, num_workers=2)
    assert [r[0] for r in out] == [i + 7 for i in range(50)]
    assert os.getpid() not in {r[1] for r in out}


def test_parallel_without_an_executor_uses_a_process_pool():
    out = execute.run(add, ("x", "y"), [(1, 2), (3, 4)], {"c": 1}, parallel=True)
    assert out == [4, 8]


def test_an_executor_without_submit_is_refused():
    with pytest.raises(InvalidInputError, match="submit"):
        execute.run(add, ("x", "y"), [(1, 2)], executor=object())


def test_a_failing_case_traceback_shows_the_call_line_and_the_users_file(user_module):
    import traceback

    from xyzfarm.sweep.execute import make_caller

    folder = user_module("tbmod", "def f(x, c):\n    raise ValueError(x + c)\n")
    import tbmod

    call = make_caller(tbmod.f, ["x"], {"c": 1})
    try:
        call(1)
    except ValueError:
        text = traceback.format_exc()
    assert "return _fn(x=_v0, c=_c0)" in text  # the trampoline's line is shown
    assert f'File "{folder / "tbmod.py"}", line 2, in f' in text


def test_a_multiprocessing_thread_pool_is_used_through_apply_async():
    from multiprocessing.pool import ThreadPool

    from xyzfarm import combo_runner

    with ThreadPool(2) as pool:
        assert combo_runner(lambda x: 2 * x, {"x": [1, 2]}, executor=pool, verbosity=0) == (2, 4)
