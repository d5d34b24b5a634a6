"""Program assembly, assert instrumentation, equality checks and oracle mode, without running
anything."""

from __future__ import annotations

import ast
import collections
import decimal
import math
from pathlib import Path
from unittest import mock

import pytest

from selfcodealign.codeblocks import solution_code
from selfcodealign.execution import Program, assemble, python_blocks
from selfcodealign.execution.equality import lies
from selfcodealign.execution.instrument import instrument_tests
from selfcodealign.execution.oracle import Opaque, decode, encode, extract_calls, judge


def test_python_blocks_rules() -> None:
    md = "Text\n```python\na = 1\n```\nmore\n```py\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(md) == ["a = 1\n", "b = 2\n"]
    assert python_blocks("```\nc = 3\n```\n```\nnot python (\n```") == ["c = 3\n"]
    assert python_blocks("def f():\n    return 1\n") == ["def f():\n    return 1\n"]
    assert python_blocks("Just prose, no code.") == []
    assert python_blocks("```Python3\nd = 4\n```") == ["d = 4\n"]


@pytest.mark.parametrize(("text", "blocks"), [
    ("```py3\nx = 1\n```", ["x = 1\n"]),
    ("Here:\n```python\ndef f():\n    return 1\n", ["def f():\n    return 1\n"]),  # open
    ("1. Code:\n   ```python\n   x = 1\n   y = 2\n   ```\n", ["x = 1\ny = 2\n"]),
    ("~~~python\nz = 3\n~~~\n", ["z = 3\n"]),
    ("````python\ns = '```'\n````\n", ["s = '```'\n"]),
    ("```{.python}\na = 1\n```", ["a = 1\n"]),
    ("```python title=\"x.py\"\nb = 2\n```", ["b = 2\n"]),
    ("```text\nnot code\n```\n```\nc = 3\n```", ["c = 3\n"]),
])
def test_one_fence_parser_for_every_stage(text: str, blocks: list[str]) -> None:
    assert python_blocks(text) == blocks
    # evaluation reads answers with the same parser
    assert solution_code(text, "f").strip() == blocks[0].strip()


def test_assembly_keeps_definitions_and_drops_examples() -> None:
    record = {
        "response": "```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n"
                    "\nr = float(input())\nprint(area(r))\n```\nExample:\n```python\n"
                    "print(area(2))\n```\n",
        "tests": "```python\nassert area(1) == math.pi\n```",
    }
    program = assemble(record)
    assert isinstance(program, Program)
    assert "def area" in program.code and "input()" not in program.code
    assert "print(area(2))" not in program.code  # the usage example is left out
    assert program.tests == "assert area(1) == math.pi\n"


@pytest.mark.parametrize(("record", "reason"), [
    ({"tests": "assert 1"}, "missing_response"),
    ({"response": "```python\nx = 1\n```"}, "missing_tests"),
    ({"response": "Sorry, I cannot.", "tests": "assert 1 == 1"}, "no_code_in_response"),
    ({"response": "```python\nprint(1)\n```", "tests": "assert 1 == 1"}, "no_code_in_response"),
    ({"response": "```python\nx = 1\n```", "tests": "It works, trust me."}, "no_code_in_tests"),
])
def test_assembly_reasons(record: dict[str, str], reason: str) -> None:
    assert assemble(record) == reason


def _checked(tests: str) -> str:
    """The instrumented form of a test line, as source."""
    return ast.unparse(instrument_tests(ast.parse(tests)))


@pytest.mark.parametrize(("tests", "expected"), [
    ("assert True", "pass"),
    ("assert 1 == 1, 'fine'", "pass"),
    ("assert False, 'unreachable'", "__sca_fail__(1, 'unreachable')"),
    ("assert (f() == 1, 'msg')", "if __sca_equal__(f(), 1):"),
    ("assert f() == 1 or True", "if __sca_equal__(f(), 1):"),
    ("assert f() == 1 or 'msg'", "if __sca_equal__(f(), 1):"),
    ("assert f() == 1 or g()", "if __sca_equal__(f(), 1) or g():"),
    ("assert not g(), 'message'", "__sca_fail__(1, 'message')"),
])
def test_asserts_check_what_they_mean(tests: str, expected: str) -> None:
    assert expected in _checked(tests)


class _Liar:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


class _LyingStr(str):
    def __eq__(self, other: object) -> bool:
        return other == "expected"

    __hash__ = str.__hash__


