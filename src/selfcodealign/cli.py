"""The `selfcodealign` command line: thin click commands over the library.

This is the only module that prints or exits. Library errors (`SelfCodeAlignError`) become one
line on stderr and exit code 1 (2 for stages that are not built yet); `--debug` shows the full
traceback instead. `--config` and `--set` may be given before or after the command name.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from selfcodealign import __version__
from selfcodealign.config import STAGES, Config, load_config, reference_markdown, to_yaml
from selfcodealign.errors import NotBuiltError, SelfCodeAlignError
from selfcodealign.store import RunStore

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass
class State:
    """Options shared by every command, wherever on the command line they were given."""

    config_path: str | None = None
    sets: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    debug: bool = False


def _state(ctx: click.Context) -> State:
    return ctx.ensure_object(State)


def _remember(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        state = _state(ctx)
        if attr == "sets":
            state.sets.extend(value)
        elif value not in (None, False):
            setattr(state, attr, value)
        return value

    return callback


def shared_options(func: F) -> F:
    """--config/--set/--log-level/--debug, accepted on the group and on every command."""
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     expose_value=False, callback=_remember("config_path"),
                     help="YAML config file (layered over the defaults)."),
        click.option("--set", "sets", multiple=True, metavar="KEY.SUB=VALUE", expose_value=False,
                     callback=_remember("sets"),
                     help="Override one setting; repeatable. Values are read as YAML."),
        click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False),
                     expose_value=False, callback=_remember("log_level"), help="Log verbosity."),
        click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"),
                     help="Show full tracebacks on errors."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_options(func: F) -> F:
    """Where the run lives and how a stage resumes."""
    options = [
        click.option("--run-name", help="Run name (run.name); outputs go to runs/<name>/."),
        click.option("--runs-dir", type=click.Path(file_okay=False),
                     help="Folder of run directories (run.root)."),
        click.option("--limit", type=click.IntRange(min=1),
                     help="Process at most this many new inputs (a small trial)."),
        click.option("--force", is_flag=True,
                     help="Resume even if the stage's settings changed (mixes outputs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: F) -> F:
    """Which base model serves the LLM stages."""
    options = [
        click.option("--backend", type=click.Choice(["fake", "transformers", "vllm", "openai"]),
                     help="Inference backend (backend.name)."),
        click.option("--model", help="Model name on the hub or local path (backend.model)."),
        click.option("--base-url", multiple=True,
                     help="OpenAI-compatible server URL (backend.base_url); repeatable."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (so redirection and capture work)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _setup_logging(level: str) -> None:
    root = logging.getLogger("selfcodealign")
    root.setLevel(level.upper())
    if getattr(root, "_selfcodealign_handler", None):
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root.addHandler(handler)
    root.propagate = False
    root._selfcodealign_handler = True  # type: ignore[attr-defined]


# Dedicated flags and the config keys they set (the last, strongest layer).
FLAG_KEYS = {
    "run_name": "run.name",
    "runs_dir": "run.root",
    "backend": "backend.name",
    "model": "backend.model",
    "base_url": "backend.base_url",
    "corpus": "seeds.corpus",
    "workers": "execute.workers",
    "timeout": "execute.timeout_s",
    "memory": "execute.memory_mb",
    "profile": "execute.profile",
    "oracle": "execute.oracle",
    "epochs": "train.epochs",
    "dataset": "evaluate.dataset_dir",
}


def resolve(ctx: click.Context, **flags: Any) -> Config:
    """The config for this invocation: defaults -> --config -> --set -> explicit flags."""
    state = _state(ctx)
    _setup_logging(state.log_level)
    mapped: dict[str, Any] = {}
    for param, key in FLAG_KEYS.items():
        value = flags.get(param)
        if isinstance(value, tuple):
            value = list(value) or None
        mapped[key] = value
    return load_config(state.config_path, state.sets, mapped)


def not_built(command: str, arrives: str) -> NotBuiltError:
    return NotBuiltError(
        f"'selfcodealign {command}' is not built yet in version {__version__} ({arrives}); "
        "its options and config are already validated"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="selfcodealign")
@shared_options
def cli() -> None:
    """Turn a base code LLM into an instruction-following one with data it writes and verifies.

    \b
    Stages, each resumable and run alone or all together with `run`:
      seeds -> concepts -> instructions -> responses -> execute -> select -> train -> evaluate
    Outputs go to runs/<run-name>/<stage>/ as JSONL shards with a rejects file and stats.
    """


def _stage_command(name: str, summary: str, example: str, arrives: str, *, llm: bool = False,
                   extra: Sequence[Callable[[F], F]] = ()) -> None:
    def command(**flags: Any) -> None:
        resolve(click.get_current_context(), **flags)
        raise not_built(name, arrives)

    command.__doc__ = f"{summary}\n\n\b\nExample:\n  {example}"
    decorated: Any = command
    # The last decorator applied is listed first in --help: own options, model, run, shared.
    for option in (shared_options, run_options, *([model_options] if llm else []),
                   *reversed(extra)):
        decorated = option(decorated)
    cli.command(name)(decorated)

_LATER = {
    "seeds": "seed mining lands with issue 4",
    "llm": "the LLM backends and generation stages land with issue 5",
    "select": "selection and export land with issue 6",
    "train": "SFT training lands with issue 7",
    "evaluate": "evaluation lands with issue 8",
    "run": "the whole-loop command lands with issue 9",
    "report": "the HTML report lands with issue 9",
}

_stage_command(
    "seeds", "Mine seed functions (docstring, returns a value, typed, clean) from a Python corpus.",
    "selfcodealign seeds --corpus ~/src/myrepo --run-name demo", _LATER["seeds"],
    extra=[click.option("--corpus", help="Directory, git repo, JSONL/Parquet or dataset "
                                         "(seeds.corpus; default: the Python stdlib).")],
)
_stage_command(
    "concepts", "S->C: the base model lists the programming concepts of each seed (8-shot).",
    "selfcodealign concepts --run-name demo --backend vllm --model bigcode/starcoder2-15b",
    _LATER["llm"], llm=True,
)
_stage_command(
    "instructions", "C->I: the base model writes one task per concept list (8-shot).",
    "selfcodealign instructions --run-name demo --backend vllm --model bigcode/starcoder2-15b",
    _LATER["llm"], llm=True,
)
_stage_command(
    "responses", "I->R: the base model answers each task and writes its own tests (n=10).",
    "selfcodealign responses --run-name demo --backend openai --base-url http://localhost:8000/v1",
    _LATER["llm"], llm=True,
)
_stage_command(
    "select", "Pick one passing response per task; dedup, decontaminate, export the SFT dataset.",
    "selfcodealign select --input runs/demo/execute --output data/sft", _LATER["select"],
    extra=[click.option("--input", "input_path", type=click.Path(),
                        help="Executed samples (a stage folder or JSONL file)."),
           click.option("--output", "output_path", type=click.Path(),
                        help="Folder for the exported dataset.")],
)
_stage_command(
    "train", "Prompt-masked SFT of the base model on its own data (the paper's recipe).",
    "selfcodealign train --data data/sft --model bigcode/starcoder2-3b --output-dir ckpt",
    _LATER["train"],
    extra=[click.option("--data", type=click.Path(), help="SFT dataset folder or JSONL file."),
           click.option("--model", help="Base model to fine-tune (backend.model)."),
           click.option("--output-dir", type=click.Path(), help="Checkpoint folder."),
           click.option("--epochs", type=float, help="Training epochs (train.epochs).")],
)
_stage_command(
    "evaluate", "Score HumanEval+ / MBPP+ samples as EvalPlus does, or generate and score.",
    "selfcodealign evaluate --benchmark humaneval --samples samples.jsonl --output results.json",
    _LATER["evaluate"], llm=True,
    extra=[click.option("--benchmark", type=click.Choice(["humaneval", "mbpp"])),
           click.option("--samples", type=click.Path(), help="EvalPlus-format samples JSONL."),
           click.option("--dataset", type=click.Path(),
                        help="EvalPlus release folder (evaluate.dataset_dir)."),
           click.option("--output", "output_path", type=click.Path(), help="Results JSON.")],
)


@cli.command("execute")
@shared_options
@run_options
@click.option("--profile", type=click.Choice(["default", "fork"]),
              help="Sandbox profile (execute.profile): fork allows new processes.")
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
    """
    from selfcodealign.execution.command import execute

    config = resolve(click.get_current_context(), **flags)
    summary = execute(config, input_path, output_path, limit=limit, force=force)
    _print_execute_summary(summary)


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


