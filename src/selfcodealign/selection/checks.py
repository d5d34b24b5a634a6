"""Per-sample checks and transformations used by selection.

- `format_problem`: the response has Python code, the tests have Python code with asserts (or a
  unittest run), and the code has no incomplete-code markers (todo, fixme, "your code here",
  NotImplemented, ...).
- `defined_names`: the top-level function and class names a response defines (for the optional
  name diversification).
- `ast_form`: the code's AST with identifiers renamed in order of appearance and docstrings
  dropped, so that renamed or reformatted copies look alike to near-dedup.
- `stub_program`: the response with every function body replaced by `return None`, to see
  whether the tests can tell a right answer from a wrong one.
- `augment`: METHOD.md's test-in-instruction augmentation (1-5 of the sample's asserts appended).
"""

from __future__ import annotations

import ast
import random
import re

from selfcodealign.execution.program import python_blocks

_MARKERS = re.compile(r"\b(todo|fixme)\b|your code here|notimplemented|#\s*implement\b"
                      r"|#\s*fill in\b", re.I)


def code_of(markdown: str) -> str:
    return "\n\n".join(python_blocks(markdown))


def format_problem(response: str, tests: str) -> str | None:
    """None when the sample is well formed, else the reason."""
    code = code_of(response)
    if not code.strip():
        return "no_code_block"
    test_code = code_of(tests)
    if not test_code.strip():
        return "no_test_block"
    if "assert" not in test_code and "unittest" not in test_code:
        return "tests_without_asserts"
    if _MARKERS.search(code):
        return "incomplete_code"
    return None


def defined_names(code: str) -> frozenset[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(n.name for n in tree.body
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))


class _Renamer(ast.NodeTransformer):
    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = self._new(node.attr)
        return node

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                    ) -> ast.AST:
        node.name = self._new(node.name)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    visit_FunctionDef = _definition
    visit_AsyncFunctionDef = _definition
    visit_ClassDef = _definition


def ast_form(code: str) -> str:
    """Identifiers renamed in order of appearance, docstrings and comments gone."""
    try:
        tree = ast.parse(code)
        return ast.unparse(_Renamer().visit(tree))
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(code.split())


class _Stubber(ast.NodeTransformer):
    def __init__(self) -> None:
        self.count = 0

    def _stub(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self.count += 1
        node.body = [ast.Return(value=ast.Constant(value=None))]
        return node

    visit_FunctionDef = _stub
    visit_AsyncFunctionDef = _stub


def stub_program(code: str) -> str | None:
    """`code` with every function body replaced by `return None`; None when it defines none."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    stubber = _Stubber()
    tree = stubber.visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) if stubber.count else None


def assert_lines(tests: str) -> list[str]:
    """Top-level single-line `assert` statements of the tests' code."""
    source = code_of(tests)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = []
    for node in tree.body:
        if isinstance(node, ast.Assert) and node.lineno == node.end_lineno:
            segment = ast.get_source_segment(source, node)
            if segment:
                lines.append(segment)
    return lines


def augment(instruction: str, tests: str, rng: random.Random, p: float) -> tuple[str, int]:
    """With probability p, append 1-5 of the sample's asserts; returns (text, asserts added)."""
    lines = assert_lines(tests)
    if not lines or rng.random() >= p:
        return instruction, 0
    k = rng.randint(1, min(5, len(lines)))
    chosen = [lines[i] for i in sorted(rng.sample(range(len(lines)), k))]
    noun = "assertion" if k == 1 else "assertions"
    block = "\n".join(chosen)
    return (f"{instruction.rstrip()}\n\nYour code should pass the following {noun}:\n"
            f"```python\n{block}\n```"), k
