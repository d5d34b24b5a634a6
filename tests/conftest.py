"""Shared fixtures: a CLI runner that goes through the real entry point's error handling, and
what the sandbox tests share (the run_as of each mode, an outer time limit)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from selfcodealign.cli import main

sys.path.insert(0, str(Path(__file__).parent))


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


def _benchmark_folder() -> Path | None:
    """The HumanEval+/MBPP+ files for tests, found the way the package finds them: the
    environment ($SELFCODEALIGN_BENCHMARKS), the cache (`selfcodealign benchmarks import` or
    `download` put them there), then a `shared/data/benchmarks` folder next to the checkout
    or above it. No download, no machine's absolute path."""
    from selfcodealign import benchmarks

    here = Path(__file__).resolve()
    candidates = [Path(p) for p in (os.environ.get("SELFCODEALIGN_BENCHMARKS"),) if p]
    candidates += [benchmarks.cache_dir(), benchmarks.CACHE]
    candidates += [parent / "shared" / "data" / "benchmarks" for parent in here.parents]
    for candidate in candidates:
        if candidate.is_dir() and all(benchmarks._in_folder(name, candidate) is not None
                                      for name in benchmarks.RELEASES):
            return candidate
    return None


@pytest.fixture
def benchmark_dir() -> Path:
    folder = _benchmark_folder()
    if folder is None:
        pytest.skip("HumanEval+/MBPP+ files not found (set SELFCODEALIGN_BENCHMARKS)")
    return folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests run only with a CUDA GPU and vLLM; elsewhere they are skipped, saying why."""
    from selfcodealign.extras import available

    gpu = False
    if available("torch") and available("vllm"):
        import torch

        gpu = bool(torch.cuda.is_available())
    if not gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU and the vllm extra")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


TINY_CORPUS = ["def add(a, b):\n    return a + b\n", "## Example 1\nconcepts: loops, recursion\n",
               "The quick brown fox jumps over the lazy dog.", "x = [i * i for i in range(10)]",
               "### Instruction\nWrite a function.\n\n### Response\nHere it is."]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised GPT-2 with a BPE tokenizer trained here (BOS = EOS)."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    pytest.importorskip("torch")
    from tiny_model import build_tiny_model

    folder = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(folder, TINY_CORPUS, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    return folder


UNPRIVILEGED_UID = 65534
SANDBOX_MODES = ["root", "unprivileged"]


def sandbox_run_as(mode: str) -> int | None:
    """`LocalSandbox(run_as=...)` for a sandbox test mode: as root, "unprivileged" starts the
    workers as nobody; when not root, "root" is skipped and "unprivileged" is this user."""
    if os.geteuid() != 0:
        if mode == "root":
            pytest.skip("not running as root")
        return None
    return UNPRIVILEGED_UID if mode == "unprivileged" else None


class OuterLimit(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in the way hides it."""


@pytest.fixture
def sandbox_alarm(request: pytest.FixtureRequest) -> Iterator[None]:
    """An outer limit per sandbox test (the module's OUTER_LIMIT_S, else 120 s), so that a
    regression that hangs cannot hang CI."""
    seconds = int(getattr(request.module, "OUTER_LIMIT_S", 120))

    def stuck(_signum: int, _frame: object) -> None:
        raise OuterLimit(f"a sandbox test ran past its outer limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
