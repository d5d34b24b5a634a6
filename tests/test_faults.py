"""One bad item never costs a batch: a request refused for good is that item's counted drop
(with the server's message), a transient failure defers only that item to the next run, a
batch an engine refuses as a whole is split until the guilty prompt stands alone, and a
prompt over the model's context is dropped before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from openai_server import FakeServer
from selfcodealign.backends.base import Completion, PartialFailure, SamplingParams
from selfcodealign.config import load_config
from selfcodealign.generation.cache import CachedBackend
from selfcodealign.store import iter_records
from selfcodealign.store.stage import StageWriter

CONTEXT = "This model's maximum context length is 4096 tokens. However, you requested 5000"


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k}", "instruction": f"Write function number {k}."} for k in range(n)]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def _config(tmp_path: Path, server: FakeServer, *extra: str) -> Any:
    return load_config(None, [
        "backend.name=openai", "backend.model=tiny", f"backend.base_url=[{server.url}]",
        "backend.max_concurrency=1", "backend.max_retries=1", f"run.root={tmp_path / 'runs'}",
        "responses.n=1", "run.llm_cache=true", *extra])


def test_refusals_are_drops_and_transient_failures_are_deferred(tmp_path: Path) -> None:
    from selfcodealign.steps.generate import generate

    # requests go one at a time: the 2nd is over the context, the 4th refused, the 6th fails
    # on both of its attempts (a transient error that outlasts the retries)
    server = FakeServer(failures=[None, (400, CONTEXT), None, (422, "bad sampling params"),
                                  None, 503, 503])
    try:
        config = _config(tmp_path, server)
        inp = _jsonl(tmp_path / "in.jsonl", _rows(8))
        out = tmp_path / "out.jsonl"
        first = generate(config, "responses", inp, str(out))
        assert not first["complete"]  # one item waits for the next run
        faults = {k: v for k, v in first["dropped"].items()
                  if k in ("prompt_too_long", "request_rejected")}
        assert faults == {"prompt_too_long": 1, "request_rejected": 1}
        assert first["inputs"] == 7  # the deferred one is not finished
        parts = out.with_name(out.name + ".parts")
        rejects = {r["reason"]: r for r in iter_records(parts, "rejects")}
        assert "maximum context length" in rejects["prompt_too_long"]["detail"]
        assert "bad sampling params" in rejects["request_rejected"]["detail"]
        asked_before = len(server.requests)

        second = generate(config, "responses", inp, str(out))  # the server is well again
        assert second["complete"]
        assert len(server.requests) == asked_before + 1  # only the deferred item is asked
        assert second["inputs"] == 8  # all finished now (counts carry over sessions)
        rejects_file = tmp_path / "out.rejects.jsonl"
        made = [orjson.loads(line) for path in (out, rejects_file)
                for line in path.read_bytes().splitlines()]
        assert {r["parent"] for r in made} == {f"i{k}" for k in range(8)}
    finally:
        server.close()


class LengthCheckingEngine:
    """Stands in for vLLM's offline engine: one prompt over `limit` characters makes the whole
    generate() call fail, as vLLM's max_model_len check does."""

    name, model = "engine", "engine"

    def __init__(self, limit: int) -> None:
        self.limit, self.calls = limit, 0

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        self.calls += 1
        for prompt in prompts:
            if len(prompt) > self.limit:
                raise ValueError(f"The decoder prompt (length {len(prompt)}) is longer than "
                                 "the maximum model length of 4096.")
        return [[Completion("```python\ndef f():\n    return 1\n```\n</response>\n\n<tests>\n"
                            "```python\nassert f() == 1\n```", "stop", 1, 1)] for _ in prompts]

    def close(self) -> None:
        pass


def test_a_batch_refused_as_a_whole_is_split_until_the_guilty_prompt_stands_alone(
        tmp_path: Path) -> None:
    from selfcodealign.generation.stages import Responses
    from selfcodealign.runner import run_stage

    rows = _rows(16)
    rows[5]["instruction"] = "x " * 20_000  # far over the engine's limit
    rows[11]["instruction"] = "y " * 20_000
    engine = LengthCheckingEngine(limit=30_000)
    stage = Responses(engine, SamplingParams(n=1), seed=1, shots=1, batch_size=16)
    stats = run_stage(stage, rows, StageWriter(tmp_path / "out"))
    assert stats.complete and stats.kept == 14
    assert dict(stats.dropped) == {"prompt_too_long": 2}
    assert stats.metrics["batch_splits"] >= 2
    details = [r["detail"] for r in iter_records(tmp_path / "out", "rejects")]
    assert all("longer than the maximum model length" in d for d in details)


