"""SFT on a tiny random model: loss mask, learning, dropout, chat template, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.prompts.instruct import build_prompt, tokenize

transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from selfcodealign.training.sft import train  # noqa: E402

ROWS = [{"instruction": "Write add.", "response": "def add(a, b):\n    return a + b"},
        {"instruction": "Square numbers.", "response": "x = [i * i for i in range(10)]"}]


def write_data(path: Path, repeat: int = 8) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS * repeat))
    return path


def test_loss_mask_is_the_response_and_eos(tiny_model: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    item = tokenize(tok, "Write add.", "def add(a, b):\n    return a + b", 512)
    assert item.input_ids[0] == tok.bos_token_id and item.input_ids[-1] == tok.eos_token_id
    masked = [t for t, m in zip(item.input_ids, item.completion_mask, strict=True) if m]
    assert masked[-1] == tok.eos_token_id
    assert tok.decode(masked[:-1]) == "def add(a, b):\n    return a + b"
    unmasked = [t for t, m in zip(item.input_ids, item.completion_mask, strict=True) if not m]
    assert tok.decode(unmasked[1:]) == build_prompt("Write add.")
    short = tokenize(tok, "Write add.", "def add(a, b):\n    return a + b", 10)
    assert short.truncated and len(short.input_ids) == 10


def test_training_learns_and_saves_a_faithful_model(tiny_model: Path, tmp_path: Path) -> None:
    cfg = load_config(None, ["train.learning_rate=0.01", "train.batch_size=4",
                             "train.micro_batch_size=4", "train.warmup_ratio=0.0",
                             "train.save_steps=1000"]).train
    before = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    out = tmp_path / "ckpt"
    summary = train(str(write_data(tmp_path / "d.jsonl")), str(tiny_model), str(out), cfg,
                    max_steps=25)
    assert summary["steps"] == 25 and summary["examples"] == 16
    assert summary["losses"][-1] < summary["losses"][0] * 0.8  # it learns the tiny data
    after = transformers.AutoModelForCausalLM.from_pretrained(out)
    weight = "transformer.h.0.mlp.c_fc.weight"
    assert not torch.equal(before.state_dict()[weight], after.state_dict()[weight])
    assert after.config.resid_pdrop == after.config.embd_pdrop == after.config.attn_pdrop == 0
    assert set(summary["dropout_zeroed"]) >= {"resid_pdrop", "embd_pdrop", "attn_pdrop"}
    tok = transformers.AutoTokenizer.from_pretrained(out)
    rendered = tok.apply_chat_template([{"role": "user", "content": "Write add."}],
                                       tokenize=False, add_generation_prompt=True)
    assert rendered == tok.bos_token + build_prompt("Write add.")
    full = tok.apply_chat_template([{"role": "user", "content": "Write add."},
                                    {"role": "assistant", "content": "X"}], tokenize=False)
    assert full == tok.bos_token + build_prompt("Write add.") + "X" + tok.eos_token


def test_resume_continues_the_step_count(tiny_model: Path, tmp_path: Path,
                                         run_cli: Callable[..., Any]) -> None:
    data = write_data(tmp_path / "d.jsonl", repeat=16)
    out = tmp_path / "ckpt"
    common = ["--data", str(data), "--model", str(tiny_model), "--output-dir", str(out),
              "--set", "train.batch_size=2", "--set", "train.micro_batch_size=2",
              "--set", "train.save_steps=3"]
    first = run_cli("train", *common, "--max-steps", "3")
    assert first.code == 0, first.err
    assert (out / "checkpoint-3").is_dir() and "trained 3 steps" in first.out
    second = run_cli("train", *common, "--max-steps", "6")
    assert second.code == 0, second.err
    assert "trained 6 steps" in second.out and (out / "checkpoint-6").is_dir()
    state = orjson.loads((out / "checkpoint-6" / "trainer_state.json").read_bytes())
    assert state["global_step"] == 6


def test_checkpoints_are_scored_on_the_benchmark(tiny_model: Path, tmp_path: Path,
                                                 benchmark_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 run_cli: Callable[..., Any]) -> None:
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(tmp_path / "cache"))
    data = write_data(tmp_path / "d.jsonl")
    out = tmp_path / "ckpt"
    common = ["--data", str(data), "--model", str(tiny_model), "--output-dir", str(out),
              "--set", "train.batch_size=2", "--set", "train.micro_batch_size=2",
              "--set", "train.save_steps=2", "--set", "evaluate.max_tokens=8",
              "--set", "execute.workers=1", "--eval-benchmark", "humaneval",
              "--eval-limit", "2", "--dataset", str(benchmark_dir)]
    result = run_cli("train", *common, "--max-steps", "4")
    assert result.code == 0, result.err
    history = [orjson.loads(line) for line in (out / "benchmark_history.jsonl").open("rb")]
    assert [h["step"] for h in history] == [2, 4]
    assert all(0.0 <= h["humaneval+_pass@1"] <= h["humaneval_pass@1"] <= 1.0 for h in history)
    assert "checkpoint 2: humaneval_pass@1" in result.out
    for step in (2, 4):
        folder = out / "benchmark_scores" / f"checkpoint-{step}"
        scored = orjson.loads((folder / "humaneval.results.json").read_bytes())
        assert len(scored["eval"]) == 2 and scored["model"] == str(out / f"checkpoint-{step}")
        assert len((folder / "humaneval.samples.jsonl").read_text().splitlines()) == 2
        assert orjson.loads((folder / "scores.json").read_bytes()) == history[step // 2 - 1]
    state = orjson.loads((out / "checkpoint-4" / "trainer_state.json").read_bytes())
    assert any("humaneval+_pass@1" in entry for entry in state["log_history"])
    # a crash while scoring checkpoint 4: its results are gone, one sample survives; resuming
    # from it finishes the scoring and generates only the missing sample
    folder = out / "benchmark_scores" / "checkpoint-4"
    (folder / "humaneval.results.json").unlink()
    (folder / "scores.json").unlink()
    samples = folder / "humaneval.samples.jsonl"
    first = samples.read_text().splitlines()[0]
    samples.write_text(first + "\n")
    again = run_cli("train", *common, "--max-steps", "4")
    assert again.code == 0, again.err
    assert (folder / "humaneval.results.json").exists()
    lines = samples.read_text().splitlines()
    assert len(lines) == 2 and lines[0] == first
    # the history keeps one line per checkpoint
    steps = [orjson.loads(x)["step"] for x in (out / "benchmark_history.jsonl").open("rb")]
    assert steps[:2] == [2, 4] and len(steps) == len(set(steps))


def test_the_loss_is_a_mean_over_examples_by_default(tiny_model: Path, tmp_path: Path) -> None:
    """Two examples of very different response lengths: `example` weighs them alike, `token`
    weighs every token alike; both run through a real SFTTrainer step."""
    from selfcodealign.training.sft import example_mean_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 6], [-100, -100, -100, -100, -100, 2]])
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 11),
                                                  labels[:, 1:].reshape(-1), ignore_index=-100,
                                                  reduction="none").view(2, 5)
    first = per_token[0, 1:].mean()  # tokens 3, 4, 5, 6
    second = per_token[1, 4]  # token 2
    got = example_mean_loss(logits, labels, torch)
    assert torch.allclose(got, (first + second) / 2)
    assert not torch.allclose(got, (per_token[0, 1:].sum() + second) / 5)
    assert example_mean_loss(logits, torch.full((2, 6), -100), torch).item() == 0.0
    data = tmp_path / "uneven.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        {"instruction": "Short.", "response": "x = 1"},
        {"instruction": "Long.", "response": "def f(a, b):\n    return [a + b] * 10 + [a * b]"},
    ] * 4))
    for loss in ("example", "token"):
        cfg = load_config(None, ["train.batch_size=4", "train.micro_batch_size=2",
                                 f"train.loss={loss}", "train.save_steps=1000"]).train
        summary = train(str(data), str(tiny_model), str(tmp_path / loss), cfg, max_steps=2)
        assert summary["steps"] == 2 and all(x == x for x in summary["losses"])  # no NaN


def test_training_and_evaluation_prompts_agree_token_for_token(tiny_model: Path,
                                                              tmp_path: Path) -> None:
    """Whether or not the tokenizer adds BOS by itself, the evaluation prompt a backend encodes
    with the defaults, the saved chat template and the training sequence start alike."""
    from selfcodealign.prompts.instruct import CHAT_TEMPLATE, bos_prefix

    plain = transformers.AutoTokenizer.from_pretrained(tiny_model)  # adds no BOS itself
    adding = transformers.AutoTokenizer.from_pretrained(tiny_model)
    adding._tokenizer.post_processor = __import__("tokenizers").processors.TemplateProcessing(
        single=f"{adding.bos_token} $A", special_tokens=[(adding.bos_token,
                                                          adding.bos_token_id)])
    assert adding("x")["input_ids"][0] == adding.bos_token_id != plain("x")["input_ids"][0]
    for tok in (plain, adding):
        tok.chat_template = CHAT_TEMPLATE
        trained = tokenize(tok, "Write add.", "def add(a, b):\n    return a + b", 512)
        prompt_len = trained.completion_mask.index(1)
        expected = trained.input_ids[:prompt_len]
        evaluated = tok(bos_prefix(tok) + build_prompt("Write add."))["input_ids"]
        templated = tok.apply_chat_template([{"role": "user", "content": "Write add."}],
                                            add_generation_prompt=True, tokenize=True)
        if isinstance(templated, dict) or hasattr(templated, "keys"):
            templated = templated["input_ids"]
        assert evaluated == expected == list(templated)
        assert expected.count(tok.bos_token_id) == 1


def test_the_global_batch_stays_the_configured_one_under_a_launcher(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `accelerate launch` / `torchrun` with N processes, gradient accumulation shrinks
    so the optimiser still sees train.batch_size examples per step (the paper's 64)."""
    from selfcodealign.errors import ConfigError
    from selfcodealign.training.sft import accumulation_steps, launched_world_size

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_world_size() == 1 and accumulation_steps(64, 1, None) == 64
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert launched_world_size() == 4
    assert accumulation_steps(64, 1, None) == 16 and accumulation_steps(64, 2, None) == 8
    assert accumulation_steps(64, 16, None) == 1
    assert accumulation_steps(64, 1, 2) == 32  # an explicit world size wins
    with pytest.raises(ConfigError, match=r"not a multiple of train\.micro_batch_size 1 x 3"):
        accumulation_steps(64, 1, 3)
    monkeypatch.setenv("WORLD_SIZE", "many")
    assert launched_world_size() == 1


