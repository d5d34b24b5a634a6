"""The commands: one per stage, `run` (the whole loop) and `report`.

Each command resolves its config first, so a bad `--set` or flag is reported before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from selfcodealign import registry
from selfcodealign.cli.app import (
    benchmark_options,
    cli,
    executor_options,
    model_options,
    resolve,
    run_options,
    shared_options,
)
from selfcodealign.stageio import require_usable


@cli.command("evaluate")
@benchmark_options
@shared_options
@run_options
@model_options
@executor_options
@click.option("--benchmark", type=click.Choice(["humaneval", "mbpp"]),
              help="One benchmark (default: evaluate.benchmarks).")
@click.option("--samples", type=click.Path(dir_okay=False),
              help="EvalPlus-format samples JSONL to score (default: generate them).")
@click.option("--dataset", type=click.Path(),
              help="EvalPlus release file (HumanEvalPlus[-vX].jsonl[.gz], MbppPlus...) or the "
              "folder that holds them (evaluate.dataset_dir).")
@click.option("--n-samples", type=click.IntRange(min=1),
              help="Samples per task (evaluate.n_samples).")
@click.option("--temperature", type=click.FloatRange(min=0),
              help="Sampling temperature, 0 = greedy (evaluate.temperature).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Sandbox workers scoring in parallel, 0 = one per core (execute.workers).")
@click.option("--output", "output_path", type=click.Path(),
              help="Results JSON (one benchmark) or folder (default: the run's evaluate/).")
def evaluate_command(samples: str | None, output_path: str | None, limit: int | None,
                     benchmark: str | None, **flags: Any) -> None:
    """Score HumanEval+ / MBPP+ samples as EvalPlus does, or generate them and score them.

    \b
    Example:
      selfcodealign evaluate --benchmark humaneval --samples samples.jsonl --output results.json
      selfcodealign evaluate --backend vllm --model ckpt/final --output eval/
    """
    from rich.console import Console
    from rich.table import Table

    from selfcodealign.steps.evaluate import evaluate

    config = resolve(click.get_current_context(), **flags)
    console = Console()
    for summary in evaluate(config, benchmark, samples, output_path, limit=limit):
        name = summary["benchmark"]
        table = Table(title=f"evaluate {name}", show_edge=False)
        for column in ("score", "value"):
            table.add_column(column, justify="left" if column == "score" else "right")
        for kind in ("base", "plus"):
            for k, value in summary["pass_at_k"][kind].items():
                table.add_row(f"{name}{'+' if kind == 'plus' else ''} {k}", f"{value:.1%}")
        failed = summary["failures"]
        for task_id, why in list(failed.items())[:10]:
            table.add_row(f"failed: {task_id}", why[:70])
        if len(failed) > 10:
            table.add_row(f"... {len(failed) - 10} more failed tasks", "")
        console.print(table)
        console.print(f"{summary['tasks']} tasks | EvalPlus {name} {summary['dataset_version']}"
                      f" | scored in {summary['scoring_s']:.1f} s | results: "
                      f"{summary['results']}")


fewshot_option = click.option(
    "--fewshot", type=click.Path(dir_okay=False, exists=True),
    help="Few-shot library in the reference's plain-text format (generation.fewshot).")


def _llm_command(name: str, summary: str, example: str, upstream: str) -> None:
    def command(input_path: str | None, output_path: str | None, dry_run: bool,
                limit: int | None, force: bool, **flags: Any) -> None:
        from selfcodealign.steps.generate import dry_run as plan
        from selfcodealign.steps.generate import generate

        config = resolve(click.get_current_context(), **flags)
        if dry_run:
            info = plan(config, name, input_path)
            click.echo(info["first_prompt"])
            click.echo(f"--- {name}: {info['requests']} requests, {info['completions']} "
                       f"completions, ~{info['prompt_tokens_estimate']} prompt tokens, at most "
                       f"{info['max_completion_tokens']} completion tokens")
            return
        summary = generate(config, name, input_path, output_path, limit=limit, force=force)
        rows = _outcome_rows(summary)
        state = "complete" if summary["complete"] else "incomplete (rerun to continue)"
        _print_table(name, rows, f"{summary['requests']} requests | "
                                 f"{summary['completion_tokens']} completion tokens | shared "
                                 f"prefix {summary['shared_prefix']:.0%} | {state} | written to "
                                 f"{summary['written_to']}")
        require_usable(summary, input_path or f"the run's {upstream} stage")

    command.__doc__ = f"{summary}\n\n\b\nExample:\n  {example}"
    decorated: Any = command
    for option in (
        shared_options, run_options, model_options, executor_options,
        fewshot_option,
        click.option("--dry-run", is_flag=True,
                     help="Print the first prompt and what would be sent; call no model."),
        click.option("--output", "output_path", type=click.Path(dir_okay=False),
                     help=f"Output JSONL (default: the run's {name} stage)."),
        click.option("--input", "input_path", type=click.Path(dir_okay=False),
                     help=f"Input JSONL (default: the run's {upstream} stage)."),
    ):
        decorated = option(decorated)
    cli.command(name)(decorated)


_EXAMPLES = {
    "concepts": "selfcodealign concepts --input seeds.jsonl --output concepts.jsonl "
                "--backend vllm --model bigcode/starcoder2-15b",
    "instructions": "selfcodealign instructions --run-name demo --backend openai "
                    "--base-url http://localhost:8000/v1 --model bigcode/starcoder2-15b",
}
for _spec in registry.stages():  # one command per LLM stage of the stage table
    if _spec.kind == "llm":
        _llm_command(_spec.name, _spec.summary, _EXAMPLES.get(
            _spec.name, f"selfcodealign {_spec.name} --run-name demo --dry-run"),
            _spec.upstream or "corpus")


@cli.command("prompt")
@shared_options
@fewshot_option
@click.argument("stage", type=click.Choice(registry.names("llm")))
@click.option("--input", "input_path", type=click.Path(dir_okay=False, exists=True),
              help="The stage's usual input JSONL (default: the run's previous stage).")
@click.option("--run-name", help="Run whose previous stage is the input (run.name).")
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which record of the input, counting from 0.")
@click.option("--shots", help="Few-shot examples by 1-based position in the library, e.g. "
              "3,7,12 (default: the stage's own choice for this record).")
def prompt_command(stage: str, input_path: str | None, index: int, shots: str | None,
                   **flags: Any) -> None:
    """Print the exact prompt a generation stage sends for one record, byte for byte.

    Nothing is added: no header, no final newline. The text comes from the same code the
    stage runs, so `selfcodealign prompt ... | diff - expected.txt` checks a layout.

    \b
    Example:
      selfcodealign prompt concepts --input seeds.jsonl --index 3
      selfcodealign prompt responses --input instructions.jsonl --shots 5 --fewshot paper.txt
    """
    import sys

    from selfcodealign.errors import ConfigError
    from selfcodealign.steps.generate import render_prompt

    config = resolve(click.get_current_context(), **flags)
    positions = None
    if shots is not None:
        try:
            positions = [int(part) for part in shots.split(",") if part.strip()]
        except ValueError:
            raise ConfigError(f"--shots takes 1-based positions separated by commas, e.g. "
                              f"3,7,12; got {shots!r}") from None
    text = render_prompt(config, stage, input_path, index, positions)
    sys.stdout.write(text)
    sys.stdout.flush()


@cli.command("train")
@benchmark_options
@shared_options
@run_options
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many steps.")
@click.option("--eval-benchmark", "eval_benchmarks", multiple=True,
              type=click.Choice(["humaneval", "mbpp"]),
              help="Score every checkpoint on this benchmark; repeatable "
                   "(train.eval_benchmarks).")
@click.option("--eval-limit", type=click.IntRange(min=1),
              help="Tasks per benchmark at each checkpoint (train.eval_limit).")
@click.option("--eval-from", type=click.Choice(["auto", "memory", "checkpoint"]),
              help="Score checkpoints with the model in memory or from the saved checkpoint "
                   "in a separate process (train.eval_from).")
@click.option("--eval-devices",
              help="CUDA_VISIBLE_DEVICES of the checkpoint scorer, e.g. 7, or cpu "
                   "(train.eval_devices).")
@click.option("--dataset", type=click.Path(),
              help="EvalPlus release file (HumanEvalPlus[-vX].jsonl[.gz], MbppPlus...) or the "
              "folder that holds them (evaluate.dataset_dir).")
@click.option("--epochs", type=float, help="Training epochs (train.epochs).")
@click.option("--output-dir", type=click.Path(file_okay=False), required=True,
              help="Checkpoints and the final model go here.")
@click.option("--model", help="Base model to fine-tune, hub name or folder (backend.model).")
@click.option("--data", type=click.Path(), required=True,
              help="The SFT data: a select output folder, a saved dataset, or JSONL.")
def train_command(data: str, output_dir: str, max_steps: int | None, limit: int | None,
                  force: bool, **flags: Any) -> None:
    """Prompt-masked SFT of the base model on its own data (the paper's recipe).

    \b
    Example:
      selfcodealign train --data data/sft --model bigcode/starcoder2-3b --output-dir ckpt
      accelerate launch -m selfcodealign train --data data/sft --model M --output-dir ckpt
      selfcodealign train --data data/sft --model M --output-dir ckpt --eval-benchmark humaneval
    """
    from selfcodealign.errors import ConfigError
    from selfcodealign.training.sft import train

    config = resolve(click.get_current_context(), **flags)
    if not config.backend.model:
        raise ConfigError("train needs a base model: pass --model or set backend.model")
    summary = train(data, config.backend.model, output_dir, config.train, seed=config.run.seed,
                    max_steps=max_steps, config=config, gguf_file=config.backend.gguf_file)
    if not summary.get("main_process", True):
        return  # under a launcher, the main process reports for all of them
    for entry in summary["checkpoint_scores"]:
        scores = ", ".join(f"{k} {v:.1%}" for k, v in entry.items() if "pass@" in k)
        click.echo(f"checkpoint {entry['step']}: {scores}")
    for failed in summary.get("checkpoint_score_failures", []):
        click.echo(f"checkpoint {failed['step']}: not scored ({failed['error']}); log: "
                   f"{failed['log']}", err=True)
    click.echo(f"trained {summary['steps']} steps on {summary['examples']} examples "
               f"({summary['truncated']} cut at {config.train.max_length} tokens), final loss "
               f"{summary['train_loss']:.4f}; dropout zeroed: "
               f"{', '.join(summary['dropout_zeroed']) or 'none set'}; saved to {output_dir}")


@cli.command("seeds")
@benchmark_options
@shared_options
@run_options
@click.option("--typecheck/--no-typecheck", default=None,
              help="Drop functions with Pyright errors (seeds.typecheck).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False),
              help="Seeds JSONL (default: the run's seeds stage).")
@click.option("--corpus", multiple=True,
              help="stdlib, a directory, repo@rev, .jsonl/.parquet, hf:NAME; repeatable "
                   "(seeds.corpus; default: the Python standard library).")
def seeds_command(output_path: str | None, limit: int | None, force: bool,
                  **flags: Any) -> None:
    """Mine seed functions (docstring, returns a value, typed, clean) from a Python corpus.

    \b
    Example:
      selfcodealign seeds --output seeds.jsonl
      selfcodealign seeds --corpus ~/src/myrepo --corpus data/the-stack.parquet --run-name demo
    """
    from selfcodealign.steps.seeds import mine_seeds

    config = resolve(click.get_current_context(), **flags)
    summary = mine_seeds(config, output_path, limit=limit, force=force)
    rows = _outcome_rows(summary)
    state = "complete" if summary["complete"] else "incomplete (rerun to continue)"
    _print_table("seeds", rows, f"{summary['files']} files | {state} | written to "
                                f"{summary['written_to']}")


def _outcome_rows(summary: dict[str, Any]) -> list[tuple[str, int]]:
    """Kept first, then each drop reason, most frequent first."""
    return [("kept", summary["kept"]),
            *sorted(summary["dropped"].items(), key=lambda kv: -kv[1])]


def _print_table(title: str, rows: Sequence[tuple[str, int]], footer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    total = sum(count for _, count in rows) or 1
    table = Table(title=title, show_edge=False)
    for column in ("outcome", "count", "share"):
        table.add_column(column, justify="left" if column == "outcome" else "right")
    for name, count in rows:
        table.add_row(name, str(count), f"{count / total:.1%}")
    console = Console()
    console.print(table)
    console.print(footer)


@cli.command("select")
@benchmark_options
@shared_options
@run_options
@executor_options
@click.option("--push-to-hub", help="Hub repo org/name to push the dataset to (token: $HF_TOKEN).")
@click.option("--seeds", "seeds_path", type=click.Path(dir_okay=False),
              help="Seeds JSONL, for the seed lineage columns in file mode.")
@click.option("--output", "output_dir", type=click.Path(file_okay=False),
              help="Output folder (default: runs/<name>/dataset).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="Executed samples JSONL (default: the run's execute stage).")
def select_command(input_path: str | None, output_dir: str | None, seeds_path: str | None,
                   limit: int | None, force: bool, **flags: Any) -> None:
    """Pick one passing response per task; dedup, decontaminate, export the SFT dataset.

    \b
    Example:
      selfcodealign select --input executed.jsonl --output data/sft
      selfcodealign select --run-name demo --push-to-hub me/selfcodealign-data
    """
    from selfcodealign.steps.select import select

    config = resolve(click.get_current_context(), **flags)
    summary = select(config, input_path, output_dir, seeds_path=seeds_path, force=force)
    rows = _outcome_rows(summary)
    dataset = summary["dataset"]
    contamination = ", ".join(f"{k} {v}" for k, v in summary["contamination"].items()) or "none"
    _print_table("select", rows, f"dataset: {dataset['rows']} rows in {dataset['folder']} | "
                                 f"contamination: {contamination}")
    require_usable(summary, input_path or "the run's execute stage")


@cli.command("execute")
@shared_options
@run_options
@executor_options
@click.option("--profile", type=click.Choice(["default", "strict", "fork"]),
              help="Sandbox profile (execute.profile): default allows up to 64 processes "
                   "inside the program's PID namespace; strict allows none.")
@click.option("--oracle/--no-oracle", default=None,
              help="Keep expected values of `assert f(...) == value` tests outside the sandbox.")
@click.option("--memory", type=click.IntRange(min=64),
              help="Address-space limit per program, MiB (execute.memory_mb).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds per program (execute.timeout_s).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Sandbox workers (execute.workers; 0 = one per core).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False),
              help="Executed records JSONL (default: the run's execute stage).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="I->R records JSONL with id, response, tests (default: the run's responses).")
def execute_command(input_path: str | None, output_path: str | None, limit: int | None,
                    force: bool, **flags: Any) -> None:
    """Run every response against its own tests in the sandbox; a pass is proven.

    \b
    Example:
      selfcodealign execute --input responses.jsonl --output executed.jsonl --workers 8
      selfcodealign execute --run-name demo
      selfcodealign execute --run-name demo --ray-address auto    # sandbox actors on Ray
    """
    from selfcodealign.steps.execute import execute

    config = resolve(click.get_current_context(), **flags)
    summary = execute(config, input_path, output_path, limit=limit, force=force)
    _print_execute_summary(summary)
    require_usable(summary, input_path or "the run's responses stage")


def _print_execute_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    statuses = summary["statuses"]
    total = sum(statuses.values()) or 1
    table = Table(title="execute", show_edge=False)
    for column in ("status", "count", "share"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for status, count in sorted(statuses.items(), key=lambda kv: -kv[1]):
        table.add_row(status, str(count), f"{count / total:.1%}")
    for reason, count in sorted(summary["dropped"].items()):
        table.add_row(f"dropped: {reason}", str(count), "")
    console = Console()
    console.print(table)
    iso = summary["isolation"]
    state = "complete" if summary["complete"] else "incomplete (rerun to continue)"
    console.print(f"pass rate {summary['pass_rate']:.1%} | {state} | isolation {iso['level']} "
                  f"on {iso['workers']} workers | written to {summary['written_to']}")
