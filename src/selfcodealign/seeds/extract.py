"""Extracting candidate seed functions from one source file with `ast`.

For each top-level function (`def` or `async def`; methods too when asked) this keeps the exact
source slice (decorators included, dedented for methods), the docstring in either quote style,
the facts the filters need (arguments, a `return <value>`, length), and the module's imports
that the function uses, rewritten to import just the names it uses. The seed's `code` is those
imports followed by the function: a snippet that stands on its own.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

from selfcodealign.codeblocks import parse_python


@dataclass
class Function:
    name: str
    qualname: str
    lineno: int
    source: str  # the exact slice, dedented
    docstring: str | None
    n_args: int
    returns_value: bool
    lines: int
    is_async: bool
    is_method: bool
    imports: list[str] = field(default_factory=list)
    relative_import: bool = False

    @property
    def code(self) -> str:
        head = "\n".join(self.imports)
        return f"{head}\n\n\n{self.source}" if head else self.source


def _bindings(tree: ast.Module) -> dict[str, tuple[str, bool]]:
    """Module-level import bindings: bound name -> (import line for it alone, is relative)."""
    found: dict[str, tuple[str, bool]] = {}
    nodes: list[ast.stmt] = list(tree.body)
    while nodes:  # imports nested in top-level try/if blocks count too
        node = nodes.pop(0)
        if isinstance(node, ast.Try | ast.If):
            nodes.extend(node.body)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                found.setdefault(bound, (line, False))
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    continue
                bound = alias.asname or alias.name
                line = f"from {module} import {alias.name}" + (
                    f" as {alias.asname}" if alias.asname else "")
                found.setdefault(bound, (line, node.level > 0))
    return found


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _returns_value(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    stack: list[ast.AST] = list(node.body)
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Return) and item.value is not None and not (
                isinstance(item.value, ast.Constant) and item.value.value is None):
            return True
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue  # a nested scope's return is not this function's
        stack.extend(ast.iter_child_nodes(item))
    return False


def _n_args(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> int:
    a = node.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    if is_method and names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (a.vararg is not None) + (a.kwarg is not None)


def _candidates(tree: ast.Module, methods: bool
                ) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, bool]]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((node, node.name, False))
        elif methods and isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found.append((item, f"{node.name}.{item.name}", True))
    return found


def extract(text: str, *, methods: bool = False) -> list[Function]:
    """Candidate functions of one module; raises SyntaxError/ValueError if it does not parse."""
    tree = parse_python(text)
    lines = text.splitlines(keepends=True)
    bindings = _bindings(tree)
    functions = []
    for node, qualname, is_method in _candidates(tree, methods):
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        source = textwrap.dedent("".join(lines[start - 1:end])).rstrip() + "\n"
        used = _used_names(node)
        imports = [bindings[name] for name in sorted(used) if name in bindings]
        functions.append(Function(
            name=node.name, qualname=qualname, lineno=start, source=source,
            docstring=ast.get_docstring(node, clean=False), n_args=_n_args(node, is_method),
            returns_value=_returns_value(node), lines=end - start + 1,
            is_async=isinstance(node, ast.AsyncFunctionDef), is_method=is_method,
            imports=sorted({line for line, _ in imports}),
            relative_import=any(relative for _, relative in imports),
        ))
    return functions
