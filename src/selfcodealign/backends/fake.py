"""A scripted backend for dry runs and tests: no model, deterministic, and it keeps a call log.

Completions come from rules: the first rule whose pattern matches the prompt (regular expression,
searched) gives the completion text; `{n}` in it becomes the sample index, so `n` samples of one
prompt differ. Without a matching rule the default text is used. A script is a YAML or JSON file
`{"rules": [{"match": "...", "text": "..."}], "default": "..."}`. `max_tokens` truncates (counted
in whitespace-separated words) and reports finish reason `length`, as a real model would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from selfcodealign.backends.base import Completion, SamplingParams
from selfcodealign.errors import ConfigError


class FakeBackend:
    name = "fake"

    def __init__(self, model: str = "fake", *, rules: Sequence[tuple[str, str]] = (),
                 default: str = "", script: str | Path | None = None) -> None:
        self.model = model
        data: dict[str, Any] = {}
        if script is not None:
            try:
                data = yaml.safe_load(Path(script).read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read fake backend script {script}: {exc}") from None
        pairs = list(rules) + [(r["match"], r["text"]) for r in data.get("rules", [])]
        self.rules = [(re.compile(pattern, re.S), str(text)) for pattern, text in pairs]
        self.default: str = str(data.get("default", default))
        self.calls: list[str] = []  # every prompt requested, in order

    def _text(self, prompt: str, index: int) -> str:
        for pattern, text in self.rules:
            if pattern.search(prompt):
                return text.replace("{n}", str(index))
        return self.default.replace("{n}", str(index))

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            self.calls.append(prompt)
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
        return out

    def close(self) -> None:
        pass
