"""The seed filters of the method (docs/method.md, "Stage 0"), each a named drop reason.

Cheap checks run first: docstring, length, arguments, a returned value, banned words (whole
words of the lower-cased code: `bug` drops "a bug" but not "debug"), banned imports (by exact
module name: `from osgeo import gdal` is not `os`), relative imports, a syntax check of the
standalone snippet, and unbound names. With import inference on, a name that is a standard
library module (`math`), a common alias (`np`, `pd`) or a `typing` name (`List`) gets its import
added instead of dropping the seed.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import sys
from collections.abc import Iterable

from selfcodealign.codeblocks import parse_python
from selfcodealign.seeds.extract import Function

ALIASES = {"np": "import numpy as np", "pd": "import pandas as pd", "plt":
           "import matplotlib.pyplot as plt", "tf": "import tensorflow as tf", "nx":
           "import networkx as nx", "sp": "import scipy as sp"}
TYPING_NAMES = {"Any", "Callable", "Dict", "Iterable", "Iterator", "List", "Mapping", "Optional",
                "Sequence", "Set", "Tuple", "Type", "TypeVar", "Union", "Generator", "Deque",
                "DefaultDict", "FrozenSet", "Hashable", "Literal", "NamedTuple", "Protocol"}
_BUILTINS = set(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__package__"}


def banned_word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    words = [re.escape(w.lower()) for w in words if w]
    return re.compile(r"\b(" + "|".join(words) + r")\b") if words else None


def _module_of(line: str) -> str:
    parts = line.split()
    return parts[1].split(".")[0] if len(parts) > 1 else ""


def _local_imports(source: str) -> list[str]:
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module.split(".")[0])
    return found


def unbound_names(code: str) -> set[str]:
    """Names the snippet reads but never binds (module level, builtins excluded)."""
    table = symtable.symtable(code, "seed", "exec")
    module_names = {s.get_name() for s in table.get_symbols()
                    if s.is_assigned() or s.is_imported() or s.is_parameter()}
    free: set[str] = set()
    stack = list(table.get_children())
    while stack:
        scope = stack.pop()
        stack.extend(scope.get_children())
        for symbol in scope.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                free.add(symbol.get_name())
    for symbol in table.get_symbols():  # module-level reads (decorators, defaults)
        if symbol.is_referenced() and not symbol.is_assigned() and not symbol.is_imported():
            free.add(symbol.get_name())
    return {n for n in free if n not in module_names and n not in _BUILTINS}


def infer_import(name: str) -> str | None:
    if name in ALIASES:
        return ALIASES[name]
    if name in TYPING_NAMES:
        return f"from typing import {name}"
    if name in sys.stdlib_module_names and not name.startswith("_"):
        return f"import {name}"
    return None


def check(fn: Function, *, max_lines: int, min_args: int, banned_words: re.Pattern[str] | None,
          banned_imports: set[str], infer_imports: bool) -> tuple[str | None, str]:
    """(None, "") to keep `fn` (possibly with inferred imports added), else (reason, detail)."""
    if not fn.docstring or not fn.docstring.strip():
        return "no_docstring", ""
    if fn.lines > max_lines:
        return "too_long", f"{fn.lines} lines"
    if fn.n_args < min_args:
        return "no_arguments", ""
    if not fn.returns_value:
        return "no_return_value", ""
    if banned_words is not None and (hit := banned_words.search(fn.source.lower())):
        return "banned_word", hit.group(1)
    modules = [_module_of(line) for line in fn.imports] + _local_imports(fn.source)
    if hit_import := next((m for m in modules if m in banned_imports), None):
        return "banned_import", hit_import
    if fn.relative_import:
        return "relative_import", ""
    try:
        missing = unbound_names(fn.code)
    except (SyntaxError, ValueError) as exc:
        return "syntax_error", str(exc)[:200]
    if missing:
        inferred = {name: infer_import(name) if infer_imports else None for name in missing}
        unknown = sorted(n for n, line in inferred.items() if line is None)
        if unknown:
            return "unbound_name", ", ".join(unknown[:5])
        fn.imports = sorted({*fn.imports, *(line for line in inferred.values() if line)})
        if hit_import := next((m for m in (_module_of(x) for x in fn.imports)
                               if m in banned_imports), None):
            return "banned_import", hit_import
    return None, ""
