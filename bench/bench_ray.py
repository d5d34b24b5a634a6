"""Sandbox throughput on Ray against the local sandbox, same cores, and scaling over workers.

Runs N realistic programs (bench/programs.py) through `LocalSandbox(workers=k)` and through
`RaySandbox` (k actors of one zygote each, on a local Ray instance with k CPUs), for k = 1 and
k = the cores given, then prints programs/s, the Ray/local ratio (the cost of the distribution
layer: a Ray call per program) and the 1 -> k scaling of each. The result cache is off (every
program is distinct), and both must agree on every verdict.

    python bench/bench_ray.py [--programs 600] [--cores 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from programs import generate
from selfcodealign.config.schema import ExecutorConfig
from selfcodealign.distributed import connect
from selfcodealign.distributed.sandbox import RaySandbox
from selfcodealign.execution import Limits, LocalSandbox, Program
from selfcodealign.execution.sandbox import SandboxFront

LIMITS = Limits(timeout_s=10.0, memory_mb=2048)


def timed(box: SandboxFront, programs: list[Program]) -> tuple[float, list[bool]]:
    list(box.run_many(programs[:20]))  # warm the workers (and the actors' imports)
    start = time.perf_counter()
    results = list(box.run_many(programs[20:]))
    return (len(programs) - 20) / (time.perf_counter() - start), [r.passed for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=600)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    programs = [Program(c, t) for c, t in generate(args.programs)]
    connect(ExecutorConfig(name="ray", num_cpus=args.cores))
    rates: dict[tuple[str, int], list[float]] = {}
    verdicts: dict[tuple[str, int], list[bool]] = {}
    for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both sides
        for k in sorted({1, args.cores}):
            for kind in ("local", "ray"):
                if kind == "local":
                    box: SandboxFront = LocalSandbox(workers=k, limits=LIMITS, cache_size=1)
                else:
                    box = RaySandbox(ExecutorConfig(name="ray", sandbox_actors=k,
                                                    sandbox_workers=1), LIMITS, cache_size=1)
                try:
                    rate, passed = timed(box, programs)
                finally:
                    box.close()
                rates.setdefault((kind, k), []).append(rate)
                verdicts[(kind, k)] = passed
    first = next(iter(verdicts.values()))
    agree = all(v == first for v in verdicts.values())
    median = {key: statistics.median(v) for key, v in rates.items()}
    print(f"{args.programs - 20} programs, {args.rounds} rounds (medians), verdicts agree: {agree}")
    for k in sorted({1, args.cores}):
        local, on_ray = median[("local", k)], median[("ray", k)]
        print(f"  {k} worker(s): local {local:7.1f} programs/s | ray {on_ray:7.1f} programs/s | "
              f"ray/local {on_ray / local:.2f}x")
    if args.cores > 1:
        for kind in ("local", "ray"):
            scale = median[(kind, args.cores)] / median[(kind, 1)]
            print(f"  {kind}: 1 -> {args.cores} workers x{scale:.2f}")


if __name__ == "__main__":
    main()
