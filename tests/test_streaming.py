"""Streaming requests: a bounded number in flight, no batch boundaries, answers written in
input order, the same data as the batch path, and resume after SIGKILL without asking again
what was answered."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from openai_server import FakeServer
from selfcodealign.backends.base import (
    Completion,
    FutureStreamer,
    RequestRejected,
    SamplingParams,
    can_stream,
)
from selfcodealign.config import load_config
from selfcodealign.errors import BackendError
from selfcodealign.generation.cache import CachedBackend
from selfcodealign.generation.stages import Responses
from selfcodealign.runner import run_stage
from selfcodealign.store import iter_records
from selfcodealign.store.stage import StageWriter

ANSWER = ("```python\ndef f(x):\n    return x\n```\n</response>\n\n<tests>\n```python\n"
          "assert f(1) == 1\n```\n")


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k:04d}", "instruction": f"Write function number {k}."} for k in range(n)]


def _jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def _tail_latency(body: dict[str, Any]) -> float:
    """Long-tailed, per prompt (so every run sees the same timings): mostly short, a few
    twenty times longer."""
    h = int(hashlib.sha256(body["prompt"].encode()).hexdigest()[:8], 16)
    return 0.2 if h % 10 == 0 else 0.01


def _config(tmp_path: Path, server: FakeServer, *extra: str) -> Any:
    return load_config(None, [
        "backend.name=openai", "backend.model=tiny", f"backend.base_url=[{server.url}]",
        "backend.max_concurrency=6", "backend.max_retries=1", f"run.root={tmp_path / 'runs'}",
        "responses.n=2", "responses.batch_size=4", "run.llm_cache=true", *extra])


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.parent.iterdir())
            if p.name.startswith(out.stem) and p.is_file() and "cache" not in p.name
            and p.name.endswith(".jsonl")}


def test_streaming_writes_the_same_data_as_batches_and_crosses_batch_boundaries(
        tmp_path: Path) -> None:
    from selfcodealign.steps.generate import generate

    rows = _rows(40)
    rows[7] = {"id": "i0007"}  # no instruction: its own drop, in its place
    inp = _jsonl(tmp_path / "in.jsonl", rows)
    outputs = {}
    for mode in ("true", "false"):
        server = FakeServer(latency=_tail_latency)
        try:
            folder = tmp_path / mode
            folder.mkdir()
            config = _config(folder, server, f"generation.stream={mode}")
            summary = generate(config, "responses", inp, str(folder / "out.jsonl"))
            assert summary["complete"] and summary["inputs"] == 40
            assert summary["requests"] == 39
            outputs[mode] = (_files(folder / "out.jsonl"), server.peak)
        finally:
            server.close()
    (streamed, peak_streamed), (batched, peak_batched) = outputs["true"], outputs["false"]
    assert streamed == batched  # byte for byte, rejects included
    assert peak_streamed == 6  # max_concurrency in flight, across batches of 4
    assert peak_batched <= 4  # the batch path never has more than one batch in flight
    parents = [orjson.loads(line)["parent"] for line in streamed["out.jsonl"].splitlines()]
    assert parents == sorted(parents)  # input order, though answers came out of order


class Scripted:
    """A streaming backend whose answers finish in an order the test chooses."""

    name, model = "scripted", "scripted"

    def __init__(self, capacity: int, fail: set[str] = frozenset(),  # type: ignore[assignment]
                 broken: bool = False) -> None:
        self.capacity, self.fail, self.broken = capacity, fail, broken
        self.sent: list[str] = []
        self.peak = 0

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        raise AssertionError("a streaming stage does not call generate")

    def streamer(self, params: SamplingParams) -> Any:
        backend = self

        class Stream:
            capacity = backend.capacity

            def __init__(self) -> None:
                self.held: list[tuple[int, str]] = []

            def submit(self, key: int, prompt: str, seed: int | None) -> None:
                backend.sent.append(prompt)
                self.held.append((key, prompt))
                backend.peak = max(backend.peak, len(self.held))

            def finished(self, wait: bool) -> list[tuple[int, Any]]:
                if not self.held:
                    return []
                random.Random(len(backend.sent)).shuffle(self.held)  # out of order
                key, prompt = self.held.pop()
                if backend.broken:
                    return [(key, TypeError("engine bug"))]
                if any(f in prompt for f in backend.fail):
                    return [(key, RequestRejected("refused: " + prompt[-30:]))]
                return [(key, [Completion(ANSWER, "stop", 5, 5)])]

            def close(self) -> None:
                self.held.clear()

        return Stream()

    def close(self) -> None:
        pass


def test_outcomes_come_in_input_order_with_at_most_capacity_in_flight(tmp_path: Path) -> None:
    backend = Scripted(capacity=5, fail={"number 3."})
    stage = Responses(backend, SamplingParams(n=1), seed=1, shots=1, batch_size=4)
    assert stage.streaming
    rows = _rows(30)
    rows[11]["instruction"] = 17  # a bad field: its own drop, written in its place
    stats = run_stage(stage, rows, StageWriter(tmp_path / "out"))
    assert stats.complete and stats.inputs_done == 30
    assert backend.peak == 5 and len(backend.sent) == 29
    assert dict(stats.dropped) == {"request_rejected": 1, "bad_instruction": 1}
    kept = [r["parent"] for r in iter_records(tmp_path / "out")]
    assert kept == [f"i{k:04d}" for k in range(30) if k not in (3, 11)]


def test_an_engine_failing_every_request_is_raised_not_dropped(tmp_path: Path) -> None:
    stage = Responses(Scripted(capacity=3, broken=True), SamplingParams(n=1), seed=1,
                      shots=1, batch_size=4)
    writer = StageWriter(tmp_path / "out")
    with pytest.raises(TypeError, match="engine bug"):
        run_stage(stage, _rows(8), writer)
    assert not writer.stats.complete


def test_a_backend_error_defers_only_the_requests_in_flight(tmp_path: Path) -> None:
    class Flaky(Scripted):
        def streamer(self, params: SamplingParams) -> Any:
            stream = super().streamer(params)
            original = stream.finished
            calls = Counter[str]()

            def finished(wait: bool) -> list[tuple[int, Any]]:
                calls["n"] += 1
                if calls["n"] == 3:
                    raise BackendError("server gone")
                return original(wait)

            stream.finished = finished
            return stream

    stage = Responses(Flaky(capacity=2), SamplingParams(n=1), seed=1, shots=1, batch_size=4)
    stats = run_stage(stage, _rows(10), StageWriter(tmp_path / "out"))
    assert not stats.complete
    assert stats.metrics["deferred"] == 2  # the two in flight when it failed
    assert stats.inputs_done == 8


def test_the_cache_keeps_each_streamed_answer_as_it_arrives(tmp_path: Path) -> None:
    server = FakeServer()
    try:
        from selfcodealign.backends.openai import OpenAIBackend

        backend = CachedBackend(OpenAIBackend("tiny", [server.url], max_concurrency=3),
                                tmp_path / "cache.sqlite")
        assert can_stream(backend)
        params = SamplingParams(n=1)
        stream = backend.streamer(params)
        for key in range(3):
            stream.submit(key, f"prompt {key}", key)
        first = stream.finished(wait=True)
        stream.close()  # abandoned with the others in flight
        answered = {key for key, _ in first}
        again = backend.streamer(params)
        for key in range(3):
            again.submit(key, f"prompt {key}", key)
        got: dict[int, Any] = {}
        while len(got) < 3:
            got.update(again.finished(wait=True))
        asked = Counter(server.requests[i]["prompt"] for i in range(len(server.requests)))
        for key in answered:
            assert asked[f"prompt {key}"] == 1  # answered once, never asked again
        assert backend.hits >= len(answered)
        backend.close()
    finally:
        server.close()


def test_future_streamer_reports_each_request_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def call(prompt: str, params: SamplingParams, seed: int | None) -> list[Completion]:
        time.sleep(0.001 * (seed or 0))
        if prompt == "bad":
            raise RequestRejected("no")
        return [Completion(prompt)]

    with ThreadPoolExecutor(4) as pool:
        stream = FutureStreamer(pool, call, SamplingParams(), capacity=4)
        for key, prompt in enumerate(["a", "bad", "c", "d"]):
            stream.submit(key, prompt, 4 - key)
        got: dict[int, Any] = {}
        while len(got) < 4:
            got.update(stream.finished(wait=True))
        assert stream.finished(wait=True) == []
    assert isinstance(got[1], RequestRejected)
    assert [got[k][0].text for k in (0, 2, 3)] == ["a", "c", "d"]


@pytest.mark.slow
def test_sigkill_mid_stream_resumes_to_the_same_files_without_asking_again(
        tmp_path: Path) -> None:
    rows = _rows(120)
    inp = _jsonl(tmp_path / "in.jsonl", rows)
    server = FakeServer(latency=_tail_latency)
    concurrency = 6

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "selfcodealign", "responses", "--input", inp,
                "--output", str(out), "--backend", "openai", "--model", "tiny",
                "--base-url", server.url, "--runs-dir", str(tmp_path / "runs"),
                "--set", f"backend.max_concurrency={concurrency}", "--set", "responses.n=2",
                "--set", "responses.batch_size=8", "--set", "run.llm_cache=true"]

    try:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        killed = tmp_path / "killed" / "out.jsonl"
        killed.parent.mkdir()
        for _round in range(3):
            before = len(server.answered)
            proc = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while len(server.answered) < before + 25 and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        asked_killed = list(server.requests)
        done = subprocess.run(command(killed), env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        prompts = [r["prompt"] for r in server.requests]
        repeats = sum(c - 1 for c in Counter(prompts).values())
        # only requests in flight at a kill can be asked again: at most `concurrency` a kill
        assert repeats <= 3 * concurrency
        assert len(set(prompts)) == 120 and len(asked_killed) < len(prompts)

        clean = tmp_path / "clean" / "out.jsonl"
        clean.parent.mkdir()
        done = subprocess.run(command(clean), env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _files(killed) == _files(clean)
    finally:
        server.close()
