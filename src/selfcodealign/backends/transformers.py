"""A local or hub model through Hugging Face transformers, on CPU or GPU, in batches.

Prompts are left-padded and generated in batches of `batch_size` (`n` samples each through
`num_return_sequences`); temperature 0 means greedy decoding. Stop strings end generation early
(transformers' `stop_strings`) and are cut from the text; a completion that used all of
`max_tokens` without reaching a stop string or end-of-sequence token reports `length`. When the
caller asks (`SamplingParams.end_loops`, `answer_done`: the generation stages do, evaluation does
not), one caught in a loop is ended early and reports `repetition`, and one whose answer is
already complete is ended there (`EarlyStop`). A model
that cannot be loaded (offline and not cached, a wrong path) is a one-line error. The model may be
a GGUF file (see `selfcodealign.models`): transformers dequantises it to a torch model.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from selfcodealign.backends.base import Completion, SamplingParams, split_too_long, with_failures
from selfcodealign.backends.loops import is_looping
from selfcodealign.errors import BackendError
from selfcodealign.extras import require
from selfcodealign.models import ModelSource, gguf_load_error, is_local, resolve_model


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


class EarlyStop:
    """Ends a sequence before `max_tokens` when what follows cannot matter: it is stuck in a
    loop (`backends.loops.is_looping`; dropped either way, and on a CPU a looping row holds
    its whole batch), or the stage's `answer_done` says its answer is already complete.
    Checked every `every` new tokens on the decoded completion."""

    def __init__(self, tokenizer: Any, prompt_width: int,
                 answer_done: Callable[[str], bool] | None, end_loops: bool,
                 every: int = 8) -> None:
        self.tokenizer, self.width, self.every = tokenizer, prompt_width, every
        self.answer_done, self.end_loops = answer_done, end_loops
        self.looped: set[int] = set()
        self.answered: set[int] = set()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        generated = input_ids.shape[1] - self.width
        if generated <= 0 or generated % self.every:
            return done
        for row in range(input_ids.shape[0]):
            if row in self.looped or row in self.answered:
                done[row] = True
                continue
            text = self.tokenizer.decode(input_ids[row, self.width:], skip_special_tokens=True)
            if self.answer_done is not None and self.answer_done(text):
                self.answered.add(row)
                done[row] = True
            elif self.end_loops and generated >= MIN_LOOP_TOKENS and is_looping(text):
                self.looped.add(row)
                done[row] = True
        return done


MIN_LOOP_TOKENS = 64  # no verdict on shorter completions


class TransformersBackend:
    name = "transformers"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str = "auto", batch_size: int = 8, gguf_file: str | None = None) -> None:
        self.torch = require("torch", extra="hf", feature="the transformers backend")
        transformers = require("transformers", extra="hf", feature="the transformers backend")
        self._transformers = transformers
        self.model, self.revision = model, revision
        self.source = resolve_model(model, gguf_file)
        self.batch_size = batch_size
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        self.device = device
        # Offline, the hub client retries for about a minute before giving up: check once,
        # quickly, and then read only the local cache.
        offline = not is_local(self.source) and not hub_reachable()
        extra = self.source.kwargs()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.source.path, revision=revision, local_files_only=offline, **extra)
            self.net = transformers.AutoModelForCausalLM.from_pretrained(
                self.source.path, revision=revision, dtype=dtype if dtype != "auto" else "auto",
                local_files_only=offline, **extra)
        except (OSError, ValueError, ImportError) as exc:
            clear = gguf_load_error(self.source, exc)
            if clear is not None:
                raise clear from None
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
        self._transformers = require("transformers", extra="hf",
                                     feature="the transformers backend")
        self.model, self.batch_size, self.net = name, batch_size, net
        self.source = ModelSource(name, name)
        self.device = str(next(net.parameters()).device)
        self.tokenizer = copy.deepcopy(tokenizer)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        return self

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        context = getattr(self.net.config, "max_position_embeddings", None)
        failed: dict[int, BaseException] = {}
        if isinstance(context, int) and prompts:
            lengths = [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]
            failed.update(split_too_long(lengths, context, self.model))
        keep = [i for i in range(len(prompts)) if i not in failed]
        out: list[list[Completion]] = []
        for start in range(0, len(keep), self.batch_size):
            chosen = keep[start:start + self.batch_size]
            if seeds is not None:
                self.torch.manual_seed(int(seeds[chosen[0]]))
            out += self._batch([prompts[i] for i in chosen], params)
        return with_failures(out, failed, len(prompts))

    def _batch(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        torch, tok = self.torch, self.tokenizer
        encoded = tok(prompts, return_tensors="pt", padding=True).to(self.device)
        width = encoded["input_ids"].shape[1]
        context = getattr(self.net.config, "max_position_embeddings", None)
        max_new = params.max_tokens
        if isinstance(context, int) and width + max_new > context:
            # (a prompt that fills the context alone never gets here: `generate` drops it)
            max_new = max(1, context - width)  # the model cannot see further: "length"
        kwargs: dict[str, Any] = {"max_new_tokens": max_new,
                                  "num_return_sequences": params.n,
                                  "pad_token_id": tok.pad_token_id,
                                  "do_sample": not params.greedy}
        if not params.greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        early = EarlyStop(tok, width, params.answer_done, params.end_loops)
        if params.answer_done is not None or params.end_loops:
            kwargs["stopping_criteria"] = self._transformers.StoppingCriteriaList([early])
        with torch.no_grad():
            generated = self.net.generate(**encoded, **kwargs)
        results: list[list[Completion]] = []
        for i, prompt_ids in enumerate(encoded["input_ids"]):
            prompt_tokens = int((prompt_ids != tok.pad_token_id).sum())
            samples = []
            for j in range(params.n):
                new = generated[i * params.n + j, width:]
                samples.append(self._completion(new, params, prompt_tokens, max_new,
                                                looped=i * params.n + j in early.looped))
            results.append(samples)
        return results

    def _completion(self, new: Any, params: SamplingParams, prompt_tokens: int,
                    max_new: int, *, looped: bool = False) -> Completion:
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
        if looped and not stopped:
            reason = "repetition"  # cut short in a loop: it would have run to max_tokens
        return Completion(text, reason, prompt_tokens, len(ids))

    def close(self) -> None:
        pass
