"""The vLLM offline engine: the fast path on GPUs.

One `LLM` engine with prefix caching on (few-shot prompts share long prefixes), tensor and data
parallelism, `gpu_memory_utilization` and `max_model_len` exposed. Each prompt is sent once with
`n` samples (never duplicated prompts), with its own seed when given. A GGUF model (see
`selfcodealign.models`) is given to vLLM as its local file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfcodealign.backends.base import Completion, SamplingParams, split_too_long, with_failures
from selfcodealign.extras import require
from selfcodealign.models import resolve_model


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 seed: int = 0, executor_backend: str | None = None,
                 gguf_file: str | None = None) -> None:
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
        results = []
        for output in outputs:
            prompt_tokens = len(output.prompt_token_ids or [])
            results.append([Completion(o.text, str(o.finish_reason or "unknown"), prompt_tokens,
                                       len(o.token_ids)) for o in output.outputs])
        return with_failures(results, failed, len(prompts))

    def close(self) -> None:
        pass
