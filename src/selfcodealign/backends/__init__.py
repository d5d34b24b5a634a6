"""Inference backends behind one protocol, found by name.

`create_backend(config.backend)` builds the configured one. `fake` ships with the package; the
`vllm`, `openai` and `transformers` backends arrive with their own issue and say so until then.
"""

from __future__ import annotations

from selfcodealign.backends.base import Completion, LLMBackend, SamplingParams
from selfcodealign.config.schema import BackendConfig
from selfcodealign.errors import ConfigError, NotBuiltError

__all__ = ["Completion", "LLMBackend", "SamplingParams", "create_backend"]


def create_backend(config: BackendConfig) -> LLMBackend:
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
    raise NotBuiltError(f"the {config.name} backend is not built yet in this version (it lands "
                        "with issue 5); use backend.name: fake for a dry run")
