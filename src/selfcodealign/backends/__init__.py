"""Inference backends behind one protocol, found by name.

`create_backend(config.backend)` builds the configured one: `fake` (scripted, ships with the
package), `openai` (any OpenAI-compatible server), `transformers` (local or hub model) and `vllm`
(offline GPU engine). Each imports its heavy dependencies only when chosen. With
`data_parallel_size` N > 1 the model runs in N engine processes on this machine, one per GPU
group (`backends/pool.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from selfcodealign.backends.base import Completion, LLMBackend, SamplingParams
from selfcodealign.config.schema import BackendConfig
from selfcodealign.errors import ConfigError

__all__ = ["BACKENDS", "Completion", "LLMBackend", "SamplingParams", "create_backend"]


def _pool(config: BackendConfig, seed: int) -> LLMBackend:
    """`data_parallel_size` engine processes on this machine (backends/pool.py)."""
    from selfcodealign.backends.pool import EnginePool

    return EnginePool(config, seed)


def _fake(config: BackendConfig, seed: int) -> LLMBackend:
    from selfcodealign.backends.fake import FakeBackend

    return FakeBackend(config.model or "fake", script=config.script)


def _openai(config: BackendConfig, seed: int) -> LLMBackend:
    from selfcodealign.backends.openai import OpenAIBackend

    assert config.model is not None
    return OpenAIBackend(config.model, config.base_url, api_key_env=config.api_key_env,
                         max_concurrency=config.max_concurrency, timeout_s=config.timeout_s,
                         max_retries=config.max_retries)


def _transformers(config: BackendConfig, seed: int) -> LLMBackend:
    from selfcodealign.backends.transformers import TransformersBackend

    assert config.model is not None
    return TransformersBackend(config.model, revision=config.revision, dtype=config.dtype,
                               device=config.device, batch_size=config.batch_size,
                               gguf_file=config.gguf_file)


def _vllm(config: BackendConfig, seed: int) -> LLMBackend:
    from selfcodealign.backends.vllm import VLLMBackend

    assert config.model is not None
    return VLLMBackend(config.model, revision=config.revision, dtype=config.dtype,
                       tensor_parallel_size=config.tensor_parallel_size,
                       gpu_memory_utilization=config.gpu_memory_utilization,
                       max_model_len=config.max_model_len, seed=seed,
                       gguf_file=config.gguf_file, in_flight=config.in_flight or 256)


# name -> builder; `needs_model`: the backend serves a named model (all but the scripted one)
BACKENDS: dict[str, tuple[Callable[[BackendConfig, int], LLMBackend], bool]] = {
    "fake": (_fake, False),
    "openai": (_openai, True),
    "transformers": (_transformers, True),
    "vllm": (_vllm, True),
}


def create_backend(config: BackendConfig, seed: int = 0) -> LLMBackend:
    """The backend named by `config.name`, built for `config.model`."""
    entry = BACKENDS.get(config.name)
    if entry is None:
        raise ConfigError(f"unknown backend {config.name!r}; known: {', '.join(BACKENDS)}")
    build, needs_model = entry
    if needs_model and not config.model:
        raise ConfigError(f"the {config.name} backend needs a model: set backend.model or "
                          "pass --model")
    if config.data_parallel_size > 1:
        if config.name == "openai":
            raise ConfigError(
                f"backend.data_parallel_size {config.data_parallel_size}: the openai backend "
                "is a client; replicate the server (`vllm serve --data-parallel-size N`, or "
                "several servers in backend.base_url) and raise backend.max_concurrency")
        return _pool(config, seed)
    return build(config, seed)
