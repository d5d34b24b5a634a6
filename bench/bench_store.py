"""Run-store throughput against the obvious alternative, measured in the same run.

Writes N response-sized records (about 1.5 KB each, the shape of an I->R sample) with
`StageWriter` (batched appends, atomic commits, crash-safe resume) and with the usual
hand-rolled crash-safe loop: `json.dumps` + `write` + `flush` per record. Then times a resume:
opening a `StageWriter` on the finished stage (recovery + id index) against reading the file back
with `json.loads` per line into a set of ids. Prints records/s for both and the ratios.

    python bench/bench_store.py [--records 200000] [--compress]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import tempfile
import time
from pathlib import Path

from selfcodealign.records import make_id
from selfcodealign.store import StageWriter, StoreOptions


def make_records(n: int) -> list[dict[str, object]]:
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(500)]
    records = []
    for i in range(n):
        text = " ".join(rng.choices(words, k=220))
        records.append({
            "id": make_id("bench", i), "instruction": text[:400], "response": text,
            "tests": text[:300], "meta": {"finish_reason": "stop", "tokens": 412, "shot_ids": [3]},
        })
    return records


def bench_ours(records: list[dict[str, object]], directory: Path, compress: bool) -> float:
    start = time.perf_counter()
    writer = StageWriter(directory, StoreOptions(compress=compress))
    for record in records:
        writer.write(str(record["id"]), kept=[record])
    writer.close(complete=True)
    return time.perf_counter() - start


def bench_naive(records: list[dict[str, object]], path: Path) -> float:
    start = time.perf_counter()
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
            fh.flush()  # crash safety, record by record
    return time.perf_counter() - start


def resume_ours(directory: Path) -> float:
    start = time.perf_counter()
    writer = StageWriter(directory)
    writer.close()
    return time.perf_counter() - start


def resume_naive(path: Path) -> float:
    start = time.perf_counter()
    ids = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            ids.add(json.loads(line)["id"])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--compress", action="store_true", help="gzip finished shards")
    args = parser.parse_args()
    records = make_records(args.records)
    size_mb = sum(len(json.dumps(r)) for r in records[:1000]) / 1000 * len(records) / 2**20
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        ours = bench_ours(records, tmp / "ours", args.compress)
        naive = bench_naive(records, tmp / "naive.jsonl")
        r_ours = resume_ours(tmp / "ours")
        r_naive = resume_naive(tmp / "naive.jsonl")
    finally:
        shutil.rmtree(tmp)
    n = len(records)
    print(f"records: {n} (~{size_mb:.0f} MiB of JSON), compress={args.compress}")
    print(f"write   selfcodealign {n / ours:>10,.0f} rec/s | json+flush per record "
          f"{n / naive:>10,.0f} rec/s | ratio {naive / ours:.2f}x")
    print(f"resume  selfcodealign {n / r_ours:>10,.0f} rec/s | json.loads id scan     "
          f"{n / r_naive:>10,.0f} rec/s | ratio {r_naive / r_ours:.2f}x")


if __name__ == "__main__":
    main()
