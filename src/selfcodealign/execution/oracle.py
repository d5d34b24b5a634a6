"""Oracle-outside mode: the expected values never enter the sandbox.

For tests made only of `assert <callee>(<literals>) == <literal>` (callee a name or dotted name,
arguments and expected value Python literals; imports allowed alongside), the parent sends just
the calls. The sandbox evaluates each call after the implementation and returns the results as
plain typed data; the parent decodes them and compares with the expected literals. An object
whose `__eq__` always says yes cannot pass: what crosses the pipe is data, and values of
subclasses of builtin types are read through the base type (so a `namedtuple` still equals the
tuple it stands for, but an overridden `__eq__` is never called).

`encode_output` (benchmark mode) caps the parts it encodes: a larger output crosses the pipe as
its `ndigest`, a SHA-256 computed at C speed and partly normalised (numbers and flat numeric
sequences by value, sets and dicts in sorted order, the rest by `repr`: the one place a user
`__repr__` is called, and it would have to print the expected value to pass). Equal digests
mean equal values; different ones are settled by the caller on the whole values.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import marshal
import math
from array import array
from collections.abc import Callable, Iterator
from itertools import compress
from typing import Any

from selfcodealign.codeblocks import parse_python

MAX_DEPTH = 50


def _callee(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return True
    return isinstance(node, ast.Attribute) and _callee(node.value)


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def extract_calls(tests: str | ast.Module) -> list[tuple[str, Any]] | None:
    """[(call source, expected value)] when the tests fit oracle mode, else None."""
    try:
        tree = parse_python(tests) if isinstance(tests, str) else tests
    except (SyntaxError, ValueError):
        return None
    calls: list[tuple[str, Any]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if not isinstance(stmt, ast.Assert) or not isinstance(stmt.test, ast.Compare):
            return None
        cmp = stmt.test
        if len(cmp.ops) != 1 or not isinstance(cmp.ops[0], ast.Eq):
            return None
        left, right = cmp.left, cmp.comparators[0]
        call, other = (left, right) if isinstance(left, ast.Call) else (right, left)
        if not isinstance(call, ast.Call) or not _callee(call.func):
            return None
        args_ok = all(_literal(a)[0] for a in call.args) and all(
            k.arg is not None and _literal(k.value)[0] for k in call.keywords)
        ok, expected = _literal(other)
        if not (args_ok and ok):
            return None
        calls.append((ast.unparse(call), expected))
    return calls or None


class TooLarge(Exception):
    """The value has more parts than the encoding budget allows."""


def ndigest(value: Any) -> tuple[str, bool, bool]:
    """(SHA-256, exact, normalised) of a large value, computed at C speed. Equal digests mean
    equal values (`==`). `normalised`: the converse holds too, because the value was hashed by
    what it equals: a number (1, 1.0 and True agree), a string, a flat sequence of numbers
    (packed doubles, -0.0 as 0.0). Anything else is hashed as written (`marshal`, else `repr`,
    in chunks; a set's or dict's items in sorted order), so an equal value written otherwise
    (a nested 1.0 for 1) may get another digest, and the caller compares whole values.
    `exact` is False when the value holds a NaN, or an object marshal does not take (a user
    type or subclass, known by its `repr`, which it controls): that digest equals nothing."""
    h = hashlib.sha256()
    exact, normalised = True, True
    if isinstance(value, bool | int | float):
        exact = _number(value, h.update)
    elif isinstance(value, str):
        h.update(b"s" + str.encode(value, "utf-8", "surrogatepass"))
    elif isinstance(value, list | tuple):
        items = list(list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value))
        h.update((b"L%d:" if isinstance(value, list) else b"T%d:") % len(items))
        doubles = _doubles(items)
        if doubles is not None:
            h.update(b"V" + doubles)
        elif set(map(type, items)) <= {bool, int, float}:
            for item in items:  # numbers, not all exact doubles: big ints or a NaN
                exact = _number(item, h.update) and exact
        else:
            normalised = False
            for start in range(0, len(items), 1 << 14):
                data, plain = _serial(items[start:start + (1 << 14)])
                h.update(data)
                exact = exact and plain
    elif isinstance(value, set | frozenset | dict):
        normalised = False
        h.update(b"S" if not isinstance(value, dict) else b"D")
        serial = [_serial(item) for item in (
            set.__iter__(value) if isinstance(value, set) else
            frozenset.__iter__(value) if isinstance(value, frozenset) else dict.items(value))]
        exact = all(plain for _, plain in serial)
        h.update(b"%d:" % len(serial) + b"\x00".join(sorted(data for data, _ in serial)))
    else:
        normalised = False
        data, exact = _serial(value)
        h.update(data)
    return h.hexdigest(), exact, normalised


# the NaNs arithmetic makes (float("nan"), inf - inf: the default quiet NaN, either sign), as
# marshal writes them; found with a memchr-speed scan (a regex took 16 ns per byte)
_NANS = tuple({array("d", [x]).tobytes() for x in (math.nan, -math.nan, math.inf - math.inf)})


def _serial(value: Any) -> tuple[bytes, bool]:
    """(bytes, plain) for a value: marshal format 2 (no shared references, so the bytes do
    not depend on which equal objects are the same object), subclasses of builtin types read
    as their base type. `plain` is False when it holds a NaN (equal to nothing) or an object
    of another type (hashed by `repr`, which such an object controls, so that digest vouches
    for nothing)."""
    try:
        data = marshal.dumps(value, 2)
    except ValueError:  # subclasses (read as their base type, as `encode` does) or objects
        try:
            value = _builtin(value, 0)
            data = marshal.dumps(value, 2)
        except (ValueError, TypeError):
            return b"r" + repr(value).encode("utf-8", "surrogatepass"), False
    if any(nan in data for nan in _NANS) and marshal.loads(data) != value:  # NaN != NaN
        return b"m" + data, False
    return b"m" + data, True


def _builtin(value: Any, depth: int) -> Any:
    """The value with every subclass of a builtin type read as that type (a namedtuple as a
    tuple, an IntEnum as an int); TypeError for anything else (no user method is called)."""
    if depth > MAX_DEPTH:
        raise TypeError("too deep")
    kind = type(value)
    if value is None or kind in (int, float, str, bytes, bool, complex):
        return value
    nxt = depth + 1
    if isinstance(value, bool):
        return bool.__bool__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, tuple):
        return tuple(_builtin(v, nxt) for v in tuple.__iter__(value))
    if isinstance(value, list):
        return [_builtin(v, nxt) for v in list.__iter__(value)]
    if isinstance(value, dict):
        return {_builtin(k, nxt): _builtin(v, nxt) for k, v in dict.items(value)}
    if isinstance(value, frozenset):
        return frozenset(_builtin(v, nxt) for v in frozenset.__iter__(value))
    if isinstance(value, set):
        return {_builtin(v, nxt) for v in set.__iter__(value)}
    raise TypeError(kind.__name__)


_ZERO_ADD = (0.0).__add__  # float.__add__(0.0, x): the double of x, with -0.0 made 0.0


def _number(value: Any, feed: Callable[[bytes], Any]) -> bool:
    """Feed one int, float or bool (a subclass read as its base); False for a NaN."""
    if isinstance(value, float):
        if float.__ne__(value, value):  # NaN equals nothing, itself included
            feed(b"x")
            return False
        feed(b"d" + array("d", [_ZERO_ADD(value)]).tobytes())
        return True
    number = int.__index__(value)
    try:
        double = _ZERO_ADD(number)
    except OverflowError:
        double = None
    if double is not None and float.__eq__(double, number):
        feed(b"d" + array("d", [double]).tobytes())
    else:
        feed(b"i" + int.__format__(number, "x").encode() + b";")
    return True


_EXACT_INT = float(1 << 53)  # every int within this magnitude is exactly a double
_NEGATIVE_ZERO = array("d", [-0.0]).tobytes()


def _doubles(items: list[Any]) -> bytes | None:
    """The items as packed doubles when every one is an int, float or bool whose double is
    exactly it (no NaN, -0.0 made 0.0); None otherwise. In C, a few passes over the items."""
    kinds = set(map(type, items))
    if not kinds <= {int, float}:
        if not all(issubclass(kind, int | float) for kind in kinds):
            return None  # not all numbers
        items = list(map(_as_number, items))  # bools, subclasses: read as their base type
        kinds = set(map(type, items))
    try:
        packed = array("d", items)
    except (TypeError, OverflowError):  # an int past doubles
        return None
    total = sum(packed)
    if total != total and any(map(math.isnan, packed)):  # (or infinities of both signs)
        return None
    # an int past 2**53 has a double at least that large (rounding keeps order)
    if int in kinds and not (min(packed) > -_EXACT_INT and max(packed) < _EXACT_INT) and \
            not all(map(float.__eq__, packed, items)):
        return None  # an int that no double holds exactly
    data = packed.tobytes()
    if _NEGATIVE_ZERO in data:  # -0.0 == 0.0: one byte pattern for both
        data = array("d", map(_ZERO_ADD, packed)).tobytes()
    return data


def _as_number(value: Any) -> int | float:
    return float.__add__(0.0, value) if isinstance(value, float) else int.__index__(value)


class Digest:
    """A large value known by its `ndigest`: equal to a value or digest with the same one,
    when neither holds a NaN."""

    def __init__(self, sha: str, exact: bool, normalised: bool = False) -> None:
        self.sha, self.exact, self.normalised = sha, exact, normalised

    def __eq__(self, other: object) -> bool:
        if not self.exact:
            return False
        if isinstance(other, Digest):
            return other.exact and self.sha == other.sha
        return ndigest(other)[:2] == (self.sha, True)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<large value sha256:{self.sha[:12]}>"


OUTPUT_BUDGET = 1 << 16  # parts (about 16 bytes each): ~1 MiB of encoded output


def encode_output(value: Any, budget: int = OUTPUT_BUDGET, *, keep_floats: bool = False) -> Any:
    """`encode`, or `["H", sha256, exact, normalised]` (`ndigest`) when the value takes more
    than `budget` parts: a scalar is one part, a string one per 16 characters, a packed number
    half of one.
    `keep_floats` sends a float or a sequence of floats whole whatever its size (a check with
    a tolerance needs the values)."""
    if keep_floats and is_floats(value):
        budget = 1 << 62
    try:
        return encode(value, 0, [budget])
    except TooLarge:
        return ["H", *ndigest(value)]


def is_floats(value: Any) -> bool:
    """A float, or a non-empty list or tuple of floats: where EvalPlus compares with a
    tolerance."""
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, float) for v in value)
    return False


def encode(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Plain typed data for a returned value (runs in the sandbox; never calls user methods).
    With `budget` (a one-item list), each part spends one and TooLarge ends it at zero."""
    if depth > MAX_DEPTH:
        return ["?", "too deep"]
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise TooLarge
    nxt = depth + 1
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["B", value is True]
    if isinstance(value, int):  # hex past ~3000 digits: str() of an int that long raises
        if int.bit_length(value) < 10000:
            return ["i", int.__repr__(value)]
        return ["I", int.__format__(value, "x")]
    if isinstance(value, float):
        return ["f", float.__repr__(value)]
    if isinstance(value, complex):
        return ["c", float.__repr__(value.real), float.__repr__(value.imag)]
    if isinstance(value, str):
        if budget is not None:  # a long string costs a part per 16 characters
            budget[0] -= len(value) >> 4
            if budget[0] < 0:
                raise TooLarge
        return ["s", str.__str__(value)]
    if isinstance(value, bytes | bytearray):
        if budget is not None:
            budget[0] -= len(value) >> 3
            if budget[0] < 0:
                raise TooLarge
        return ["b", base64.b64encode(bytes(value)).decode()]
    if isinstance(value, tuple):
        return _sequence(value, "t", tuple.__len__, tuple.__iter__, nxt, budget)
    if isinstance(value, list):
        return _sequence(value, "l", list.__len__, list.__iter__, nxt, budget)
    if isinstance(value, dict):
        return ["d", [[encode(k, nxt, budget), encode(v, nxt, budget)]
                      for k, v in dict.items(value)]]
    if isinstance(value, frozenset):
        return ["F", [encode(v, nxt, budget) for v in frozenset.__iter__(value)]]
    if isinstance(value, set):
        return ["S", [encode(v, nxt, budget) for v in set.__iter__(value)]]
    return ["?", type(value).__name__]


