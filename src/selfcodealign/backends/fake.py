"""A scripted backend for dry runs and tests: no model, deterministic, and it keeps a call log.

Completions come from rules: the first rule whose pattern matches the prompt (regular expression,
searched) gives the completion text; `{n}` in it becomes the sample index, so `n` samples of one
prompt differ. Without a matching rule the default text is used. A script is a YAML or JSON file
`{"rules": [{"match": "...", "text": "..."}], "default": "...", "call_log": "calls.txt",
"delay_s": 0.01}`; with no script at all, fake_default.yaml gives one plausible answer per
stage. `call_log` appends a hash of every prompt requested to a file (to prove, after a kill
and a rerun, that nothing finished was asked for again). `max_tokens` truncates (counted
in whitespace-separated words) and reports finish reason `length`, as a real model would.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from selfcodealign.backends.base import Completion, SamplingParams
from selfcodealign.errors import ConfigError


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
        elif not rules and not default:  # a plausible answer per stage, for dry runs
            data = yaml.safe_load(resources.files("selfcodealign.backends").joinpath(
                "fake_default.yaml").read_text())
        log = call_log or data.get("call_log")
        self.call_log = Path(log) if log else None
        self.delay_s = float(data.get("delay_s", delay_s))
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
            if self.call_log is not None:  # one line per request, flushed: survives a kill
                with open(self.call_log, "a") as fh:
                    fh.write(hashlib.sha256(prompt.encode()).hexdigest()[:16] + "\n")
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
        return out

    def close(self) -> None:
        pass
