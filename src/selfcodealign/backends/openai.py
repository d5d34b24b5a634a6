"""Any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama) through `/v1/completions`.

Base models are prompted in completion mode, so this backend speaks the completions endpoint:
one request per prompt with `n` samples, a bounded number in flight (a thread pool), several
base URLs used in turn, retries with exponential backoff and full jitter on 429, 5xx, timeouts
and connection errors (a `Retry-After` header wins), a health check (`GET /models`) before the
first request, and token usage counted. The key comes from the environment only. `streamer`
keeps `max_concurrency` requests in flight without batch boundaries (the LLM stages' default).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selfcodealign.backends.base import (
    Completion,
    FutureStreamer,
    PartialFailure,
    PromptTooLong,
    RequestRejected,
    SamplingParams,
    is_too_long,
)
from selfcodealign.errors import BackendError, ConfigError
from selfcodealign.extras import require

log = logging.getLogger(__name__)


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, base_urls: Sequence[str] = (), *,
                 api_key_env: str = "OPENAI_API_KEY", max_concurrency: int = 16,
                 timeout_s: float = 600.0, max_retries: int = 6, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, health_check: bool = True) -> None:
        httpx = require("httpx", extra="openai", feature="the openai backend")
        urls = [u.rstrip("/") for u in base_urls if u] or (
            [os.environ["OPENAI_BASE_URL"].rstrip("/")] if os.environ.get("OPENAI_BASE_URL")
            else [])
        if not urls:
            raise ConfigError("the openai backend needs a server: set backend.base_url, pass "
                              "--base-url, or set OPENAI_BASE_URL")
        self.model, self.urls = model, urls
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        key = os.environ.get(api_key_env, "EMPTY")
        self.http = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key}"},
                                 limits=httpx.Limits(max_connections=max_concurrency,
                                                     max_keepalive_connections=max_concurrency))
        self._httpx = httpx
        self.max_concurrency = max_concurrency
        self.pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="openai")
        self._turn = itertools.cycle(urls)
        self._lock = threading.Lock()
        self.usage: Counter[str] = Counter()
        if health_check:
            self.check_health()

    def _url(self) -> str:
        with self._lock:
            return next(self._turn)

    def check_health(self) -> None:
        for url in self.urls:
            try:
                answer = self.http.get(f"{url}/models", timeout=30)
            except self._httpx.HTTPError as exc:
                raise BackendError(f"the server at {url} is not reachable: {exc}") from None
            if answer.status_code != 200:
                raise BackendError(f"the server at {url} answered {answer.status_code} to "
                                   f"GET /models: {answer.text[:200]}")

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        seeds = list(seeds) if seeds is not None else [None] * len(prompts)  # type: ignore[list-item]
        futures = [self.pool.submit(self._complete, prompt, params, seed)
                   for prompt, seed in zip(prompts, seeds, strict=True)]
        results: list[list[Completion] | BaseException] = []
        for future in futures:  # every answer is kept, whatever happened to the others
            error = future.exception()
            results.append(error if error is not None else future.result())
        if any(isinstance(r, BaseException) for r in results):
            fatal = next((r for r in results if isinstance(r, BaseException)
                          and not isinstance(r, Exception)), None)
            if fatal is not None:
                raise fatal  # KeyboardInterrupt and the like are not a request's failure
            raise PartialFailure(results)
        return [r for r in results if not isinstance(r, BaseException)]

    def streamer(self, params: SamplingParams) -> FutureStreamer:
        """Requests streamed over the same connections: `max_concurrency` in flight, a free
        one takes the next request as soon as an answer comes back."""
        return FutureStreamer(self.pool, self._complete, params, self.max_concurrency)

    def _body(self, prompt: str, params: SamplingParams, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": params.n,
                                "temperature": params.temperature, "top_p": params.top_p,
                                "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        return body

    def _complete(self, prompt: str, params: SamplingParams,
                  seed: int | None) -> list[Completion]:
        body = self._body(prompt, params, seed)
        problem = ""
        for attempt in range(self.max_retries + 1):
            url = self._url()
            wait = None
            try:
                answer = self.http.post(f"{url}/completions", json=body)
            except self._httpx.HTTPError as exc:  # timeouts and connection errors
                problem = f"{url}: {type(exc).__name__}: {exc}"
            else:
                if answer.status_code == 200:
                    return self._parse(answer.json())
                problem = f"{url} answered {answer.status_code}: {answer.text[:300]}"
                if answer.status_code != 429 and answer.status_code < 500:  # for good
                    raise (PromptTooLong if is_too_long(answer.text) else
                           RequestRejected)(problem)
                wait = _retry_after(answer.headers.get("retry-after"))
            self.usage["retries"] += attempt < self.max_retries
            if attempt < self.max_retries:
                delay = wait if wait is not None else random.uniform(
                    0, min(self.max_backoff_s, self.backoff_s * 2 ** attempt))
                log.debug("retrying in %.2f s after %s", delay, problem)
                time.sleep(delay)
        raise BackendError(f"gave up after {self.max_retries + 1} attempts; last: {problem}")

    def _parse(self, data: dict[str, Any]) -> list[Completion]:
        choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += int(usage.get("prompt_tokens", 0))
            self.usage["completion_tokens"] += int(usage.get("completion_tokens", 0))
        share = int(usage.get("completion_tokens", 0)) // max(len(choices), 1)
        # per-choice counts are not in the response: with n > 1 they are the request's total
        # divided evenly, and marked as estimates
        meta: dict[str, object] = {"tokens_estimated": True} if len(choices) > 1 else {}
        return [Completion(str(c.get("text", "")), _finish(c),
                           int(usage.get("prompt_tokens", 0)), share, dict(meta))
                for c in choices]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()


def _finish(choice: dict[str, Any]) -> str:
    """The finish reason as the server gave it; `unknown` when it gave none (vLLM's
    `stop_reason`, the stop string it matched, still says `stop`)."""
    reason = choice.get("finish_reason")
    if reason:
        return str(reason)
    return "stop" if choice.get("stop_reason") else "unknown"


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
