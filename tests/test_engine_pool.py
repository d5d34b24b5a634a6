"""Data parallelism on one machine: engine processes pinned to GPU groups, fed by
work-stealing, surviving the death of one of them; the scripted backend and a tiny
transformers model stand in for GPU engines."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.backends import SamplingParams, create_backend
from selfcodealign.backends.pool import EnginePool, engine_devices
from selfcodealign.config import load_config
from selfcodealign.errors import BackendError, ConfigError


def _backend(*overrides: str) -> Any:
    return load_config(None, list(overrides)).backend


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k:04d}", "instruction": f"Write function number {k}."} for k in range(n)]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def test_each_engine_gets_its_own_group_of_gpus() -> None:
    four = ["0", "1", "2", "3"]
    tp2 = _backend("backend.name=vllm", "backend.model=m", "backend.tensor_parallel_size=2")
    assert engine_devices(tp2, 2, four) == ["0,1", "2,3"]
    one = _backend("backend.name=vllm", "backend.model=m")
    assert engine_devices(one, 4, four) == ["0", "1", "2", "3"]
    assert engine_devices(one, 2, ["4", "6"]) == ["4", "6"]  # as CUDA_VISIBLE_DEVICES named
    with pytest.raises(ConfigError, match="tensor_parallel_size 2 needs 2 GPUs; 1 visible"):
        engine_devices(tp2, 1, ["0"])
    # more engines than groups share them, if their memory shares fit
    with pytest.raises(ConfigError, match=r"gpu_memory_utilization must be at most 0\.50"):
        engine_devices(one, 2, ["0"])
    shared = _backend("backend.name=vllm", "backend.model=m",
                      "backend.gpu_memory_utilization=0.45")
    assert engine_devices(shared, 2, ["0"]) == ["0", "0"]
    hf = _backend("backend.name=transformers", "backend.model=m")
    assert engine_devices(hf, 3, ["0", "1"]) == ["0", "1", "0"]
    assert engine_devices(hf, 2, []) == [None, None]  # CPU engines, unpinned
    with pytest.raises(ConfigError, match="vllm backend needs a GPU"):
        engine_devices(one, 2, [])


def test_replicas_of_a_client_or_without_gpus_are_one_line_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match="vllm backend needs a GPU"):
        create_backend(_backend("backend.name=vllm", "backend.model=m",
                                "backend.data_parallel_size=2"))
    with pytest.raises(ConfigError, match="openai backend is a client"):
        create_backend(_backend("backend.name=openai", "backend.model=m",
                                "backend.base_url=[http://127.0.0.1:9]",
                                "backend.data_parallel_size=2"))


def test_an_engine_that_cannot_start_is_reported_with_its_reason(tmp_path: Path) -> None:
    config = _backend("backend.name=fake", f"backend.script={tmp_path / 'missing.yaml'}",
                      "backend.data_parallel_size=2")
    with pytest.raises(BackendError, match="could not start: ConfigError: cannot read fake"):
        create_backend(config)


def _script(tmp_path: Path, delay: float) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(f"delay_s: {delay}\n")
    return path


def test_a_pool_stage_writes_what_one_engine_writes(tmp_path: Path) -> None:
    from selfcodealign.steps.generate import generate

    inp = _jsonl(tmp_path / "in.jsonl", _rows(30))
    script = _script(tmp_path, 0.002)
    files = {}
    for replicas in (1, 3):
        out = tmp_path / f"dp{replicas}" / "out.jsonl"
        out.parent.mkdir()
        config = load_config(None, [
            "backend.name=fake", f"backend.script={script}",
            f"backend.data_parallel_size={replicas}", "backend.in_flight=2",
            "responses.batch_size=8", "responses.n=2", f"run.root={tmp_path / 'runs'}"])
        summary = generate(config, "responses", inp, str(out))
        assert summary["complete"] and summary["requests"] == 30
        files[replicas] = {p.name: p.read_bytes() for p in sorted(out.parent.glob("*.jsonl"))}
    assert files[1] == files[3] and files[1]["out.jsonl"]


def test_work_goes_to_free_engines_and_survives_one_dying(tmp_path: Path) -> None:
    config = _backend("backend.name=fake", f"backend.script={_script(tmp_path, 0.02)}",
                      "backend.data_parallel_size=2", "backend.in_flight=3")
    pool = create_backend(config)
    assert isinstance(pool, EnginePool)
    try:
        params = SamplingParams(n=1)
        stream = pool.streamer(params)
        assert stream.capacity == 6
        victim = pool.engine_pids()[0]
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        got: dict[int, Any] = {}
        sent = 0
        while len(got) < 80:
            while sent < 80 and sent - len(got) < stream.capacity:
                stream.submit(sent, f"prompt {sent}", sent)
                sent += 1
            for key, answer in stream.finished(wait=True):
                assert key not in got  # one answer per request
                got[key] = answer
            assert all(len(e.holding) <= 3 for e in pool.engines)
        killer.join()
        assert all(isinstance(a, list) and a for a in got.values())
        assert pool.engines[0].restarts == 1 and victim not in pool.engine_pids()
        assert all(e.answered > 0 for e in pool.engines)  # both engines took work
        again = pool.generate(["a", "b", "c"], params, [1, 2, 3])  # the restarted pool serves
        assert len(again) == 3
    finally:
        pool.close()
    assert not pool.engine_pids()


@pytest.mark.slow
def test_transformers_engines_in_processes(tmp_path: Path) -> None:
    """The CPU stand-in for GPU engines: two processes, each holding a tiny model whose
    context holds the stage's few-shot prompts."""
    pytest.importorskip("transformers")
    from conftest import TINY_CORPUS
    from selfcodealign.steps.generate import generate
    from tiny_model import build_tiny_model

    tiny_model = tmp_path / "model"
    build_tiny_model(tiny_model, TINY_CORPUS, positions=16384)

    inp = _jsonl(tmp_path / "in.jsonl", _rows(12))
    config = load_config(None, [
        "backend.name=transformers", f"backend.model={tiny_model}", "backend.device=cpu",
        "backend.data_parallel_size=2", "backend.batch_size=4", "sampling.max_tokens=8",
        "responses.n=1", "responses.batch_size=6", f"run.root={tmp_path / 'runs'}"])
    summary = generate(config, "responses", inp, str(tmp_path / "out.jsonl"))
    assert summary["complete"] and summary["requests"] == 12
    assert summary["completion_tokens"] == 12 * 8 and not summary["dropped"].get(
        "prompt_too_long")


