"""Few-shot prompts for the three generation stages, built as the reference builds them.

The library (`fewshot.txt`, the project's own 21 examples, or any file in the reference's
plain-text format given by `generation.fewshot`) is parsed by `library.py`, which also renders
the prompts byte for byte: system text, blank line, `## Example i` blocks separated by blank
lines, blank line, `## Example k+1` and the query's prefix, stripped on the right.

| stage | query prefix | the model completes |
|---|---|---|
| S->C | `### Snippet`, code, blank, `### Concepts` | comma-separated concepts |
| C->I | `### Properties`, the four properties, blank, `### Task` | the task |
| I->R | `<instruction>`...`</instruction>`, blank, `<response>` | response, then its tests |
"""

from __future__ import annotations

import hashlib

from selfcodealign.prompts.library import (
    CATEGORIES,
    Example,
    FewshotError,
    Library,
    build_prompt,
    example_text,
    instruction_prefix,
    load_library,
    parse_library,
    properties,
    properties_prefix,
    snippet_prefix,
    split_concepts,
)

STOP = "## Example"
STOP_TESTS = "</tests>"
LAYOUT_VERSION = "reference-1"  # bump when build_prompt or a prefix changes

__all__ = ["CATEGORIES", "LAYOUT_VERSION", "STOP", "STOP_TESTS", "Example", "FewshotError",
           "Library", "build_prompt", "example_text", "instruction_prefix", "load_library",
           "parse_library", "properties", "properties_prefix", "snippet_prefix",
           "split_concepts", "template_hash"]


def template_hash(library: Library | None = None) -> str:
    """Changes whenever the library's file or the prompt layout changes (part of
    fingerprints, so a run never mixes prompts of two libraries)."""
    library = library or load_library()
    h = hashlib.sha256(f"{LAYOUT_VERSION}\n{library.digest}".encode())
    return h.hexdigest()[:16]
