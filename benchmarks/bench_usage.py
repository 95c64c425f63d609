"""The cost of recording each batch's usage (wall, CPU, peak memory) in the worker.

Runs ``bench_crops.py``'s crop cycle (sow 100,000 trivial cases into 1,000 batches, grow them
in this process, reap) with and without the recording, interleaved so that the machine's
drift hits both alike, and times the recording alone per batch.

    .venv-bench/bin/python benchmarks/bench_usage.py [--repeats 25]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import bench_crops

import xyzfarm
from xyzfarm.node import usage


def per_batch_us(number: int = 200_000) -> float:
    """Microseconds of the recording per batch of a trivial (sub-millisecond) batch loop."""

    def one_batch() -> object:
        return usage.usage_since(usage.usage_start())

    return timeit.timeit(one_batch, number=number) / number * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    real = usage.usage_since, usage.usage_start
    off = (lambda wall: None), time.monotonic
    times: dict[str, list[float]] = {"with usage": [], "without": []}
    tmp = Path(tempfile.mkdtemp())
    try:
        for _ in range(args.repeats):
            for label, (since, start_) in (("with usage", real), ("without", off)):
                usage.usage_since, usage.usage_start = since, start_  # type: ignore[assignment]
                bench_crops.clean(tmp)
                start = time.perf_counter()
                bench_crops.crop_cycle(xyzfarm, tmp)
                times[label].append(time.perf_counter() - start)
    finally:
        usage.usage_since, usage.usage_start = real
        bench_crops.clean(tmp)
        tmp.rmdir()
    for label, ts in times.items():
        print(f"crop cycle {label:>10}: median {statistics.median(ts):.4f} s over {args.repeats}")
    cost = per_batch_us()
    cycle = statistics.median(times["without"]) / 1000 * 1e6  # 1,000 batches
    print(f"recording per batch: {cost:.2f} us = {cost / cycle:.2%} of a crop-cycle batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
