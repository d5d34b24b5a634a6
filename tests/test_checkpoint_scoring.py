"""Checkpoint scores from the saved checkpoint, in a separate process (`train.eval_from:
checkpoint`): the layouts a checkpoint's weights come in (plain, FSDP shards from a real
2-process sharded save, FSDP full state, LoRA adapter), the same samples as scoring the model
in memory, resume after a crash, a failing scorer costing only its checkpoint, a multi-process
launch, and a scorer that dies with the training."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from selfcodealign.errors import BackendError  # noqa: E402
from selfcodealign.processes import alive  # noqa: E402
from selfcodealign.training.scoring import (  # noqa: E402
    loadable_model,
    record_history,
    scorer_env,
    stage_weights,
)

ROWS = [{"instruction": f"Write add{i}.", "response": f"def add{i}(a, b):\n    return a + b"}
        for i in range(16)]


def weights(folder: Path) -> dict[str, Any]:
    return dict(transformers.AutoModelForCausalLM.from_pretrained(folder).state_dict())


def same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CUDA_VISIBLE_DEVICES": ""}


# ---- the layouts of a checkpoint's weights ----------------------------------------------------

def test_a_plain_checkpoint_is_loaded_as_it_is(tiny_model: Path, tmp_path: Path) -> None:
    assert loadable_model(tiny_model, str(tiny_model), tmp_path / "work") == tiny_model
    assert not (tmp_path / "work").exists()


def test_fsdp_shards_from_a_two_process_sharded_save_are_merged(tiny_model: Path,
                                                                tmp_path: Path) -> None:
    """Two gloo processes shard the model with FSDP2 (`fully_shard`) and save its sharded
    state dict with torch.distributed.checkpoint where accelerate's SHARDED_STATE_DICT puts it;
    the scorer's merge gives back the exact weights, with the base model's config."""
    script = tmp_path / "shard.py"
    script.write_text(
        "import os, sys, torch, torch.distributed as dist\n"
        "import torch.distributed.checkpoint as dcp\n"
        "from torch.distributed.fsdp import fully_shard\n"
        "from torch.distributed.checkpoint.state_dict import get_model_state_dict\n"
        "import transformers\n"
        "dist.init_process_group('gloo')\n"
        "net = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "for block in net.transformer.h:\n"
        "    fully_shard(block)\n"
        "fully_shard(net)\n"
        "state = get_model_state_dict(net)\n"
        "kinds = {type(v).__name__ for v in state.values()}\n"
        "print('rank', dist.get_rank(), sorted(kinds), flush=True)\n"
        "dcp.save({'model': state}, storage_writer=dcp.FileSystemWriter(sys.argv[2]))\n"
        "dist.barrier()\n"
        "os._exit(0)\n")
    checkpoint = tmp_path / "checkpoint-7"
    env = {**child_env(), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port"]
    done = subprocess.run([*torchrun, str(free_port()), str(script), str(tiny_model),
                           str(checkpoint / "pytorch_model_fsdp_0")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("['DTensor']") == 2  # each rank held shards, not whole tensors
    assert len(list((checkpoint / "pytorch_model_fsdp_0").glob("*.distcp"))) == 2
    model = loadable_model(checkpoint, str(tiny_model), tmp_path / "merged")
    assert model == tmp_path / "merged" and (model / "config.json").is_file()
    assert (model / "tokenizer_config.json").is_file()
    assert same_weights(weights(model), weights(tiny_model))


def test_fsdp_full_state_and_weights_without_a_config(tiny_model: Path, tmp_path: Path) -> None:
    state = weights(tiny_model)
    full = tmp_path / "full"
    full.mkdir()
    # a tied output layer is often left out of a full state dict: tied again on load
    torch.save({k: v for k, v in state.items() if k != "lm_head.weight"},
               full / "pytorch_model_fsdp.bin")
    assert same_weights(weights(loadable_model(full, str(tiny_model), tmp_path / "w1")), state)
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(tiny_model / "model.safetensors", bare / "model.safetensors")
    made = loadable_model(bare, str(tiny_model), tmp_path / "w2")
    assert made == tmp_path / "w2" and same_weights(weights(made), state)


def test_a_lora_adapter_is_merged_into_the_base_model(tiny_model: Path, tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    net = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = peft.get_peft_model(net, peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                    init_lora_weights=False))
    adapter = tmp_path / "checkpoint-3"
    lora.save_pretrained(adapter)
    expected = {k: v.clone() for k, v in lora.merge_and_unload().state_dict().items()}
    made = loadable_model(adapter, str(tiny_model), tmp_path / "merged")
    got = weights(made)
    assert not same_weights(got, weights(tiny_model))  # the adapter changed something
    assert all(torch.allclose(got[k], expected[k], atol=1e-6) for k in expected)


@pytest.mark.parametrize("files", [[], ["trainer_state.json", "optimizer.pt"],
                                   ["pytorch_model_fsdp_0_rank0.bin"]])
def test_a_checkpoint_without_loadable_weights_is_one_clear_error(
        tiny_model: Path, tmp_path: Path, files: list[str]) -> None:
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    for name in files:
        (checkpoint / name).write_bytes(b"x")
    with pytest.raises(BackendError, match=r"holds no model weights this can load"):
        loadable_model(checkpoint, str(tiny_model), tmp_path / "w")


def test_deepspeed_shards_without_deepspeed_say_what_to_do(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    try:
        import deepspeed  # type: ignore[import-not-found]  # noqa: F401
        pytest.skip("deepspeed is installed here")
    except ImportError:
        pass
    checkpoint = tmp_path / "checkpoint-2"
    (checkpoint / "global_step2").mkdir(parents=True)
    (checkpoint / "global_step2" / "zero_pp_rank_0_mp_rank_00_model_states.pt").write_bytes(b"")
    (checkpoint / "latest").write_text("global_step2")
    with pytest.raises(BackendError, match="stage3_gather_16bit_weights_on_model_save"):
        loadable_model(checkpoint, str(tiny_model), tmp_path / "w")


def test_staging_links_the_weights_and_leaves_the_training_state(tiny_model: Path,
                                                                 tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint-4"
    shutil.copytree(tiny_model, checkpoint)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state_0.pth", "trainer_state.json",
                 "training_args.bin"):
        (checkpoint / name).write_bytes(b"state")
    (checkpoint / "pytorch_model_fsdp_0").mkdir()
    (checkpoint / "pytorch_model_fsdp_0" / "__0_0.distcp").write_bytes(b"shard")
    (checkpoint / "optimizer_0").mkdir()
    (checkpoint / "optimizer_0" / "__0_0.distcp").write_bytes(b"optim")
    (checkpoint / "global_step4").mkdir()  # DeepSpeed: model shards kept, optimizer's not
    (checkpoint / "global_step4" / "zero_pp_rank_0_mp_rank_00_model_states.pt").write_bytes(b"m")
    (checkpoint / "global_step4" / "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"
     ).write_bytes(b"o")
    target = tmp_path / "staged" / "model"
    stage_weights(checkpoint, target)
    names = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert "model.safetensors" in names and "pytorch_model_fsdp_0/__0_0.distcp" in names
    assert "global_step4/zero_pp_rank_0_mp_rank_00_model_states.pt" in names
    assert not {n for n in names if n.startswith(("optimizer", "scheduler", "rng_state",
                                                  "trainer_state", "training_args"))
                or "optim_states" in n}
    # a hard link: the staged weights outlive checkpoint rotation, at no copy
    assert (target / "model.safetensors").stat().st_ino == \
        (checkpoint / "model.safetensors").stat().st_ino
    shutil.rmtree(checkpoint)
    assert same_weights(weights(target), weights(tiny_model))
    stage_weights(tiny_model, target)  # staging again replaces, never mixes
    assert not (target / "pytorch_model_fsdp_0").exists()


def test_the_history_keeps_one_line_per_checkpoint(tmp_path: Path) -> None:
    assert record_history(tmp_path, {"step": 2, "x": 0.5})
    (tmp_path / "benchmark_history.jsonl").open("ab").write(b'{"step": 4, "x"')  # a cut line
    assert not record_history(tmp_path, {"step": 2, "x": 0.7})
    assert record_history(tmp_path, {"step": 4, "x": 0.1})
    lines = (tmp_path / "benchmark_history.jsonl").read_bytes().splitlines()
    assert orjson.loads(lines[0]) == {"step": 2, "x": 0.5}


def test_the_scorer_is_no_rank_of_the_training(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500",
                       "ACCELERATE_USE_FSDP": "true", "CUDA_VISIBLE_DEVICES": "0,1"}.items():
        monkeypatch.setenv(key, value)
    env = scorer_env(None)
    assert not {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                "ACCELERATE_USE_FSDP"} & env.keys()
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert scorer_env("3")["CUDA_VISIBLE_DEVICES"] == "3"
    assert scorer_env("cpu")["CUDA_VISIBLE_DEVICES"] == ""


def test_a_scorer_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """The scorer's first act ties its life to the training process that started it: killing
    that process kills the scorer; a scorer whose parent is already gone does not start."""
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "from selfcodealign.training.scoring import scorer_env\n"
         "child = subprocess.Popen([sys.executable, '-c', 'import sys, time\\n"
         "from selfcodealign.training.scoring import die_with_parent\\n"
         "assert die_with_parent()\\nprint(1, flush=True)\\ntime.sleep(120)'],"
         " env=scorer_env(None), stdout=subprocess.PIPE, text=True)\n"
         "assert child.stdout.readline().strip() == '1'\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, env=child_env())
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(200):
        if not alive(child) or _zombie(child):
            break
        time.sleep(0.05)
    assert not alive(child) or _zombie(child)
    # started for a parent that is not its parent (it died in between): refuses to run
    orphan = subprocess.run(
        [sys.executable, "-m", "selfcodealign.training.scoring", str(tmp_path / "job.json")],
        env={**child_env(), "SELFCODEALIGN_SCORER_PARENT": "1"}, capture_output=True,
        text=True, timeout=120)
    assert orphan.returncode == 1 and "is gone" in orphan.stderr


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


# ---- through `selfcodealign train` ------------------------------------------------------------

def _common(tiny_model: Path, tmp_path: Path, benchmark_dir: Path, out: Path) -> list[str]:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    return ["--data", str(data), "--model", str(tiny_model), "--output-dir", str(out),
            "--set", "train.batch_size=2", "--set", "train.micro_batch_size=2",
            "--set", "train.save_steps=2", "--set", "evaluate.max_tokens=8",
            "--set", "execute.workers=1", "--eval-benchmark", "humaneval",
            "--eval-limit", "2", "--dataset", str(benchmark_dir)]


def test_scoring_from_the_checkpoint_matches_scoring_in_memory(
        tiny_model: Path, tmp_path: Path, benchmark_dir: Path,
        monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]) -> None:
    """The same greedy samples, byte for byte, and the same scores, whether the model in
    memory or a separate process reading the saved checkpoint generates them; the staged
    weights are gone once scored; a crash mid-scoring is finished on resume."""
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(tmp_path / "cache"))
    runs = {}
    for mode in ("memory", "checkpoint"):
        out = tmp_path / mode
        result = run_cli("train", *_common(tiny_model, tmp_path, benchmark_dir, out),
                         "--max-steps", "4", "--eval-from", mode)
        assert result.code == 0, result.err
        assert "checkpoint 2: humaneval_pass@1" in result.out
        runs[mode] = out
    for step in (2, 4):
        memory = runs["memory"] / "benchmark_scores" / f"checkpoint-{step}"
        scored = runs["checkpoint"] / "benchmark_scores" / f"checkpoint-{step}"
        assert (memory / "humaneval.samples.jsonl").read_bytes() == \
            (scored / "humaneval.samples.jsonl").read_bytes()
        a, b = (orjson.loads((f / "scores.json").read_bytes()) for f in (memory, scored))
        assert a.pop("checkpoint") == str(runs["memory"] / f"checkpoint-{step}")
        assert b.pop("checkpoint") == str(runs["checkpoint"] / f"checkpoint-{step}")
        assert a == b and "humaneval+_pass@1" in a
        assert not (scored / "model").exists() and not (scored / "merged").exists()
        assert (scored / "scorer.log").is_file()
    history = [orjson.loads(x) for x in (runs["checkpoint"] / "benchmark_history.jsonl")
               .open("rb")]
    assert [h["step"] for h in history] == [2, 4]

    # a crash mid-scoring of checkpoint 4: no results, one sample written; the resumed run
    # stages the checkpoint again and generates only the missing sample
    out = runs["checkpoint"]
    folder = out / "benchmark_scores" / "checkpoint-4"
    (folder / "humaneval.results.json").unlink()
    (folder / "scores.json").unlink()
    samples = folder / "humaneval.samples.jsonl"
    first = samples.read_text().splitlines()[0]
    samples.write_text(first + "\n")
    again = run_cli("train", *_common(tiny_model, tmp_path, benchmark_dir, out),
                    "--max-steps", "4", "--eval-from", "checkpoint")
    assert again.code == 0, again.err
    assert (folder / "scores.json").is_file() and not (folder / "model").exists()
    lines = samples.read_text().splitlines()
    assert len(lines) == 2 and lines[0] == first
    steps = [orjson.loads(x)["step"] for x in (out / "benchmark_history.jsonl").open("rb")]
    assert steps[:2] == [2, 4] and len(steps) == len(set(steps))


def test_a_failing_scorer_costs_its_checkpoint_not_the_training(
        tiny_model: Path, tmp_path: Path, benchmark_dir: Path,
        monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]) -> None:
    """A scorer that cannot run (here: no benchmark files) leaves training to finish, says
    which checkpoints were not scored and why; the next run with the fault fixed scores them
    from the weights kept staged."""
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SELFCODEALIGN_BENCHMARKS", raising=False)
    out = tmp_path / "out"
    missing = tmp_path / "no-benchmarks"
    missing.mkdir()
    result = run_cli("train", *_common(tiny_model, tmp_path, missing, out),
                     "--max-steps", "4", "--eval-from", "checkpoint")
    assert result.code == 0, result.err
    assert "trained 4 steps" in result.out
    assert "checkpoint 2: not scored" in result.err and "checkpoint 4: not scored" in result.err
    for step in (2, 4):
        folder = out / "benchmark_scores" / f"checkpoint-{step}"
        assert (folder / "model" / "model.safetensors").is_file()
        assert not (folder / "scores.json").exists()
    assert not (out / "benchmark_history.jsonl").exists()
    fixed = run_cli("train", *_common(tiny_model, tmp_path, benchmark_dir, out),
                    "--max-steps", "4", "--eval-from", "checkpoint")
    assert fixed.code == 0, fixed.err
    steps = [orjson.loads(x)["step"] for x in (out / "benchmark_history.jsonl").open("rb")]
    assert steps[:2] == [2, 4]
    assert not (out / "benchmark_scores" / "checkpoint-2" / "model").exists()


def test_memory_scoring_is_refused_under_a_multi_process_launch(
        tiny_model: Path, tmp_path: Path, benchmark_dir: Path,
        monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    result = run_cli("train", *_common(tiny_model, tmp_path, benchmark_dir, tmp_path / "o"),
                     "--max-steps", "2", "--eval-from", "memory")
    assert result.code != 0
    assert "train.eval_from: memory needs one whole model" in result.err


def test_two_processes_score_their_checkpoints_from_disk(tiny_model: Path, tmp_path: Path,
                                                         benchmark_dir: Path) -> None:
    """`accelerate launch` with 2 processes and checkpoint scores: `auto` scores from the saved
    checkpoints in one scorer process per checkpoint, started by the main process only."""
    accelerate = shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("accelerate is not installed")
    out = tmp_path / "two"
    env = {**child_env(), "SELFCODEALIGN_CACHE": str(tmp_path / "cache")}

    def launch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
             str(free_port()), "-m", "selfcodealign", "train",
             *_common(tiny_model, tmp_path, benchmark_dir, out), "--max-steps", "4",
             "--set", "train.batch_size=4"],
            env=env, capture_output=True, text=True, timeout=900)

    done = launch()
    if done.returncode != 0 and "EADDRINUSE" in done.stderr:  # the port was taken: once more
        shutil.rmtree(out, ignore_errors=True)
        done = launch()
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 4 steps") == 1
    history = [orjson.loads(x) for x in (out / "benchmark_history.jsonl").open("rb")]
    assert [h["step"] for h in history] == [2, 4]
    for step in (2, 4):
        folder = out / "benchmark_scores" / f"checkpoint-{step}"
        log = (folder / "scorer.log").read_text()
        assert '"step":' + str(step) in log.replace(" ", "")  # one scorer, that finished
        assert len((folder / "humaneval.samples.jsonl").read_text().splitlines()) == 2
        assert not (folder / "model").exists()


def test_a_checkpoint_that_cannot_be_staged_is_staged_on_resume(
        tiny_model: Path, tmp_path: Path, benchmark_dir: Path,
        monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., Any]) -> None:
    """Staging fails (here: a file where the scores folder goes): training finishes and says
    so; the next run stages every saved checkpoint still unscored and scores it."""
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "benchmark_scores").write_text("in the way")
    common = _common(tiny_model, tmp_path, benchmark_dir, out)
    result = run_cli("train", *common, "--max-steps", "4", "--eval-from", "checkpoint")
    assert result.code == 0, result.err
    assert "trained 4 steps" in result.out
    assert "checkpoint 2: not scored (error: cannot stage" in result.err
    (out / "benchmark_scores").unlink()
    again = run_cli("train", *common, "--max-steps", "4", "--eval-from", "checkpoint")
    assert again.code == 0, again.err
    steps = [orjson.loads(x)["step"] for x in (out / "benchmark_history.jsonl").open("rb")]
    assert steps[:2] == [2, 4] and len(steps) == len(set(steps))
