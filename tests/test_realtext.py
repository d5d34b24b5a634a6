"""How the generation stages read real model text: run-ons, loops, concept lists."""

from __future__ import annotations

import pytest

from selfcodealign.generation.text import (
    concepts_line,
    distinct_share,
    is_looping,
    parse_concepts,
    trim_runon,
)

# --- run-on into a new example ---------------------------------------------------------------


@pytest.mark.parametrize("tail", [
    "# Example 4\ndef f(x):\n    return x\n",
    "## Example 3\n### Snippet\n",
    "### Example 9\n",
    "#Example 4\n",
    "  # example 5\n",
    "### Snippet\ndef g(): pass\n",
    "### Concepts\nloops, sets\n",
    "### Properties\ncategory: function\n",
    "### Task:\nWrite more\n",
    "[Code]\nx = 1\n",
    "[Property]\ncategory: function implementation\n",
    "[Instruction]\nDo this\n",
    "<instruction>\nWrite a function\n</instruction>\n",
])
def test_a_new_example_or_section_ends_the_answer(tail: str) -> None:
    answer = "Write a function `f` that doubles a list.\n\n"
    kept, cut = trim_runon(answer + tail)
    assert cut and kept == answer


@pytest.mark.parametrize("text", [
    "Write a function that parses `# Example` comments out of a file.",
    "Use the heading syntax, e.g. `### Snippet` inside a sentence is not a heading.",
    "A task.\n\n```python\nassert f(1) == 2\n```\n",
    "Explain the [Code] tag in one sentence.",
    "Sort the list.\n### Description\nMore detail.\n",  # not a heading of the layout
    "",
])
def test_ordinary_text_is_not_cut(text: str) -> None:
    assert trim_runon(text) == (text, False)


# --- loops -----------------------------------------------------------------------------------

REAL_LOOP = (
    "A list of tuples containing a list of dictionaries with a key `id`. The lambda function is "
    "a recursive function itself, which is nested inside a recursive function itself. "
    + "The recursive function itself is nested inside a recursive function itself. " * 12
    + "The nested function itself is nested inside a recursive function itself, which is "
    + "nested inside a recursive function itself, " * 6)


@pytest.mark.parametrize("text", [
    REAL_LOOP,
    "import hashlib\n\n# TODO: list of features\n" + "import yaml.safe\n" * 60,
    "x" * 500,
    "def f():\n    return (" + ")" * 600,
    "= " * 300,
    "abc" * 200,
    "\n".join(["assert f(1) == 1"] * 80),
    "The answer is yes. " * 50,
])
def test_loops_are_recognised(text: str) -> None:
    assert is_looping(text)


LONG_PROSE = (
    "Sorting a copy with sorted puts the outliers at both ends and leaves the caller's list "
    "untouched, so trimming is a single slice. The cut size is rounded down with int, which "
    "means short lists may lose nothing at all: with ten values and the default proportion one "
    "item goes from each end, with four values none do. Because proportion stays below one "
    "half, at least one value always survives the slice and the division is safe once the "
    "empty input is rejected. I use math.fsum rather than sum so that long lists of floats do "
    "not accumulate rounding error, and I validate the arguments before doing any work, so a "
    "bad call fails fast with a clear message instead of a ZeroDivisionError deep inside.")

LONG_CODE = "\n".join(
    [f"assert trimmed_mean([{i}, {i + 1}, {i + 2}]) == {i + 1}.0" for i in range(40)]
    + [f"def helper_{i}(values):\n    return sorted(values)[{i}:]" for i in range(10)])


@pytest.mark.parametrize("text", [LONG_PROSE, LONG_CODE, "short", "", "a b c d e f g h " * 3])
def test_long_but_varied_text_is_not_a_loop(text: str) -> None:
    assert not is_looping(text)


def test_distinct_share() -> None:
    assert distinct_share([]) == 1.0
    assert distinct_share(["a", "b", "c", "d", "e"]) == 1.0
    assert distinct_share(["a", "b", "a", "b", "a", "b", "a", "b"]) == pytest.approx(2 / 5)


