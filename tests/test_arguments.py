from __future__ import annotations

import pytest

from xyzfarm.errors import MissingArgumentError, UnknownArgumentError
from xyzfarm.sweep.arguments import check_arguments, fn_arg_names


def f(x, y, z=1, *, w=2):
    return x


def g(x, **kwargs):
    return x


def test_fn_arg_names_lists_keyword_passable_arguments_in_order():
    assert fn_arg_names(f) == ("x", "y", "z", "w")


def test_fn_arg_names_is_none_without_a_signature():
    assert fn_arg_names(print) is None or isinstance(fn_arg_names(print), tuple)


def test_an_unknown_argument_is_refused_naming_it_and_the_real_ones():
    with pytest.raises(UnknownArgumentError, match=r"'q'.*\['w', 'x', 'y', 'z'\]"):
        check_arguments(f, {"combos": ["x", "q"], "constants": ["y"]})


def test_a_missing_required_argument_is_refused_naming_it():
    with pytest.raises(MissingArgumentError, match="'y'"):
        check_arguments(f, {"combos": ["x"]})


def test_an_argument_given_twice_is_refused():
    with pytest.raises(UnknownArgumentError, match="both"):
        check_arguments(f, {"combos": ["x", "y"], "constants": ["x"]})


def test_functions_taking_kwargs_accept_any_name():
    check_arguments(g, {"combos": ["x", "anything"]})


def test_errors_subclass_the_builtin_type_error():
    with pytest.raises(TypeError):
        check_arguments(f, {"combos": ["nope"]})
