"""A GPU check: the package's GPU paths on whatever GPU is present, with figures.

Builds a small Llama-architecture model with random weights and a BPE tokenizer trained here
(nothing is downloaded), then, each step reported on its own so one failure does not hide the
rest:

1. the `transformers` backend on the GPU in bf16: tokens/s unbatched and batched, on prompts of
   the paper's layout (8-shot S->C prompts over standard-library functions);
1b. data parallelism: the I->R stage with one engine (batch by batch) and with two engine
   processes (`backend.data_parallel_size: 2`, pinned by CUDA_VISIBLE_DEVICES, streamed with
   work-stealing) sharing the GPUs present: tokens/s of each;
2. the loop (`selfcodealign run`: seeds -> concepts -> instructions -> responses -> execute ->
   select -> train -> evaluate on 5 HumanEval+ tasks) with that model on the GPU;
3. SFT in bf16 with the paper's recipe for a few steps: tokens/s;
4. SFT with per-checkpoint HumanEval+ scores from the saved checkpoints, by a scorer process
   that gets the GPU once training has released it (`train.eval_from: checkpoint`).

`--device cpu` rehearses it; the tests run the rehearsal of steps 1b, 3 and 4 on every CI run.

The vLLM paths (tensor and data parallelism) need vLLM installed where this runs; without it
that step says so. Figures go to stdout and, with `--out DIR`, to DIR/gpu_check.json.

    python bench/gpu_check.py [--out DIR] [--benchmarks DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS: dict[str, Any] = {}
OUT: Path | None = None


def step(name: str, fn: Callable[[], dict[str, Any]]) -> None:
    started = time.perf_counter()
    print(f"== {name}", flush=True)
    try:
        result = fn()
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(f"   ok: {json.dumps(result)}", flush=True)
    except Exception as exc:  # every step is reported, whatever the others do
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        traceback.print_exc()
        print(f"   FAILED: {result['error']}", flush=True)
    RESULTS[name] = result
    if OUT is not None:  # after every step: a run cut short still leaves its figures
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "gpu_check.json").write_text(json.dumps(RESULTS, indent=2))


def stdlib_functions(count: int) -> list[str]:
    found = []
    for path in sorted(Path(ast.__file__).parent.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
                code = ast.get_source_segment(source, node) or ""
                if 5 <= code.count("\n") <= 40:
                    found.append(code)
        if len(found) >= count:
            break
    return found[:count]


def build_model(folder: Path, *, width: int, layers: int) -> dict[str, Any]:
    import tokenizers
    import torch
    import transformers

    corpus = stdlib_functions(400)
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=8000, special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                               bos_token="<|endoftext|>", unk_token="<unk>")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=width, intermediate_size=width * 4,
        num_hidden_layers=layers, num_attention_heads=width // 64,
        num_key_value_heads=width // 64, max_position_embeddings=8192,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    return {"parameters_m": round(params / 1e6, 1), "vocab": len(tok)}


DEVICE = "cuda"


def generation(folder: Path) -> dict[str, Any]:
    from selfcodealign.backends.base import SamplingParams
    from selfcodealign.backends.transformers import TransformersBackend
    from selfcodealign.prompts import build_prompt, load_library, snippet_prefix

    library = load_library()
    shots = list(library.examples[:8])
    prompts = [build_prompt(library.system("S->C"), "S->C", shots, snippet_prefix(code))
               for code in stdlib_functions(64)]
    backend = TransformersBackend(str(folder), device=DEVICE, dtype="bfloat16")
    backend.net.generation_config.eos_token_id = None  # fixed lengths: pure throughput
    widths = [len(backend.tokenizer.encode(p)) for p in prompts]
    params = SamplingParams(temperature=0.7, max_tokens=256)
    out: dict[str, Any] = {"prompt_tokens_min": min(widths), "prompt_tokens_max": max(widths)}
    backend.generate(prompts[:2], SamplingParams(max_tokens=8), seeds=[0, 1])  # warm-up
    for batch, count in ((1, 4), (16, 32), (64, 64)):
        backend.batch_size = batch
        started = time.perf_counter()
        results = backend.generate(prompts[:count], params, seeds=list(range(count)))
        seconds = time.perf_counter() - started
        tokens = sum(c.completion_tokens for r in results for c in r)
        out[f"batch_{batch}_tokens_per_s"] = round(tokens / seconds, 1)
    return out


def pool(folder: Path, work: Path) -> dict[str, Any]:
    from selfcodealign.config import load_config
    from selfcodealign.steps.generate import generate

    rows = [{"id": f"i{k:03d}", "instruction": f"Write a Python function `task_{k}` that "
             f"returns the {k}-th prime number, with a docstring and type hints."}
            for k in range(48)]
    inp = work / "pool-in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out: dict[str, Any] = {}
    for replicas in (1, 2):
        config = load_config(None, [
            "backend.name=transformers", f"backend.model={folder}", f"backend.device={DEVICE}",
            "backend.dtype=bfloat16", "backend.batch_size=16",
            f"backend.data_parallel_size={replicas}", "sampling.max_tokens=256",
            "responses.n=2", "responses.batch_size=16", "run.llm_cache=false",
            f"run.root={work / 'pool-runs'}"])
        started = time.perf_counter()
        summary = generate(config, "responses", str(inp), str(work / f"pool-{replicas}.jsonl"))
        seconds = time.perf_counter() - started
        out[f"engines_{replicas}"] = {
            "complete": summary["complete"], "requests": summary["requests"],
            "completion_tokens": summary["completion_tokens"], "seconds": round(seconds, 1),
            "tokens_per_s": round(summary["completion_tokens"] / seconds, 1)}
    return out


def loop(folder: Path, work: Path, benchmarks: Path | None) -> dict[str, Any]:
    corpus = work / "corpus"
    corpus.mkdir(exist_ok=True)
    for i, code in enumerate(stdlib_functions(60)):
        (corpus / f"f{i}.py").write_text(code + "\n")
    config: dict[str, Any] = {
        "run": {"name": "gpu", "root": str(work / "runs"), "until": "evaluate"},
        "backend": {"name": "transformers", "model": str(folder), "device": DEVICE,
                    "dtype": "bfloat16", "batch_size": 32},
        "sampling": {"max_tokens": 256},
        "seeds": {"corpus": [str(corpus)], "typecheck": False},
        "responses": {"n": 4},
        "train": {"epochs": 1, "batch_size": 8, "max_length": 512},
        "evaluate": {"benchmarks": ["humaneval"], "limit": 5, "max_tokens": 256},
    }
    if benchmarks is None:
        config["seeds"]["decontaminate"] = False
        config["select"] = {"benchmarks": []}
    path = work / "gpu.yaml"
    path.write_text(json.dumps(config))
    env = dict(os.environ)
    if benchmarks is not None:
        env["SELFCODEALIGN_BENCHMARKS"] = str(benchmarks)
    done = subprocess.run([sys.executable, "-m", "selfcodealign", "run", "--config", str(path)],
                          env=env, capture_output=True, text=True, timeout=900)
    print(done.stdout[-4000:], done.stderr[-4000:], flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"run exited {done.returncode}: {done.stderr.strip()[-300:]}")
    run = work / "runs" / "gpu"
    stages = {}
    for stage in ("seeds", "concepts", "instructions", "responses", "execute", "select"):
        stats = json.loads((run / stage / "stats.json").read_text())
        stages[stage] = {"kept": stats.get("kept"), "dropped": stats.get("dropped"),
                         "seconds": stats.get("elapsed_s")}
    return {"stages": stages}


def sft(folder: Path, work: Path) -> dict[str, Any]:
    import torch

    from selfcodealign.config import load_config
    from selfcodealign.training.sft import train

    rng = random.Random(0)
    rows = []
    for i, code in enumerate(stdlib_functions(400)):
        rows.append({"instruction": f"Write the function of task {i}. " * rng.randint(2, 12),
                     "response": f"```python\n{code}\n```"})
    data = work / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(None, ["train.batch_size=64", "train.micro_batch_size=8",
                             "train.max_length=1280", "train.warmup_ratio=0.0",
                             "train.save_steps=100000",
                             f"train.precision={'bf16' if DEVICE == 'cuda' else 'fp32'}"]).train
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    summary = train(str(data), str(folder), str(work / "sft"), cfg, max_steps=5)
    seconds = time.perf_counter() - started
    per_step = summary["tokens"] / max(1, len(rows)) * 64
    return {"steps": summary["steps"], "loss_first": round(summary["losses"][0], 3),
            "loss_last": round(summary["losses"][-1], 3),
            "tokens_per_s_approx": round(per_step * summary["steps"] / seconds, 1),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if DEVICE == "cuda" else None}


def scores(folder: Path, work: Path, benchmarks: Path | None) -> dict[str, Any]:
    """SFT with per-checkpoint scores from the saved checkpoints (`train.eval_from:
    checkpoint`): a scorer process per checkpoint once training has released the GPU."""
    from selfcodealign.config import load_config
    from selfcodealign.training.sft import train

    if benchmarks is None:
        return {"skipped": "no --benchmarks folder"}
    os.environ["SELFCODEALIGN_BENCHMARKS"] = str(benchmarks)
    rows = [{"instruction": f"Write function {i}.", "response": f"```python\n{code}\n```"}
            for i, code in enumerate(stdlib_functions(64))]
    data = work / "scores.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = load_config(None, [
        "train.batch_size=16", "train.micro_batch_size=8", "train.save_steps=2",
        "train.eval_benchmarks=[humaneval]", "train.eval_limit=8", "train.eval_from=checkpoint",
        f"train.precision={'bf16' if DEVICE == 'cuda' else 'fp32'}",
        f"evaluate.dataset_dir={benchmarks}", "evaluate.max_tokens=128",
        f"backend.device={DEVICE}", "backend.dtype=bfloat16"])
    started = time.perf_counter()
    summary = train(str(data), str(folder), str(work / "scored"), config.train, max_steps=4,
                    config=config)
    return {"steps": summary["steps"], "scored": [e["step"] for e in summary[
        "checkpoint_scores"]], "failures": summary["checkpoint_score_failures"],
        "seconds": round(time.perf_counter() - started, 1)}


def vllm_check(folder: Path) -> dict[str, Any]:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return {"skipped": "vllm is not installed here (pip install 'selfcodealign[vllm]')"}
    from selfcodealign.backends.base import SamplingParams
    from selfcodealign.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(folder), dtype="bfloat16", gpu_memory_utilization=0.5)
    started = time.perf_counter()
    results = backend.generate(["def f(x):"] * 64, SamplingParams(max_tokens=256),
                               seeds=list(range(64)))
    tokens = sum(c.completion_tokens for r in results for c in r)
    return {"tokens_per_s": round(tokens / (time.perf_counter() - started), 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--benchmarks", type=Path)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--device", default="cuda", help="cpu: a rehearsal of the script")
    parser.add_argument("--steps", default="generation,pool,vllm,sft,scores,loop",
                        help="comma-separated subset of: generation, pool, vllm, sft, scores, "
                        "loop")
    args = parser.parse_args(argv)
    import torch

    global DEVICE, OUT
    DEVICE, OUT = args.device, args.out
    RESULTS["device"] = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                         "name": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                         else None, "count": torch.cuda.device_count()}
    print(RESULTS["device"], flush=True)
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check (--device cpu rehearses the script)")
        return
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    folder = work / "model"
    chosen = set(args.steps.split(","))
    step("build model", lambda: build_model(folder, width=args.width, layers=args.layers))
    if "generation" in chosen:
        step("transformers backend generation (bf16)", lambda: generation(folder))
    if "pool" in chosen:
        step("data-parallel engines (transformers, streamed)", lambda: pool(folder, work))
    if "vllm" in chosen and DEVICE == "cuda":
        step("vllm backend", lambda: vllm_check(folder))
    if "sft" in chosen:
        step("sft bf16", lambda: sft(folder, work))
    if "scores" in chosen:
        step("checkpoint scores from disk", lambda: scores(folder, work, args.benchmarks))
    if "loop" in chosen:
        step("the loop on the GPU", lambda: loop(folder, work, args.benchmarks))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
