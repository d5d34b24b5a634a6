"""The optional docstring-quality judge: the base model says Yes or No for each seed.

The question (docs/method.md, "Stage 0"): is the docstring enough to re-implement the function, and
does it match it? The prompt shows the project's own 7 examples (judge_shots.yaml) in an order
shuffled per seed (from the global seed and the seed's id), then the seed; the model completes
greedily, at most 5 tokens. Only an answer starting with "yes" keeps the seed: "no", anything
else, and a tie ("yes or no") count as No.
"""

from __future__ import annotations

import random
from importlib import resources
from typing import Any

import yaml

from selfcodealign.backends import LLMBackend, SamplingParams

INSTRUCTION = ("Each Python function below is followed by a verdict on its docstring: Yes if "
               "the docstring alone is enough to re-implement the function and it matches what "
               "the code does, No otherwise.")
PARAMS = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=5, n=1, stop=("\n", "###"))


def load_shots() -> list[dict[str, str]]:
    text = resources.files("selfcodealign.seeds").joinpath("judge_shots.yaml").read_text()
    shots: list[dict[str, str]] = yaml.safe_load(text)
    return shots


def _block(code: str, answer: str = "") -> str:
    return f"### Function\n{code.rstrip()}\n### Verdict\n{answer}"


def prompt_for(code: str, key: str, seed: int, shots: list[dict[str, str]]) -> str:
    order = list(shots)
    random.Random(f"{seed}:{key}").shuffle(order)
    parts = [INSTRUCTION, ""] + [_block(s["code"], s["answer"]) + "\n" for s in order]
    return "\n".join(parts) + _block(code)


def verdict(text: str) -> bool:
    """True only for a clear Yes."""
    words = text.strip().lower().replace(".", " ").split()
    return bool(words) and words[0].startswith("yes") and "no" not in words[1:]


class DocstringJudge:
    def __init__(self, backend: LLMBackend, seed: int) -> None:
        self.backend, self.seed = backend, seed
        self.shots = load_shots()
        self.asked = 0

    def judge(self, items: dict[str, str]) -> dict[str, tuple[bool, str]]:
        """{key: (keep, raw answer)} for {key: seed code}."""
        keys = list(items)
        prompts = [prompt_for(items[k], k, self.seed, self.shots) for k in keys]
        self.asked += len(prompts)
        answers = self.backend.generate(prompts, PARAMS)
        out: dict[str, tuple[bool, str]] = {}
        for key, completions in zip(keys, answers, strict=True):
            text = completions[0].text if completions else ""
            out[key] = (verdict(text), text.strip()[:40])
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend.name, "model": self.backend.model, "asked": self.asked}
