from __future__ import annotations

import pytest

from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers.arrays import plan_arrays


def test_sparse_batches_get_dense_task_local_indices():
    (chunk,) = plan_arrays([3, 50_000, 7], max_array_size=1001)
    assert (chunk.first, chunk.last) == (0, 2)
    assert chunk.task_map() == {0: (3,), 1: (50_000,), 2: (7,)}


def test_arrays_are_chunked_below_the_index_cap():
    chunks = plan_arrays(list(range(1, 26)), max_array_size=11)
    assert [len(c.tasks) for c in chunks] == [11, 11, 3]
    assert all(c.last < 11 for c in chunks)
    assert [b for c in chunks for t in c.tasks for b in t] == list(range(1, 26))


def test_sge_indices_start_at_one_and_stay_within_the_cap():
    chunks = plan_arrays(list(range(1, 12)), max_array_size=10, first_index=1)
    assert [(c.first, c.last) for c in chunks] == [(1, 9), (1, 2)]


def test_tasks_can_take_several_batches():
    (chunk,) = plan_arrays([1, 2, 3, 4, 5], max_array_size=100, batches_per_task=2)
    assert chunk.task_map() == {0: (1, 2), 1: (3, 4), 2: (5,)}


def test_ten_thousand_batches_take_ceil_n_over_cap_submissions():
    assert len(plan_arrays(list(range(1, 10_001)), max_array_size=1001)) == 10


def test_an_impossible_cap_is_refused():
    with pytest.raises(InvalidInputError):
        plan_arrays([1], max_array_size=1, first_index=1)
