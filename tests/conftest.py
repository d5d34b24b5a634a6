"""Shared fixtures: a CLI runner that goes through the real entry point's error handling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from selfcodealign.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Call `selfcodealign ARGS...` in-process; returns exit code, stdout and stderr."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
