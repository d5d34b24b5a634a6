"""The few-shot library and the prompts: the reference's file format (and its errors), the
byte layout of every stage's prompt, `selfcodealign prompt`, and the built-in library's shape."""

from __future__ import annotations

import ast
import random
import re
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.backends import Completion, SamplingParams
from selfcodealign.backends.fake import FakeBackend
from selfcodealign.generation.base import item_rng
from selfcodealign.generation.stages import Concepts, Instructions, Responses
from selfcodealign.prompts import FewshotError, load_library, parse_library
from selfcodealign.prompts.stats import library_stats, wrapped_paragraphs

# A library of our own in the reference's format: odd spacing on purpose (blank lines around
# headings, an indented fragment as a snippet, trailing spaces) to pin down the stripping rules.
OWN_FILE = """
### System: I->R
Answer each instruction, then test the answer.

### System: C->I
Write one task per list of properties.
Keep tasks independent.

### System: S->C
List the concepts of each snippet, comma separated.

### System: S->I
Write a task inspired by the snippet.

### Example 1
[Code]
    total = 0
    for item in cart:
        total += item.price * item.qty

[Property]
category: function implementation
language: Python
difficulty: easy
concepts: accumulation loop,  attribute access ,multiplication

[Instruction]
Write `cart_total(cart)` returning the sum of price times quantity.

[Response]
Sum the products in one pass.

```python
def cart_total(cart):
    return sum(i.price * i.qty for i in cart)
```

[Tests]
Two carts:

```python
from types import SimpleNamespace as N
assert cart_total([]) == 0
assert cart_total([N(price=2, qty=3), N(price=1, qty=1)]) == 7
```

### Example 2
[Code]
class Box:
    def __init__(self, items):
        self.items = list(items)

[Property]
category: class implementation
language: Python
difficulty: medium
concepts: encapsulation, list copying

[Instruction]
Create a class `Shelf` holding books; `add(title)` and `titles()` return them sorted.

[Response]
Keep a private list and sort on read.

```python
class Shelf:
    def __init__(self):
        self._books = []
    def add(self, title):
        self._books.append(title)
    def titles(self):
        return sorted(self._books)
```

[Tests]
```python
s = Shelf(); s.add("b"); s.add("a")
assert s.titles() == ["a", "b"]
```
"""


def own_library() -> Any:
    return parse_library(OWN_FILE, "own.txt")


# -- the format -----------------------------------------------------------------------------


def test_parses_the_reference_format_with_its_stripping_rules() -> None:
    lib = own_library()
    assert lib.systems["C->I"] == "Write one task per list of properties.\nKeep tasks independent."
    assert lib.systems["I->R"].startswith("Answer each")
    first, second = lib.examples
    assert first.snippet.startswith("    total = 0")  # stripped on the right only
    assert first.snippet.endswith("item.qty")
    assert first.concepts == ("accumulation loop", "attribute access", "multiplication")
    assert first.properties() == ("category: function implementation\nlanguage: Python\n"
                                  "difficulty: easy\nconcepts: accumulation loop, attribute "
                                  "access, multiplication")
    assert first.instruction.startswith("Write `cart_total") and first.tests.startswith("Two")
    assert second.kind == "class" and second.id == "ex02" and second.index == 2
    assert lib.digest and lib.source == "own.txt"


def _reference_render(lib: Any, mode: str, shots: list[Any], fmt: dict[str, str]) -> str:
    """A second, independent rendering, written from the reference's description: templates
    filled with str.format, examples joined by a blank line, the whole stripped on the right."""
    templates = {"I->R": "<instruction>\n{instruction}\n</instruction>\n\n<response>\n",
                 "S->C": "### Snippet\n{snippet}\n\n### Concepts\n",
                 "C->I": "### Properties\n{property}\n\n### Task\n",
                 "S->I": "### Snippet\n{snippet}\n\n### Task\n"}

    def whole(ex: Any) -> str:
        prop = "\n".join([f"category: {ex.category}", f"language: {ex.language}",
                          f"difficulty: {ex.difficulty}",
                          f"concepts: {', '.join(ex.concepts)}"])
        prefix = templates[mode].format(instruction=ex.instruction, snippet=ex.snippet,
                                        property=prop)
        suffix = {"I->R": f"{ex.response}\n</response>\n\n<tests>\n{ex.tests}\n</tests>",
                  "S->C": ", ".join(ex.concepts), "C->I": ex.instruction,
                  "S->I": ex.instruction}[mode]
        return prefix + suffix

    body = "\n\n".join(f"## Example {i + 1}\n{whole(ex)}" for i, ex in enumerate(shots))
    prefix = f"## Example {len(shots) + 1}\n" + templates[mode].format(**fmt)
    return f"{lib.systems[mode]}\n\n{body}\n\n{prefix}".rstrip()


