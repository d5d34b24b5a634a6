"""SFT throughput on CPU with a small model: tokens/s and padding waste, packing off vs on.

A small randomly initialised GPT-2 (4 layers, 256 wide) and a BPE tokenizer trained here,
synthetic instruction/response pairs of varied length (like real SFT data), the paper's recipe
(no packing) against packing, one epoch each over the same data. Padding waste is the share of
batch positions that are padding (micro-batches of 8 padded to their longest).

    python bench/bench_training.py [--examples 128]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from selfcodealign.config import load_config
from selfcodealign.prompts.instruct import tokenize
from selfcodealign.training.sft import train
from tiny_model import build_tiny_model


def build_model(folder: Path) -> None:
    text = ["def f(x):\n    return x + 1\n", "### Instruction\nWrite code.\n### Response\n",
            "for i in range(10):\n    total += i * i\n", "The answer uses a loop and a list."]
    build_tiny_model(folder, text, vocab_size=1000, width=256, layers=4, heads=4,
                     positions=1280)


def data(n: int, path: Path) -> list[dict[str, str]]:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        lines = rng.randint(2, 40)  # long-tailed lengths, as in real responses
        body = "\n".join(f"    total += {j} * x  # step {j}" for j in range(lines))
        rows.append({"instruction": f"Write function number {i} that sums steps.",
                     "response": f"def f{i}(x):\n    total = 0\n{body}\n    return total"})
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return rows


def padding_waste(lengths: list[int], micro: int) -> float:
    order = list(lengths)
    random.Random(1).shuffle(order)
    padded = sum(max(order[i:i + micro]) * len(order[i:i + micro])
                 for i in range(0, len(order), micro))
    return 1 - sum(order) / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=128)
    args = parser.parse_args()
    import transformers

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_model(root / "model")
        rows = data(args.examples, root / "data.jsonl")
        tok = transformers.AutoTokenizer.from_pretrained(root / "model")
        lengths = [len(tokenize(tok, r["instruction"], r["response"], 1280).input_ids)
                   for r in rows]
        micro = 8
        real = sum(lengths)
        for packing in (False, True):
            cfg = load_config(None, [f"train.packing={str(packing).lower()}",
                                     f"train.micro_batch_size={micro}", "train.epochs=1",
                                     f"train.batch_size={micro}", "train.max_length=512",
                                     "train.save_steps=100000"]).train
            start = time.perf_counter()
            summary = train(str(root / "data.jsonl"), str(root / "model"),
                            str(root / f"out-{packing}"), cfg)
            took = time.perf_counter() - start
            waste = 0.0 if packing else padding_waste([min(n, 512) for n in lengths], micro)
            label = "packing" if packing else "no packing (paper)"
            print(f"{label:20s}: one epoch of {len(rows)} examples ({real:,} tokens) in "
                  f"{summary['steps']} steps, {took:.1f} s = {real / took:,.0f} tokens/s, "
                  f"padding waste {waste:.0%}")


if __name__ == "__main__":
    main()
