"""Benchmark scores of saved checkpoints, in a separate process (`train.eval_from: checkpoint`).

Training on several processes, and above all sharded training (FSDP, DeepSpeed ZeRO-3), has
no whole model in any one process to generate with. So after each save the main process
stages the checkpoint's weights (hard links, no copy) under

    <output_dir>/benchmark_scores/checkpoint-<step>/model/

and a scorer process (`python -m selfcodealign.training.scoring <job.json>`) turns them into a
loadable model (`loadable_model`: a plain Hugging Face folder as is; FSDP `SHARDED_STATE_DICT`
shards merged with accelerate; DeepSpeed ZeRO shards gathered with deepspeed; LoRA adapters
merged into the base model), generates the benchmark samples with the run's `evaluate.*`
settings and scores them in the sandbox. The staged weights are removed once scored, and the
samples, results and `scores.json` stay next to them, out of reach of checkpoint rotation.

Scorers run one at a time, oldest checkpoint first, while training goes on when they have
devices of their own (`train.eval_devices`, or training on the CPU); otherwise each waits for
training to end and the GPUs to be free. A crash loses nothing: on resume every staged,
unscored checkpoint is queued again and its samples already written are kept. The scorer dies
with the process that started it (`die_with_parent`), so no orphan writes beside a resumed one.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.config import Config
from selfcodealign.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

SCORES_DIR = "benchmark_scores"
HISTORY_FILE = "benchmark_history.jsonl"
SCORES_FILE = "scores.json"
JOB_FILE = "job.json"
LOG_FILE = "scorer.log"
# training state a scorer never reads: not staged
_NOT_WEIGHTS = ("optimizer", "scheduler.pt", "rng_state", "trainer_state.json",
                "training_args.bin", "scaler.pt")
# environment that would make the scorer join the training's process group
_LAUNCHER_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
                 "ROLE_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
                 "NODE_RANK", "CROSS_RANK", "CROSS_SIZE")


def score_metrics(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """{"humaneval_pass@1": ..., "humaneval+_pass@1": ...} from evaluation summaries."""
    metrics: dict[str, float] = {}
    for summary in summaries:
        name = summary["benchmark"]
        for kind, suffix in (("base", ""), ("plus", "+")):
            for k, value in summary["pass_at_k"][kind].items():
                metrics[f"{name}{suffix}_{k}"] = float(value)
    return metrics


def scores_dir(output_dir: str | Path, step: int) -> Path:
    """Where checkpoint `step`'s samples, results and scores live."""
    return Path(output_dir) / SCORES_DIR / f"checkpoint-{step}"


def step_of(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[-1])


def numbered_checkpoints(folder: Path) -> list[Path]:
    """The `checkpoint-<step>` folders in `folder`, oldest step first (none if it is absent)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*")
             if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()]
    return sorted(found, key=step_of)


def record_history(output_dir: str | Path, entry: dict[str, Any]) -> bool:
    """Append `entry` to the run's benchmark history unless its step is there already."""
    history = Path(output_dir) / HISTORY_FILE
    if history.is_file():
        for line in history.read_bytes().splitlines():
            try:
                if orjson.loads(line).get("step") == entry["step"]:
                    return False
            except orjson.JSONDecodeError:  # a line cut by a crash
                continue
    with history.open("ab") as fh:
        fh.write(orjson.dumps(entry) + b"\n")
    return True


# ---- the weights of a checkpoint, as a folder transformers and vLLM load --------------------

_HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
               "pytorch_model.bin.index.json")