def test_two_processes_train_like_one(tiny_model: Path, tmp_path: Path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2` (torch.distributed, gloo on CPU: the
    launcher a GPU box uses) keeps the global batch at train.batch_size and follows the
    single-process loss curve; only the main process reports."""
    import json
    import os
    import shutil
    import socket
    import subprocess
    import sys

    import torch

    if shutil.which("accelerate") is None:
        pytest.skip("accelerate is not installed")
    rows = [{"instruction": f"Write add{i}.", "response": f"def add{i}(a, b):\n    return a + b"}
            for i in range(32)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows))
    common = ["-m", "selfcodealign", "train", "--data", str(data), "--model", str(tiny_model),
              "--max-steps", "3", "--set", "train.batch_size=8", "--set",
              "train.micro_batch_size=2", "--set", "train.learning_rate=0.01", "--set",
              "train.save_steps=1000"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CUDA_VISIBLE_DEVICES": ""}
    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    one = subprocess.run([sys.executable, *common, "--output-dir", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    def launch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [shutil.which("accelerate") or "accelerate", "launch", "--multi_gpu",
             "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
             "--dynamo_backend", "no", "--main_process_port", str(free_port()), *common,
             "--output-dir", str(tmp_path / "two")],
            env=env, capture_output=True, text=True, timeout=600)

    two = launch()
    if two.returncode != 0:  # a rendezvous lost to another process taking the port: once more
        shutil.rmtree(tmp_path / "two", ignore_errors=True)
        two = launch()
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("trained 3 steps") == 1  # the main process reports, once

    def run_facts(name: str) -> tuple[int, int, list[float], float]:
        args = torch.load(tmp_path / name / "training_args.bin", weights_only=False)
        state = json.loads((tmp_path / name / "checkpoint-3" / "trainer_state.json").read_text())
        losses = [e["loss"] for e in state["log_history"] if "loss" in e]
        return args.world_size, args.gradient_accumulation_steps, losses, state["epoch"]

    world1, accumulation1, losses1, epoch1 = run_facts("one")
    world2, accumulation2, losses2, epoch2 = run_facts("two")
    assert (world1, accumulation1) == (1, 4) and (world2, accumulation2) == (2, 2)
    assert epoch1 == epoch2 == 0.75  # 3 steps x 8 examples of 32: the same global batch
    assert len(losses1) == len(losses2) == 3
    assert all(abs(a - b) <= 0.05 * abs(a) for a, b in zip(losses1, losses2, strict=True))
