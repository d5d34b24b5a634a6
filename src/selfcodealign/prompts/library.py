"""A few-shot library in the reference's plain-text format, and the prompts built from it.

The format (the built-in library `fewshot.txt` is one such file, and so is the paper's):

    ### System: I->R
    <system text of the response stage>
    ### System: C->I
    ...  (also S->C and S->I)
    ### Example 1
    [Code]
    <seed snippet>
    [Property]
    category: function implementation
    language: Python
    difficulty: easy
    concepts: first concept, second concept
    [Instruction]
    ...
    [Response]
    ...
    [Tests]
    ...
    ### Example 2
    ...

The file is stripped, split on the `### Example N` headings; the part before them on the four
`### System:` headings; each example on its five section headings, which must come in that
order. Each part is stripped, except the snippet, which is only stripped on the right (an
indented fragment keeps its indent). Concepts are split on commas and stripped.

A prompt is the stage's system text, a blank line, the examples each headed `## Example i` and
separated by a blank line, a blank line, `## Example k+1` and the query's prefix; the whole is
stripped on the right, so a prompt ends at the prefix's last heading or tag:

    S->C  ### Snippet\\n{snippet}\\n\\n### Concepts\\n{concepts}
    C->I  ### Properties\\n{properties}\\n\\n### Task\\n{instruction}
    I->R  <instruction>\\n{instruction}\\n</instruction>\\n\\n<response>\\n{response}
          \\n</response>\\n\\n<tests>\\n{tests}\\n</tests>
    S->I  ### Snippet\\n{snippet}\\n\\n### Task\\n{instruction}

With the paper's own file, these are the reference implementation's prompts byte for byte.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from selfcodealign.errors import SelfCodeAlignError

MODES = ("I->R", "C->I", "S->C", "S->I")
SECTIONS = ("[Code]", "[Property]", "[Instruction]", "[Response]", "[Tests]")
PROPERTY_KEYS = ("category", "language", "difficulty", "concepts")
# Short names (config, records) and the words the prompts use.
CATEGORIES = {"function": "function implementation", "class": "class implementation",
              "program": "program implementation"}

_EXAMPLE = re.compile(r"### Example \d+")
_SYSTEM = re.compile(r"### System: (I->R|C->I|S->C|S->I)")
_SECTION = re.compile(r"\[(Code|Property|Instruction|Response|Tests)\]\n")


class FewshotError(SelfCodeAlignError):
    """A few-shot file that does not follow the format."""


@dataclass(frozen=True)
class Example:
    """One example of the library; `index` is its 1-based position in the file."""

    index: int
    snippet: str
    category: str  # as written in the file: "function implementation", ...
    language: str
    difficulty: str
    concepts: tuple[str, ...]
    instruction: str
    response: str
    tests: str

    @property
    def id(self) -> str:
        return f"ex{self.index:02d}"

    @property
    def kind(self) -> str:
        """The short category name ("function", "class", "program"), else the text itself."""
        for short, long in CATEGORIES.items():
            if self.category == long:
                return short
        return self.category

    def properties(self) -> str:
        return properties(self.category, self.language, self.difficulty, self.concepts)


@dataclass(frozen=True)
class Library:
    systems: dict[str, str]
    examples: tuple[Example, ...]
    source: str  # "builtin" or the file's path
    digest: str  # SHA-256 of the file's bytes

    def system(self, mode: str) -> str:
        return self.systems[mode]

    def pick(self, positions: list[int]) -> list[Example]:
        """Examples by 1-based position (`--shots 3,7,12`)."""
        chosen = []
        for position in positions:
            if not 1 <= position <= len(self.examples):
                raise FewshotError(f"shot {position} is not in the library (it has "
                                   f"{len(self.examples)} examples, numbered from 1)")
            chosen.append(self.examples[position - 1])
        return chosen


def properties(category: str, language: str, difficulty: str,
               concepts: tuple[str, ...] | list[str]) -> str:
    return (f"category: {category}\nlanguage: {language}\ndifficulty: {difficulty}\n"
            f"concepts: {', '.join(concepts)}")


def split_concepts(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(","))


def parse_library(text: str, source: str = "<text>") -> Library:
    """A library from the reference format; a FewshotError names the example and section."""
    content = text.strip()
    parts = _EXAMPLE.split(content)
    head, bodies = parts[0], parts[1:]
    systems = _parse_systems(head, source)
    if not bodies:
        raise FewshotError(f"{source}: no '### Example N' section")
    examples = tuple(_parse_example(body.strip(), number, source)
                     for number, body in enumerate(bodies, start=1))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Library(systems, examples, source, digest)


def _parse_systems(head: str, source: str) -> dict[str, str]:
    found = _SYSTEM.split(head)
    if found[0].strip():
        raise FewshotError(f"{source}: text before the first '### System:' heading: "
                           f"{found[0].strip()[:60]!r}")
    systems: dict[str, str] = {}
    for mode, body in zip(found[1::2], found[2::2], strict=True):
        if mode in systems:
            raise FewshotError(f"{source}: '### System: {mode}' appears twice")
        systems[mode] = body.strip()
    missing = [mode for mode in MODES if mode not in systems]
    if missing:
        raise FewshotError(f"{source}: missing system section(s) "
                           f"{', '.join(f'### System: {m}' for m in missing)}")
    return systems


def _parse_example(body: str, number: int, source: str) -> Example:
    where = f"{source}: example {number}"
    pieces = _SECTION.split(body)
    names = [f"[{name}]" for name in pieces[1::2]]
    if pieces[0].strip() or tuple(names) != SECTIONS:
        raise FewshotError(f"{where}: expected sections {', '.join(SECTIONS)} in that order, "
                           f"each heading alone on its line; found "
                           f"{', '.join(names) or 'none'}")
    snippet, prop, instruction, response, tests = pieces[2::2]
    values = _parse_properties(prop, where)
    example = Example(
        index=number, snippet=snippet.rstrip(), category=values["category"],
        language=values["language"], difficulty=values["difficulty"],
        concepts=split_concepts(values["concepts"]), instruction=instruction.strip(),
        response=response.strip(), tests=tests.strip())
    for section, value in (("[Instruction]", example.instruction),
                           ("[Response]", example.response), ("[Tests]", example.tests)):
        if not value:
            raise FewshotError(f"{where}: section {section} is empty")
    return example


def _parse_properties(text: str, where: str) -> dict[str, str]:
    lines = text.strip().split("\n")
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in PROPERTY_KEYS:
            raise FewshotError(f"{where}: section [Property]: expected 'key: value' lines "
                               f"with keys {', '.join(PROPERTY_KEYS)}; got {line[:60]!r}")
        if key in values:
            raise FewshotError(f"{where}: section [Property]: {key!r} appears twice")
        values[key] = value.strip()
    missing = [key for key in PROPERTY_KEYS if key not in values]
    if missing:
        raise FewshotError(f"{where}: section [Property]: missing {', '.join(missing)}")
    return values


def load_library(path: str | Path | None = None) -> Library:
    """The built-in library, or a file in the same format."""
    if path is None:
        return _builtin()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FewshotError(f"cannot read the few-shot file {file}: {exc}") from None
    return parse_library(text, str(file))


_BUILTIN: Library | None = None


def _builtin() -> Library:
    global _BUILTIN
    if _BUILTIN is None:
        text = resources.files("selfcodealign.prompts").joinpath("fewshot.txt").read_text(
            encoding="utf-8")
        _BUILTIN = parse_library(text, "builtin")
    return _BUILTIN


# -- prompts ------------------------------------------------------------------------------


def snippet_prefix(snippet: str) -> str:
    return f"### Snippet\n{snippet}\n\n### Concepts\n"


def properties_prefix(props: str) -> str:
    return f"### Properties\n{props}\n\n### Task\n"


def instruction_prefix(instruction: str) -> str:
    return f"<instruction>\n{instruction}\n</instruction>\n\n<response>\n"


def seed_task_prefix(snippet: str) -> str:
    return f"### Snippet\n{snippet}\n\n### Task\n"


def example_text(example: Example, mode: str) -> str:
    """One example, whole, as the stage's prompt shows it."""
    if mode == "S->C":
        return snippet_prefix(example.snippet) + ", ".join(example.concepts)
    if mode == "C->I":
        return properties_prefix(example.properties()) + example.instruction
    if mode == "I->R":
        return (instruction_prefix(example.instruction)
                + f"{example.response}\n</response>\n\n<tests>\n{example.tests}\n</tests>")
    if mode == "S->I":
        return seed_task_prefix(example.snippet) + example.instruction
    raise ValueError(f"unknown mode {mode!r}")


def build_prompt(system: str, mode: str, shots: list[Example], query: str) -> str:
    """System text, the numbered examples, the numbered query prefix; stripped on the right."""
    parts = [system] + [f"## Example {number}\n{example_text(example, mode)}"
                        for number, example in enumerate(shots, start=1)]
    parts.append(f"## Example {len(shots) + 1}\n{query}")
    return "\n\n".join(parts).rstrip()
