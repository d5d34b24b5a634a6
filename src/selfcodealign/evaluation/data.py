"""HumanEval+ and MBPP+ problems as EvalPlus reads them.

The release files are JSON, which has no tuples, sets or complex numbers, so EvalPlus rebuilds
the argument types of some MBPP+ tasks when it loads them; `problems()` does the same for the
same tasks (the tests check the result against each task's contract). The dataset's identity
is the MD5 of its file, as in EvalPlus results (`hash`), plus the release version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfcodealign import benchmarks
from selfcodealign.errors import InputError

Args = list[Any]


def _tuples(args: Args) -> Args:
    return [tuple(a) for a in args]


def _nested(args: Args) -> Args:
    return [[tuple(x) for x in a] for a in args]


def _deep(value: Any) -> Any:
    return tuple(_deep(v) for v in value) if isinstance(value, list) else value


def _first(convert: Callable[[Any], Any]) -> Callable[[Args], Args]:
    return lambda args: [convert(args[0]), *args[1:]]


# MBPP+ task number -> how its JSON arguments become the Python values EvalPlus passes.
_SHAPES: dict[int, Callable[[Args], Args]] = {}
for _n in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616,
           630, 726, 740, 744, 809):
    _SHAPES[_n] = _tuples
for _n in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
    _SHAPES[_n] = _nested
for _n in (75, 413, 444, 753):
    _SHAPES[_n] = _first(lambda a: [tuple(x) for x in a])
for _n in (250, 405, 446, 617, 720, 763, 808, 307):
    _SHAPES[_n] = _first(tuple)
for _n in (259, 401, 445):
    _SHAPES[_n] = lambda args: [tuple(tuple(x) for x in a) for a in args]
for _n in (580, 615, 791):
    _SHAPES[_n] = lambda args: list(_deep(args))
_SHAPES[106] = _SHAPES[750] = lambda args: [args[0], tuple(args[1]), *args[2:]]
# EvalPlus turns an empty list into `{}` here (an empty dict), and so does this
_SHAPES[115] = _first(lambda a: [set(x) if isinstance(x, list) and x else {} for x in a])
_SHAPES[124] = lambda args: [float(args[0]), complex(args[1])]
_SHAPES[252] = lambda args: [complex(args[0])]
_SHAPES[278] = lambda args: [tuple(tuple(x) if isinstance(x, list) else x for x in args[0])]
_SHAPES[722] = _first(lambda d: {k: tuple(v) for k, v in d.items()})


def mbpp_arguments(task_id: str, inputs: list[Args]) -> list[Args]:
    """The argument lists of an MBPP+ task with tuples, sets and complex numbers rebuilt."""
    shape = _SHAPES.get(int(task_id.rsplit("/", 1)[-1]))
    return [shape(list(args)) for args in inputs] if shape else inputs


@dataclass
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    base_input: list[Args]
    plus_input: list[Args]
    atol: float
    contract: str = ""
    assertion: str = ""

    @property
    def reference(self) -> str:
        """The canonical program, as EvalPlus runs it: prompt + canonical solution."""
        return self.prompt + self.canonical_solution


@dataclass
class Dataset:
    name: str  # humaneval or mbpp
    path: Path
    md5: str
    version: str
    problems: dict[str, Problem]


def load_dataset(name: str, folder: str | Path | None = None) -> Dataset:
    """HumanEval+ or MBPP+ from `folder`, $SELFCODEALIGN_BENCHMARKS, the cache, or the
    EvalPlus release (downloaded when online)."""
    if name not in benchmarks.RELEASES:
        raise InputError(f"unknown benchmark {name!r}; choose humaneval or mbpp")
    path = benchmarks.locate(name, folder)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    problems: dict[str, Problem] = {}
    for row in benchmarks.load(str(path)):
        try:
            task_id = str(row["task_id"])
            base, plus = list(row["base_input"]), list(row["plus_input"])
            if name == "mbpp":
                base, plus = mbpp_arguments(task_id, base), mbpp_arguments(task_id, plus)
            problems[task_id] = Problem(
                task_id, str(row["prompt"]), str(row["entry_point"]),
                str(row["canonical_solution"]), base, plus, float(row.get("atol") or 0),
                str(row.get("contract") or ""), str(row.get("assertion") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: task {row.get('task_id')!r} is not in EvalPlus format "
                             f"({type(exc).__name__}: {exc})") from None
    if not problems:
        raise InputError(f"{path} holds no tasks")
    return Dataset(name, path, md5, benchmarks.version_of(name, path), problems)
