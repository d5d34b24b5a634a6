"""Selection throughput on synthetic executed records (no sandbox checks), in one run.

N instructions with 10 samples each, about a third passing, realistic lengths, some duplicated
and near-duplicated instructions: records/s through both passes of selection (format checks,
the seeded choice, length cap, exact dedup, decontamination against HumanEval+ and MBPP+,
three MinHash near-dedups, augmentation) and the export. The near-dedup itself is compared
with datasketch in bench/bench_seeds.py.

    python bench/bench_selection.py [--instructions 10000] [--benchmarks PATH]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import orjson

from selfcodealign.config import load_config
from selfcodealign.steps.select import select

WORDS = [f"w{i}" for i in range(5000)]


def records(n: int) -> list[dict[str, object]]:
    rng = random.Random(0)
    out = []
    for p in range(n):
        words = rng.sample(WORDS, 40)
        if p % 20 == 19:  # a near-copy of an earlier instruction
            words = list(out[-10 * rng.randrange(1, 5)]["instruction"].split()[1:41])
            words[rng.randrange(40)] = rng.choice(WORDS)
        instruction = "Write " + " ".join(words)
        for i in range(10):
            name = f"fn_{p}_{i % 3}"
            code = f"def {name}(xs):\n    total = 0\n    for x in xs:\n        total += x * {p}\n" \
                   f"    return total + {i % 3}"
            out.append({
                "id": f"r{p}-{i}", "parent": f"i{p}", "instruction": instruction,
                "response": f"Sum scaled values.\n\n```python\n{code}\n```\n",
                "tests": f"```python\nassert {name}([1, 2]) == {3 * p + i % 3}\n```",
                "passed": (i + p) % 3 == 0, "status": "passed", "execution": {"asserts": 1},
                "seed_id": f"s{p}", "concepts": "loops", "category": "function",
                "difficulty": "easy"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=10000)
    parser.add_argument("--benchmarks", default=None, help="folder with the EvalPlus files")
    args = parser.parse_args()
    data = records(args.instructions)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "executed.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in data))
        sets = ["select.check_tests=false"]
        if args.benchmarks:
            sets.append(f"select.benchmark_dir={args.benchmarks}")
        else:
            sets.append("select.benchmarks=[]")
        start = time.perf_counter()
        summary = select(load_config(None, sets), str(path), str(Path(folder) / "out"))
        took = time.perf_counter() - start
    print(f"selection: {len(data)} executed records ({args.instructions} instructions) in "
          f"{took:.2f} s = {len(data) / took:,.0f} records/s; kept {summary['kept']}, dropped "
          f"{dict(sorted(summary['dropped'].items()))}")


if __name__ == "__main__":
    main()
