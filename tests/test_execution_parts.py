"""Program assembly, the static test lint and oracle mode, without running anything."""

from __future__ import annotations

import math

import pytest

from selfcodealign.execution import Program, assemble, python_blocks
from selfcodealign.execution.lint import lint_tests
from selfcodealign.execution.oracle import Opaque, decode, encode, extract_calls, judge


def test_python_blocks_rules() -> None:
    md = "Text\n```python\na = 1\n```\nmore\n```py\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(md) == ["a = 1\n", "b = 2\n"]
    assert python_blocks("```\nc = 3\n```\n```\nnot python (\n```") == ["c = 3\n"]
    assert python_blocks("def f():\n    return 1\n") == ["def f():\n    return 1\n"]
    assert python_blocks("Just prose, no code.") == []
    assert python_blocks("```Python3\nd = 4\n```") == ["d = 4\n"]


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


@pytest.mark.parametrize(("tests", "finding"), [
    ("assert (f() == 1, 'msg')", "assert on a tuple"),
    ("assert True", "true constant"),
    ("assert f() == 1 or True", "always true"),
    ("try:\n    assert f() == 1\nexcept AssertionError:\n    pass", "swallowed"),
    ("try:\n    assert f() == 1\nexcept:\n    pass", "swallowed"),
    ("try:\n    assert f() == 1\nexcept (ValueError, Exception):\n    pass", "swallowed"),
    ("import sys\nsys.exit(0)\nassert f() == 1", "sys.exit"),
    ("import os\nos._exit(0)", "os._exit"),
    ("exit()", "exit()"),
    ("import atexit\natexit.register(print)", "atexit.register"),
    ("import sys\nsys.excepthook = print", "replace sys.excepthook"),
])
def test_lint_flags_tests_that_cannot_fail(tests: str, finding: str) -> None:
    findings = lint_tests(tests)
    assert findings and finding in findings[0]


def test_lint_accepts_honest_tests() -> None:
    honest = ("import unittest\nassert f(1) == 2, 'message'\nassert not g()\n"
              "try:\n    f(-1)\n    assert False, 'should raise'\nexcept ValueError:\n    pass\n"
              "class T(unittest.TestCase):\n    def test(self):\n        self.assertTrue(f(1))\n"
              "if __name__ == '__main__':\n    unittest.main()\n")
    assert lint_tests(honest) == []


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