def _sequence(value: Any, tag: str, length: Callable[[Any], int],
              iterate: Callable[[Any], Iterator[Any]], depth: int,
              budget: list[int] | None) -> list[Any]:
    """A list or tuple. Each item costs at least one part, so a sequence longer than the budget
    left is TooLarge at once. All-float and all-int64 sequences (the long ones, in practice)
    travel packed: `["V", tag, "d" | "q", base64 of the machine values]`, exact for every float
    (NaN, infinities and -0.0 included) and encoded without a call per item."""
    size = length(value)
    if budget is not None and size > 2 * budget[0]:  # too long even packed
        raise TooLarge
    if size > 8:
        kinds = set(map(type, iterate(value)))
        packed: list[str] | None = None
        if kinds == {float}:
            packed = ["d", _b64(array("d", iterate(value)))]
        elif kinds == {int} and max(map(int.bit_length, iterate(value))) < 64:
            packed = ["q", _b64(array("q", iterate(value)))]
        elif kinds == {int, float}:  # e.g. [1, 3, 2.0, 8.0]: a mask says which is which
            mask = bytes(map(_IS_INT.__getitem__, map(type, iterate(value))))
            if max(map(int.bit_length, compress(iterate(value), mask))) < 64:
                floats = compress(iterate(value), mask.translate(_FLIP))
                packed = ["m", base64.b64encode(mask).decode(),
                          _b64(array("q", compress(iterate(value), mask))),
                          _b64(array("d", floats))]
        if packed is not None:
            if budget is not None:
                budget[0] -= size >> 1
                if budget[0] < 0:
                    raise TooLarge
            return ["V", tag, *packed]
    if budget is not None and size > budget[0]:
        raise TooLarge
    return [tag, [encode(v, depth, budget) for v in iterate(value)]]


