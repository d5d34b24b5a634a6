"""The GPU check's CPU-possible parts (`bench/gpu_check.py --device cpu`): data-parallel
engine processes, SFT, and SFT with checkpoint scores from disk. The script a GPU machine runs
is the one CI runs, so it does not rot between the days a GPU is lent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_rehearses_on_the_cpu(tmp_path: Path, benchmark_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CUDA_VISIBLE_DEVICES": "",
           "SELFCODEALIGN_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--width",
         "64", "--layers", "2", "--steps", "pool,sft,scores", "--benchmarks",
         str(benchmark_dir), "--out", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    failed = {name: r["error"] for name, r in results.items() if "error" in r}
    assert not failed, failed
    engines = results["data-parallel engines (transformers, streamed)"]
    assert engines["engines_1"]["complete"] and engines["engines_2"]["complete"]
    assert engines["engines_2"]["requests"] == engines["engines_1"]["requests"] > 0
    assert results["sft bf16"]["steps"] == 5
    scored = results["checkpoint scores from disk"]
    assert scored["scored"] == [2, 4] and scored["failures"] == []
