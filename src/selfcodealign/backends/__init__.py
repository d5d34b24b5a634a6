"""Inference backends behind one protocol, found by name.

`create_backend(config.backend)` builds the configured one: `fake` (scripted, ships with the
package), `openai` (any OpenAI-compatible server), `transformers` (local or hub model) and `vllm`
(offline GPU engine). Each imports its heavy dependencies only when chosen.
"""

from __future__ import annotations

from selfcodealign.backends.base import Completion, LLMBackend, SamplingParams
from selfcodealign.config.schema import BackendConfig
from selfcodealign.errors import ConfigError

__all__ = ["Completion", "LLMBackend", "SamplingParams", "create_backend"]


def create_backend(config: BackendConfig, seed: int = 0) -> LLMBackend:
    """The backend named by `config.name`, built for `config.model`."""
    if config.name == "fake":
        from selfcodealign.backends.fake import FakeBackend

        return FakeBackend(config.model or "fake", script=config.script)
    if not config.model:
        raise ConfigError(f"the {config.name} backend needs a model: set backend.model or "
                          "pass --model")
    if config.name == "openai":
        from selfcodealign.backends.openai import OpenAIBackend

        return OpenAIBackend(config.model, config.base_url, api_key_env=config.api_key_env,
                             max_concurrency=config.max_concurrency, timeout_s=config.timeout_s,
                             max_retries=config.max_retries)
    if config.name == "transformers":
        from selfcodealign.backends.transformers import TransformersBackend

        return TransformersBackend(config.model, revision=config.revision, dtype=config.dtype,
                                   device=config.device, batch_size=config.batch_size,
                                   gguf_file=config.gguf_file)
    if config.name == "vllm":
        from selfcodealign.backends.vllm import VLLMBackend

        return VLLMBackend(config.model, revision=config.revision, dtype=config.dtype,
                           tensor_parallel_size=config.tensor_parallel_size,
                           data_parallel_size=config.data_parallel_size,
                           gpu_memory_utilization=config.gpu_memory_utilization,
                           max_model_len=config.max_model_len, seed=seed,
                           gguf_file=config.gguf_file)
    raise ConfigError(f"unknown backend {config.name!r}; known: fake, openai, transformers, vllm")
