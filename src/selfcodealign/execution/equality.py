"""Equality that lies: `a == b` said true by an object that would say it to anything.

`equal` replaces `==` inside instrumented asserts, and the assertEqual family re-checks its
operands with `lies`: an operand that says it equals a fresh unrelated object, equality that
holds one way only, a subclass of a builtin type whose `==` disagrees with its base type's, and
the same inside lists, tuples, dicts and sets (up to `_BUDGET` element pairs). unittest.mock's
ANY and call objects are wildcards by design; elementwise results (numpy) are not judged.
"""

from __future__ import annotations

from typing import Any

from selfcodealign.execution.events import report

_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})
_SEQUENCES = (list, tuple)
_BUDGET = 5000  # element pairs examined per comparison


class _Stranger:
    pass


def _is_any(obj: Any) -> bool:
    """unittest.mock's ANY and call objects: wildcards and call records by design."""
    return type(obj).__module__ == "unittest.mock" and type(obj).__name__ in ("_ANY", "_Call")


def _plain_base(kind: type) -> type | None:
    for base in kind.__mro__[1:]:
        if base in _PLAIN or base in (list, tuple, dict, set, frozenset):
            return base
    return None


def _claims_anything(obj: Any) -> bool:
    try:
        claim = obj == _Stranger()
        return not _rich(claim) and bool(claim)
    except Exception:  # arrays and the like compare elementwise; not a lie
        return False


def _one_way(left: Any, right: Any) -> bool:
    try:
        back = right == left
    except Exception:
        return False
    return type(back) is bool and not back


def _base_disagrees(obj: Any, other: Any) -> bool:
    """A subclass of a builtin type that overrides == : compare through the base type."""
    kind = type(obj)
    base = _plain_base(kind)
    if base is None or (kind.__eq__ is base.__eq__ and kind.__ne__ is base.__ne__):
        return False
    try:
        verdict = base.__eq__(obj, other)  # type: ignore[call-arg]
        if verdict is NotImplemented and type(other) in _PLAIN:
            verdict = type(other).__eq__(other, obj)  # type: ignore[call-arg]
    except Exception:
        return False
    return verdict is not NotImplemented and not verdict


def _only_plain(values: Any) -> bool:
    return set(map(type, values)) <= _PLAIN


def lies(left: Any, right: Any, budget: list[int] | None = None) -> str:
    """Why `left == right` (already true) is not to be believed; "" when it is."""
    budget = budget if budget is not None else [_BUDGET]
    budget[0] -= 1
    kinds = (type(left), type(right))
    if kinds[0] in _PLAIN and kinds[1] in _PLAIN:
        return ""
    for side in (left, right):
        if type(side) not in _PLAIN and not _is_any(side) and _claims_anything(side):
            return f"a {type(side).__name__} object says it equals anything"
    if _is_any(left) or _is_any(right):
        return ""
    if _one_way(left, right):
        return f"{kinds[0].__name__} == {kinds[1].__name__} holds one way only"
    for side, other in ((left, right), (right, left)):
        if not _is_any(side) and _base_disagrees(side, other):
            return f"{type(side).__name__} overrides == and disagrees with its base type"
    if budget[0] <= 0:
        return ""
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if len(left) != len(right):
            return f"sequences of lengths {len(left)} and {len(right)} said to be equal"
        if _only_plain(left) and _only_plain(right):
            return ""
        return _pairs(zip(left, right, strict=False), budget)
    if isinstance(left, dict) and isinstance(right, dict):
        if len(left) != len(right) or set(map(type, left)) - _PLAIN:
            return "" if len(left) == len(right) else "dicts of different sizes said equal"
        if _only_plain(left.values()) and _only_plain(right.values()):
            return ""
        return _pairs(((v, right[k]) for k, v in left.items() if k in right), budget)
    if isinstance(left, set | frozenset) and isinstance(right, set | frozenset):
        for item in (*left, *right):
            if type(item) not in _PLAIN and _claims_anything(item):
                return f"a {type(item).__name__} object in a set says it equals anything"
    return ""


def _pairs(pairs: Any, budget: list[int]) -> str:
    for a, b in pairs:
        if budget[0] <= 0:
            return ""
        try:
            same = a == b
        except Exception:
            continue
        if type(same) is bool and not same:
            return f"{a!r:.60} and {b!r:.60} differ inside containers said to be equal"
        problem = lies(a, b, budget)
        if problem:
            return problem
    return ""


def _rich(result: Any) -> bool:
    """An elementwise comparison result (numpy, pandas, torch...): not judged here."""
    return hasattr(result, "__array__") or hasattr(result, "all")


def equal(left: Any, right: Any) -> Any:
    """`left == right` inside an instrumented assert: the same truth, but a lie is a failure."""
    result = left == right
    if type(result) is not bool:
        if _rich(result):
            return result
        result = bool(result)  # `__eq__` returned something truthy: judge it as a claim
    if result:
        problem = lies(left, right)
        if problem:
            report("equality", problem)
            raise AssertionError(f"equality that lies: {problem}")
    return result


# -- instrumented asserts ------------------------------------------------------------------


def claims_equal(left: Any, right: Any) -> bool:
    try:
        claim = left == right
        return not _rich(claim) and bool(claim)
    except Exception:
        return False