def test_the_literal_bytes_of_a_response_prompt() -> None:
    lib = own_library()
    stage = Responses(FakeBackend(), SamplingParams(), seed=1, shots=1, library=lib)
    text = stage.render_prompt({"id": "i1", "instruction": "Do X."}, [lib.examples[1]])
    assert text == (
        "Answer each instruction, then test the answer.\n\n## Example 1\n<instruction>\n"
        "Create a class `Shelf` holding books; `add(title)` and `titles()` return them sorted."
        "\n</instruction>\n\n<response>\nKeep a private list and sort on read.\n\n```python\n"
        "class Shelf:\n    def __init__(self):\n        self._books = []\n    def add(self, "
        "title):\n        self._books.append(title)\n    def titles(self):\n        return "
        "sorted(self._books)\n```\n</response>\n\n<tests>\n```python\ns = Shelf(); s.add(\"b\");"
        " s.add(\"a\")\nassert s.titles() == [\"a\", \"b\"]\n```\n</tests>\n\n## Example 2\n"
        "<instruction>\nDo X.\n</instruction>\n\n<response>")


@pytest.mark.parametrize("library", ["own", "builtin"])
def test_every_stage_prompt_matches_an_independent_rendering(library: str) -> None:
    lib = own_library() if library == "own" else load_library()
    rng = random.Random(7)
    backend = FakeBackend()
    for trial in range(40):
        k = rng.randint(1, len(lib.examples))
        shots = rng.sample(list(lib.examples), k)
        seed_code = f"def f{trial}(x):\n    return x * {trial}\n"
        concepts = Concepts(backend, SamplingParams(), seed=1, shots=k, library=lib)
        got = concepts.render_prompt({"id": f"s{trial}", "code": seed_code}, shots)
        assert got == _reference_render(lib, "S->C", shots, {"snippet": seed_code})
        instructions = Instructions(backend, SamplingParams(), seed=1, shots=k, library=lib)
        record = {"id": f"c{trial}", "concepts": "loops,  sets ,recursion"}
        got = instructions.render_prompt(record, shots)
        meta = instructions.query(record, item_rng(1, f"c{trial}"))[1]
        words = {"function": "function implementation", "class": "class implementation",
                 "program": "program implementation"}[meta["category"]]
        prop = (f"category: {words}\nlanguage: Python\ndifficulty: {meta['difficulty']}\n"
                f"concepts: loops, sets, recursion")
        assert got == _reference_render(lib, "C->I", shots, {"property": prop})
        responses = Responses(backend, SamplingParams(), seed=1, shots=k, library=lib)
        instruction = f"Write g{trial}.\n\nIt returns {trial}."
        got = responses.render_prompt({"id": f"i{trial}", "instruction": instruction}, shots)
        assert got == _reference_render(lib, "I->R", shots, {"instruction": instruction})
        assert got.endswith("</instruction>\n\n<response>")


