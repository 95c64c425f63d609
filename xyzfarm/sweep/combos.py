"""Combos and cases: validate what the user swept and turn it into an ordered list of cases.

Pure functions over plain data; nothing here touches the disk or calls the user's function.

* **combos** are a mapping ``{arg_name: sequence_of_values}``, or (as in xyzpy) a sequence of
  ``(arg_name, values)`` pairs or one such pair; :func:`as_combos` is the one place that reads
  all three. Their cases are the cartesian product, in the order given (last varies fastest).
* **cases** are explicit points: mappings ``{arg_name: value}`` or tuples in ``fn_args`` order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ComboValueError, DuplicateValueError, InvalidInputError
from .arguments import Case as Case  # re-exported: run, frames and sow take it from here


def _is_value_sequence(values: Any) -> bool:
    if isinstance(values, (str, bytes)):
        return False
    if isinstance(values, np.ndarray):
        return values.ndim == 1
    return isinstance(values, Iterable) and not isinstance(values, Mapping)


#: what every public function accepts as combos
CombosLike = Mapping[str, Any] | Iterable[tuple[str, Any]]


def as_combos(combos: CombosLike | None) -> dict[str, Any]:
    """Read combos given in any of xyzpy's forms as ``{name: values}``, in the given order.

    Only the form is checked here (names, pairs); values are checked by :func:`check_combos`.
    ``...`` values (a Harvester's "every existing value") pass through unchanged.

    Parameters
    ----------
    combos : mapping, sequence of (name, values) pairs, one such pair, or None
        ``{"x": [1, 2]}``, ``[("x", [1, 2]), ("y", [3])]`` or ``("x", [1, 2])``; None and
        empty sequences give no combos.

    Raises
    ------
    InvalidInputError
        If ``combos`` is none of these forms, or a name is not a string.
    DuplicateValueError
        If a sequence of pairs names an argument twice.
    """
    if combos is None:
        return {}
    if isinstance(combos, Mapping):
        items = list(combos.items())
    else:
        try:
            given = list(combos)
            # a single pair ("x", [1, 2]): xyzpy's form when sweeping one argument
            pairs = [tuple(given)] if given and isinstance(given[0], str) else given
            items = [(k, v) for k, v in pairs]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"combos must be a mapping of argument name to values or a sequence of "
                f"(name, values) pairs, got {combos!r}; e.g. {{'x': [1, 2, 3]}} or "
                "[('x', [1, 2, 3])]."
            ) from None
    named: dict[str, Any] = {}
    for name, values in items:
        if not isinstance(name, str):
            raise InvalidInputError(
                f"combos key {name!r} is not a string: keys must be the function's argument names."
            )
        if name in named:
            raise DuplicateValueError(f"combos name the argument {name!r} twice; give it once.")
        named[name] = values
    return named


def check_combos(combos: CombosLike | None) -> dict[str, list[Any]]:
    """Validate combos and return them as ``{name: list_of_values}`` in the given order.

    Parameters
    ----------
    combos : mapping, sequence of (name, values) pairs, one such pair, or None
        Any form :func:`as_combos` reads. Each value must be a one-dimensional, non-empty
        sequence (list, tuple, range, 1-D array, ...) without repeated values.

    Raises
    ------
    ComboValueError
        If a value is a scalar, a string, a mapping or a multi-dimensional array.
    DuplicateValueError
        If a sequence repeats a value (the coordinate would be ambiguous), or an argument is
        named twice.
    InvalidInputError
        If ``combos`` is not one of the accepted forms or a sequence is empty.
    """
    checked: dict[str, list[Any]] = {}
    for name, values in as_combos(combos).items():
        if hasattr(values, "dims") and hasattr(values, "values"):
            # a coordinate taken from xarray (da.coords['k']): its values, never the 0-d
            # DataArrays that iterating it gives (xyzpy fails on those: unhashable)
            values = values.values
        if not _is_value_sequence(values):
            raise ComboValueError(
                f"combos[{name!r}] is {values!r}, not a sequence of values; "
                f"to sweep a single value write combos[{name!r}] = [{values!r}], "
                "or pass it in constants."
            )
        # list() keeps numpy scalar types: the function sees what iterating would give it
        as_list = list(values)
        if not as_list:
            raise InvalidInputError(f"combos[{name!r}] is empty; give it at least one value.")
        _check_unique(as_list, f"combos[{name!r}]")
        checked[name] = as_list
    return checked


#: stands for every NaN label: NaN != NaN, yet two NaN coordinate values are one label
_NAN = object()


def check_labels(values: Sequence[Any], what: str) -> None:
    """Refuse distinct values that become the same coordinate label.

    A set tells ``'1'`` from ``1`` and two NaN objects apart, but the coordinate holds them
    as one label: ``['1', 1]`` becomes the text coordinate ``['1', '1']``, and two NaNs
    cannot be told apart by ``sel``. Either would put two cases' values under one label.

    Raises
    ------
    DuplicateValueError
        Naming both values and the label they share.
    """
    try:
        labels = np.asarray(values)
    except (TypeError, ValueError):
        return  # ragged: an object coordinate, labelled by the values themselves
    if labels.ndim != 1 or labels.dtype == object:
        return
    seen: dict[Any, Any] = {}
    for value, label in zip(values, labels.tolist()):
        key = _NAN if isinstance(label, float) and label != label else label
        if key in seen:
            raise DuplicateValueError(
                f"{what} holds {seen[key]!r} and {value!r}, which the coordinate would hold as "
                f"the same value {label!r}; give each value once, all of one type."
            )
        seen[key] = value


def _check_unique(values: Sequence[Any], what: str) -> None:
    try:
        if len(set(values)) == len(values):
            check_labels(values, what)
            return
    except TypeError:
        return  # unhashable values (arrays, lists) can't be coordinates anyway
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise DuplicateValueError(
                f"{what} repeats the value {v!r}; each coordinate value must appear once."
            )
        seen.add(v)


def iter_combos(combos: Mapping[str, Sequence[Any]]) -> Iterator[Case]:
    """Yield each case of the cartesian product of checked combos, as a tuple of values."""
    return itertools.product(*combos.values())


def num_combos(combos: Mapping[str, Sequence[Any]]) -> int:
    """Number of cases in the cartesian product of checked combos."""
    n = 1
    for values in combos.values():
        n *= len(values)
    return n


def check_cases(
    cases: Iterable[Any], fn_args: Sequence[str] | None = None, *, unique: bool = True
) -> tuple[tuple[str, ...], list[Case]]:
    """Validate explicit cases and return ``(names, list_of_value_tuples)``.

    Parameters
    ----------
    cases : iterable of mappings or tuples, or a DataFrame
        Mappings all with the same keys, or tuples (or lists, or the rows of a 2-d array)
        whose values follow ``fn_args``; a DataFrame's rows, named by its columns.
        A single mapping is taken as one case.
    fn_args : sequence of str, optional
        Argument names for tuple cases.
    unique : bool, optional
        Refuse repeated cases (random samples may repeat: pass False).

    Raises
    ------
    InvalidInputError
        If cases mix keys or lengths, tuples are given without ``fn_args``, or none are given.
    DuplicateValueError
        If a case appears twice.
    """
    if isinstance(cases, Mapping):
        cases = [cases]
    if hasattr(cases, "columns") and hasattr(cases, "to_dict"):
        # a DataFrame: one case per row, its columns the arguments (xyzpy fails on it)
        cases = cases.to_dict("records")
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Iterable):
        raise InvalidInputError(f"cases must be a sequence of dicts or tuples, got {cases!r}.")
    cases = list(cases)
    if not cases:
        raise InvalidInputError("cases is empty; give at least one case.")
    first = cases[0]
    if isinstance(first, Mapping):
        names = tuple(first)
        key_set = set(names)
        rows: list[Case] = []
        for case in cases:
            if not isinstance(case, Mapping) or set(case) != key_set:
                raise InvalidInputError(
                    f"case {case!r} does not name the same arguments as the first case "
                    f"{tuple(names)}; every case must give the same arguments."
                )
            rows.append(tuple(case[n] for n in names))
    else:
        if fn_args is None:
            raise InvalidInputError(
                f"case {first!r} is not a mapping, so fn_args are needed to name its values; "
                "pass fn_args=... or give cases as dicts."
            )
        names = tuple(fn_args)
        # the rows of a 2-d array are cases too, as xyzpy zips any row with fn_args
        cases = [tuple(c) if getattr(c, "ndim", None) == 1 else c for c in cases]
        first = cases[0]
        # as xyzpy, tuples shorter than fn_args give the first arguments; the rest must
        # come from constants (refused by name when they do not)
        if (
            isinstance(first, Sequence)
            and not isinstance(first, (str, bytes))
            and (0 < len(first) < len(names))
        ):
            names = names[: len(first)]
        rows = []
        for case in cases:
            if isinstance(case, (str, bytes)) or not isinstance(case, Sequence):
                case = (case,) if len(names) == 1 else case
            if not isinstance(case, Sequence) or len(case) != len(names):
                raise InvalidInputError(
                    f"case {case!r} does not have one value per fn_arg {names}."
                )
            rows.append(tuple(case))
    if unique:
        _check_unique_cases(names, rows)
    return names, rows


def _check_unique_cases(names: Sequence[str], rows: Sequence[Case]) -> None:
    try:
        if len(set(rows)) == len(rows):
            return
    except TypeError:
        return
    seen: set[Case] = set()
    for row in rows:
        if row in seen:
            raise DuplicateValueError(
                f"the case {dict(zip(names, row))!r} is given more than once; "
                "each case must appear once."
            )
        seen.add(row)


def product_with_cases(
    case_names: Sequence[str],
    case_rows: Sequence[Case],
    combos: Mapping[str, Sequence[Any]],
) -> tuple[tuple[str, ...], list[Case]]:
    """Every case combined with every point of ``combos`` (names: case names then combos)."""
    clash = set(case_names) & set(combos)
    if clash:
        raise InvalidInputError(
            f"the argument(s) {sorted(clash)} appear in both cases and combos; give each once."
        )
    names = tuple(case_names) + tuple(combos)
    rows = [row + point for row in case_rows for point in iter_combos(combos)]
    return names, rows


@dataclass(frozen=True)
class Sweep:
    """A sweep as every runner takes it: the swept argument names, one row of values per
    case, and the grid (the checked combos) when the cases are that grid alone."""

    names: tuple[str, ...]
    rows: list[Case]
    #: the combos when they alone make the cases (labelled as a dense grid); None for cases
    grid: dict[str, list[Any]] | None


def make_sweep(
    combos: CombosLike | None,
    cases: Iterable[Any] | None = None,
    fn_args: Sequence[str] | None = None,
) -> Sweep:
    """The one normalisation of combos and cases: every case times every point of the combos,
    or the combos' grid alone.

    Raises
    ------
    InvalidInputError, ComboValueError, DuplicateValueError
        As :func:`check_combos`, :func:`check_cases` and :func:`product_with_cases`.
    """
    checked = check_combos(combos or {})
    if cases is None:
        return Sweep(tuple(checked), list(iter_combos(checked)), checked)
    names, rows = product_with_cases(*check_cases(cases, fn_args), checked)
    return Sweep(names, rows, None)
