"""Shared fixtures: a CLI runner that goes through the real entry point's error handling."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def _benchmark_folder() -> Path | None:
    """The HumanEval+/MBPP+ files for tests: $SELFCODEALIGN_BENCHMARKS or ../shared/data."""
    candidates = [os.environ.get("SELFCODEALIGN_BENCHMARKS", ""),
                  str(Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"),
                  "/work/shared/data/benchmarks"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "HumanEvalPlus.jsonl.gz").is_file():
            return Path(candidate)
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
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("tiny-model")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(TINY_CORPUS * 20, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                               bos_token="<|endoftext|>", unk_token="<unk>")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32,
                                     n_layer=2, n_head=2, eos_token_id=tok.eos_token_id,
                                     bos_token_id=tok.eos_token_id, resid_pdrop=0.1,
                                     embd_pdrop=0.1, attn_pdrop=0.1)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
