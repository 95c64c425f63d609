from __future__ import annotations

import xyzfarm as xyz


def test_outputs_of_finished_tasks_are_deleted_and_errors_kept(tmp_path):
    (tmp_path / "slurm-7_1.out").write_text("xyzpy: success - batch 1 completed.")
    (tmp_path / "slurm-7_2.out").write_text("Traceback ... Error")
    n = xyz.clean_slurm_outputs(7, directory=tmp_path, cancel_if_finished=False)
    assert n == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slurm-7_2.out"]
