"""Engine busy-time through the local engine pool: streamed against batch-synchronous.

`backend.data_parallel_size` engine processes (`backends/pool.py`) serve the I->R stage. Each
engine is the fake backend with a timing model of a static-batch engine (`token_s`): it answers
the requests it holds as one batch, which lasts as long as its longest member, with decode
lengths log-uniform from 50 to 1,536 tokens (fixed per prompt, so both paths see the same
work). The stage runs over the same instructions twice:

- batched (`generation.stream: false`): the stage hands the pool `batch_size` prompts, the pool
  deals them to the engines, and the next batch goes out only when the slowest engine is done;
- streamed (the default): every engine holds up to `in_flight` requests and takes the next ones
  as soon as it answers, so no engine waits for another.

Busy-time is the share of engine-seconds spent inside a batch, from the engines' own logs, over
the span from the first batch's start to the last one's end (engine start-up left out; the
requests/s are over the same span). Printed: time, requests/s and busy-time for each, and the
ratios.

    python bench/bench_pool.py [--requests 384] [--engines 4] [--in-flight 8] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def run(mode: str, requests: int, engines: int, in_flight: int, batch_size: int,
        token_ms: float, folder: Path) -> dict[str, float]:
    from selfcodealign.config import load_config
    from selfcodealign.steps.generate import generate

    busy_log = folder / "busy.log"
    script = folder / "engine.yaml"
    script.write_text(orjson.dumps({"token_s": token_ms / 1000,
                                    "busy_log": str(busy_log)}).decode())
    rows = [{"id": f"i{k:05d}", "instruction": f"Write function number {k}."}
            for k in range(requests)]
    inp = folder / "in.jsonl"
    inp.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    config = load_config(None, [
        "backend.name=fake", f"backend.script={script}",
        f"backend.data_parallel_size={engines}", f"backend.in_flight={in_flight}",
        f"responses.batch_size={batch_size}", "responses.n=1", "run.llm_cache=false",
        f"generation.stream={mode == 'streamed'}", f"run.root={folder / 'runs'}"])
    started = time.time()
    summary = generate(config, "responses", str(inp), str(folder / f"{mode}.jsonl"))
    wall = time.time() - started
    assert summary["complete"] and summary["requests"] == requests, summary
    spans = [tuple(map(float, line.split()[:2])) for line in busy_log.read_text().splitlines()]
    # the engines' busy seconds inside the stage's generation (engine start-up excluded)
    first = min(s for s, _ in spans)
    last = max(e for _, e in spans)
    busy = sum(e - s for s, e in spans)
    return {"wall_s": wall, "span_s": last - first, "req_per_s": requests / (last - first),
            "busy": busy / (engines * (last - first)), "batches": len(spans)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=384)
    parser.add_argument("--engines", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--token-ms", type=float, default=0.5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("batched", "streamed"):
            folder = Path(tmp) / mode
            folder.mkdir()
            results[mode] = run(mode, args.requests, args.engines, args.in_flight,
                                args.batch_size, args.token_ms, folder)
            r = results[mode]
            print(f"{mode:>9}: {r['span_s']:.2f} s generating ({r['wall_s']:.2f} s with engine "
                  f"start-up), {r['req_per_s']:.1f} req/s, engines busy {r['busy']:.0%} "
                  f"({r['batches']:.0f} engine batches)")
    b, s = results["batched"], results["streamed"]
    print(f"streamed / batched: {s['req_per_s'] / b['req_per_s']:.2f}x requests/s, busy-time "
          f"{s['busy']:.0%} vs {b['busy']:.0%} ({args.requests} requests, {args.engines} engine "
          f"processes x {args.in_flight} in flight, batch_size {args.batch_size}, 50-1536 "
          f"tokens log-uniform at {args.token_ms} ms, static batches)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
