"""Per-sample checks and transformations used by selection.

- `format_problem`: the response has Python code, the tests have Python code with asserts (or a
  unittest run), and the code has no incomplete-code markers (todo, fixme, "your code here",
  NotImplemented, ...).
- `name_keys`: the function names and the class names a response defines, as the reference keys
  them for name diversification (every definition, nested ones and methods included; `_`
  removed, lower case), or None when the code does not parse.
- `ast_form`: the code's AST with the names it binds itself (parameters, locals, its own
  functions and classes) renamed in order of appearance and docstrings dropped, so renamed or
  reformatted copies look alike to near-dedup; the library functions, modules and attributes it
  uses keep their names (two programs calling different APIs stay apart).
- `stub_program`: the response with every function body replaced by `return None`, to see
  whether the tests can tell a right answer from a wrong one.
- `augment`: docs/method.md's test-in-instruction augmentation (1-5 of the sample's asserts
  appended), guarded as the reference guards it.
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


def name_keys(code: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(function names, class names) of every definition in `code`, `_` removed and lower
    case, as the reference's name diversification keys them; None when `code` does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    functions, classes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.add(node.name.replace("_", "").lower())
        elif isinstance(node, ast.ClassDef):
            classes.add(node.name.replace("_", "").lower())
    return frozenset(functions), frozenset(classes)


_BINDS_NAME = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler,
               ast.MatchAs, ast.MatchStar)


def _bound_names(tree: ast.AST) -> set[str]:
    """The names the code binds itself: parameters, assignment and loop targets, its own
    functions and classes, `as` names, comprehension variables. Imported names are not
    included: they name a library, which the key keeps."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, _BINDS_NAME) and node.name:
            bound.add(str(node.name))
    return bound


class _Renamer(ast.NodeTransformer):
    def __init__(self, bound: set[str]) -> None:
        self.bound = bound
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        if name not in self.bound:
            return name  # a builtin, module or library name: kept
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                    ) -> ast.AST:
        node.name = self._new(node.name)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = _definition
    visit_AsyncFunctionDef = _definition
    visit_ClassDef = _definition


def ast_form(code: str) -> str:
    """The code's own names renamed in order of appearance; library names and attributes
    kept; docstrings, comments, annotations and formatting gone."""
    try:
        tree = ast.parse(code)
        return ast.unparse(_Renamer(_bound_names(tree)).visit(tree))
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


_MENTIONS_TESTS = ("assert", "test", "example")


def augmentable(instruction: str, tests: str, code: str) -> str | None:
    """Why the tests may not be appended to the instruction (None: they may). As the reference
    guards it: every line of the tests' code must be an `assert`, here one that calls a function
    or class the response defines (no setup lines, nothing the instruction does not name), and
    the instruction must not already mention asserts, tests or examples."""
    lowered = instruction.lower()
    if any(word in lowered for word in _MENTIONS_TESTS):
        return "instruction_mentions_tests"
    source = code_of(tests)
    lines = [line for line in source.splitlines() if line.strip()]
    asserts = assert_lines(tests)
    if not lines or len(asserts) != len(lines) or any(
            not line.startswith("assert") for line in lines):
        return "tests_not_only_asserts"
    defined = defined_names(code)
    for line in asserts:
        try:
            called = {n.func.id for n in ast.walk(ast.parse(line)) if isinstance(n, ast.Call)
                      and isinstance(n.func, ast.Name)}
        except (SyntaxError, ValueError, RecursionError):
            return "tests_not_only_asserts"
        if not called & defined:
            return "assert_without_entry_point"
    return None


def augment(instruction: str, tests: str, rng: random.Random, p: float,
            code: str = "") -> tuple[str, int, str | None]:
    """With probability p, append 1-5 of the sample's asserts: (text, asserts added, why not)."""
    why = augmentable(instruction, tests, code)
    if why is not None:
        return instruction, 0, why
    lines = assert_lines(tests)
    if rng.random() >= p:
        return instruction, 0, "not_drawn"
    k = rng.randint(1, min(5, len(lines)))
    chosen = [lines[i] for i in sorted(rng.sample(range(len(lines)), k))]
    noun = "assertion" if k == 1 else "assertions"
    block = "\n".join(chosen)
    return (f"{instruction.rstrip()}\n\nYour code should pass the following {noun}:\n"
            f"```python\n{block}\n```"), k, None