_IS_INT = {int: 1, float: 0}
_FLIP = bytes([1, 0]) + bytes(254)


def _b64(values: array[Any]) -> str:
    return base64.b64encode(values.tobytes()).decode()


class Opaque:
    """A value that is not plain data; equal to nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{self.name} object>"


def _unpack(code: str, data: Any) -> list[Any]:
    if not isinstance(data, str):
        raise ValueError("malformed vector")
    return array(code, base64.b64decode(data, validate=True)).tolist()


def _vector(rest: list[Any]) -> Any:
    """A packed sequence of floats, ints, or both (see `_sequence`)."""
    if len(rest) < 3 or rest[0] not in ("l", "t") or rest[1] not in ("d", "q", "m"):
        raise ValueError("malformed vector")
    if rest[1] == "m":
        if len(rest) != 5 or not isinstance(rest[2], str):
            raise ValueError("malformed vector")
        mask = base64.b64decode(rest[2], validate=True)
        ints, floats = _unpack("q", rest[3]), _unpack("d", rest[4])
        if mask.count(1) != len(ints) or mask.count(0) != len(floats) or \
                len(ints) + len(floats) != len(mask):
            raise ValueError("malformed vector")
        int_iter, float_iter = iter(ints), iter(floats)
        values = [next(int_iter) if bit else next(float_iter) for bit in mask]
    else:
        values = _unpack(rest[1], rest[2])
    return values if rest[0] == "l" else tuple(values)


_SIMPLE: dict[str, Callable[[list[Any]], Any]] = {
    "n": lambda rest: None, "B": lambda rest: bool(rest[0]), "i": lambda rest: int(rest[0]),
    "I": lambda rest: int(rest[0], 16),
    "f": lambda rest: float(rest[0]), "c": lambda rest: complex(float(rest[0]), float(rest[1])),
    "s": lambda rest: str(rest[0]), "b": lambda rest: base64.b64decode(rest[0]),
    "?": lambda rest: Opaque(str(rest[0])),
    "H": lambda rest: Digest(str(rest[0]), rest[1] is True, rest[2] is True),
    "J": lambda rest: json.loads(rest[0]),  # plain JSON data (benchmark inputs)
    "V": _vector,
}


def decode(data: Any) -> Any:
    """The parent's side of `encode`: rebuild plain values (untrusted input, checked)."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ValueError("malformed value")
    tag, rest = data[0], data[1:]
    simple = _SIMPLE.get(tag)
    if simple is not None:
        return simple(rest)
    items = rest[0]
    if not isinstance(items, list):
        raise ValueError("malformed container")
    if tag == "t":
        return tuple(decode(v) for v in items)
    if tag == "l":
        return [decode(v) for v in items]
    if tag == "d":
        return {decode(k): decode(v) for k, v in items}
    if tag in ("S", "F"):
        values = [decode(v) for v in items]
        return set(values) if tag == "S" else frozenset(values)
    raise ValueError(f"unknown tag {tag!r}")


def judge(returns: list[Any], calls: list[tuple[str, Any]]) -> tuple[str, str, int]:
    """(status, detail, asserts checked) from the sandbox's returns and the expected values."""
    for index, (call, expected) in enumerate(calls):
        if index >= len(returns):
            return "error", f"no result for call {index + 1}: {call}", index
        item = returns[index]
        if isinstance(item, dict) and "raised" in item:
            return "error", f"{call} raised {str(item['raised'])[:200]}", index + 1
        try:
            got = decode(item)
            equal = bool(got == expected)
        except (ValueError, TypeError, IndexError, RecursionError, OverflowError):
            return "tamper", f"undecodable result for {call}", index + 1
        if not equal:
            return "failed", f"{call} returned {got!r:.200}, expected {expected!r:.200}", index + 1
    return "passed", "", len(calls)
