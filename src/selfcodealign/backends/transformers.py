"""A local or hub model through Hugging Face transformers, on CPU or GPU, in batches.

Prompts are left-padded and generated in batches of `batch_size` (`n` samples each through
`num_return_sequences`); temperature 0 means greedy decoding. Stop strings end generation early
(transformers' `stop_strings`) and are cut from the text; a completion that used all of
`max_tokens` without reaching a stop string or end-of-sequence token reports `length`. A model
that cannot be loaded (offline and not cached, a wrong path) is a one-line error.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selfcodealign.backends.base import Completion, SamplingParams
from selfcodealign.errors import BackendError
from selfcodealign.extras import require


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (honours $HF_ENDPOINT)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "huggingface.co",
                                  url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
    except OSError:
        return False
    return True


class TransformersBackend:
    name = "transformers"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str = "auto", batch_size: int = 8) -> None:
        self.torch = require("torch", extra="hf", feature="the transformers backend")
        transformers = require("transformers", extra="hf", feature="the transformers backend")
        self.model = model
        self.batch_size = batch_size
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        self.device = device
        # Offline, the hub client retries for about a minute before giving up: check once,
        # quickly, and then read only the local cache.
        offline = not Path(model).is_dir() and not hub_reachable()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                model, revision=revision, local_files_only=offline)
            self.net = transformers.AutoModelForCausalLM.from_pretrained(
                model, revision=revision, dtype=dtype if dtype != "auto" else "auto",
                local_files_only=offline)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"cannot load model {model!r}: {first} (offline? pass --model "
                               "with a local folder)") from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.net.to(device)
        self.net.eval()

    @classmethod
    def from_loaded(cls, net: Any, tokenizer: Any, *, name: str = "in-memory",
                    batch_size: int = 8) -> TransformersBackend:
        """A backend over a model already in memory (a model being trained), on its device.

        The tokenizer is copied, so left padding here does not change the caller's."""
        import copy

        self = cls.__new__(cls)
        self.torch = require("torch", extra="hf", feature="the transformers backend")
        self.model, self.batch_size, self.net = name, batch_size, net
        self.device = str(next(net.parameters()).device)
        self.tokenizer = copy.deepcopy(tokenizer)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        return self

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start:start + self.batch_size])
            if seeds is not None:
                self.torch.manual_seed(int(seeds[start]))
            out += self._batch(batch, params)
        return out

    def _batch(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        torch, tok = self.torch, self.tokenizer
        encoded = tok(prompts, return_tensors="pt", padding=True).to(self.device)
        width = encoded["input_ids"].shape[1]
        context = getattr(self.net.config, "max_position_embeddings", None)
        max_new = params.max_tokens
        if isinstance(context, int) and width + max_new > context:
            if width >= context:
                raise BackendError(f"a prompt of {width} tokens does not fit the context of "
                                   f"{self.model} ({context} tokens)")
            max_new = context - width  # the model cannot see further; reported as "length"
        kwargs: dict[str, Any] = {"max_new_tokens": max_new,
                                  "num_return_sequences": params.n,
                                  "pad_token_id": tok.pad_token_id,
                                  "do_sample": not params.greedy}
        if not params.greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        with torch.no_grad():
            generated = self.net.generate(**encoded, **kwargs)
        results: list[list[Completion]] = []
        for i, prompt_ids in enumerate(encoded["input_ids"]):
            prompt_tokens = int((prompt_ids != tok.pad_token_id).sum())
            samples = []
            for j in range(params.n):
                new = generated[i * params.n + j, width:]
                samples.append(self._completion(new, params, prompt_tokens, max_new))
            results.append(samples)
        return results

    def _completion(self, new: Any, params: SamplingParams, prompt_tokens: int,
                    max_new: int) -> Completion:
        tok = self.tokenizer
        ids = [int(t) for t in new]
        while ids and ids[-1] == tok.pad_token_id and tok.pad_token_id != tok.eos_token_id:
            ids.pop()
        ended = tok.eos_token_id is not None and tok.eos_token_id in ids
        if ended:
            ids = ids[:ids.index(tok.eos_token_id)]
        text = tok.decode(ids, skip_special_tokens=True)
        stopped = False
        for stop in params.stop:
            if stop and stop in text:
                text, stopped = text[:text.index(stop)], True
        used = len(new) if not ended else len(ids) + 1
        reason = "stop" if (ended or stopped or used < max_new) else "length"
        return Completion(text, reason, prompt_tokens, len(ids))

    def close(self) -> None:
        pass
