from __future__ import annotations

import pytest

import xyzfarm as xyz
from xyzfarm.folder.manifest import Manifest
from xyzfarm.folder.provenance import ProvenanceSegment, WorkerContext
from xyzfarm.folder.results import ResultIndex

CONTEXT = WorkerContext("node1", "123", "4", 2, 1, "0.1", "abcd")


def test_a_recorded_plain_tuple_reads_by_the_names_of_its_fields():
    raw = ([0, 1], 10.5, 0.25, *CONTEXT)  # as the worker records it
    seg = ProvenanceSegment.from_record(raw)
    assert (seg.positions, seg.start, seg.seconds_per_case) == ([0, 1], 10.5, 0.25)
    assert (seg.host, seg.job, seg.task, seg.attempt, seg.restarts) == ("node1", "123", "4", 2, 1)
    assert (seg.version, seg.fn_fingerprint) == ("0.1", "abcd")


def test_a_segment_of_a_release_before_function_fingerprints_reads_with_an_empty_one():
    seg = ProvenanceSegment.from_record(([3], 1.0, 0.5, "h", "local", "", 1, 0, "0.0"))
    assert seg.fn_fingerprint == "" and seg.version == "0.0"


def test_a_malformed_segment_is_refused():
    with pytest.raises(TypeError):
        ProvenanceSegment.from_record(([3], 1.0))


def test_the_worker_records_segments_that_read_back_with_their_context():
    crop = xyz.Runner(lambda x: x, "y").Crop(name="prov", batchsize=3)
    crop.sow_combos({"x": range(3)})
    crop.grow(verbosity=0)
    sowing = Manifest.read(crop.layout).sowing_id  # the crop's records carry it
    result = ResultIndex(crop.layout, sowing=sowing).refresh().load(1)
    segs = [ProvenanceSegment.from_record(s) for s in result["prov"]]
    assert sorted(p for s in segs for p in s.positions) == [0, 1, 2]
    assert {(s.job, s.task, s.attempt) for s in segs} == {("local", "", 1)}
    assert all(s.fn_fingerprint for s in segs)
    # plain tuples on disk: a named tuple would pickle a reference to its module
    assert all(type(s) is tuple for s in result["prov"])