def test_an_unknown_finish_reason_is_not_taken_for_a_stop(tmp_path: Path) -> None:
    from selfcodealign.steps.generate import generate

    server = FakeServer(failures=["no_finish"])
    try:
        config = _config(tmp_path, server, "responses.n=2")
        out = tmp_path / "out.jsonl"
        summary = generate(config, "responses", _jsonl(tmp_path / "in.jsonl", _rows(2)),
                           str(out))
        assert summary["dropped"].get("finish_unknown") == 2  # both samples of the first item
        rejects = list(iter_records(out.parent, "x")) or [
            orjson.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_bytes()
            .splitlines()]
        unknown = [r for r in rejects if r["reason"] == "finish_unknown"]
        assert unknown and unknown[0]["meta"]["finish_reason"] == "unknown"
        assert unknown[0]["meta"]["tokens_estimated"] is True  # 10 tokens split over 2
    finally:
        server.close()


def test_the_cache_keeps_what_came_back_from_a_partial_failure(tmp_path: Path) -> None:
    class Flaky:
        name, model = "flaky", "m"

        def __init__(self) -> None:
            self.sent: list[str] = []

        def generate(self, prompts: Sequence[str], params: SamplingParams,
                     seeds: Sequence[int] | None = None) -> list[list[Completion]]:
            self.sent += list(prompts)
            results: list[list[Completion] | BaseException] = [
                RuntimeError("lost") if p == "b" and self.sent.count("b") == 1
                else [Completion(p.upper())] for p in prompts]
            if any(isinstance(r, BaseException) for r in results):
                raise PartialFailure(results)
            return [r for r in results if not isinstance(r, BaseException)]

        def close(self) -> None:
            pass

    inner = Flaky()
    cached = CachedBackend(inner, tmp_path / "cache.sqlite")
    with pytest.raises(PartialFailure) as caught:
        cached.generate(["a", "b", "c"], SamplingParams())
    assert [r if isinstance(r, BaseException) else r[0].text
            for r in caught.value.results][::2] == ["A", "C"]
    again = cached.generate(["a", "b", "c"], SamplingParams())
    assert [r[0].text for r in again] == ["A", "B", "C"]
    assert inner.sent == ["a", "b", "c", "b"]  # a and c were not asked twice


def test_a_prompt_over_the_context_is_not_sent_to_the_transformers_model(
        tiny_model: Path) -> None:
    from selfcodealign.backends.base import PromptTooLong
    from selfcodealign.backends.transformers import TransformersBackend

    backend = TransformersBackend(str(tiny_model), device="cpu", batch_size=4)
    long = "def add ( a , b ) : return a + b " * 600  # well over 2,048 tokens
    with pytest.raises(PartialFailure) as caught:
        backend.generate(["def add", long, "def sub"], SamplingParams(max_tokens=4, n=1))
    short1, too_long, short2 = caught.value.results
    assert isinstance(too_long, PromptTooLong) and "context" in str(too_long)
    assert "2,048 tokens" in str(too_long)
    assert isinstance(short1, list) and isinstance(short2, list) and len(short1) == 1


def test_a_backend_that_fails_every_request_is_raised_not_dropped(tmp_path: Path) -> None:
    """Isolation is for guilty items: when every prompt fails alone with the same unexpected
    error (a bug, a broken install), nothing is dropped for good; the error reaches the user
    and the rerun starts over."""
    from selfcodealign.generation.stages import Responses
    from selfcodealign.runner import run_stage

    class Broken:
        name, model = "broken", "m"

        def generate(self, prompts: Sequence[str], params: SamplingParams,
                     seeds: Sequence[int] | None = None) -> list[list[Completion]]:
            raise TypeError("unexpected keyword argument 'seed'")

        def close(self) -> None:
            pass

    stage = Responses(Broken(), SamplingParams(n=1), seed=1, shots=1, batch_size=4)
    writer = StageWriter(tmp_path / "out")
    with pytest.raises(TypeError, match="unexpected keyword"):
        run_stage(stage, _rows(4), writer)
    assert list(iter_records(tmp_path / "out", "rejects")) == []
