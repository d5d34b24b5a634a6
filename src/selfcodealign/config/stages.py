"""The stage sections of the configuration: seeds, the three LLM stages (sharing one base),
execute, select, train and evaluate. `schema.Config` holds one of each."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from selfcodealign.config.base import Section, setting


class SeedsConfig(Section):
    """Stage 0: mining seed functions from a Python corpus."""

    corpus: list[str] = setting(
        ["stdlib"], "Corpora: `stdlib`, directories, git repos (`path@rev`), JSONL/Parquet "
        "files, `hf:NAME` datasets or datasets saved on disk."
    )
    column: str = setting("content", "Column holding the code in JSONL/Parquet/HF corpora.")
    split: str = setting("train", "Split of a Hugging Face dataset.")
    data_dir: str | None = setting(
        None, "Folder of a Hugging Face dataset to read (its `data_dir`); by default "
        "`data/python` for the multi-language Stack datasets (bigcode/the-stack, "
        "the-stack-dedup, the-stack-smol), as the paper read their Python subset."
    )
    max_file_mb: float = setting(1.0, "Files larger than this are dropped (file_too_large).",
                                 gt=0)
    include_methods: bool = setting(False, "Also extract methods, not only top-level functions.")
    max_lines: int = setting(150, "Drop functions longer than this many lines.", ge=1)
    min_args: int = setting(1, "Drop functions with fewer arguments.", ge=0)
    banned_words: list[str] = setting(
        ["todo", "fixme", "bug"], "Drop functions whose lower-cased code has these words."
    )
    banned_imports: list[str] = setting(
        ["argparse", "os", "subprocess", "sys", "setuptools", "distutils", "matplotlib", "seaborn"],
        "Drop functions importing these modules (matched by exact module name).",
    )
    infer_imports: bool = setting(
        True, "Add imports for unbound stdlib modules, common aliases and typing names."
    )
    decontaminate: bool = setting(True, "Drop functions overlapping the benchmarks.")
    benchmarks: list[str] = setting(
        ["humaneval", "mbpp"], "Benchmarks (names or JSONL files) to decontaminate against."
    )
    ngram: int = setting(10, "Word n-gram size of the overlap check.", ge=3)
    benchmark_dir: Path | None = setting(
        None, "Folder with the EvalPlus release files (else $SELFCODEALIGN_BENCHMARKS, the "
        "cache, or a download).", affects_output=False,
    )
    dedup_threshold: float = setting(
        0.5, "MinHash Jaccard threshold for near-duplicates.", gt=0, le=1
    )
    minhash_perms: int = setting(250, "MinHash permutations.", ge=16)
    shingle_size: int = setting(5, "Word n-gram size of MinHash shingles.", ge=1)
    typecheck: bool = setting(True, "Drop functions with Pyright errors (basedpyright).")
    judge: bool = setting(
        False, "Ask the base model whether each docstring is enough to re-implement its "
        "function (skipped when no backend model is configured)."
    )
    typecheck_batch: int = setting(
        1000, "Snippets per type-checker call.", affects_output=False, ge=1
    )
    batch_files: int = setting(
        1000, "Files read per batch (one type-check pass per batch).", affects_output=False,
        ge=1,
    )


class LLMStageConfig(Section):
    """What every LLM stage has: shots, completions per input, prompt prefix groups, batch."""

    shots: int = setting(8, "Few-shot examples per prompt.", ge=0)
    n: int = setting(1, "Completions per input.", ge=1)
    prefix_groups: int = setting(
        0, "Draw shots from this many fixed groups and send batches ordered by group, so "
        "prompts share long prefixes (0: a fresh sample per item).", ge=0,
    )
    batch_size: int = setting(
        256, "Inputs per backend call.", affects_output=False, ge=1
    )


class ConceptsConfig(LLMStageConfig):
    """Stage 1, S->C: concepts from a seed."""

    n: int = setting(1, "Completions per seed.", ge=1)


class InstructionsConfig(LLMStageConfig):
    """Stage 2, C->I: one task per concept list."""

    n: int = setting(1, "Completions per concept list.", ge=1)
    categories: dict[str, float] = setting(
        {"function": 0.5, "class": 0.25, "program": 0.25},
        "Task category sampling weights (the reference draws from function, function, class, "
        "program: 2:1:1)."
    )
    difficulties: list[str] = setting(
        ["easy", "medium", "hard"], "Difficulties, sampled uniformly."
    )
    language: str = setting("Python", "Programming language named in the task properties.")


class ResponsesConfig(LLMStageConfig):
    """Stage 3, I->R: responses with self-written tests."""

    shots: int = setting(1, "Few-shot examples per prompt.", ge=0)
    n: int = setting(10, "Sampled (response, tests) pairs per instruction.", ge=1)


class ExecuteConfig(Section):
    """Stage 4: running each response against its own tests in the sandbox."""

    timeout_s: float = setting(10.0, "Wall-clock limit per program, seconds.", gt=0)
    memory_mb: int = setting(4096, "Address-space limit per program, MiB.", ge=64)
    output_limit: int = setting(
        65536, "Bytes of stdout+stderr kept from the start of a program's output (the last 4 KiB "
        "are kept too); what lies between is dropped with a marker, never a failure.", ge=1024
    )
    profile: Literal["default", "strict", "fork"] = setting(
        "default", "`default` allows new processes (multiprocessing, a subprocess of the "
        "sandboxed Python), at most 64, all inside the program's PID namespace; `strict` "
        "refuses new processes and exec; `fork` is the former name of `default`."
    )
    oracle: bool = setting(
        True, "Run `assert f(<literals>) == <literal>` tests with the expected values kept "
        "outside the sandbox."
    )
    workers: int = setting(
        0, "Sandbox worker processes (0: one per CPU core).", affects_output=False, ge=0
    )
    disable_layers: list[Literal["pid_namespace", "uid_drop", "landlock", "seccomp"]] = setting(
        [], "Isolation layers to leave off on purpose; they are reported as missing."
    )
    preload: list[str] = setting(
        [], "Extra modules each worker imports once (e.g. numpy), on top of common stdlib ones.",
        affects_output=False,
    )
    base_uid: int = setting(
        61000, "As root, programs run as uid base_uid + worker slot.", affects_output=False,
        ge=1000,
    )


class SelectConfig(Section):
    """Stage 5: selection, dedup, decontamination (docs/method.md order)."""

    max_instruction_words: int = setting(200, "Drop instructions longer than this.", ge=1)
    minhash_threshold: float = setting(0.7, "MinHash LSH Jaccard threshold.", gt=0, le=1)
    minhash_perms: int = setting(250, "MinHash permutations.", ge=1)
    shingle_size: int = setting(5, "Word n-gram size of MinHash shingles.", ge=1)
    diversify_names: bool = setting(
        True, "Skip a sample whose set of function names, or of class names (every definition, "
        "`_` removed, lower case), was already kept; the instruction's next sample is tried "
        "(on in the paper's main run)."
    )
    augment_tests_p: float = setting(
        0.5, "Probability of appending 1-5 asserts to the instruction.", ge=0, le=1
    )
    benchmarks: list[str] = setting(
        ["humaneval", "mbpp"], "Benchmarks to decontaminate against (names or file paths)."
    )
    ngram: int = setting(10, "Word n-gram size of the overlap check.", ge=3)
    benchmark_dir: Path | None = setting(
        None, "Folder with the EvalPlus release files (else $SELFCODEALIGN_BENCHMARKS, the "
        "cache, or a download).", affects_output=False,
    )
    check_tests: bool = setting(
        True, "Run each chosen sample's tests on a stub (dropping tests that pass it) and on "
        "the instruction's other responses (a signal), in the sandbox."
    )
    push_to_hub: str | None = setting(
        None, "Hub repo (org/name) to push the dataset to; the token comes from $HF_TOKEN.",
        affects_output=False,
    )


class TrainConfig(Section):
    """Stage 6: prompt-masked SFT (docs/method.md, 'Stage 6'); defaults: the paper's recipe."""

    learning_rate: float = setting(1e-5, "Peak learning rate (Adafactor, linear schedule).", gt=0)
    epochs: float = setting(4.0, "Training epochs.", gt=0)
    batch_size: int = setting(64, "Effective batch size (via gradient accumulation).", ge=1)
    micro_batch_size: int = setting(
        1, "Sequences per device per step; accumulation makes up the effective batch.", ge=1
    )
    warmup_ratio: float = setting(0.05, "Fraction of steps used for warmup.", ge=0, lt=1)
    max_length: int = setting(1280, "Maximum sequence length in tokens (longer: cut, counted).",
                              ge=16)
    packing: bool = setting(False, "Pack sequences (a deviation from the paper).")
    loss: Literal["example", "token"] = setting(
        "example", "`example`: each example's loss is the mean over its response tokens and a "
        "batch's loss the mean over its examples, so every example weighs the same (the "
        "reference's HF Trainer); `token`: every response token of the accumulated batch weighs "
        "the same, so long responses weigh more (TRL's default)."
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = setting(
        "auto", "Training precision (auto: bf16 on GPUs that have it, else fp32)."
    )
    gradient_checkpointing: bool = setting(
        True, "Recompute activations to save memory.", affects_output=False
    )
    lora: bool = setting(False, "Train LoRA adapters (peft) instead of all weights.")
    lora_r: int = setting(16, "LoRA rank.", ge=1)
    lora_alpha: int = setting(32, "LoRA alpha.", ge=1)
    load_in_4bit: bool = setting(False, "QLoRA: load the base model in 4 bits (bitsandbytes).")
    eval_fraction: float = setting(
        0.0, "Share of the data held out and evaluated each `save_steps`.", ge=0, lt=1
    )
    save_steps: int = setting(
        200, "Steps between checkpoints (and evaluations).", affects_output=False, ge=1
    )
    logging: Literal["none", "tensorboard", "wandb"] = setting(
        "none", "Where to log metrics (when the library is installed).", affects_output=False
    )
    eval_benchmarks: list[Literal["humaneval", "mbpp"]] = setting(
        [], "Benchmarks scored at every checkpoint (evaluate.* settings apply); empty = none.",
        affects_output=False,
    )
    eval_from: Literal["auto", "memory", "checkpoint"] = setting(
        "auto", "How checkpoints are scored: `memory`: by the model in memory, while training "
        "waits (one whole model: a single process); `checkpoint`: from the saved checkpoint "
        "by a separate process (several processes, FSDP / DeepSpeed ZeRO-3 shards, LoRA "
        "adapters); `auto`: `checkpoint` under a multi-process launch, else `memory`.",
        affects_output=False,
    )
    eval_devices: str | None = setting(
        None, "CUDA_VISIBLE_DEVICES of the checkpoint scorer (`eval_from: checkpoint`), e.g. "
        "`7`, so it scores while training goes on; `cpu`: no GPU. None: on GPUs, each "
        "checkpoint is scored after training ends (its weights kept until then); on the CPU, "
        "while training goes on.", affects_output=False,
    )
    eval_limit: int | None = setting(
        None, "Tasks per benchmark scored at each checkpoint (None = all of them).",
        affects_output=False, ge=1,
    )


class EvaluateConfig(Section):
    """Stage 7: HumanEval+ / MBPP+ scoring."""

    benchmarks: list[Literal["humaneval", "mbpp"]] = setting(
        ["humaneval", "mbpp"], "Benchmarks to evaluate."
    )
    n_samples: int = setting(1, "Samples per task (1 with greedy decoding = pass@1).", ge=1)
    temperature: float = setting(0.0, "Sampling temperature (0 = greedy).", ge=0)
    dataset_dir: Path | None = setting(
        None, "EvalPlus release file (`HumanEvalPlus.jsonl.gz`, a versioned "
        "`MbppPlus-v0.2.0.jsonl`, ...) or the folder that holds them (default: "
        "$SELFCODEALIGN_BENCHMARKS, the cache, or a download when online)."
    )
    max_tokens: int = setting(1024, "Maximum new tokens per evaluation sample.", ge=1)
    prompt_profile: Literal["paper", "vllm-script"] = setting(
        "paper", "Evaluation prompts: `paper`, the harness behind StarCoder2-15B-Instruct's "
        "published numbers (the model continues the HumanEval+ problem); `vllm-script`, the "
        "reference's later vLLM script (a bare fence, no continuation)."
    )
    extract_code: bool = setting(
        False, "Score the first python block of the answer that defines the entry point "
        "instead of prompt + completion (for chat-style models that answer in prose)."
    )
    batch_size: int = setting(32, "Prompts per generation request batch.", ge=1)
    limit: int | None = setting(
        None, "Evaluate the first N tasks of each benchmark only, a quick signal (None = all; "
        "`run` uses it, `evaluate --limit` overrides it).", affects_output=False, ge=1,
    )
    min_time_limit: float = setting(
        1.0, "Per-input time limit floor, seconds (EvalPlus: 1.0).", gt=0
    )
    time_limit_factor: float = setting(
        4.0, "Per-input time limit = factor x the canonical solution's time (EvalPlus: 4.0).",
        gt=0,
    )
