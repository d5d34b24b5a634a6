"""A scripted backend for dry runs and tests: no model, deterministic, and it keeps a call log.

Completions come from rules: the first rule whose pattern matches the prompt (a regular
expression, searched) gives the completion: its `text`, or one of its `texts` chosen by a hash
of the prompt. Without a matching rule the default text is used. In the text, `{n}` becomes the
sample index (so `n` samples of one prompt differ), `{g:NAME}` the named group NAME of the match,
and `{pick:a|b|c}` one of the alternatives, chosen by a hash of the prompt, the sample index and
the position: the same request always gets the same answer, different ones vary. A script is a
YAML or JSON file `{"rules": [{"match": "...", "text": "..."}], "default": "...", "call_log":
"calls.txt", "delay_s": 0.01}`; with no script at all, fake_default.yaml gives varied,
plausible answers for every stage (a few task families, some with bugs their tests catch).
`call_log` appends a hash of every request answered (prompt and seed) to a file, one line per
batch, written as its answers are returned (to prove, after a kill and a rerun, that nothing
answered was asked for again).
`max_tokens` truncates (counted in whitespace-separated words) and reports finish reason
`length`, as a real model would.

To rehearse timing (benchmarks of the engine pool), `token_s` makes each call take as long as a
static-batch engine would: every prompt gets a decode length drawn log-uniformly from
`decode_tokens` (default [50, 1536], fixed by a hash of the prompt), and a call sleeps for its
longest prompt's length x `token_s`. `busy_log` appends `start end prompts` (wall-clock
seconds) per call, to measure how busy the engines were.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from selfcodealign.backends.base import Completion, SamplingParams
from selfcodealign.errors import ConfigError

_PICK = re.compile(r"\{pick:([^{}]*)\}")
_GROUP = re.compile(r"\{g:(\w+)\}")


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest()[:8], "big")


def _fill(text: str, prompt: str, index: int, groups: dict[str, str | None]) -> str:
    """Substitute {n}, {g:NAME} and {pick:a|b} (see the module docstring)."""
    counter = iter(range(1 << 30))

    def pick(m: re.Match[str]) -> str:
        options = m.group(1).split("|")
        return options[_hash(prompt, index, next(counter)) % len(options)]

    text = _PICK.sub(pick, text.replace("{n}", str(index)))
    return _GROUP.sub(lambda m: groups.get(m.group(1)) or "", text)


class FakeBackend:
    name = "fake"

    def __init__(self, model: str = "fake", *, rules: Sequence[tuple[str, str]] = (),
                 default: str = "", script: str | Path | None = None,
                 call_log: str | Path | None = None, delay_s: float = 0.0) -> None:
        self.model = model
        data: dict[str, Any] = {}
        if script is not None:
            try:
                data = yaml.safe_load(Path(script).read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read fake backend script {script}: {exc}") from None
        if not rules and not default and "rules" not in data and "default" not in data:
            # a plausible answer per stage, for dry runs (a script may set only the log/delay)
            data = {**yaml.safe_load(resources.files("selfcodealign.backends").joinpath(
                "fake_default.yaml").read_text()), **data}
        log = call_log or data.get("call_log")
        self.call_log = Path(log) if log else None
        self.delay_s = float(data.get("delay_s", delay_s))
        self.token_s = float(data.get("token_s", 0.0))
        low, high = (float(x) for x in data.get("decode_tokens", (50, 1536)))
        if self.token_s < 0 or not 0 < low <= high:
            raise ConfigError(f"fake backend script {script}: token_s must be >= 0 and "
                              "decode_tokens [low, high] with 0 < low <= high")
        self.decode_range = (low, high)
        busy = data.get("busy_log")
        self.busy_log = Path(busy) if busy else None
        pairs: list[tuple[str, list[str]]] = [(pattern, [text]) for pattern, text in rules]
        for rule in data.get("rules", []):
            texts = rule.get("texts") or [rule.get("text", "")]
            pairs.append((rule["match"], [str(t) for t in texts]))
        self.rules = [(re.compile(pattern, re.S), texts) for pattern, texts in pairs]
        self.default: str = str(data.get("default", default))
        self.calls: list[str] = []  # every prompt requested, in order

    def _text(self, prompt: str, index: int) -> str:
        for pattern, texts in self.rules:
            match = pattern.search(prompt)
            if match:
                text = texts[_hash(prompt, "text") % len(texts)] if len(texts) > 1 else texts[0]
                return _fill(text, prompt, index, match.groupdict())
        return _fill(self.default, prompt, index, {})

    def decode_tokens(self, prompt: str) -> int:
        """The simulated decode length of `prompt` (see `token_s`)."""
        low, high = self.decode_range
        share = _hash(prompt, "decode") / 2 ** 64
        return int(math.exp(math.log(low) + share * (math.log(high) - math.log(low))))

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        started = time.time()
        if self.token_s and prompts:  # a static batch lasts as long as its longest member
            time.sleep(max(map(self.decode_tokens, prompts)) * self.token_s)
        out = []
        for prompt in prompts:
            self.calls.append(prompt)
            if self.delay_s:
                time.sleep(self.delay_s)
            samples = []
            for index in range(params.n):
                text = self._text(prompt, index)
                for stop in params.stop:
                    if stop and stop in text:
                        text = text[:text.index(stop)]
                words = text.split(" ")
                reason = "stop"
                if len(text.split()) > params.max_tokens:
                    text, reason = " ".join(words[:params.max_tokens]), "length"
                samples.append(Completion(text, reason, len(prompt.split()), len(text.split())))
            out.append(samples)
        if self.busy_log is not None:
            with open(self.busy_log, "a") as fh:
                fh.write(f"{started:.6f} {time.time():.6f} {len(prompts)}\n")
        if self.call_log is not None:  # the batch's answers, in one write as they are returned
            seed_list = list(seeds) if seeds is not None else [None] * len(prompts)
            with open(self.call_log, "a") as fh:  # one line per batch
                fh.write(" ".join(
                    hashlib.sha256(f"{p}\x00{s}".encode()).hexdigest()[:16]
                    for p, s in zip(prompts, seed_list, strict=True)) + "\n")
        return out

    def close(self) -> None:
        pass