# --- concepts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("\nlisting, list comprehension, lambda\n\n", ["listing", "list comprehension", "lambda"]),
    ("\nlist, dictionary, dict, enumerate, list, f-string, list, list, type, type\n\n",
     ["list", "dictionary", "dict", "enumerate", "f-string", "type"]),
    ("\nround-to-even, round-to-nearest\n\n\n#", ["round-to-even", "round-to-nearest"]),
    ("recursion, memoization. These concepts are used to speed up the function.",
     ["recursion", "memoization"]),
    ("string parsing, error handling.", ["string parsing", "error handling"]),
    ("  dynamic programming , , binary search ;\n", ["dynamic programming", "binary search"]),
    ("date parsing, iso weeks, leap years\ndef parse_version(tag):\n",
     ["date parsing", "iso weeks", "leap years"]),
    ("file I/O, caching with pickle, progress display using tqdm",
     ["file I/O", "caching with pickle", "progress display using tqdm"]),
])
def test_concept_lists(text: str, expected: list[str]) -> None:
    assert parse_concepts(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty_concepts"),
    ("\n\n   \n", "empty_concepts"),
    (", , ,", "empty_concepts"),
    ("\nimport hashlib\n\n# TODO: list of features\n", "code_not_concepts"),
    ("def f(x):\n    return x\n", "code_not_concepts"),
    ("# Example 4\ndef f(): pass", "code_not_concepts"),
    ("```python\nx = 1\n```", "code_not_concepts"),
    ("result = compute(values)", "code_not_concepts"),
    ("using more robust version of a function that returns a tuple of a string and a list",
     "prose_not_concepts"),
    ("\nthe original, but optimized to avoid overcounting, but it is not only an operation, "
     "but also a method that was written by someone who wanted it to be fast\n",
     "prose_not_concepts"),
])
def test_what_is_not_a_concept_list(text: str, reason: str) -> None:
    assert parse_concepts(text) == reason


def test_a_list_copied_from_the_prompt_is_dropped() -> None:
    shown = [("per-key deque of timestamps", "sliding time window", "injected clock values"),
             ("string partitioning", "early returns")]
    copied = "\nper-key deque of timestamps, sliding time window, injected clock values\n"
    assert parse_concepts(copied, shown) == "copied_shot"
    assert parse_concepts("String Partitioning, early returns.", shown) == "copied_shot"
    # sharing some concepts with an example is fine
    assert parse_concepts("string partitioning, recursion", shown) == [
        "string partitioning", "recursion"]


def test_the_concepts_line_is_complete_only_with_a_line_break() -> None:
    assert concepts_line("\n\nloops, sets\n# Example 4") == ("loops, sets", True)
    assert concepts_line("loops, se") == ("loops, se", False)
    assert concepts_line("") == ("", False)


@pytest.mark.parametrize(("text", "reason"), [
    ("\nthe original, but optimized to avoid overcounting, the original, but optimized to avoid "
     "the fact that, not only is this operation, but also a method.\n\n", "prose_not_concepts"),
    ("sorting, which is fast, and hashing", "prose_not_concepts"),
    ("\njulian_from_U_or_W, week_start_day, 6, 1\n\ndef _hash_weekday", "names_not_concepts"),
    ("\niso_year, iso_week, iso_weekday, iso_week_day, iso_year\n", "names_not_concepts"),
    ("\nmultiresimal_range, multiresimal_range_list, max_recursion_limit,\n",
     "names_not_concepts"),
    ("self.cache, self.max_per_minute, time.time()", "names_not_concepts"),
    ("\nreturn a list of list, ordered by a list[i] in descending order\n\n",
     "prose_not_concepts"),
    ("\nA class that has a specific attribute but no associated methods.  This class should",
     "prose_not_concepts"),
    ("1, 2, 3", "names_not_concepts"),
])
def test_sentences_and_code_names_are_not_concepts(text: str, reason: str) -> None:
    assert parse_concepts(text) == reason


@pytest.mark.parametrize(("text", "expected"), [
    ("range clamping, min()", ["range clamping", "min()"]),
    ("list, dictionary, dict, enumerate", ["list", "dictionary", "dict", "enumerate"]),
    ("f-string formatting, __slots__ for memory, dataclasses",
     ["f-string formatting", "__slots__ for memory", "dataclasses"]),
    ("thread pools, this keyword in JavaScript", ["thread pools", "this keyword in JavaScript"]),
    ("\nusing localeconv to match grouping patterns, and \n",
     ["using localeconv to match grouping patterns"]),
    ("recursion", ["recursion"]),
    ("memoization with a dictionary cache", ["memoization with a dictionary cache"]),
])
def test_single_words_and_some_names_are_still_concepts(text: str, expected: list[str]) -> None:
    assert parse_concepts(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Find the top k tuples.\n\n#", "Find the top k tuples.\n"),
    ("Find the top k tuples.\n\n  ### \n", "Find the top k tuples.\n"),
    ("Use `#` comments.\n#", "Use `#` comments.\n"),
    ("A task\n### Snippet\nx\n#", "A task\n"),
])
def test_what_a_stop_string_leaves_of_a_heading_is_removed(text: str, expected: str) -> None:
    assert trim_runon(text)[0] == expected


def test_a_heading_residue_is_not_a_run_on() -> None:
    assert trim_runon("A task.\n\n#") == ("A task.\n", False)
    assert trim_runon("x = 1  # comment") == ("x = 1  # comment", False)
