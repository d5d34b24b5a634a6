"""The openai backend against a real local HTTP server speaking the completions protocol."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from openai_server import FakeServer
from selfcodealign.backends import SamplingParams, create_backend
from selfcodealign.config import load_config
from selfcodealign.errors import BackendError, ConfigError

pytest.importorskip("httpx")
from selfcodealign.backends.openai import OpenAIBackend


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def test_completions_in_order_with_n_and_usage(server: FakeServer) -> None:
    backend = OpenAIBackend("tiny", [server.url], max_concurrency=4)
    prompts = [f"prompt number {i}" for i in range(10)] + ["a LONG one"]
    out = backend.generate(prompts, SamplingParams(n=2, temperature=0.7, stop=("## Example",)),
                           seeds=list(range(11)))
    assert [o[0].text for o in out[:10]] == [f" echo[0] prompt number {i}" for i in range(10)]
    assert [c.text for c in out[0]] == [" echo[0] prompt number 0", " echo[1] prompt number 0"]
    assert out[10][0].finish_reason == "length" and out[0][0].finish_reason == "stop"
    body = server.requests[0]
    assert body["model"] == "tiny" and body["n"] == 2 and body["stop"] == ["## Example"]
    assert {r["seed"] for r in server.requests} == set(range(11))
    assert backend.usage["requests"] == 11 and backend.usage["completion_tokens"] == 66
    backend.close()


def test_retries_429_500_and_timeouts_then_succeeds() -> None:
    server = FakeServer(failures=[429, 500, "timeout", 503], stall_s=2.0)
    try:
        backend = OpenAIBackend("tiny", [server.url], max_concurrency=1, timeout_s=0.5,
                                max_retries=5, backoff_s=0.01)
        (answer,) = backend.generate(["hello"], SamplingParams())
        assert answer[0].text == " echo[0] hello"
        assert len(server.requests) == 5 and backend.usage["retries"] == 4
    finally:
        server.close()


def test_gives_up_with_one_line_and_does_not_retry_client_errors() -> None:
    server = FakeServer(failures=[500] * 10)
    try:
        backend = OpenAIBackend("tiny", [server.url], max_retries=2, backoff_s=0.01)
        with pytest.raises(BackendError, match=r"gave up after 3 attempts; last: .* answered 500"):
            backend.generate(["x"], SamplingParams())
    finally:
        server.close()
    server = FakeServer(failures=[400])
    try:
        backend = OpenAIBackend("tiny", [server.url], max_retries=5)
        with pytest.raises(BackendError, match="answered 400"):
            backend.generate(["x"], SamplingParams())
        assert len(server.requests) == 1
    finally:
        server.close()


def test_bounded_concurrency_and_load_balancing() -> None:
    one, two = FakeServer(delay_s=0.05), FakeServer(delay_s=0.05)
    try:
        backend = OpenAIBackend("tiny", [one.url, two.url], max_concurrency=3)
        backend.generate([f"p{i}" for i in range(30)], SamplingParams())
        assert len(one.requests) == len(two.requests) == 15
        assert one.peak + two.peak <= 4 and max(one.peak, two.peak) >= 1
        assert one.peak + two.peak >= 2  # requests really ran in parallel
    finally:
        one.close()
        two.close()


def test_health_check_and_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError, match="not reachable"):
        OpenAIBackend("tiny", ["http://127.0.0.1:9/v1"])
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="needs a server"):
        create_backend(load_config(None, ["backend.name=openai", "backend.model=tiny"]).backend)


def test_key_and_url_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                          server: FakeServer) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("MY_KEY", "sk-test")
    backend = create_backend(load_config(None, ["backend.name=openai", "backend.model=tiny",
                                                "backend.api_key_env=MY_KEY"]).backend)
    assert isinstance(backend, OpenAIBackend)
    assert backend.http.headers["Authorization"] == "Bearer sk-test"
    backend.generate(["x"], SamplingParams())
