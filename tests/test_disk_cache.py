from __future__ import annotations

import xyzfarm as xyz

calls = []


def test_a_cached_function_runs_once_per_arguments(tmp_path):
    @xyz.cache_to_disk(cachedir=tmp_path / "cache")
    def square(x):
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
