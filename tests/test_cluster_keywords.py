from __future__ import annotations

import pytest

from xyzfarm.crop.cluster_keywords import from_xyzpy
from xyzfarm.errors import InvalidInputError


def test_xyzpys_time_memory_and_cores_become_our_resources():
    out = from_xyzpy({"hours": 1, "minutes": 90, "gigabytes": 4, "num_procs": 8, "setup": "#"})
    assert out == {"walltime": "02:30:00", "mem_gb": 4.0, "cpus_per_task": 8}


def test_memory_as_text_and_per_cpu_is_converted_to_gigabytes():
    assert from_xyzpy({"mem": "512M"})["mem_gb"] == 0.5
    assert from_xyzpy({"mem_per_cpu": 2, "num_procs": 3})["mem_gb"] == 6.0


def test_python_setup_code_and_single_mode_are_refused_by_name():
    with pytest.raises(InvalidInputError, match="setup"):
        from_xyzpy({"setup": "import numpy"})
    with pytest.raises(InvalidInputError, match="mode"):
        from_xyzpy({"mode": "single"})


def test_unknown_keywords_pass_through_to_be_refused_by_the_resources_check():
    assert from_xyzpy({"minuets": 20}) == {"minuets": 20}
