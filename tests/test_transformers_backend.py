"""The transformers backend on a tiny randomly initialised model and tokenizer built here."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from selfcodealign.backends import SamplingParams, create_backend
from selfcodealign.config import load_config
from selfcodealign.errors import BackendError

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
torch = pytest.importorskip("torch")

def test_generates_n_samples_per_prompt_in_batches(tiny_model: Path) -> None:
    config = load_config(None, ["backend.name=transformers", f"backend.model={tiny_model}",
                                "backend.batch_size=2", "backend.device=cpu"])
    backend = create_backend(config.backend)
    prompts = ["def add(a, b):", "## Example 1", "The quick brown"]
    out = backend.generate(prompts, SamplingParams(temperature=0.8, n=2, max_tokens=6),
                           seeds=[1, 2, 3])
    assert len(out) == 3 and all(len(samples) == 2 for samples in out)
    for samples in out:
        for c in samples:
            assert isinstance(c.text, str) and c.finish_reason in ("stop", "length")
            assert c.prompt_tokens > 0 and 0 <= c.completion_tokens <= 6
    again = backend.generate(prompts, SamplingParams(temperature=0.8, n=2, max_tokens=6),
                             seeds=[1, 2, 3])
    assert [[c.text for c in s] for s in again] == [[c.text for c in s] for s in out]


def test_greedy_length_and_stop_strings(tiny_model: Path) -> None:
    backend = create_backend(load_config(None, ["backend.name=transformers",
                                                f"backend.model={tiny_model}"]).backend)
    (greedy,) = backend.generate(["x = [i"], SamplingParams(temperature=0.0, max_tokens=8))
    (again,) = backend.generate(["x = [i"], SamplingParams(temperature=0.0, max_tokens=8))
    assert greedy[0].text == again[0].text
    if greedy[0].completion_tokens == 8:
        assert greedy[0].finish_reason == "length"
    text = greedy[0].text
    if len(text) > 2:  # stop on a piece of what greedy decoding produces: it must be cut
        stop = text[1:3]
        (cut,) = backend.generate(["x = [i"], SamplingParams(temperature=0.0, max_tokens=8,
                                                             stop=(stop,)))
        assert stop not in cut[0].text and cut[0].finish_reason == "stop"


def test_a_model_that_cannot_load_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot load model") as info:
        create_backend(load_config(None, ["backend.name=transformers",
                                          f"backend.model={tmp_path / 'nope'}"]).backend)
    assert "\n" not in str(info.value)


def test_prompts_near_the_context_length(tiny_model: Path) -> None:
    backend = create_backend(load_config(None, ["backend.name=transformers",
                                                f"backend.model={tiny_model}"]).backend)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    context = transformers.AutoConfig.from_pretrained(tiny_model).max_position_embeddings
    piece = "zq "
    per_piece = len(tok(piece * 100)["input_ids"]) / 100
    near = piece * int((context - 4) / per_piece)
    width = len(tok(near)["input_ids"])
    assert context - 8 <= width < context
    (out,) = backend.generate([near], SamplingParams(temperature=0.0, max_tokens=50))
    assert out[0].completion_tokens <= context - width
    with pytest.raises(BackendError, match="does not fit the context"):
        backend.generate([piece * context], SamplingParams(temperature=0.0, max_tokens=5))


def test_an_unreachable_hub_is_a_quick_one_line_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from selfcodealign.backends.transformers import hub_reachable

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    assert not hub_reachable()
    with pytest.raises(BackendError, match="cannot load model 'someone/some-model'") as info:
        create_backend(load_config(None, ["backend.name=transformers",
                                          "backend.model=someone/some-model"]).backend)
    assert "\n" not in str(info.value) and "offline?" in str(info.value)


def _any_text(text: str) -> bool:
    return len(text) > 0


def test_a_complete_answer_ends_its_row_early(tiny_model: Path) -> None:
    backend = create_backend(load_config(None, ["backend.name=transformers",
                                                f"backend.model={tiny_model}"]).backend)
    plain = SamplingParams(temperature=0.0, max_tokens=40)
    (full,) = backend.generate(["x = [i"], plain)
    (early,) = backend.generate(["x = [i"], SamplingParams(temperature=0.0, max_tokens=40,
                                                          answer_done=_any_text))
    if full[0].completion_tokens < 40 or not full[0].text:
        pytest.skip("the tiny model ended on its own")
    # checked every 8 tokens: the first check ends it, with the same first tokens
    assert early[0].completion_tokens == 8 and early[0].finish_reason == "stop"
    assert full[0].text.startswith(early[0].text)


class _WordTokenizer:
    """Ids are indexes into a word list; decoding joins the words with spaces."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def decode(self, ids: object, skip_special_tokens: bool = True) -> str:
        return " ".join(self.words[int(i)] for i in ids)  # type: ignore[attr-defined]


def test_early_stop_ends_looping_rows_only_when_asked() -> None:
    from selfcodealign.backends.transformers import EarlyStop

    words = ["the", "function", "is", "nested", "inside", "itself", "sorting", "a", "copy",
             "keeps", "input", "intact", "and", "then", "slices", "both", "ends", "of", "list"]
    loop = [0, 1, 2, 3, 4, 5] * 20                                    # 120 ids, a loop
    varied = random.Random(0).choices(range(len(words)), k=120)       # few 4-gram repeats
    prompt = [6, 7, 8]
    ids = torch.tensor([prompt + loop, prompt + varied])
    tokenizer = _WordTokenizer(words)
    on = EarlyStop(tokenizer, len(prompt), None, end_loops=True)
    assert on(ids, None).tolist() == [True, False] and on.looped == {0}
    off = EarlyStop(tokenizer, len(prompt), None, end_loops=False)
    assert off(ids, None).tolist() == [False, False]
    # not on a step between checks, and never before 64 new tokens
    assert not EarlyStop(tokenizer, len(prompt), None, True)(ids[:, :-1], None).any()
    assert not EarlyStop(tokenizer, len(prompt), None, True)(ids[:, :51], None).any()