def loadable_model(checkpoint: Path, base_model: str, work: Path) -> Path:
    """A Hugging Face model folder holding `checkpoint`'s weights: the checkpoint itself when
    it is one, else one built under `work` (sharded weights merged, an adapter merged into
    `base_model`). Raises BackendError naming what the checkpoint holds when none fits."""
    names = {p.name for p in checkpoint.iterdir()}
    if (checkpoint / "adapter_config.json").is_file():
        return _merge_adapter(checkpoint, base_model, work)
    if "config.json" in names and names & set(_HF_WEIGHTS):
        return checkpoint
    if names & set(_HF_WEIGHTS):  # weights without a config (FSDP FULL_STATE_DICT saves)
        return _with_base_files(checkpoint, base_model, work, copy_weights=True)
    shards = sorted(p for p in checkpoint.glob("pytorch_model_fsdp_*")
                    if p.is_dir() and (p / ".metadata").is_file())
    if shards:
        from accelerate.utils import merge_fsdp_weights  # type: ignore[import-untyped]

        work.mkdir(parents=True, exist_ok=True)
        merge_fsdp_weights(str(shards[0]), str(work), safe_serialization=True)
        return _with_base_files(work, base_model, work, copy_weights=False)
    if "pytorch_model_fsdp.bin" in names:
        import torch

        state = torch.load(checkpoint / "pytorch_model_fsdp.bin", map_location="cpu",
                           weights_only=True)
        return _save_state(state, base_model, work)
    if any(checkpoint.glob("global_step*")) and (checkpoint / "latest").is_file():
        try:
            from deepspeed.utils.zero_to_fp32 import (  # type: ignore[import-not-found]
                get_fp32_state_dict_from_zero_checkpoint,
            )
        except ImportError:
            raise BackendError(
                f"{checkpoint} holds DeepSpeed ZeRO shards and deepspeed is not installed here; "
                "install it, or set stage3_gather_16bit_weights_on_model_save: true so the "
                "trainer saves whole weights") from None
        return _save_state(get_fp32_state_dict_from_zero_checkpoint(str(checkpoint)),
                           base_model, work)
    found = ", ".join(sorted(names)[:8]) or "nothing"
    raise BackendError(f"{checkpoint} holds no model weights this can load ({found}); FSDP "
                       "must save SHARDED_STATE_DICT (with DCP) or FULL_STATE_DICT")


def _with_base_files(weights: Path, base_model: str, work: Path, *, copy_weights: bool
                     ) -> Path:
    """`work` as a model folder: `weights`' weight files plus the base model's config, and the
    tokenizer from the checkpoint when it has one, else the base model's."""
    import transformers

    work.mkdir(parents=True, exist_ok=True)
    if copy_weights:
        for name in _HF_WEIGHTS:
            if (weights / name).is_file():
                _link(weights / name, work / name)
        for shard in weights.glob("model-*.safetensors"):
            _link(shard, work / shard.name)
    if not (work / "config.json").is_file():
        transformers.AutoConfig.from_pretrained(base_model).save_pretrained(work)
    _save_tokenizer(weights, base_model, work)
    return work


def _save_tokenizer(checkpoint: Path, base_model: str, work: Path) -> None:
    import transformers

    if (work / "tokenizer_config.json").is_file():
        return
    source = checkpoint if (checkpoint / "tokenizer_config.json").is_file() else base_model
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(work)


def _save_state(state: dict[str, Any], base_model: str, work: Path) -> Path:
    """A model folder from a whole state dict and the base model's architecture."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(base_model)
    with torch.device("meta"):
        net = transformers.AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    net.load_state_dict(state, strict=False, assign=True)
    net.tie_weights()  # a tied output layer the state dict left out
    work.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(work)
    _save_tokenizer(work, base_model, work)
    return work


def _merge_adapter(checkpoint: Path, base_model: str, work: Path) -> Path:
    """The base model with the checkpoint's LoRA adapter merged in, saved under `work`."""
    import peft
    import transformers

    base = orjson.loads((checkpoint / "adapter_config.json").read_bytes()).get(
        "base_model_name_or_path") or base_model
    if not Path(base).exists() and Path(base_model).exists():
        base = base_model  # the adapter names a path of another machine
    net = transformers.AutoModelForCausalLM.from_pretrained(base)
    net = peft.PeftModel.from_pretrained(net, str(checkpoint)).merge_and_unload()
    work.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(work)
    _save_tokenizer(checkpoint, base, work)
    return work


