"""What real model text does, and how the generation stages read it.

A strong model stops where the prompt's layout says it should (the stop strings `## Example` and
`</tests>`). Real text from smaller models does not, and these are the cases met when the stages
read completions of a real model (SmolLM2-135M, in `tests/data/real_completions.jsonl`):

- **Run-on into a new example.** The answer is complete, then the model starts the next example
  with a heading the stop string does not match (`# Example 4`, `### Snippet`, `[Code]`,
  `<instruction>`). `trim_runon` cuts the text at that line; what comes before is the answer.
  (A completion that reached `max_tokens` is dropped whatever it holds, as the method says;
  `generation.early_stop` ends such a run-on before it gets there.)
- **Loops.** The model repeats a phrase until `max_tokens`: `is_looping` tells such a
  completion (dropped as `repetition`) from one that was merely long (`truncated`).
- **Concept lists** with trailing prose, code instead of concepts, or an example's concepts
  copied from the prompt: `parse_concepts` keeps a clean list or names the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selfcodealign.backends.loops import distinct_share, is_looping

__all__ = ["concepts_line", "distinct_share", "is_looping", "parse_concepts", "trim_runon"]

# A line that opens a new example, or a section of the prompt layout or of the few-shot file:
# the model went on to write the next example instead of stopping.
_RUNON = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*Example\b"
    r"|#{2,6}[ \t]*(?:Snippet|Concepts|Properties|Property|Task)[ \t]*:?[ \t]*$"
    r"|\[(?:Code|Property|Instruction|Response|Tests)\][ \t]*$"
    r"|<instruction>)",
    re.IGNORECASE | re.MULTILINE)


# What a stop string leaves of a longer heading: `### Example 4` stopped at `## Example`
# leaves a line holding only `#`.
_HEADING_RESIDUE = re.compile(r"\n[ \t]*#+[ \t]*\Z")


def trim_runon(text: str) -> tuple[str, bool]:
    """`text` up to the first line that opens a new example or prompt section, and whether
    such a line was found (the model went on past the end of its answer). A last line of
    only `#` (the rest of a heading the stop string cut) goes too."""
    match = _RUNON.search(text)
    kept = text if match is None else text[:match.start()]
    stripped = kept.rstrip()
    residue = _HEADING_RESIDUE.search(stripped)
    if residue is not None:
        kept = stripped[:residue.start()].rstrip() + "\n"
    return kept, match is not None


# --- loops: backends/loops.py (the transformers backend ends looping rows early) ------


# --- concepts -------------------------------------------------------------------------------

MAX_CONCEPT_WORDS = 12   # a longer "concept" is a sentence, not a concept
MAX_SINGLE_WORDS = 6     # a lone item longer than this is a sentence, not a list
_FILLER = frozenset({"and", "or", "etc", "and so on", "and more", "..."})
# A first line that is code, not a list of concepts.
_CODE_LINE = re.compile(r"^(?:def |class |import |from \S+ import |@|#|```|>>>"
                        r"|return [\w.]+\(|if .*:$|for .*:$|while .*:$|\w+\s*=[^=])")
# The end of a sentence inside the line: prose after the list.
_SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-Z])")
# A list item that continues a sentence rather than naming a concept.
_PROSE_START = re.compile(r"^(?:but|and so|so|which|that|because|while|although|however|not "
                          r"only|whereas|then|return|returns)\b", re.IGNORECASE)
# A name from the code (`week_start_day`, `iso_year()`, `self.cache`) or a bare number.
_NAME = re.compile(r"^(?:[A-Za-z_]\w*(?:\.\w+)*(?:\(\))?|[-+]?\d+(?:\.\d+)?)$")


def concepts_line(text: str) -> tuple[str, bool]:
    """The first non-empty line of a concepts completion, and whether it is complete (a line
    break follows it, so the model finished the line whatever it wrote next)."""
    body = text.lstrip()
    line, newline, _ = body.partition("\n")
    return line.strip(), bool(newline)


def parse_concepts(text: str, shown: Iterable[Iterable[str]] = ()) -> list[str] | str:
    """The concepts of a completion (first line, comma-separated, deduplicated), or the
    reason it has none: `empty_concepts`, `code_not_concepts` (the model wrote code),
    `prose_not_concepts` (a sentence, not a list), `names_not_concepts` (mostly names
    from the code or numbers), `copied_shot` (the very list of one of the prompt's
    examples)."""
    line, _ = concepts_line(text)
    if not line:
        return "empty_concepts"
    if _CODE_LINE.match(line):
        return "code_not_concepts"
    line = _SENTENCE_END.split(line, 1)[0].strip()
    items = list(dict.fromkeys(part.strip().rstrip(".;:").strip() for part in line.split(",")))
    items = [item for item in items if item and item.lower() not in _FILLER]
    if not items:
        return "empty_concepts"
    if len(items) == 1 and len(items[0].split()) > MAX_SINGLE_WORDS:
        return "prose_not_concepts"  # one long item: a sentence about the code
    if any(len(item.split()) > MAX_CONCEPT_WORDS or _PROSE_START.match(item) for item in items):
        return "prose_not_concepts"
    names = [item for item in items if _NAME.match(item)
             and ("_" in item or "." in item or "(" in item or not item.isalpha())]
    if len(names) * 2 > len(items):
        return "names_not_concepts"
    lowered = [item.lower() for item in items]
    for concepts in shown:
        if [c.strip().lower() for c in concepts if c.strip()] == lowered:
            return "copied_shot"
    return items
