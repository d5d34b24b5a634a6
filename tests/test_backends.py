from __future__ import annotations

from pathlib import Path

import pytest

from selfcodealign.backends import LLMBackend, SamplingParams, create_backend
from selfcodealign.backends.fake import FakeBackend
from selfcodealign.config import load_config, stage_settings
from selfcodealign.errors import ConfigError, MissingExtraError
from selfcodealign.extras import available


def test_fake_backend_rules_samples_stops_and_length() -> None:
    backend = FakeBackend(rules=[("concepts", "loops, recursion ## Example {n}")],
                          default="one two three four five")
    assert isinstance(backend, LLMBackend)
    out = backend.generate(["list the concepts", "other"],
                           SamplingParams(n=2, max_tokens=3, stop=("## Example",)))
    assert [c.text for c in out[0]] == ["loops, recursion ", "loops, recursion "]
    assert out[0][0].finish_reason == "stop"
    assert out[1][0].text == "one two three" and out[1][0].finish_reason == "length"
    assert backend.calls == ["list the concepts", "other"]


def test_fake_backend_script_file(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text('rules:\n  - {match: "hello", text: "sample {n}"}\ndefault: "?"\n')
    backend = create_backend(load_config(None, ["backend.name=fake",
                                                f"backend.script={script}"]).backend)
    out = backend.generate(["say hello"], SamplingParams(n=3))
    assert [c.text for c in out[0]] == ["sample 0", "sample 1", "sample 2"]
    with pytest.raises(ConfigError, match="cannot read fake backend script"):
        FakeBackend(script=tmp_path / "missing.yaml")


def test_backends_need_a_model_and_vllm_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    with pytest.raises(ConfigError, match="needs a model"):
        create_backend(load_config(None, ["backend.name=vllm"]).backend)
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingExtraError, match=r"selfcodealign\[vllm\]"):
        create_backend(load_config(None, ["backend.name=vllm", "backend.model=m"]).backend)


@pytest.mark.gpu
def test_vllm_generates_on_a_gpu(tiny_model: Path) -> None:
    """The vLLM backend on a model built here (no hub): sampling, seeds, and a prompt over the
    context refused before it is sent while the others are answered."""
    from selfcodealign.backends.base import PartialFailure, PromptTooLong

    backend = create_backend(load_config(None, [
        "backend.name=vllm", f"backend.model={tiny_model}", "backend.max_model_len=512",
        "backend.gpu_memory_utilization=0.3"]).backend)
    try:
        out = backend.generate(["def add(a, b):"], SamplingParams(n=2, max_tokens=8),
                               seeds=[1])
        assert len(out[0]) == 2 and all(c.completion_tokens <= 8 for c in out[0])
        again = backend.generate(["def add(a, b):"], SamplingParams(n=2, max_tokens=8),
                                 seeds=[1])
        assert [c.text for c in again[0]] == [c.text for c in out[0]]  # seeded per prompt
        with pytest.raises(PartialFailure) as caught:
            backend.generate(["def f():", "a b " * 2000, "def g():"],
                             SamplingParams(max_tokens=4), seeds=[1, 2, 3])
        first, long, last = caught.value.results
        assert isinstance(long, PromptTooLong) and "512 tokens" in str(long)
        assert isinstance(first, list) and isinstance(last, list)
    finally:
        backend.close()


def test_seed_fingerprint_includes_the_model_only_with_the_judge() -> None:
    plain = stage_settings(load_config(None, ["backend.model=a"]), "seeds")
    assert "backend.model" not in plain
    judged = stage_settings(load_config(None, ["backend.model=a", "seeds.judge=true"]), "seeds")
    assert judged["backend.model"] == "a"


def test_data_parallelism_means_replicas_on_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locally, replicas are engine processes, one per GPU group: each is started pinned to
    its GPUs, and one that cannot load its engine (here: no vLLM) stops the pool with its
    reason. The paper configs say what to raise."""
    from selfcodealign.errors import BackendError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    config = load_config(None, ["backend.name=vllm", "backend.model=m",
                                "backend.data_parallel_size=2"])
    if available("vllm"):
        pytest.skip("vLLM is installed: its engines would start")
    with pytest.raises(BackendError, match=r"engine \d could not start: .*vllm"):
        create_backend(config.backend)
    for name in ("paper-starcoder2-15b", "paper-codeqwen1.5-7b"):
        text = (Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml").read_text()
        assert "data_parallel_size: 1" in text and "GPUs / tensor_parallel_size" in text
