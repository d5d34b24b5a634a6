"""The click group, the options every command shares, and config resolution for commands.

`--config` and `--set` may be given before or after the command name; dedicated flags
(`--model`, `--run-name`, ...) are the last and strongest config layer (see FLAG_KEYS).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from selfcodealign import __version__
from selfcodealign.config import Config, load_config

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


def executor_options(func: F) -> F:
    """Where the work runs: this machine or a Ray cluster."""
    options = [
        click.option("--executor", type=click.Choice(["local", "ray"]),
                     help="Run the LLM engines and sandbox workers here or on Ray "
                          "(executor.name)."),
        click.option("--ray-address",
                     help="Ray cluster to join, e.g. auto or ray://head:10001 (executor.address;"
                          " implies --executor ray)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def benchmark_options(func: F) -> F:
    """Where HumanEval+/MBPP+ are on this machine (decontamination, evaluation), or none."""
    options = [
        click.option("--benchmarks", "benchmarks_dir", type=click.Path(),
                     help="Folder (or file) holding HumanEvalPlus.jsonl.gz / MbppPlus.jsonl.gz, "
                          "for offline use: sets seeds.benchmark_dir, select.benchmark_dir and "
                          "evaluate.dataset_dir (also $SELFCODEALIGN_BENCHMARKS)."),
        click.option("--no-decontamination", "no_decontamination", is_flag=True, default=None,
                     help="Skip benchmark decontamination in seeds and select "
                          "(seeds.decontaminate: false, select.benchmarks: []); warns."),
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
    "executor": "executor.name",
    "ray_address": "executor.address",
    "until": "run.until",
    "runs_dir": "run.root",
    "backend": "backend.name",
    "model": "backend.model",
    "base_url": "backend.base_url",
    "fewshot": "generation.fewshot",
    "corpus": "seeds.corpus",
    "typecheck": "seeds.typecheck",
    "workers": "execute.workers",
    "timeout": "execute.timeout_s",
    "memory": "execute.memory_mb",
    "profile": "execute.profile",
    "oracle": "execute.oracle",
    "epochs": "train.epochs",
    "eval_benchmarks": "train.eval_benchmarks",
    "eval_limit": "train.eval_limit",
    "eval_from": "train.eval_from",
    "eval_devices": "train.eval_devices",
    "dataset": "evaluate.dataset_dir",
    "n_samples": "evaluate.n_samples",
    "temperature": "evaluate.temperature",
    "push_to_hub": "select.push_to_hub",
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
    if mapped.get("executor.address") and not mapped.get("executor.name"):
        mapped["executor.name"] = "ray"
    if flags.get("benchmarks_dir"):  # one folder for every stage that reads the benchmarks
        mapped["seeds.benchmark_dir"] = mapped["select.benchmark_dir"] = flags["benchmarks_dir"]
        mapped["evaluate.dataset_dir"] = mapped.get("evaluate.dataset_dir") or \
            flags["benchmarks_dir"]
    if flags.get("no_decontamination"):
        mapped["seeds.decontaminate"], mapped["select.benchmarks"] = False, []
    return load_config(state.config_path, state.sets, mapped)


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

