"""SFT with TRL's SFTTrainer, faithful to the paper's recipe (docs/method.md, "Stage 6").

The data is tokenized here (format.py: BOS + prompt + response + EOS, loss on the response and
EOS only) and handed to SFTTrainer already tokenized, with `completion_only_loss`. Recipe:
Adafactor, learning rate 1e-5, linear schedule with 5% warmup, an effective batch of 64 through
gradient accumulation, max length 1280, no packing, no gradient clipping, weight decay 0, and
dropout forced to 0 on the model's config (left on, it is the suspected cause of a 7-point
reproduction gap). The loss is normalised per example by default (`train.loss: example`: each
example's mean over its response tokens, then the mean over examples, as the reference's HF
Trainer did; `token`: TRL's mean over all response tokens of the accumulated batch). The
tokenizer is saved with the matching chat template (BOS included). Options: LoRA/QLoRA
(peft), packing, bf16/fp16, gradient checkpointing, flash attention when installed, a held-out
evaluation split, TensorBoard or W&B logging, resume from the last checkpoint, and HumanEval+ /
MBPP+ scores at every checkpoint (`train.eval_benchmarks`, see checkpoints.py: by the model in
memory, or from the saved checkpoint in a separate process under multi-process or sharded
training). Multi-GPU: launch with `accelerate launch -m selfcodealign train ...` or
`torchrun ... -m selfcodealign`; the global batch stays `train.batch_size`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from selfcodealign.config.schema import Config, TrainConfig
from selfcodealign.errors import BackendError, ConfigError, InputError
from selfcodealign.extras import available, require
from selfcodealign.models import ModelSource, gguf_load_error, resolve_model
from selfcodealign.prompts.instruct import CHAT_TEMPLATE, instruction_response, tokenize

log = logging.getLogger(__name__)


def zero_dropout(config: Any) -> list[str]:
    """Set every dropout probability on a model config to 0; returns the names changed."""
    changed = []
    for name, value in vars(config).items():
        if ("dropout" in name or name.endswith("pdrop")) and isinstance(value, float) and value:
            setattr(config, name, 0.0)
            changed.append(name)
    return changed


def load_rows(data: str) -> list[dict[str, Any]]:
    """Rows from a JSONL file, a selection output folder, or a dataset saved on disk."""
    path = Path(data)
    if path.is_dir():
        for candidate in (path / "hf", path):
            if (candidate / "dataset_info.json").exists() or (candidate / "state.json").exists():
                datasets = require("datasets", extra="train", feature="training")
                return [dict(r) for r in datasets.load_from_disk(str(candidate))]
        if (path / "data.jsonl").exists():
            path = path / "data.jsonl"
        else:
            raise InputError(f"no dataset found in {data} (expected hf/, a saved dataset or "
                             "data.jsonl)")
    from selfcodealign.store.jsonl import INVALID, read_jsonl

    return [r for r in read_jsonl(path) if INVALID not in r]


def tokenized_dataset(tokenizer: Any, rows: Iterable[dict[str, Any]], max_length: int
                      ) -> tuple[Any, dict[str, int]]:
    datasets = require("datasets", extra="train", feature="training")
    columns: dict[str, list[Any]] = {"input_ids": [], "completion_mask": []}
    counts = {"examples": 0, "truncated": 0, "unusable": 0, "tokens": 0}
    for row in rows:
        pair = instruction_response(row)
        if pair is None:
            counts["unusable"] += 1
            continue
        item = tokenize(tokenizer, pair[0], pair[1], max_length)
        columns["input_ids"].append(item.input_ids)
        columns["completion_mask"].append(item.completion_mask)
        counts["examples"] += 1
        counts["truncated"] += item.truncated
        counts["tokens"] += len(item.input_ids)
    if not counts["examples"]:
        raise InputError("the training data has no usable rows (need instruction and "
                         "response columns, or messages)")
    return datasets.Dataset.from_dict(columns), counts


def _precision(cfg: TrainConfig, torch: Any) -> dict[str, bool]:
    cuda = torch.cuda.is_available()
    if cfg.precision == "bf16" or (cfg.precision == "auto" and cuda
                                   and torch.cuda.is_bf16_supported()):
        return {"bf16": True}
    if cfg.precision == "fp16":
        return {"fp16": True}
    return {}


def _load_model(source: ModelSource, cfg: TrainConfig, torch: Any, transformers: Any) -> Any:
    kwargs: dict[str, Any] = dict(source.kwargs())
    if torch.cuda.is_available() and available("flash_attn"):
        kwargs["attn_implementation"] = "flash_attention_2"
    if cfg.load_in_4bit:
        require("bitsandbytes", extra="train", feature="QLoRA (load_in_4bit)")
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
    try:
        net = transformers.AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        clear = gguf_load_error(source, exc)
        if clear is not None:
            raise clear from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"cannot load model {source.name!r}: {first}") from None
    return plain_copy(net, transformers) if source.is_gguf else net


def plain_copy(net: Any, transformers: Any) -> Any:
    """The same weights in a model built from its config: `save_pretrained` refuses a model
    loaded from a GGUF file, so a run trained from one would end with nothing saved."""
    fresh = transformers.AutoModelForCausalLM.from_config(net.config, dtype=net.dtype)
    fresh.load_state_dict(net.state_dict())
    if getattr(net, "generation_config", None) is not None:
        fresh.generation_config = net.generation_config
    return fresh


def example_mean_loss(logits: Any, labels: Any, torch: Any) -> Any:
    """The mean over examples of each example's mean token loss on its labelled (response)
    tokens; an example with no labelled token does not count."""
    shifted = labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1, :].float().reshape(-1, logits.shape[-1]), shifted.reshape(-1),
        ignore_index=-100, reduction="none").view(shifted.shape)
    mask = shifted != -100
    counts = mask.sum(dim=1)
    per_example = (per_token * mask).sum(dim=1) / counts.clamp(min=1)
    present = counts > 0
    if not bool(present.any()):
        return per_token.sum() * 0.0
    return per_example[present].mean()


_MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids")


def _example_mean_trainer(base: Any, torch: Any) -> Any:
    class ExampleMeanSFTTrainer(base):  # type: ignore[misc]
        """SFTTrainer with the loss normalised per example (`train.loss: example`). The loss of
        a micro-batch is a mean over its examples; the Trainer divides it by the gradient
        accumulation steps, so the accumulated batch is a mean over its examples too."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loss_is_scaled_for_ga = False  # a per-micro-batch mean

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            outputs = model(**{k: v for k, v in inputs.items() if k in _MODEL_INPUTS},
                            use_cache=False)
            loss = example_mean_loss(outputs.logits, inputs["labels"], torch)
            return (loss, outputs) if return_outputs else loss

    return ExampleMeanSFTTrainer


