"""Realistic (implementation, tests) programs for the sandbox benchmark, generated in varieties.

Each template is a typical I->R answer (stdlib imports, functions or classes) with tests in one
of the forms models write (plain asserts, oracle-style asserts, unittest with main, pytest-style
functions). Variant `k` changes constants so no two programs are identical (no cache hits), and
about a quarter of the programs are wrong, so passing and failing runs are both measured.
"""

from __future__ import annotations

TEMPLATES: list[tuple[str, str]] = [
    (
        "import re\nfrom collections import Counter\n\n"
        "def top_words(text, n):\n    words = re.findall(r'[a-z]+', text.lower())\n"
        "    return [w for w, _ in Counter(words).most_common(n)]\n",
        "text = 'a b a c b a ' + 'z ' * {k}\n"
        "assert top_words(text, 1)[0] in ('a', 'z')\nassert len(top_words(text, 2)) == 2\n",
    ),
    (
        "import math\n\ndef hypot_sum(points):\n"
        "    return sum(math.hypot(x, y) for x, y in points)\n",
        "assert abs(hypot_sum([(3, 4)] * {k}) - {k} * 5) < 1e-9\n",
    ),
    (
        "import heapq\n\ndef k_smallest(items, k):\n    return heapq.nsmallest(k, items)\n",
        "assert k_smallest(list(range({k}, 0, -1)), 3) == [1, 2, 3]\n",
    ),
    (
        "from functools import lru_cache\n\n@lru_cache(maxsize=None)\ndef fib(n):\n"
        "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
        "assert fib(10) == 55\nassert fib({k} % 20) >= 0\n",
    ),
    (
        "from dataclasses import dataclass, field\n\n@dataclass\nclass Account:\n"
        "    owner: str\n    balance: int = 0\n    history: list = field(default_factory=list)\n"
        "\n    def deposit(self, amount):\n        if amount <= 0:\n"
        "            raise ValueError('amount must be positive')\n"
        "        self.balance += amount\n        self.history.append(amount)\n"
        "        return self.balance\n",
        "import unittest\n\nclass TestAccount(unittest.TestCase):\n"
        "    def test_deposit(self):\n        a = Account('x')\n"
        "        self.assertEqual(a.deposit({k}), {k})\n\n"
        "    def test_negative(self):\n        with self.assertRaises(ValueError):\n"
        "            Account('y').deposit(-1)\n\nif __name__ == '__main__':\n    unittest.main()\n",
    ),
    (
        "import json\n\ndef merge_json(a, b):\n    left, right = json.loads(a), json.loads(b)\n"
        "    left.update(right)\n    return json.dumps(left, sort_keys=True)\n",
        "assert merge_json('{{\"a\": 1}}', '{{\"b\": {k}}}') == '{{\"a\": 1, \"b\": {k}}}'\n",
    ),
    (
        "from collections import deque\n\ndef sliding_max(values, width):\n"
        "    out, window = [], deque()\n    for i, v in enumerate(values):\n"
        "        while window and values[window[-1]] <= v:\n            window.pop()\n"
        "        window.append(i)\n        if window[0] <= i - width:\n"
        "            window.popleft()\n        if i >= width - 1:\n"
        "            out.append(values[window[0]])\n    return out\n",
        "def test_sliding_max():\n    assert sliding_max([1, 3, 2, 5, 4], 2) == [3, 3, 5, 5]\n\n"
        "def test_width_one():\n    assert sliding_max(list(range({k})), 1) == list(range({k}))\n",
    ),
    (
        "import bisect\n\ndef grade(score, cutoffs=(60, 70, 80, 90), letters='FDCBA'):\n"
        "    return letters[bisect.bisect(cutoffs, score)]\n",
        "assert grade(95) == 'A'\nassert grade(59) == 'F'\nassert grade({k} % 100) in 'ABCDF'\n",
    ),
    (
        "from datetime import date, timedelta\n\ndef add_business_days(start, days):\n"
        "    current = start\n    while days > 0:\n        current += timedelta(days=1)\n"
        "        if current.weekday() < 5:\n            days -= 1\n    return current\n",
        "assert add_business_days(date(2024, 1, 5), 1) == date(2024, 1, 8)\n"
        "assert add_business_days(date(2024, 1, 1), {k} % 5 + 1).weekday() < 5\n",
    ),
    (
        "import itertools\n\ndef pairs_summing_to(values, target):\n"
        "    return sorted({{tuple(sorted(p)) for p in itertools.combinations(values, 2)\n"
        "                   if sum(p) == target}})\n",
        "assert pairs_summing_to([1, 2, 3, 4], 5) == [(1, 4), (2, 3)]\n"
        "assert pairs_summing_to([{k}], {k}) == []\n",
    ),
    (
        "from fractions import Fraction\n\ndef harmonic(n):\n"
        "    return sum(Fraction(1, i) for i in range(1, n + 1))\n",
        "assert harmonic(1) == 1\nassert harmonic(2) == Fraction(3, 2)\n"
        "assert harmonic({k} % 12 + 1) > 0\n",
    ),
    (
        "def rle(text):\n    if not text:\n        return ''\n"
        "    out, prev, count = [], text[0], 1\n"
        "    for ch in text[1:]:\n        if ch == prev:\n            count += 1\n"
        "        else:\n            out.append(f'{{count}}{{prev}}')\n"
        "            prev, count = ch, 1\n    out.append(f'{{count}}{{prev}}')\n"
        "    return ''.join(out)\n",
        "assert rle('aaab') == '3a1b'\nassert rle('') == ''\nassert rle('x' * {k}) == '{k}x'\n",
    ),
]

_BREAKS = [("return ", "return 1 + "), ("== ", "!= ")]


def generate(count: int) -> list[tuple[str, str]]:
    """`count` distinct programs; every fourth one is broken."""
    programs = []
    for i in range(count):
        code, tests = TEMPLATES[i % len(TEMPLATES)]
        k = 2 + i // len(TEMPLATES)
        code, tests = code.format(k=k), tests.format(k=k)
        if i % 4 == 3:
            wrong, right = _BREAKS[i % 2]
            code = code.replace(wrong, right, 1) if i % 2 == 0 else code
            tests = tests.replace(wrong, right, 1) if i % 2 == 1 else tests
        programs.append((code, tests))
    return programs
