"""Few-shot prompts for the three generation stages, in the layout METHOD.md describes.

A prompt is the stage's system text, a blank line, k examples each headed `## Example i`, then
`## Example k+1` and the query's prefix; the model completes the rest. Base models are prompted
in completion mode, so these are plain strings, byte for byte as below.

| stage | example layout | the model completes |
|---|---|---|
| S->C | `### Snippet` / code / `### Concepts` | comma-separated concepts |
| C->I | `### Properties` / category, language, difficulty, concepts / `### Task` | the task |
| I->R | `<instruction>`...`</instruction>`, `<response>` | response, `</response>`, `<tests>`... |

The examples are the project's own (examples/*.yaml, 21 of them), each a seed, its four
properties, an instruction, a response and tests; a test runs every response against its tests
in the sandbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

STOP = "## Example"
STOP_TESTS = "</tests>"

SYSTEM_CONCEPTS = (
    "Extract the key programming concepts from each code snippet below, taken from open-source "
    "projects. List the concepts as a comma-separated line."
)
SYSTEM_INSTRUCTIONS = (
    "Write independent, original, diverse and high-quality coding tasks that follow the given "
    "properties. Each task should make its concepts the natural way to a good solution, "
    "without naming them."
)
SYSTEM_RESPONSES = (
    "You are a very capable coding assistant. Give an accurate and reliable response to each "
    "instruction, then verify it by writing a series of executable tests."
)


@dataclass(frozen=True)
class Example:
    id: str
    category: str
    difficulty: str
    language: str
    concepts: str
    seed: str
    instruction: str
    response: str
    tests: str


@lru_cache(maxsize=1)
def load_examples() -> tuple[Example, ...]:
    """The few-shot library, in file order."""
    folder = resources.files("selfcodealign.prompts").joinpath("examples")
    found = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            data = yaml.safe_load(item.read_text(encoding="utf-8"))
            found.append(Example(**{k: str(v) for k, v in data.items()}))
    return tuple(found)


def _clean(text: str) -> str:
    return text.strip("\n")


def concepts_block(seed: str, concepts: str | None) -> str:
    tail = f"{concepts.strip()}\n" if concepts is not None else ""
    return f"### Snippet\n{_clean(seed)}\n### Concepts\n{tail}"


def instruction_block(category: str, language: str, difficulty: str, concepts: str,
                      instruction: str | None) -> str:
    head = (f"### Properties\ncategory: {category}\nlanguage: {language}\n"
            f"difficulty: {difficulty}\nconcepts: {concepts.strip()}\n\n### Task\n")
    return head + (f"{_clean(instruction)}\n" if instruction is not None else "")


def response_block(instruction: str, response: str | None, tests: str | None) -> str:
    head = f"<instruction>\n{_clean(instruction)}\n</instruction>\n\n<response>\n"
    if response is None:
        return head
    return head + f"{_clean(response)}\n</response>\n\n<tests>\n{_clean(tests or '')}\n</tests>\n"


def render(system: str, shots: list[str], query: str) -> str:
    """System text, a blank line, numbered examples, then the numbered query."""
    parts = [system, ""]
    for index, shot in enumerate(shots, start=1):
        parts.append(f"## Example {index}\n{shot}")
    parts.append(f"## Example {len(shots) + 1}\n{query}")
    return "\n".join(parts)


def template_hash() -> str:
    """Changes whenever a system text, a layout or an example changes (part of fingerprints)."""
    h = hashlib.sha256()
    for text in (SYSTEM_CONCEPTS, SYSTEM_INSTRUCTIONS, SYSTEM_RESPONSES,
                 concepts_block("S", "C"), instruction_block("a", "b", "c", "d", "e"),
                 response_block("i", "r", "t")):
        h.update(text.encode())
    for example in load_examples():
        h.update(repr(example).encode())
    return h.hexdigest()[:16]
