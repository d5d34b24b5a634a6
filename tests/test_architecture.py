"""The package's shape: no import cycles between its packages, and the layering rules of
ARCHITECTURE.md (which package may import which), checked on the source with `ast`.

Imports inside `if TYPE_CHECKING:` are for annotations only and do not count; imports inside
functions (lazy imports) do.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import selfcodealign

PACKAGE = Path(selfcodealign.__file__).parent

# Packages that hold a stage's library code: they take what they need as arguments and never
# reach up to the steps that wire them, the pipeline, the CLI or the executor.
LIBRARY = ("seeds", "generation", "selection", "execution", "evaluation", "overlap", "prompts",
           "backends", "store", "config", "runner", "records", "codeblocks")
ABOVE_LIBRARY = ("steps", "pipeline", "cli", "executor", "distributed", "report")


def _unit(module: str) -> str:
    """`selfcodealign.seeds.stage` -> `seeds`; `selfcodealign.runner` -> `runner`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(inner) for inner in ast.walk(node))
    return skip


def imports() -> dict[str, set[tuple[str, str]]]:
    """unit -> {(imported unit, importing file)} for every runtime import in the package."""
    edges: dict[str, set[tuple[str, str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        source = _unit(".".join(rel.parts))
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = ([f"selfcodealign.{a.name}" for a in node.names]
                         if node.module == "selfcodealign" else [node.module])
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("selfcodealign.") and _unit(name) != source:
                    edges.setdefault(source, set()).add((_unit(name), str(rel)))
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_packages() -> None:
    graph = {unit: {dst for dst, _ in deps} for unit, deps in imports().items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_library_packages_never_import_the_layers_above() -> None:
    wrong = sorted((f, dst) for unit, deps in imports().items() if unit in LIBRARY
                   for dst, f in deps if dst in ABOVE_LIBRARY)
    assert wrong == []


def test_only_the_executor_reaches_ray() -> None:
    """`distributed/` is the Ray executor's implementation: only `executor.py` imports it, and
    it imports no stage's internals (only the runner's interfaces and lower layers)."""
    edges = imports()
    users = sorted(f for unit, deps in edges.items() for dst, f in deps
                   if dst == "distributed" and unit != "executor")
    assert users == []
    stage_internals = {"seeds", "generation", "selection", "evaluation", "training", "steps",
                       "pipeline", "cli", "report"}
    assert sorted(dst for dst, _ in edges.get("distributed", set())
                  if dst in stage_internals) == []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "distributed" or path == PACKAGE / "executor.py":
            continue
        text = path.read_text()
        assert "executor.name ==" not in text, path
        assert not re.search(r"^\s*(import ray|from ray)\b", text, re.M), path
        assert 'require("ray"' not in text, path


def test_the_store_takes_paths_not_the_config() -> None:
    """`store/` gets a path, a stage's fingerprint and its options; `stageio.py` makes those
    from the config."""
    deps = {dst for dst, _ in imports().get("store", set())}
    assert deps <= {"errors", "records", "processes", "__version__"}, deps


def test_modules_stay_small() -> None:
    """About 400 lines at most: a module a newcomer reads in one sitting."""
    long = sorted((len(p.read_text().splitlines()), str(p.relative_to(PACKAGE)))
                  for p in PACKAGE.rglob("*.py") if len(p.read_text().splitlines()) > 480)
    assert long == []