def test_an_engine_without_steps_waits_briefly_to_fill_its_batch() -> None:
    """A freed engine is refilled request by request; taking only the first would start a
    static batch of one that lasts as long as a full one."""
    import queue
    import time

    from selfcodealign.backends.pool import _Inbox

    inbox = _Inbox(connection=None)
    inbox.items = queue.Queue()

    def refill(count: int, pause: float) -> None:
        for k in range(count):
            inbox.items.put(("r", k))
            time.sleep(pause)

    worker = threading.Thread(target=refill, args=(4, 0.01))
    worker.start()
    taken, stop = inbox.take(True, 4, fill_s=30.0)  # returns once 4 are there, not after 30 s
    worker.join()
    assert [t[1] for t in taken] == [0, 1, 2, 3] and not stop
    worker = threading.Thread(target=refill, args=(2, 0.2))
    worker.start()
    alone, _ = inbox.take(True, 4, fill_s=0.0)  # no window: the first one alone
    worker.join()
    assert len(alone) == 1
    assert len(inbox.take(True, 4, fill_s=0.0)[0]) == 1  # the one still queued
    inbox.items.put(None)
    assert inbox.take(True, 4, fill_s=1.0) == ([], True)


def test_the_fake_engine_keeps_time_like_a_static_batch(tmp_path: Path) -> None:
    """`token_s`: a call lasts as long as its longest prompt's decode length; `busy_log`
    records each call; lengths are fixed per prompt within `decode_tokens`."""
    from selfcodealign.backends.fake import FakeBackend

    script = tmp_path / "engine.yaml"
    busy = tmp_path / "busy.log"
    script.write_text(orjson.dumps({"token_s": 0.0001, "decode_tokens": [10, 200],
                                    "busy_log": str(busy)}).decode())
    engine = FakeBackend(script=script)
    prompts = [f"p{k}" for k in range(50)]
    lengths = [engine.decode_tokens(p) for p in prompts]
    assert all(10 <= n <= 200 for n in lengths) and len(set(lengths)) > 10
    assert lengths == [FakeBackend(script=script).decode_tokens(p) for p in prompts]
    engine.generate(prompts[:5], SamplingParams(max_tokens=4))
    engine.generate(prompts[5:6], SamplingParams(max_tokens=4))
    spans = [line.split() for line in busy.read_text().splitlines()]
    assert [int(s[2]) for s in spans] == [5, 1]
    first = float(spans[0][1]) - float(spans[0][0])
    assert first >= max(lengths[:5]) * 0.0001  # slept at least its longest member's time
    script.write_text(orjson.dumps({"token_s": 0.1, "decode_tokens": [0, 5]}).decode())
    with pytest.raises(ConfigError, match="decode_tokens"):
        FakeBackend(script=script)