@pytest.mark.parametrize(("left", "right"), [
    (_Liar(), 3), ([1, _Liar()], [1, 2]), ({"a": _Liar()}, {"a": 1}), ((_Liar(),), (5,)),
    (_LyingStr("actual"), "expected"), ([[1, [_Liar()]]], [[1, [9]]]),
])
def test_equality_that_lies_is_caught(left: object, right: object) -> None:
    assert left == right and lies(left, right)


@pytest.mark.parametrize(("left", "right"), [
    (1, 1.0), ([1, 2], [1, 2]), ({"a": (1, 2)}, {"a": (1, 2)}), ({1, 2}, {2, 1}),
    (collections.namedtuple("P", "x y")(1, 2), (1, 2)), (mock.ANY, 5), ([mock.ANY, 2], [1, 2]),
    (pytest.approx(0.3), 0.1 + 0.2), (decimal.Decimal("1.5"), 1.5),
])
def test_honest_equality_is_believed(left: object, right: object) -> None:
    assert left == right and not lies(left, right)


def test_oracle_extracts_only_literal_calls() -> None:
    calls = extract_calls("import math\nassert f(1, [2, 3], k='x') == {'a': (1, 2)}\n"
                          "assert -1 == mod.g(-1)\n")
    assert calls == [("f(1, [2, 3], k='x')", {"a": (1, 2)}), ("mod.g(-1)", -1)]
    for not_oracle in ("assert f(x) == 1", "assert f(1) == y", "assert f(1) != 2",
                       "assert f(1)", "x = 1\nassert f(1) == 1", "assert f(1) == 1 == 1",
                       "assert f()(1) == 1", ""):
        assert extract_calls(not_oracle) is None, not_oracle


def test_oracle_encoding_round_trips_plain_values() -> None:
    values = [None, True, 3, -(10 ** 30), 1.5, math.inf, 2 + 3j, "é", b"\x00\xff", (1, [2]),
              {"k": {1, 2}}, frozenset({"a"}), [(), {}, set()]]
    for value in values:
        assert decode(encode(value)) == value
    assert isinstance(decode(encode(object())), Opaque)
    assert math.isnan(decode(encode(float("nan"))))


def test_oracle_reads_subclasses_through_their_base_type() -> None:
    class Sneaky(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

        def __repr__(self) -> str:
            return "999"

    assert decode(encode(Sneaky(5))) == 5  # the value, not the object's own claims


def test_judge() -> None:
    calls = [("f(1)", 2), ("f(2)", 3)]
    assert judge([encode(2), encode(3)], calls) == ("passed", "", 2)
    status, detail, checked = judge([encode(2), encode(4)], calls)
    assert (status, checked) == ("failed", 2) and "f(2) returned 4, expected 3" in detail
    assert judge([encode(2), {"raised": "ValueError: x"}], calls)[0] == "error"
    assert judge([encode(2)], calls)[0] == "error"
    assert judge([["zz", 1], encode(3)], calls)[0] == "tamper"


def test_a_zygote_that_dies_at_start_says_why(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Under `python -I` a zygote sees only site-packages: a dependency installed elsewhere
    (PYTHONPATH, --target) kills it at start, and the error must say which import failed."""
    from selfcodealign.execution import sandbox

    monkeypatch.setattr(sandbox, "_BOOT", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                                          "import a_dependency_missing_under_isolation")
    with pytest.raises(sandbox._WorkerDied) as caught:
        sandbox._Worker(0, 0, str(tmp_path), None, (), ())
    assert "stopped answering" in str(caught.value)
    assert "No module named 'a_dependency_missing_under_isolation'" in str(caught.value)


def test_a_killed_sandbox_leaves_nothing_for_long(tmp_path: Path) -> None:
    """A SIGKILLed run leaves its sandbox folder in the temp dir; the next sandbox to start
    removes those whose owner is gone (and only those)."""
    import os
    import subprocess
    import sys
    import time as clock

    from selfcodealign.execution.sandbox import OWNER_FILE, WORKDIR_PREFIX, sweep_stale_workdirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / f"{WORKDIR_PREFIX}killed"
    (killed / "job-3").mkdir(parents=True)
    (killed / "job-3" / "left.txt").write_text("x")
    (killed / OWNER_FILE).write_text(str(dead.pid))
    mine = tmp_path / f"{WORKDIR_PREFIX}live"
    mine.mkdir()
    (mine / OWNER_FILE).write_text(str(os.getpid()))
    old = tmp_path / f"{WORKDIR_PREFIX}old-version"
    old.mkdir()
    os.utime(old, (clock.time() - 7200, clock.time() - 7200))
    fresh = tmp_path / f"{WORKDIR_PREFIX}being-made"
    fresh.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    assert sweep_stale_workdirs(str(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, fresh.name, other.name])
