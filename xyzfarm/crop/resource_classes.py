"""Per-case resources: batches grouped into one array per distinct request (resource class).

``resources=`` may depend on the case, spelled one of two ways:

* a function of the case, called with the swept arguments it names (or all of them, given
  ``**kwargs``) and returning a request: ``resources=lambda n: {"mem_gb": 8 if n > 500
  else 1}``;
* a mapping holding, besides plain resources shared by every case, one entry per swept
  argument the request depends on: that argument's values, each with its request:
  ``resources={"walltime": "1:00:00", "n": {100: {"mem_gb": 1}, 1000: {"mem_gb": 8}}}``.
  Every value sown must be listed (a missing one is an error naming it).

Which side splits, and why: **submit** groups whole batches; it never changes them. Batches
are fixed when the crop is sown (their ids key the results, checkpoints and failure
records), while resources are chosen when it is submitted and may change between
submissions (e.g. more memory after an out-of-memory failure); re-batching at submit time
would orphan that state. A batch holding cases of several classes is submitted with the
request that covers them all (the largest memory, walltime, cores, GPUs and nodes; differing
names such as partitions are refused), and a warning says how many batches that raised and
how to avoid it: sow with the argument the request depends on outermost (first in the
combos, so it varies slowest) and a ``batchsize`` that divides the number of cases per value.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..folder import manifest, records
from ..folder.layout import CropLayout
from ..schedulers.resources import (
    canonical_keys,
    parse_walltime,
    resources_from,
    walltime_seconds,
)

#: keys whose largest value covers every case of a batch
_LARGEST = ("mem_gb", "cpus_per_task", "gpus", "nodes")

Request = dict[str, Any]


def _canonical(request: Mapping[str, Any]) -> Request:
    """A request with aliases resolved and its values checked (as ``resources_from`` does)."""
    resources_from(request)  # refuses unknown keys and bad values, naming them
    return canonical_keys(request)


def _frozen(request: Request) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in request.items()))


def is_per_case(resources: Any, arg_names: Sequence[str]) -> bool:
    """Whether ``resources`` depends on the case (a function, or keyed by a swept argument)."""
    if callable(resources):
        return True
    return isinstance(resources, Mapping) and any(key in arg_names for key in resources)


def case_request(resources: Any, arg_names: Sequence[str]) -> Callable[[tuple[Any, ...]], Request]:
    """A function giving the request of one case (a row of swept values, in ``arg_names``
    order), memoised on the values it depends on."""
    names = list(arg_names)
    if callable(resources):
        params = inspect.signature(resources).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        used = names if takes_all else [n for n in params if n in names]
        fn = resources

        def ask(row: tuple[Any, ...]) -> Request:
            request = fn(**{n: row[names.index(n)] for n in used})
            if not isinstance(request, Mapping):
                raise InvalidInputError(
                    f"resources({', '.join(used)}) returned {request!r}; it must return a "
                    "mapping such as {'mem_gb': 4}."
                )
            return dict(request)

    else:
        shared = {k: v for k, v in resources.items() if k not in names}
        keyed = {k: v for k, v in resources.items() if k in names}
        used = list(keyed)
        for name, table in keyed.items():
            if not isinstance(table, Mapping):
                raise InvalidInputError(
                    f"resources[{name!r}] must map each value of {name!r} to a request, "
                    f"e.g. {{10: {{'mem_gb': 1}}, 1000: {{'mem_gb': 8}}}}; got {table!r}."
                )

        def ask(row: tuple[Any, ...]) -> Request:
            request = dict(shared)
            for name, table in keyed.items():
                value = row[names.index(name)]
                if value not in table:
                    raise InvalidInputError(
                        f"the case {name}={value!r} has no entry in resources[{name!r}] "
                        f"(it lists {list(table)}); give every value of {name!r}, or a "
                        "function of the case."
                    )
                request.update(table[value])
            return request

    positions = [names.index(n) for n in used]
    memo: dict[tuple[Any, ...], Request] = {}

    def request_of(row: tuple[Any, ...]) -> Request:
        key = tuple(row[p] for p in positions)
        if key not in memo:
            memo[key] = _canonical(ask(row))
        return memo[key]

    return request_of


def covering(requests: Sequence[Request], batch: int) -> Request:
    """One request covering every case of a batch: the largest of each size, the one name."""
    out: Request = {}
    for key in {k for r in requests for k in r}:
        values = [r[key] for r in requests if key in r]
        if key == "walltime":
            out[key] = parse_walltime(max(walltime_seconds(parse_walltime(v)) for v in values))
        elif key in _LARGEST:
            out[key] = max(values)
        elif len({repr(v) for v in values}) == 1:
            out[key] = values[0]
        else:
            raise InvalidInputError(
                f"batch {batch} holds cases asking for different {key} ({values}): a batch "
                "runs in one task, so its cases must agree on names; sow so that each batch "
                "holds cases of one class (see xyzfarm.crop.resource_classes)."
            )
    return out


def split(
    layout: CropLayout, batches: Sequence[int], resources: Any
) -> list[tuple[Any, list[int]]]:
    """``[(request, batches), ...]``: one entry per distinct request, batches in order.

    A request that does not depend on the case is returned as it is, with every batch.
    """
    sown = manifest.Manifest.read(layout)
    arg_names = list(sown.arg_names)
    if resources is None or not is_per_case(resources, arg_names):
        return [(resources, list(batches))]
    request_of = case_request(resources, arg_names)
    classes: dict[tuple[tuple[str, Any], ...], tuple[Request, list[int]]] = {}
    raised = 0
    cases = records.IndexedReader(layout.cases, layout.cases_index, sowing=sown.sowing_id)
    try:
        for batch in batches:
            requests: dict[tuple[tuple[str, Any], ...], Request] = {}
            for row in cases.get(batch - 1)["rows"]:
                request = request_of(tuple(row))
                requests.setdefault(_frozen(request), request)
            if len(requests) > 1:
                raised += 1
            request = covering(list(requests.values()), batch)
            classes.setdefault(_frozen(request), (request, []))[1].append(batch)
    finally:
        cases.close()
    if raised:
        warnings.warn(
            f"{raised} batch(es) of crop {layout.name!r} hold cases of several resource "
            "classes and are submitted with the request covering all their cases; sow with "
            "the argument the request depends on first (varying slowest) and a batchsize "
            "that divides its number of cases per value to keep classes apart.",
            UserWarning,
            stacklevel=3,
        )
    return list(classes.values())