def test_category_weights_are_two_one_one_and_difficulty_uniform() -> None:
    stage = Instructions(FakeBackend(), SamplingParams(), seed=3407, shots=2)
    drawn = [stage.query({"id": f"c{i}", "concepts": "x"}, item_rng(3407, f"c{i}"))[1]
             for i in range(4000)]
    share = {c: sum(m["category"] == c for m in drawn) / 4000 for c in ("function", "class",
                                                                        "program")}
    assert abs(share["function"] - 0.5) < 0.04 and abs(share["class"] - 0.25) < 0.04
    assert abs(share["program"] - 0.25) < 0.04
    for level in ("easy", "medium", "hard"):
        assert abs(sum(m["difficulty"] == level for m in drawn) / 4000 - 1 / 3) < 0.04


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("### System: S->I\nWrite a task inspired by the snippet.\n", ""),
     r"missing system section\(s\) ### System: S->I"),
    (lambda t: t.replace("[Property]\ncategory: class", "[Properties]\ncategory: class"),
     r"example 2: expected sections \[Code\], \[Property\], .* found \[Code\], \[Instruction\]"),
    (lambda t: t.replace("[Tests]\nTwo carts", "[Test]\nTwo carts"),
     r"example 1: expected sections .* found \[Code\], \[Property\], \[Instruction\], "
     r"\[Response\]$"),
    (lambda t: t.replace("difficulty: medium", "level: medium"),
     r"example 2: section \[Property\]: expected 'key: value' lines .* got 'level: medium'"),
    (lambda t: t.replace("language: Python\ndifficulty: easy\n", "language: Python\n"),
     r"example 1: section \[Property\]: missing difficulty"),
    (lambda t: t.replace("Keep a private list and sort on read.\n\n```python\nclass Shelf:\n"
                         "    def __init__(self):\n        self._books = []\n    def add(self, "
                         "title):\n        self._books.append(title)\n    def titles(self):\n"
                         "        return sorted(self._books)\n```\n", ""),
     r"example 2: section \[Response\] is empty"),
    (lambda t: t.split("### Example 1")[0], r"no '### Example N' section"),
    (lambda t: "Intro text\n" + t, r"text before the first '### System:' heading"),
    (lambda t: t.replace("### System: C->I", "### System: I->R"), r"appears twice"),
    (lambda t: t.replace("[Instruction]\nWrite `cart_total", "[Response]\nWrite `cart_total"),
     r"example 1: expected sections"),
])
def test_a_malformed_file_names_the_example_and_section(edit: Any, message: str) -> None:
    with pytest.raises(FewshotError, match=message):
        parse_library(edit(OWN_FILE), "own.txt")


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FewshotError, match="cannot read the few-shot file"):
        load_library(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("### System: I->R\ncaf\xe9".encode("latin-1"))
    with pytest.raises(FewshotError, match="cannot read the few-shot file"):
        load_library(bad)


# -- `selfcodealign prompt` ---------------------------------------------------------------------


class Recorder(FakeBackend):
    def __init__(self) -> None:
        super().__init__(default="x")
        self.prompts: list[str] = []

    def generate(self, prompts: Any, params: Any, seeds: Any = None) -> Any:
        self.prompts += list(prompts)
        return [[Completion("loops, sets", "stop")] for _ in prompts]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.mark.parametrize("stage", ["concepts", "instructions", "responses"])
def test_prompt_command_prints_exactly_what_the_stage_sends(stage: str, tmp_path: Path,
                                                            run_cli: Any) -> None:
    library = tmp_path / "lib.txt"
    library.write_text(OWN_FILE)
    rows = [{"id": f"r{i}", "code": f"def f{i}(a):\n    return a\n", "concepts": "loops, sets",
             "instruction": f"Task number {i}."} for i in range(5)]
    data = _write(tmp_path / "in.jsonl", rows)
    out = run_cli("prompt", stage, "--input", str(data), "--index", "3", "--fewshot",
                  str(library), "--set", f"{stage}.shots=2")
    assert out.code == 0, out.err
    # What the stage itself sends for record 3 (its own per-item choice of shots).
    cls = {"concepts": Concepts, "instructions": Instructions, "responses": Responses}[stage]
    recorder = Recorder()
    real = cls(recorder, SamplingParams(), seed=3407, shots=2, library=load_library(library))
    real.process(rows)
    assert out.out == recorder.prompts[3]  # one shot group: sent in input order
    assert not out.out.endswith("\n")  # nothing added
    chosen = run_cli("prompt", stage, "--input", str(data), "--shots", "2,1", "--fewshot",
                     str(library))
    assert chosen.code == 0, chosen.err
    headed = re.findall(r"^## Example \d+$", chosen.out, flags=re.M)
    assert headed == ["## Example 1", "## Example 2", "## Example 3"]
    first_shot = chosen.out[chosen.out.index("## Example 1"):chosen.out.index("## Example 2")]
    assert ("class Box" if stage == "concepts" else "Shelf") in first_shot


def test_prompt_command_errors_are_one_line(tmp_path: Path, run_cli: Any) -> None:
    data = _write(tmp_path / "in.jsonl", [{"id": "a", "instruction": "x"}])
    bad = tmp_path / "bad.txt"
    bad.write_text(OWN_FILE.replace("[Tests]\nTwo", "[Tezts]\nTwo"))
    for args, message in [
        (["--shots", "99"], "shot 99 is not in the library"),
        (["--index", "4"], "has 1 record(s)"),
        (["--shots", "a,b"], "1-based positions"),
        (["--fewshot", str(bad)], "example 1: expected sections"),
    ]:
        out = run_cli("prompt", "responses", "--input", str(data), *args)
        assert out.code == 1 and message in out.err and out.err.count("\n") == 1, out.err
        assert out.out == ""


# -- the built-in library's shape ------------------------------------------------------------


def test_wrapped_paragraph_detection() -> None:
    assert wrapped_paragraphs("One line.\n\nAnother line.") == 0
    assert wrapped_paragraphs("A paragraph that goes\non over two lines.") == 1
    assert wrapped_paragraphs("Steps:\n\n1. one\n2. two\n\n```python\nx = 1\ny = 2\n```") == 0


# The paper's library, measured the same way (medians per example over its 21 examples): facts
# to match, so that a base model imitating the shots writes the paper's kind of data.
PAPER = {"instruction_words": 68, "response_prose_words": 101, "response_code_lines": 15,
         "test_code_lines": 9, "concepts": 3}
PAPER_COUNTS = {"unittest_examples": 1, "hard": 1, "medium": 11, "easy": 9, "function": 15,
                "program": 4, "class": 2}


def test_builtin_library_has_the_papers_shape() -> None:
    stats = library_stats(load_library())
    for name, target in PAPER.items():
        got = stats.medians[name]
        limit = 2 if name == "concepts" else 0.25 * target
        assert abs(got - target) <= limit, (name, got, target)
    counts = {"unittest_examples": stats.unittest_examples, **stats.difficulties,
              **stats.categories}
    for name, target in PAPER_COUNTS.items():
        assert abs(counts.get(name, 0) - target) <= 2, (name, counts.get(name, 0), target)
    for example in stats.examples:  # prose is one paragraph per line, as the paper's
        assert example.wrapped_paragraphs == 0, example.id
        assert example.python_blocks_in_response == 1, example.id
    assert stats.medians["prose_line_chars"] > 150  # unwrapped paragraphs are long lines


# -- the built-in library's seeds exhibit their concepts ---------------------------------------
# S->C shows a shot's [Code] and then its concepts: a concept the snippet does not exhibit
# teaches the model to invent concepts. Per example and concept, text its [Code] must contain.
SEED_EVIDENCE: dict[int, dict[str, tuple[str, ...]]] = {
    1: {"regular expression substitution": ("re.sub",),
        "set membership for uniqueness": ("in taken", "taken.add"),
        "numeric suffix probing": ("while candidate in", "n += 1")},
    2: {"datetime arithmetic with timedelta": ("timedelta(",),
        "calendar month boundaries": ("day=1", "month == 12"),
        "interval splitting loop": ("while cursor <", "cursor = last")},
    3: {"per-key deque of timestamps": ("defaultdict(deque)", ".append(self.clock())"),
        "sliding time window": ("self.window", "popleft()"),
        "injected clock values": ("clock=", "self.clock()")},
    4: {"sorting and slicing": ("sorted(", "[warmup:]"),
        "input validation with exceptions": ("raise ValueError",),
        "accurate floating-point summation": ("math.fsum",)},
    5: {"frequency counting with a counter": ("Counter()", "most_common"),
        "defensive parsing of log lines": ("len(fields) <", "malformed += 1"),
        "exit codes for a command-line tool": ("return 1", "return 0", "sys.exit(")},
    6: {"recursive dictionary traversal": ("isinstance(node[key], dict)", "_apply_env(node[key]"),
        "deep copying to avoid aliasing": ("copy.deepcopy",),
        "sentinel values for deletion": ("UNSET", "del node[key]")},
    7: {"string partitioning": (".partition(",),
        "character class checks": (".isdigit()", ".isalnum()"),
        "early returns for validation": ("return None",)},
    8: {"quotient and remainder arithmetic": ("divmod(",),
        "contiguous list slicing": ("rows[start:start + per_page]",),
        "materialising a one-shot iterable": ("list(rows)",)},
    9: {"line-oriented input parsing": ("for line in stream", "line.split()"),
        "proportional scaling": ("done / total", "fraction * width"),
        "fixed-width text formatting": (":<20", ":4.0%")},
    10: {"dynamic programming over sorted intervals": ("sorted(spans", "best[i + 1] = max("),
         "binary search for compatible predecessors": ("bisect_right(",),
         "solution reconstruction by backtracking": ("while i > 0", "i = previous[", "[::-1]")},
    11: {"grouping consecutive equal items": ("groupby(",),
         "regular expression tokenizing": ("re.compile", ".finditer("),
         "round-trip encoding": ("def format_pages", "def parse_pages")},
    12: {"generator functions": ("yield",),
         "accumulating a running total": ("consumed += len(chunk)",),
         "eager argument validation": ("raise ValueError", "return _records(")},
    13: {"command-line exit codes": ("status = 1", "return status"),
         "streaming file hashing": ("hashlib.", ".update(block)", "fh.read("),
         "per-item error handling": ("except OSError", "continue")},
    14: {"coordinate unzipping": ("zip(*viewport)",),
         "floor and ceiling snapping": ("math.floor(", "math.ceil("),
         "argument validation": ("raise ValueError",)},
    15: {"string partitioning": (".partition(",),
         "input validation with exceptions": ("raise ValueError",),
         "range clamping": ("min(max(",)},
    16: {"instance state": ("self.in_use",),
         "guard clauses": ("if self.in_use >= self.limit:", "return False"),
         "raising exceptions on invalid operations": ("raise RuntimeError",)},
    17: {"frequency counting": ("Counter(",),
         "set deduplication": ("set(",),
         "sorting with a composite key": ("sorted(", "(-item[1], item[0])")},
    18: {"grouping with defaultdict": ("defaultdict(list)",),
         "sorting tuples by start time": ("(start, end, name)", "entries.sort()"),
         "sweep line over intervals": ("heapq.heappop", "heapq.heappush")},
    19: {"splitting delimited text": ('.split(":")',),
         "column width computation": ("widths = [max(len(",),
         "string padding": (".ljust(",)},
    20: {"exact rational arithmetic": ("Fraction(",),
         "largest remainder rounding": ("100 - sum(floors)", "floors[i] += 1"),
         "sorting indices by key": ("sorted(range(",)},
    21: {"bit shifting and masking": (">> 11", "& 0x1F"),
         "lookup tables": ("_EXPAND5[", "_EXPAND6["),
         "input normalisation": (".lower()", "min(max(")},
}


def test_builtin_snippets_parse_as_python() -> None:
    for example in load_library().examples:
        try:
            ast.parse(textwrap.dedent(example.snippet))
        except SyntaxError as exc:
            raise AssertionError(f"{example.id}: [Code] is not valid Python: {exc}") from None


def test_builtin_snippets_exhibit_their_concepts() -> None:
    examples = load_library().examples
    assert sorted(SEED_EVIDENCE) == [example.index for example in examples]
    for example in examples:
        evidence = SEED_EVIDENCE[example.index]
        assert tuple(evidence) == example.concepts, example.id
        for concept, needles in evidence.items():
            missing = [needle for needle in needles if needle not in example.snippet]
            assert not missing, (example.id, concept, missing)
