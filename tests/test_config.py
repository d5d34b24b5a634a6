from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from selfcodealign import registry
from selfcodealign.config import (
    Config,
    config_hash,
    load_config,
    reference_markdown,
    stage_settings,
    to_yaml,
)
from selfcodealign.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_method() -> None:
    c = Config()
    assert (c.sampling.temperature, c.sampling.top_p, c.sampling.max_tokens) == (0.7, 1.0, 1536)
    assert (c.concepts.shots, c.instructions.shots, c.responses.shots) == (8, 8, 1)
    assert (c.concepts.n, c.instructions.n, c.responses.n) == (1, 1, 10)
    assert c.instructions.categories == {"function": 0.5, "class": 0.25, "program": 0.25}
    assert c.seeds.max_lines == 150 and c.seeds.dedup_threshold == 0.5
    assert "os" in c.seeds.banned_imports and "bug" in c.seeds.banned_words
    assert (c.select.minhash_threshold, c.select.minhash_perms, c.select.shingle_size) == (
        0.7, 250, 5)
    assert c.select.max_instruction_words == 200
    assert (c.train.learning_rate, c.train.batch_size, c.train.max_length) == (1e-5, 64, 1280)
    assert c.train.packing is False and c.train.warmup_ratio == 0.05


def test_layers_later_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "sampling:\n  temperature: 0.2\n  top_p: 0.9\nbackend:\n  model: a\n")
    c = load_config(path, ["sampling.temperature=0.3", "backend.model=b"],
                    {"backend.model": "c", "run.name": None})
    assert c.sampling.temperature == 0.3  # --set beats YAML
    assert c.sampling.top_p == 0.9  # YAML beats default
    assert c.backend.model == "c"  # flag beats --set
    assert c.run.name == "default"  # a flag that was not given changes nothing
    assert c.sampling.max_tokens == 1536  # default


def test_set_values_are_typed_and_mapping_fields_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "instructions:\n  categories: {function: 1.0, class: 0.0}\n")
    c = load_config(path, [
        "instructions.categories.program=0.5", "seeds.typecheck=false",
        "seeds.banned_words=[a, b]", "execute.timeout_s=2", "backend.base_url=[http://x/v1]",
    ])
    assert c.instructions.categories == {"function": 1.0, "class": 0.0, "program": 0.5}
    assert c.seeds.typecheck is False and c.seeds.banned_words == ["a", "b"]
    assert c.execute.timeout_s == 2.0 and c.backend.base_url == ["http://x/v1"]


@pytest.mark.parametrize(
    ("text", "sets", "expected"),
    [
        ("seeds:\n  max_line: 3\n", [], "unknown config key 'seeds.max_line' (from {path}); "
         "valid keys at 'seeds': banned_imports, banned_words, batch_files, benchmark_dir, "
         "benchmarks, column, corpus, data_dir, decontaminate, dedup_threshold, include_methods, "
         "infer_imports, judge, max_file_mb, max_lines, min_args, minhash_perms, ngram, "
         "shingle_size, split, typecheck, typecheck_batch; did you mean 'max_lines'?"),
        ("sampler: {}\n", [], "unknown config key 'sampler' (from {path}); valid keys at the "
         "top level: backend, concepts, evaluate, execute, executor, generation, instructions, "
         "responses, run, sampling, seeds, select, train; did you mean 'sampling'?"),
        ("", ["sampling.temprature=1"], "unknown config key 'sampling.temprature' (from --set "
         "sampling.temprature=1); valid keys at 'sampling': max_tokens, temperature, top_p; "
         "did you mean 'temperature'?"),
        ("seeds: 3\n", [], "config key 'seeds' (from {path}) is a section and needs a mapping"),
        ("", ["seeds=3"], "'seeds' (from --set seeds=3) is a section; set one of its keys"),
        ("", ["seeds.max_lines.x=3"], "'seeds.max_lines' (from --set seeds.max_lines.x=3) has "
         "no sub-keys"),
        ("", ["seeds.max_lines"], "--set expects key.sub=value, got 'seeds.max_lines'"),
        ("", ["seeds.max_lines=abc"], "invalid config: 'seeds.max_lines' (from --set "
         "seeds.max_lines=abc): Input should be a valid integer"),
        ("sampling:\n  top_p: 2\n", [], "invalid config: 'sampling.top_p' (from {path}): "
         "Input should be less than or equal to 1, got 2"),
        ("backend:\n  name: nope\n", [], "invalid config: 'backend.name' (from {path}): Input "
         "should be 'fake', 'transformers', 'vllm' or 'openai'"),
        ("run:\n  name: ../escape\n", [], "invalid config: 'run.name' (from {path}): String "
         "should match pattern"),
        ("sampling: [1, 2\n", [], "invalid YAML in {path} at line 2"),
        ("- a\n- b\n", [], "{path} must hold a mapping of config sections, not a list"),
    ],
)
def test_errors_are_one_clear_line(tmp_path: Path, text: str, sets: list[str],
                                   expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, sets)
    message = str(info.value)
    assert "\n" not in message
    assert expected.format(path=path) in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _models(field.annotation)
    return found


def test_every_field_is_documented_and_strict() -> None:
    for model in _models(Config):
        assert model.model_config.get("extra") == "forbid", model
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 5, f"{model.__name__}.{name}"


def test_stage_fingerprints_hold_only_output_settings() -> None:
    base = Config()
    concepts = stage_settings(base, "concepts")
    assert concepts["sampling.temperature"] == 0.7 and concepts["run.seed"] == 3407
    assert "backend.model" in concepts and "concepts.shots" in concepts
    assert not any(k.startswith(("run.flush", "run.name", "seeds.")) for k in concepts)
    assert "backend.base_url" not in concepts and "backend.name" not in concepts
    operational = load_config(None, ["run.flush_every=3", "run.compress=true",
                                     "execute.workers=7", "run.name=other"])
    for stage in registry.names():
        assert stage_settings(operational, stage) == stage_settings(base, stage), stage
    hotter = load_config(None, ["sampling.temperature=0.9"])
    assert stage_settings(hotter, "responses") != stage_settings(base, "responses")
    assert stage_settings(hotter, "seeds") == stage_settings(base, "seeds")
    with pytest.raises(ConfigError, match="unknown stage 'nope'"):
        stage_settings(base, "nope")


def test_yaml_round_trip_and_hash(tmp_path: Path) -> None:
    c = load_config(None, ["sampling.temperature=0.1", "evaluate.dataset_dir=/data/evalplus"])
    again = load_config(write(tmp_path, to_yaml(c)))
    assert again == c
    assert config_hash(again) == config_hash(c) != config_hash(Config())


def test_docs_config_reference_is_current() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    assert doc.strip() == reference_markdown().strip(), (
        "docs/config.md is stale: run `selfcodealign config reference > docs/config.md`"
    )


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    load_config(path)


def test_every_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    """A user fixing a config should not have to rerun once per typo."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  nam: x\n  seedd: 1\nfoo: 1\nsampling: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad, ["nope.key=1", "sampling.tempreature=0.1", "run.seed=5"])
    message = str(caught.value)
    assert message.startswith("6 config problems: ")
    for key in ("'run.nam'", "'run.seedd'", "'foo'", "'sampling' (from", "'nope'",
                "'sampling.tempreature'"):
        assert key in message, key
    assert "did you mean 'name'?" in message and "did you mean 'temperature'?" in message
    with pytest.raises(ConfigError, match=r"^unknown config key 'x'"):  # one: as before
        load_config(None, ["x=1"])
