"""The vLLM offline engine: the fast path on GPUs.

One `LLM` engine with prefix caching on (few-shot prompts share long prefixes), tensor and data
parallelism, `gpu_memory_utilization` and `max_model_len` exposed. Each prompt is sent once with
`n` samples (never duplicated prompts), with its own seed when given. A GGUF model (see
`selfcodealign.models`) is given to vLLM as its local file.

`streamer(params)` drives the engine step by step (`LLMEngine.add_request` / `step`): requests
join the running batch as others finish, so the engine never drains to refill (continuous
batching without batch boundaries). `in_flight` (default 256) bounds what the stage keeps in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from selfcodealign.backends.base import (
    Completion,
    Result,
    SamplingParams,
    split_too_long,
    with_failures,
)
from selfcodealign.extras import require
from selfcodealign.models import resolve_model


class VLLMBackend:
    name = "vllm"
    steps = True  # an engine process serves it through its streamer (backends/pool.py)

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 seed: int = 0, executor_backend: str | None = None,
                 gguf_file: str | None = None, in_flight: int = 256) -> None:
        """`executor_backend`: vLLM's `distributed_executor_backend` for tensor parallelism
        (`mp` inside a Ray actor that holds the GPUs: a nested Ray placement group would wait
        forever for GPUs the actor already has)."""
        self.vllm = require("vllm", extra="vllm", feature="the vllm backend")
        self.revision = revision
        self.model = model
        source = resolve_model(model, gguf_file)
        # vLLM reads a local GGUF file given as the model (its tokenizer from the same file).
        weights = str(source.local_file) if source.local_file is not None else source.path
        extra: dict[str, Any] = {}
        if executor_backend is not None and tensor_parallel_size > 1:
            extra["distributed_executor_backend"] = executor_backend
        self.engine = self.vllm.LLM(
            model=weights, revision=revision, dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
            enable_prefix_caching=True, seed=seed, **extra)
        self.tokenizer = self.engine.get_tokenizer()
        self.in_flight = in_flight
        self._ids = itertools.count()

    def _params(self, params: SamplingParams, seed: int | None) -> Any:
        return self.vllm.SamplingParams(n=params.n, temperature=params.temperature,
                                        top_p=params.top_p, max_tokens=params.max_tokens,
                                        stop=list(params.stop), seed=seed)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        # vLLM refuses a whole generate() call when one prompt exceeds max_model_len: such
        # prompts are dropped here, before sending, and the others go on
        context = self.engine.llm_engine.model_config.max_model_len
        lengths = [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]] \
            if prompts else []
        failed: dict[int, BaseException] = dict(split_too_long(lengths, context, self.model))
        keep = [i for i in range(len(prompts)) if i not in failed]
        per_prompt = [self._params(params, None if seeds is None else int(seeds[i]))
                      for i in keep]
        outputs = self.engine.generate([prompts[i] for i in keep], per_prompt,
                                       use_tqdm=False) if keep else []
        results = [self._completions(output) for output in outputs]
        return with_failures(results, failed, len(prompts))

    def _completions(self, output: Any) -> list[Completion]:
        prompt_tokens = len(output.prompt_token_ids or [])
        return [Completion(o.text, str(o.finish_reason or "unknown"), prompt_tokens,
                           len(o.token_ids)) for o in output.outputs]

    def streamer(self, params: SamplingParams) -> VLLMStreamer:
        return VLLMStreamer(self, params)

    def close(self) -> None:
        pass


class VLLMStreamer:
    """Requests added to the running engine and answered as they finish, step by step."""

    def __init__(self, backend: VLLMBackend, params: SamplingParams) -> None:
        self.backend, self.params = backend, params
        self.engine = backend.engine.llm_engine
        self.capacity = backend.in_flight
        self.context = self.engine.model_config.max_model_len
        self.running: dict[str, int] = {}  # vLLM request id -> caller's key
        self.refused: list[tuple[int, Result]] = []
        # only the final output of each request (else every step reports each running one)
        kinds = getattr(getattr(backend.vllm, "sampling_params", None), "RequestOutputKind", None)
        self.kind: Any = getattr(kinds, "FINAL_ONLY", None)

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        length = len(self.backend.tokenizer(prompt)["input_ids"])
        too_long = split_too_long([length], self.context, self.backend.model)
        if too_long:
            self.refused.append((key, too_long[0]))
            return
        sampling = self.backend._params(self.params, seed)
        if self.kind is not None:
            sampling.output_kind = self.kind
        request_id = f"sca-{next(self.backend._ids)}"
        self.engine.add_request(request_id, prompt, sampling)
        self.running[request_id] = key

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        """One engine step (with `wait`: steps until a request finishes)."""
        out, self.refused = self.refused, []
        while self.running:
            for output in self.engine.step():
                if output.finished and output.request_id in self.running:
                    out.append((self.running.pop(output.request_id),
                                self.backend._completions(output)))
            if out or not wait:
                break
        return out

    def close(self) -> None:
        if self.running:
            self.engine.abort_request(list(self.running))
            self.running.clear()
