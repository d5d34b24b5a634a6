"""Engine busy-time: streamed requests against the batch-synchronous path, in one run.

A local OpenAI-protocol server stands in for an inference engine with `--slots` sequences
decoded at once (continuous batching): each request holds one slot for as long as its
completion takes, and waits for a free slot otherwise. Completion lengths are long-tailed, as
the method's are: log-uniform from 50 to 1,536 tokens at `--token-ms` per token, fixed per
prompt so both paths see the same work. The I->R stage runs over the same instructions twice
through the openai backend with `max_concurrency` = slots:

- batched (`generation.stream: false`): a batch of `batch_size` prompts is sent, and the next
  only when its slowest answer is back;
- streamed (the default): `slots` requests in flight, the next sent as soon as one returns.

Busy-time is the share of slot-seconds the engine spent decoding over the stage's wall time.
Printed: wall time, requests/s and busy-time for each, and the streamed/batched ratios.

    python bench/bench_streaming.py [--requests 600] [--slots 16] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from openai_server import FakeServer  # noqa: E402


class Engine:
    """`slots` sequences at once; records how long each slot was busy."""

    def __init__(self, slots: int, token_ms: float) -> None:
        self.slots = threading.Semaphore(slots)
        self.token_s = token_ms / 1000
        self.busy_s = 0.0
        self.lock = threading.Lock()

    @staticmethod
    def tokens(prompt: str) -> int:
        h = int(hashlib.sha256(prompt.encode()).hexdigest()[:12], 16) / 16 ** 12
        return int(math.exp(math.log(50) + h * (math.log(1536) - math.log(50))))

    def latency(self, body: dict[str, Any]) -> float:
        took = self.tokens(body["prompt"]) * self.token_s
        with self.slots:
            time.sleep(took)
        with self.lock:
            self.busy_s += took
        return 0.0


def run(mode: str, requests: int, slots: int, batch_size: int, token_ms: float,
        folder: Path) -> dict[str, float]:
    from selfcodealign.config import load_config
    from selfcodealign.steps.generate import generate

    engine = Engine(slots, token_ms)
    server = FakeServer(latency=engine.latency)
    try:
        rows = [{"id": f"i{k:05d}", "instruction": f"Write function number {k}."}
                for k in range(requests)]
        inp = folder / "in.jsonl"
        inp.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        config = load_config(None, [
            "backend.name=openai", "backend.model=bench", f"backend.base_url=[{server.url}]",
            f"backend.max_concurrency={slots}", f"responses.batch_size={batch_size}",
            "responses.n=1", "run.llm_cache=false", f"generation.stream={mode == 'streamed'}",
            f"run.root={folder / 'runs'}"])
        started = time.perf_counter()
        summary = generate(config, "responses", str(inp), str(folder / f"{mode}.jsonl"))
        wall = time.perf_counter() - started
        assert summary["complete"] and summary["requests"] == requests
        return {"wall_s": wall, "req_per_s": requests / wall,
                "busy": engine.busy_s / (slots * wall), "peak": server.peak}
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--token-ms", type=float, default=0.5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("batched", "streamed"):
            folder = Path(tmp) / mode
            folder.mkdir()
            results[mode] = run(mode, args.requests, args.slots, args.batch_size,
                                args.token_ms, folder)
            r = results[mode]
            print(f"{mode:>9}: {r['wall_s']:.2f} s, {r['req_per_s']:.0f} req/s, engine busy "
                  f"{r['busy']:.0%} (peak {r['peak']} in flight of {args.slots} slots)")
    b, s = results["batched"], results["streamed"]
    print(f"streamed / batched: {s['req_per_s'] / b['req_per_s']:.2f}x requests/s, busy-time "
          f"{s['busy']:.0%} vs {b['busy']:.0%} ({args.requests} requests, {args.slots} slots, "
          f"batch_size {args.batch_size}, 50-1536 tokens log-uniform at {args.token_ms} ms)")


if __name__ == "__main__":
    main()
