from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xyzfarm.demo import DEMO_COMBOS, chain, run_demo
from xyzfarm.errors import InvalidInputError
from xyzfarm.store.datafile import load_ds


def test_the_clean_chain_matches_the_analytic_ground_state():
    n = 16
    energy, levels = chain(n, 0.0)
    k = np.arange(1, n + 1) * np.pi / (n + 1)
    exact = np.sort(-2 * np.cos(k))
    np.testing.assert_allclose(levels, exact[:4])
    np.testing.assert_allclose(energy, exact[: n // 2].sum() / n)


def test_run_demo_harvests_the_whole_grid_into_a_file_and_is_safe_to_rerun():
    run_demo("demo.h5", num_workers=1)
    run_demo("demo.h5", num_workers=1)
    ds = load_ds("demo.h5")
    assert dict(ds.sizes) == {"n": 3, "disorder": 6, "seed": 4, "level": 4}
    assert ds.energy.notnull().all()
    assert list(ds.disorder.values) == DEMO_COMBOS["disorder"]


def test_run_demo_refuses_a_file_in_a_missing_folder_and_creates_no_folder():
    with pytest.raises(InvalidInputError, match="does not exist"):
        run_demo("missing/deeper/demo.h5", num_workers=1)
    assert not Path("missing").exists()


def test_run_demo_refuses_a_file_under_a_file():
    Path("plain").write_text("x")
    with pytest.raises(InvalidInputError, match="is not a folder"):
        run_demo("plain/demo.h5", num_workers=1)