@cli.command("run")
@shared_options
@run_options
@model_options
@click.option("--dry-run", is_flag=True, help="Show the stages and their state; run nothing.")
def run_command(dry_run: bool, **flags: Any) -> None:
    """Run the whole loop from seeds to the SFT dataset (and training, evaluation), resumably.

    \b
    Example:
      selfcodealign run --config configs/pipeline.yaml --run-name demo
      selfcodealign run --dry-run
    """
    config = resolve(click.get_current_context(), **flags)
    if not dry_run:
        raise not_built("run", _LATER["run"])
    store = RunStore.for_config(config)
    click.echo(f"run directory: {store.path}")
    click.echo(f"backend: {config.backend.name}  model: {config.backend.model or '(not set)'}")
    for stage in STAGES:
        stats = store.stage_stats(stage)
        state = ("complete" if stats.get("complete") else "partial") if stats else "not started"
        counts = f"  kept {stats['kept']}, dropped {stats['dropped']}" if stats else ""
        click.echo(f"  {stage:<13} {state}{counts}")


@cli.command("report")
@click.argument("run_dir", type=click.Path())
@shared_options
@click.option("--output", "output_path", type=click.Path(), help="HTML file to write.")
def report_command(run_dir: str, output_path: str | None) -> None:
    """Write a self-contained HTML report of a run: funnel, drop reasons, samples.

    \b
    Example:
      selfcodealign report runs/demo --output runs/demo/report.html
    """
    resolve(click.get_current_context())
    raise not_built("report", _LATER["report"])


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@shared_options
@run_options
@model_options
def config_show(**flags: Any) -> None:
    """Print the resolved configuration (defaults -> --config -> --set -> flags) as YAML.

    \b
    Example:
      selfcodealign --config pipeline.yaml --set sampling.temperature=0.2 config show
    """
    click.echo(to_yaml(resolve(click.get_current_context(), **flags)), nl=False)


@config_group.command("reference")
def config_reference() -> None:
    """Print the configuration reference (every key, type, default, meaning) as Markdown.

    \b
    Example:
      selfcodealign config reference > docs/config.md
    """
    click.echo(reference_markdown())


class Terminated(BaseException):
    """SIGTERM (a scheduler's preemption, `kill`): unwind so writers flush and commit."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn errors into one line and an exit code."""
    state = State()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=argv, prog_name="selfcodealign", obj=state, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 1
    except KeyboardInterrupt:
        click.echo("interrupted: finished work is saved; rerun the same command to resume",
                   err=True)
        code = 130
    except Terminated:
        click.echo("terminated: finished work is saved; rerun the same command to resume",
                   err=True)
        code = 143
    except SelfCodeAlignError as exc:
        if state.debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except Exception as exc:
        if state.debug:
            raise
        click.echo(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                   err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
