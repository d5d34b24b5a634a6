"""Generation overhead and the openai backend's concurrency, measured in one run.

1. Pipeline overhead: N seeds through concepts -> instructions -> responses (n=10) with the fake
   backend answering instantly: the package's own cost per completion (target < 5 ms), i.e.
   prompt rendering, parsing, records, store writes.
2. The openai backend against the local test server (tests/openai_server.py) with a fixed
   latency per request: achieved peak concurrency and requests/s against the configured
   ceiling (max_concurrency / latency).
3. Shared-prefix share of prompt characters for C->I, with and without the prefix-cache-aware
   layout (`prefix_groups`).

    python bench/bench_generation.py [--seeds 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from openai_server import FakeServer
from selfcodealign.backends import SamplingParams
from selfcodealign.backends.fake import FakeBackend
from selfcodealign.backends.openai import OpenAIBackend
from selfcodealign.generation.stages import STOPS, Concepts, Instructions, Responses
from selfcodealign.runner import run_stage
from selfcodealign.store import StageWriter, iter_records


def seeds(n: int) -> list[dict[str, object]]:
    return [{"id": f"s{i}", "code": f"def f{i}(x, y):\n    \"\"\"Combine x and y ({i}).\"\"\"\n"
                                    f"    return x * {i} + y\n"} for i in range(n)]


def pipeline(n: int) -> None:
    backend = FakeBackend()  # the packaged default: one plausible answer per stage
    stages = [Concepts(backend, SamplingParams(n=1, stop=STOPS["concepts"]), seed=1),
              Instructions(backend, SamplingParams(n=1, stop=STOPS["instructions"]), seed=1),
              Responses(backend, SamplingParams(n=10, stop=STOPS["responses"]), seed=1)]
    records: list[dict[str, object]] = seeds(n)
    completions = 0
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for stage in stages:
            out = Path(folder) / stage.name
            stats = run_stage(stage, records, StageWriter(out))
            completions += int(stats.metrics["completions"])
            records = list(iter_records(out))
        took = time.perf_counter() - start
    print(f"pipeline overhead: {n} seeds -> {len(records)} responses, {completions} completions "
          f"in {took:.2f} s = {took / completions * 1000:.2f} ms per completion "
          f"({completions / took:.0f} completions/s)")


def concurrency(requests: int, ceiling: int, latency: float) -> None:
    server = FakeServer(delay_s=latency)
    try:
        backend = OpenAIBackend("tiny", [server.url], max_concurrency=ceiling)
        start = time.perf_counter()
        backend.generate([f"prompt {i}" for i in range(requests)], SamplingParams(n=10))
        took = time.perf_counter() - start
        backend.close()
    finally:
        server.close()
    ideal = ceiling / latency
    print(f"openai backend: {requests} requests, {latency * 1000:.0f} ms latency, ceiling "
          f"{ceiling} in flight: peak {server.peak} in flight, {requests / took:.0f} req/s "
          f"of {ideal:.0f} ideal ({requests / took / ideal:.0%})")


def prefix_share(n: int) -> None:
    items = [{"id": f"c{i}", "concepts": "loops, recursion"} for i in range(n)]
    for groups in (0, 4):
        stage = Instructions(FakeBackend(default="A task."), SamplingParams(), seed=1,
                             prefix_groups=groups)
        for start in range(0, n, 64):
            stage.process(items[start:start + 64])
        metrics = stage.stats.metrics
        share = metrics["prefix_shared_chars"] / metrics["prefix_total_chars"]
        label = f"{groups} fixed shot groups" if groups else "fresh shots per item"
        print(f"C->I shared prefix, {label}: {share:.0%} of prompt characters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    pipeline(args.seeds)
    concurrency(400, 16, 0.05)
    prefix_share(512)


if __name__ == "__main__":
    main()
