"""The three Self-OSS-Instruct stages: S->C concepts, C->I instructions, I->R responses+tests."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from selfcodealign.backends import LLMBackend, SamplingParams
from selfcodealign.generation.base import LLMStage
from selfcodealign.prompts import (
    STOP,
    STOP_TESTS,
    SYSTEM_CONCEPTS,
    SYSTEM_INSTRUCTIONS,
    SYSTEM_RESPONSES,
    Example,
    concepts_block,
    instruction_block,
    load_examples,
    render,
    response_block,
)
from selfcodealign.runner import Rec


class ShotPicker:
    """k examples per item: a fresh sample, or one of a few fixed groups (prefix caching)."""

    def __init__(self, examples: tuple[Example, ...], k: int, groups: int, seed: int,
                 stage: str) -> None:
        self.examples, self.k = examples, min(k, len(examples))
        self.groups = [random.Random(f"{seed}:{stage}:group:{g}").sample(examples, self.k)
                       for g in range(groups)]

    def pick(self, rng: random.Random) -> tuple[list[Example], int]:
        if self.groups:
            group = rng.randrange(len(self.groups))
            return self.groups[group], group
        return rng.sample(self.examples, self.k), 0


class Concepts(LLMStage):
    name: ClassVar[str] = "concepts"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 8,
                 **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, **kw)
        self.picker = ShotPicker(load_examples(), shots, self.prefix_groups, seed, self.name)

    def prompt(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        shots, group = self.picker.pick(rng)
        text = render(SYSTEM_CONCEPTS, [concepts_block(s.seed, s.concepts) for s in shots],
                      concepts_block(record_code(record), None))
        return text, {"shots": [s.id for s in shots], "shot_group": group}

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        line = text.strip().split("\n", 1)[0] if text.strip() else ""
        concepts = list(dict.fromkeys(c.strip() for c in line.split(",") if c.strip()))
        if not concepts:
            return "empty_concepts"
        return {"seed": record_code(record), "concepts": ", ".join(concepts),
                "seed_id": record.get("seed_id", record["id"])}


class Instructions(LLMStage):
    name: ClassVar[str] = "instructions"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 8,
                 categories: dict[str, float] | None = None,
                 difficulties: tuple[str, ...] = ("easy", "medium", "hard"),
                 language: str = "Python", **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, **kw)
        self.picker = ShotPicker(load_examples(), shots, self.prefix_groups, seed, self.name)
        weights = categories or {"function": 0.5, "class": 0.25, "program": 0.25}
        self.categories, self.weights = list(weights), list(weights.values())
        self.difficulties, self.language = list(difficulties), language

    def prompt(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        category = rng.choices(self.categories, self.weights)[0]
        difficulty = rng.choice(self.difficulties)
        shots, group = self.picker.pick(rng)
        blocks = [instruction_block(s.category, s.language, s.difficulty, s.concepts,
                                    s.instruction) for s in shots]
        query = instruction_block(category, self.language, difficulty, record["concepts"], None)
        return render(SYSTEM_INSTRUCTIONS, blocks, query), {
            "shots": [s.id for s in shots], "shot_group": group, "category": category,
            "difficulty": difficulty}

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        instruction = text.strip()
        if not instruction:
            return "empty_instruction"
        return {"instruction": instruction, "category": meta["category"],
                "difficulty": meta["difficulty"], "language": self.language,
                "concepts": record["concepts"], "seed": record.get("seed", ""),
                "seed_id": record.get("seed_id", "")}


class Responses(LLMStage):
    name: ClassVar[str] = "responses"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 1,
                 **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, **kw)
        self.picker = ShotPicker(load_examples(), shots, self.prefix_groups, seed, self.name)

    def prompt(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        shots, group = self.picker.pick(rng)
        blocks = [response_block(s.instruction, s.response, s.tests) for s in shots]
        text = render(SYSTEM_RESPONSES, blocks, response_block(record["instruction"], None, None))
        return text, {"shots": [s.id for s in shots], "shot_group": group}

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        response, sep, rest = text.partition("</response>")
        if not sep:
            return "no_response_end"
        _, tag, tests = rest.partition("<tests>")
        if not tag:
            return "no_tests"
        tests = tests.split(STOP_TESTS, 1)[0].strip()
        if not response.strip() or not tests:
            return "empty_response_or_tests"
        keep = {k: record.get(k) for k in ("instruction", "category", "difficulty", "concepts",
                                            "seed", "seed_id")}
        return {**keep, "response": response.strip(), "tests": tests}


def record_code(record: Rec) -> str:
    """A seed's code, from a seed record (`code`) or any record with `seed`/`content`."""
    for key in ("code", "seed", "content", "function"):
        if isinstance(record.get(key), str) and record[key].strip():
            return str(record[key])
    return ""


STOPS = {"concepts": (STOP,), "instructions": (STOP,), "responses": (STOP, STOP_TESTS)}