def _link(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (a copy where the file system has no hard links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_weights(checkpoint: Path, target: Path) -> None:
    """Hard-link everything of `checkpoint` a scorer may read into `target`, so checkpoint
    rotation cannot take it away before it is scored; optimizer and RNG states stay out."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for path in sorted(checkpoint.rglob("*")):
        relative = path.relative_to(checkpoint)
        if any(part.startswith(_NOT_WEIGHTS) or "optim_states" in part
               for part in relative.parts):  # DeepSpeed's optimizer shards too
            continue
        if path.is_file():
            _link(path, partial / relative)
    partial.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


# ---- the scorer process ---------------------------------------------------------------------

def scorer_config(config: Config, model: Path | str) -> Config:
    """The run's config with the backend serving the model folder `model`: vLLM when the run
    uses it, else transformers (a server or the fake backend cannot load a fresh folder).
    Also how `run` evaluates its trained model (steps/train.py)."""
    name = config.backend.name if config.backend.name in ("vllm", "transformers") \
        else "transformers"
    return config.model_copy(update={"backend": config.backend.model_copy(
        update={"name": name, "model": str(model), "revision": None, "gguf_file": None})})


def score_job(job_file: Path) -> dict[str, Any]:
    """Run one scoring job (the scorer process's work); returns its history entry."""
    from selfcodealign.evaluation.run import evaluate_benchmarks
    from selfcodealign.execution.base import Limits
    from selfcodealign.executor import for_config

    job = orjson.loads(job_file.read_bytes())
    folder = job_file.parent
    config = Config.model_validate(job["config"])
    model = loadable_model(folder / "model", job["base_model"], folder / "merged")
    cfg = scorer_config(config, model)
    executor = for_config(cfg)
    made: list[Any] = []

    def backend() -> Any:
        if not made:
            made.append(executor.llm_backend())
        return made[0]

    limits = Limits(memory_mb=max(cfg.execute.memory_mb, 4096))
    try:
        with executor.sandbox(limits, oracle=False) as box:
            summaries = evaluate_benchmarks(
                list(cfg.train.eval_benchmarks), cfg.evaluate, box=box, backend=backend,
                paths=lambda name: (folder / f"{name}.results.json",
                                    folder / f"{name}.samples.jsonl"),
                limit=cfg.train.eval_limit, seed=cfg.run.seed, model=job["checkpoint"],
                show_progress=False, tokenizer=lambda b: getattr(b, "tokenizer", None))
    finally:
        for made_backend in made:
            made_backend.close()
    entry = {"step": job["step"], "checkpoint": job["checkpoint"],
             "limit": cfg.train.eval_limit, **score_metrics(summaries)}
    (folder / SCORES_FILE).write_bytes(orjson.dumps(entry))
    shutil.rmtree(folder / "merged", ignore_errors=True)
    shutil.rmtree(folder / "model", ignore_errors=True)
    return entry


PARENT_ENV = "SELFCODEALIGN_SCORER_PARENT"


def die_with_parent() -> bool:
    """Called first thing in the scorer: SIGKILL when the training process that started it
    dies (Linux PR_SET_PDEATHSIG), so no orphan scorer writes beside a resumed one. False
    when that process is already gone. (Set in the child itself: a `preexec_fn` is unsafe
    in a parent with threads, as a trainer is.)"""
    parent = os.environ.get(PARENT_ENV)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    return parent is None or not parent.isdigit() or os.getppid() == int(parent)


def scorer_env(devices: str | None) -> dict[str, str]:
    """The scorer's environment: no launcher variables (it is no rank of the training),
    `devices` as its CUDA_VISIBLE_DEVICES when given ("cpu": none), and this process as the
    parent it dies with."""
    env = {k: v for k, v in os.environ.items()
           if k not in _LAUNCHER_ENV and not k.startswith(("ACCELERATE_", "FSDP_"))}
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = "" if devices.strip().lower() == "cpu" else devices
    env[PARENT_ENV] = str(os.getpid())
    return env


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m selfcodealign.training.scoring <job.json>", file=sys.stderr)
        return 2
    if not die_with_parent():
        print("error: the training process that started this scorer is gone",
              file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        entry = score_job(Path(args[0]))
    except (BackendError, ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(entry).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
