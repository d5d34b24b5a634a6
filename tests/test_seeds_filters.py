"""Seed extraction and each filter on crafted inputs, with the exact reason."""

from __future__ import annotations

import pytest

from selfcodealign.seeds.extract import extract
from selfcodealign.seeds.filters import banned_word_pattern, check

BANNED_IMPORTS = {"argparse", "os", "subprocess", "sys", "setuptools", "distutils",
                  "matplotlib", "seaborn"}


def verdict(source: str, **overrides: object) -> tuple[str | None, str]:
    functions = extract(source)
    assert len(functions) == 1
    options: dict[str, object] = dict(
        max_lines=150, min_args=1, banned_words=banned_word_pattern(["todo", "fixme", "bug"]),
        banned_imports=BANNED_IMPORTS, infer_imports=True)
    options.update(overrides)
    return check(functions[0], **options)  # type: ignore[arg-type]


GOOD = 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n'


def test_a_good_function_is_kept() -> None:
    assert verdict(GOOD) == (None, "")


@pytest.mark.parametrize(("source", "reason"), [
    ("def f(a):\n    return a\n", "no_docstring"),
    ('def f(a):\n    """ """\n    return a\n', "no_docstring"),
    ('def f():\n    """Doc."""\n    return 1\n', "no_arguments"),
    ('def f(a):\n    """Doc."""\n    print(a)\n', "no_return_value"),
    ('def f(a):\n    """Doc."""\n    return\n', "no_return_value"),
    ('def f(a):\n    """Doc."""\n    return None\n', "no_return_value"),
    ('def f(a):\n    """Doc."""\n    def g():\n        return 1\n    g()\n', "no_return_value"),
    ('def f(a):\n    """Doc."""\n    # TODO: speed up\n    return a\n', "banned_word"),
    ('def f(a):\n    """Fix this bug."""\n    return a\n', "banned_word"),
    ('import os\n\ndef f(a):\n    """Doc."""\n    return os.path.join(a)\n', "banned_import"),
    ('def f(a):\n    """Doc."""\n    import subprocess\n    return subprocess.run(a)\n',
     "banned_import"),
    ('from . import helpers\n\ndef f(a):\n    """Doc."""\n    return helpers.go(a)\n',
     "relative_import"),
    ('def f(a):\n    """Doc."""\n    return helper(a)\n', "unbound_name"),
    ('LIMIT = 3\n\ndef f(a):\n    """Doc."""\n    return a < LIMIT\n', "unbound_name"),
])
def test_each_filter_names_its_reason(source: str, reason: str) -> None:
    assert verdict(source)[0] == reason


def test_words_are_whole_words_and_imports_exact_modules() -> None:
    assert verdict('def f(a):\n    """Print debug info."""\n    return a\n') == (None, "")
    source = 'from osgeo import gdal\n\ndef f(a):\n    """Doc."""\n    return gdal.Open(a)\n'
    assert verdict(source) == (None, "")  # osgeo is not os
    assert verdict('def f(a):\n    """Doc."""\n    return a\n' + "\n" * 0, max_lines=2)[0] == \
        "too_long"


def test_import_inference_adds_what_is_missing() -> None:
    source = ('def f(xs: List[int]) -> float:\n    """Root of the sum."""\n'
              '    return math.sqrt(sum(xs)) + np.zeros(1)[0]\n')
    fn = extract(source)[0]
    reason, _ = check(fn, max_lines=150, min_args=1, banned_words=None, banned_imports=set(),
                      infer_imports=True)
    assert reason is None
    assert fn.imports == ["from typing import List", "import math", "import numpy as np"]
    assert verdict(source, infer_imports=False)[0] == "unbound_name"


def test_extraction_details() -> None:
    source = ('import re, json as j\nfrom typing import List, Dict\n\n@cache\n@other(1)\n'
              "async def fetch(url, *args, retries=3, **kw) -> Dict:\n"
              "    '''Single-quoted docstring.'''\n    return j.loads(re.sub('a', 'b', url))\n\n"
              "class C:\n    def m(self, x):\n        \"\"\"Method.\"\"\"\n        return x\n")
    top = extract(source)
    assert [f.qualname for f in top] == ["fetch"]
    fn = top[0]
    assert fn.source.startswith("@cache\n@other(1)\nasync def fetch")
    assert fn.docstring == "Single-quoted docstring." and fn.is_async and fn.n_args == 4
    assert fn.imports == ["from typing import Dict", "import json as j", "import re"]
    assert fn.lines == 5 and fn.returns_value
    methods = extract(source, methods=True)
    assert [f.qualname for f in methods] == ["fetch", "C.m"]
    method = methods[1]
    assert method.source.startswith("def m(self, x):") and method.n_args == 1
