"""Every drop reason the generation, execute and select stages can give is explained."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import selfcodealign
from selfcodealign.reasons import REASONS, explain

PACKAGE = Path(selfcodealign.__file__).parent
_REASON = re.compile(r"^[a-z]+(?:_[a-z]+)+$|^[a-z]+$")


def _strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple) and node.elts:
        return _strings(node.elts[0])
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def returned_reasons(path: Path, functions: set[str]) -> set[str]:
    """Snake-case strings returned (alone, or first in a tuple) by these functions."""
    found: set[str] = set()
    for func in ast.walk(ast.parse(path.read_text())):
        if isinstance(func, ast.FunctionDef) and func.name in functions:
            for node in ast.walk(func):
                if isinstance(node, ast.Return):
                    found |= {s for s in _strings(node.value) if _REASON.match(s)}
    return found


def test_every_reason_a_stage_returns_is_explained() -> None:
    sources = {
        "generation/stages.py": {"parse"},
        "generation/text.py": {"parse_concepts"},
        "execution/program.py": {"assemble"},
        "selection/stage.py": {"_verdict"},
        "selection/checks.py": {"format_problem"},
    }
    reasons: set[str] = set()
    for name, functions in sources.items():
        reasons |= returned_reasons(PACKAGE / name, functions)
    base = (PACKAGE / "generation/base.py").read_text()
    for literal in ("truncated", "repetition", "no_completion"):
        assert f'"{literal}"' in base
        reasons.add(literal)
    # the collector must see the stages' reasons at all
    assert {"no_response_end", "copied_shot", "no_code_in_tests", "repeated_names",
            "tests_without_asserts"} <= reasons
    missing = sorted(r for r in reasons if r not in REASONS)
    assert not missing, f"reasons without a glossary entry in reasons.py: {missing}"


def test_entries_are_one_line_each() -> None:
    for reason, entry in REASONS.items():
        assert _REASON.match(reason)
        assert entry.meaning and entry.action and "\n" not in entry.meaning + entry.action


def test_explain_ignores_a_prefix() -> None:
    assert explain("status.truncated") == REASONS["truncated"]
    assert explain("no_such_reason") is None
