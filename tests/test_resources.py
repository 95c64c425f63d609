from __future__ import annotations

import pytest

from xyzfarm.schedulers.resources import ResourceError, parse_walltime, resources_from


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1:5:0", "01:05:00"),
        ("30", "00:30:00"),
        ("5:30", "00:05:30"),
        ("2-3:00:00", "51:00:00"),
        (90, "00:01:30"),
        ("100:00:00", "100:00:00"),
    ],
)
def test_walltimes_are_normalised_field_by_field(given, expected):
    assert parse_walltime(given) == expected


@pytest.mark.parametrize("bad", ["1:75:00", "soon", "-5", 0, "", True, "1:2:3:4"])
def test_a_bad_walltime_is_refused_naming_it(bad):
    with pytest.raises(ResourceError, match="walltime"):
        parse_walltime(bad)


def test_layers_merge_later_wins_and_aliases_apply():
    res = resources_from({"queue": "a", "mem_gb": 2}, {"partition": "b"}, time="1:0:0", cpus=4)
    assert (res.partition, res.mem_mb, res.walltime, res.cpus_per_task) == (
        "b",
        2048,
        "01:00:00",
        4,
    )


def test_an_unknown_resource_is_refused_listing_the_known_ones():
    with pytest.raises(ResourceError, match=r"'walltme'.*walltime"):
        resources_from(walltme="1:00:00")


@pytest.mark.parametrize(
    "kw",
    [
        {"partition": "a b"},
        {"account": "x;rm -rf ~"},
        {"qos": "$(id)"},
        {"constraint": "a\nb"},
        {"setup": ["ok", "bad\nline"]},
        {"extra_directives": "#SBATCH --x\n#SBATCH --y"},
        {"gpus": 0},
        {"mem_gb": -1},
        {"array_throttle": "3"},
    ],
)
def test_values_that_could_break_out_of_a_directive_are_refused(kw):
    with pytest.raises(ResourceError):
        resources_from(**kw)


def test_job_names_are_made_safe_rather_than_refused():
    assert resources_from(job_name="my job's $(x)").job_name == "my_job_s___x_"
    with pytest.raises(ResourceError):
        resources_from(job_name="two\nlines")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "job_name",
                "walltime",
                "mem_gb",
                "partition",
                "account",
                "qos",
                "gpus",
                "array_throttle",
                "setup",
                "extra_directives",
                "nodes",
                "bogus",
            ]
        ),
        st.one_of(
            st.text(max_size=12),
            st.integers(-3, 100),
            st.floats(allow_nan=False),
            st.lists(st.text(max_size=8), max_size=2),
            st.none(),
        ),
        max_size=5,
    )
)
def test_any_resource_request_is_valid_and_renders_line_safe_or_is_refused(request):
    from xyzfarm.schedulers import REGISTRY
    from xyzfarm.schedulers.arrays import plan_arrays

    try:
        res = resources_from(request)
    except ResourceError as exc:
        assert str(exc)
        return
    for mod in REGISTRY.values():
        (chunk,) = plan_arrays([1, 2], max_array_size=10, first_index=mod.FIRST_INDEX)
        for line in mod.directives(res, chunk, cpus=1):
            assert "\n" not in line and "\r" not in line and "\0" not in line


@pytest.mark.parametrize(
    "request_",
    [
        {"walltime": float("inf")},
        {"walltime": float("nan")},
        {"walltime": 1e300},
        {"mem_gb": float("inf")},
        {"mem_gb": float("nan")},
        {"mem_gb": 1.7e305},
    ],
)
def test_infinite_or_absurd_walltimes_and_memory_are_refused_by_name(request_):
    # found by the fuzzer: inf overflowed int() with a bare OverflowError
    (name,) = request_
    with pytest.raises(ResourceError, match=name):
        resources_from(request_)


def test_an_unknown_resource_suggests_the_close_one_and_lists_the_aliases():
    with pytest.raises(ResourceError, match=r"'mem': did you mean 'mem_gb'\?") as caught:
        resources_from({"mem": 4})
    assert "time (= walltime)" in str(caught.value) and "cpus (= cpus_per_task)" in str(
        caught.value
    )