def last_checkpoints(output_dir: str) -> list[Path]:
    """The `checkpoint-<step>` folders of `output_dir`, oldest step first."""
    from selfcodealign.training.scoring import numbered_checkpoints

    return numbered_checkpoints(Path(output_dir))


def launched_world_size() -> int:
    """How many processes train together: `WORLD_SIZE` as `accelerate launch` and `torchrun`
    set it (1 when run alone)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def accumulation_steps(batch_size: int, micro_batch_size: int, world_size: int | None) -> int:
    """Gradient accumulation that keeps the global batch at `batch_size` examples per optimiser
    step whatever the number of processes (the paper: 64 = micro x accumulation x GPUs)."""
    world = launched_world_size() if world_size is None else max(1, world_size)
    per_step = micro_batch_size * world
    if batch_size % per_step:
        raise ConfigError(f"train.batch_size {batch_size} is not a multiple of "
                          f"train.micro_batch_size {micro_batch_size} x {world} processes; "
                          "the global batch would not be the one asked for")
    return max(1, batch_size // per_step)


def _release_model(trainer: Any, torch: Any) -> None:
    """Drop the trained model and optimizer from memory (saved already), so scorer processes
    that run after training have the GPU to themselves."""
    import gc

    trainer.accelerator.free_memory()
    trainer.model = trainer.model_wrapped = None
    trainer.optimizer = trainer.lr_scheduler = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _leave_process_group(torch: Any) -> None:
    """Every process leaves the training's process group together, so the others can end
    while the main one still waits for its checkpoint scorers: a process that ends with the
    group still up while a peer lives aborts (gloo), and the launcher then kills them all."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sharded_launch() -> bool:
    """Whether the launcher asked for FSDP or DeepSpeed (`accelerate launch` with such a
    config): no process holds the whole model."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes")
               for k in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def _score_callback(cfg: TrainConfig, config: Config | None,
                    sandbox: Callable[[Any], Any] | None, model: str, output_dir: str,
                    torch: Any) -> Any:
    """The callback that scores checkpoints the way `train.eval_from` says."""
    from selfcodealign.training.checkpoints import BenchmarkCallback, ScorerQueue

    if config is None:
        raise ConfigError("train.eval_benchmarks needs the whole config (evaluate.*)")
    whole = config.model_copy(update={"train": cfg})
    mode = cfg.eval_from
    if mode == "auto":
        mode = "checkpoint" if launched_world_size() > 1 or sharded_launch() else "memory"
    if mode == "checkpoint":
        concurrent = cfg.eval_devices is not None or not torch.cuda.is_available()
        return ScorerQueue(whole, model, output_dir, devices=cfg.eval_devices,
                           concurrent=concurrent)
    if launched_world_size() > 1 or sharded_launch():
        raise ConfigError("train.eval_from: memory needs one whole model in one process; "
                          "under a multi-process or sharded launch use `checkpoint`")
    if sandbox is None:  # the configured executor's
        from selfcodealign.executor import for_config

        sandbox = for_config(config).sandbox
    return BenchmarkCallback(whole, sandbox)


def train(data: str, model: str, output_dir: str, cfg: TrainConfig, *, seed: int = 3407,
          max_steps: int | None = None, world_size: int | None = None,
          config: Config | None = None, gguf_file: str | None = None,
          sandbox: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Fine-tune `model` on `data` into `output_dir`; returns a summary.

    With `cfg.eval_benchmarks` set, `config` (the whole configuration: the evaluate, execute
    and backend settings) is needed: every checkpoint is scored on those benchmarks, in
    `sandbox(limits)` (by default the configured executor's). `model`
    may be a GGUF file (or a folder with `gguf_file`): the result is a normal Hugging Face
    model folder."""
    torch = require("torch", extra="hf", feature="training")
    transformers = require("transformers", extra="hf", feature="training")
    trl = require("trl", extra="train", feature="training")
    source = resolve_model(model, gguf_file)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.path, **source.kwargs())
    except (OSError, ValueError, ImportError) as exc:
        clear = gguf_load_error(source, exc)
        if clear is not None:
            raise clear from None
        raise BackendError(f"cannot load the tokenizer of {model!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = CHAT_TEMPLATE
    dataset, counts = tokenized_dataset(tokenizer, load_rows(data), cfg.max_length)
    if counts["truncated"]:
        log.warning("%d of %d examples were longer than %d tokens and were cut",
                    counts["truncated"], counts["examples"], cfg.max_length)
    net = _load_model(source, cfg, torch, transformers)
    dropped = zero_dropout(net.config)
    split = None
    if cfg.eval_fraction:
        split = dataset.train_test_split(test_size=cfg.eval_fraction, seed=seed)
        dataset = split["train"]
    accumulation = accumulation_steps(cfg.batch_size, cfg.micro_batch_size, world_size)
    fields = {f.name for f in dataclasses.fields(trl.SFTConfig)}
    warmup = ({"warmup_ratio": cfg.warmup_ratio} if "warmup_ratio" in fields
              else {"warmup_steps": cfg.warmup_ratio})
    report = [] if cfg.logging == "none" or not available(cfg.logging) else [cfg.logging]
    args = trl.SFTConfig(
        output_dir=output_dir, num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear", optim="adafactor", weight_decay=0.0, max_grad_norm=0.0,
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accumulation, max_length=cfg.max_length,
        packing=cfg.packing, completion_only_loss=True,
        gradient_checkpointing=cfg.gradient_checkpointing and torch.cuda.is_available(),
        save_steps=cfg.save_steps, save_total_limit=3, logging_steps=1, report_to=report,
        seed=seed, max_steps=max_steps if max_steps is not None else -1,
        eval_strategy="steps" if split is not None else "no",
        eval_steps=cfg.save_steps if split is not None else None,
        use_cpu=not torch.cuda.is_available(), **warmup, **_precision(cfg, torch))
    peft_config = None
    if cfg.lora:
        peft = require("peft", extra="train", feature="LoRA training")
        peft_config = peft.LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                      target_modules="all-linear", task_type="CAUSAL_LM")
    callbacks: list[Any] = []
    if cfg.eval_benchmarks:
        callbacks.append(_score_callback(cfg, config, sandbox, model, output_dir, torch))
    trainer_class = (_example_mean_trainer(trl.SFTTrainer, torch) if cfg.loss == "example"
                     else trl.SFTTrainer)
    trainer = trainer_class(model=net, args=args, train_dataset=dataset,
                             eval_dataset=split["test"] if split is not None else None,
                             processing_class=tokenizer, peft_config=peft_config,
                             callbacks=callbacks or None)
    for callback in callbacks:
        callback.trainer = trainer
    checkpoints = last_checkpoints(output_dir)
    for callback in callbacks:
        callback.resumed_from = checkpoints[-1] if checkpoints else None
    try:
        result = trainer.train(
            resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
        trainer.save_model(output_dir)
        main = bool(trainer.is_world_process_zero())
        if main:  # one writer for the tokenizer files, whatever the number of processes
            tokenizer.save_pretrained(output_dir)
        queues = [c for c in callbacks if hasattr(c, "finish")]
        if queues:  # scorers of saved checkpoints: give them the GPU, wait for the last
            _leave_process_group(torch)
            if main:
                del net
                _release_model(trainer, torch)
                for queue in queues:
                    queue.finish()
    finally:
        for callback in callbacks:
            if hasattr(callback, "close"):
                callback.close()
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    return {"steps": int(trainer.state.global_step), "train_loss": float(result.training_loss),
            "losses": losses,
            "examples": counts["examples"], "truncated": counts["truncated"],
            "unusable": counts["unusable"], "tokens": counts["tokens"],
            "dropout_zeroed": dropped, "gradient_accumulation": accumulation,
            "resumed_from": str(checkpoints[-1]) if checkpoints else None,
            "checkpoint_scores": [e for c in callbacks for e in c.history],
            "checkpoint_score_failures": [e for c in callbacks
                                          for e in getattr(c, "failures", [])],
            "output_dir": output_dir, "world_size": int(trainer.args.world_size),
            "main_process": main}
