"""Pyright-compatible type checking of seed snippets, in large batches with JSON output.

Each snippet becomes a file in a temporary project (strict about nothing but errors:
`typeCheckingMode: standard`, as Pyright's default); one `basedpyright --outputjson` call checks
up to `batch_size` of them (one call per file costs ~1 s of start-up each). Errors are mapped
back to their snippets. If the checker crashes or its output cannot be read, the batch is split
in two and each half retried, so one pathological file can only ever take itself down
(`typecheck_failed`), never its batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from selfcodealign.errors import MissingExtraError
from selfcodealign.extras import available, install_hint

CRASHED = "typecheck_failed"


class SnippetChecker(Protocol):
    """What the seeds stage needs of a type checker (local, or RayTypeChecker)."""

    calls: int

    def check(self, snippets: Mapping[str, str]) -> dict[str, list[str]]: ...


class TypeChecker:
    def __init__(self, *, batch_size: int = 1000, timeout_s: float = 900.0,
                 python_version: str | None = None) -> None:
        if not available("basedpyright"):
            raise MissingExtraError("the seed type check needs 'basedpyright', which is not "
                                    f"installed; install it with: {install_hint('seeds')} "
                                    "(or set seeds.typecheck: false)")
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.python_version: str = (python_version
                                    or f"{sys.version_info[0]}.{sys.version_info[1]}")
        self.calls = 0

    def check(self, snippets: Mapping[str, str]) -> dict[str, list[str]]:
        """Error messages per snippet key (an empty list: no errors)."""
        keys = list(snippets)
        result: dict[str, list[str]] = {}
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start:start + self.batch_size]
            result.update(self._check_isolating({k: snippets[k] for k in chunk}))
        return result

    def _check_isolating(self, snippets: dict[str, str]) -> dict[str, list[str]]:
        errors = self._run(snippets)
        if errors is not None:
            return errors
        if len(snippets) == 1:
            return {key: [CRASHED] for key in snippets}
        keys = list(snippets)
        half = len(keys) // 2
        left = self._check_isolating({k: snippets[k] for k in keys[:half]})
        return {**left, **self._check_isolating({k: snippets[k] for k in keys[half:]})}

    def _run(self, snippets: dict[str, str]) -> dict[str, list[str]] | None:
        """One checker call; None when it crashed or its output was unusable."""
        self.calls += 1
        with tempfile.TemporaryDirectory(prefix="sca-typecheck-") as folder:
            root = Path(folder)
            files = {}
            for index, (key, code) in enumerate(snippets.items()):
                path = root / f"seed_{index}.py"
                path.write_text(code, encoding="utf-8")
                files[str(path)] = key
            (root / "pyrightconfig.json").write_text(json.dumps({
                "typeCheckingMode": "standard", "pythonVersion": self.python_version,
                "include": ["."],
            }))
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "basedpyright", "--outputjson", "-p", str(root)],
                    capture_output=True, timeout=self.timeout_s, cwd=root, check=False)
            except subprocess.TimeoutExpired:
                return None
            try:
                report = json.loads(done.stdout)
            except json.JSONDecodeError:
                return None
        if done.returncode not in (0, 1) or not isinstance(report, dict):
            return None
        errors: dict[str, list[str]] = {key: [] for key in snippets}
        for diagnostic in report.get("generalDiagnostics", []):
            owner = files.get(str(diagnostic.get("file")))
            if owner is not None and diagnostic.get("severity") == "error":
                line = diagnostic.get("range", {}).get("start", {}).get("line", 0) + 1
                errors[owner].append(f"line {line}: {diagnostic.get('message', '')}"[:300])
        return errors


def check_shard(items: list[tuple[str, str]], batch_size: int) -> tuple[dict[str, list[str]],
                                                                        int]:
    """The type check of one shard of snippets on another worker: (errors, checker calls)."""
    checker = TypeChecker(batch_size=batch_size)
    return checker.check(dict(items)), checker.calls


class ShardedTypeChecker:
    """The type check over the executor's shard map (`check_shard` per shard of snippets)."""

    def __init__(self, shards: Callable[[list[Any]], list[Any]]) -> None:
        self.shards = shards
        self.calls = 0

    def check(self, snippets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not snippets:
            return errors
        for found, calls in self.shards(list(snippets.items())):
            errors.update(found)
            self.calls += calls
        return errors
