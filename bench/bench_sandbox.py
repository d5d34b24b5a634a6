"""Sandbox throughput against one `python3 -I` subprocess per program, in the same run.

Runs N realistic programs (bench/programs.py) through `LocalSandbox` with every isolation layer
it can detect, then through the obvious alternative: write implementation + tests to a file and
`subprocess.run([sys.executable, "-I", file], timeout=...)` it, exit code 0 = pass. Both use
all cores (one zygote or one thread per core). Prints programs/s, the ratio, the isolation level,
and checks that both agree on which programs pass.

    python bench/bench_sandbox.py [--programs 600] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from programs import generate
from selfcodealign.execution import Limits, LocalSandbox, Program

TIMEOUT_S = 10.0


def run_sandbox(programs: list[tuple[str, str]], workers: int) -> tuple[float, float, list[bool],
                                                                        dict[str, object]]:
    start = time.perf_counter()
    box = LocalSandbox(workers=workers, limits=Limits(timeout_s=TIMEOUT_S, memory_mb=2048))
    started = time.perf_counter() - start
    try:
        t0 = time.perf_counter()
        results = list(box.run_many([Program(c, t) for c, t in programs]))
        elapsed = time.perf_counter() - t0
        info = box.describe()
    finally:
        box.close()
    return started, elapsed, [r.passed for r in results], info


def run_baseline(programs: list[tuple[str, str]], workers: int) -> tuple[float, list[bool]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))

    def one(item: tuple[int, tuple[str, str]]) -> bool:
        index, (code, tests) = item
        path = folder / f"p{index}.py"
        path.write_text(code + "\n\n" + tests)
        try:
            done = subprocess.run([sys.executable, "-I", str(path)], capture_output=True,
                                  timeout=TIMEOUT_S, cwd=folder)
            return done.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        passed = list(pool.map(one, enumerate(programs)))
    return time.perf_counter() - t0, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=600)
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds; the medians are reported")
    args = parser.parse_args()
    workers = args.workers or os.cpu_count() or 1
    programs = generate(args.programs)
    ours_times, base_times, starts = [], [], []
    for _ in range(args.rounds):  # alternate, so drift in machine load hits both alike
        started, ours, ours_passed, info = run_sandbox(programs, workers)
        base, base_passed = run_baseline(programs, workers)
        ours_times.append(ours)
        base_times.append(base)
        starts.append(started)
    ours, base = statistics.median(ours_times), statistics.median(base_times)
    n = len(programs)
    agree = sum(a == b for a, b in zip(ours_passed, base_passed, strict=True))
    print(f"programs: {n} x {args.rounds} rounds on {workers} workers; "
          f"isolation: {info['level']} {info['layers']}")
    print(f"sandbox   {n / ours:8.1f} programs/s  (median {ours:.2f} s, "
          f"+{statistics.median(starts):.2f} s start-up), passed {sum(ours_passed)}")
    print(f"baseline  {n / base:8.1f} programs/s  (median {base:.2f} s), passed "
          f"{sum(base_passed)} (python3 -I per program, exit code 0 = pass)")
    # Each round's ratio compares two runs made back to back, so it is what drift in the
    # machine's speed (a shared VM's varies twofold) disturbs least.
    ratios = sorted(b / o for b, o in zip(base_times, ours_times, strict=True))
    print(f"ratio     {statistics.median(ratios):.2f}x median of rounds (each round "
          f"{', '.join(f'{r:.2f}' for r in ratios)})   verdicts agree on {agree}/{n}")


if __name__ == "__main__":
    main()
