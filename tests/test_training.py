"""SFT on a tiny random model: loss mask, learning, dropout, chat template, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.training.format import build_prompt, tokenize

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
    assert rendered == build_prompt("Write add.")
    full = tok.apply_chat_template([{"role": "user", "content": "Write add."},
                                    {"role": "assistant", "content": "X"}], tokenize=False)
    assert full == build_prompt("Write add.") + "X" + tok.eos_token


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
