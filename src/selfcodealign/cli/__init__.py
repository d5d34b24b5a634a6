"""The `selfcodealign` command line: thin click commands over the library.

This is the only package that prints or exits. Library errors (`SelfCodeAlignError`) become one
line on stderr and exit code 1 (3 for a run stopped at an incomplete stage); `--debug` shows the
full traceback instead. `--config` and `--set` may be given before or after the command name.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

import click

from selfcodealign.cli import benchmarks as _benchmarks  # noqa: F401 - `benchmarks`
from selfcodealign.cli import commands as _commands  # noqa: F401 - registers the commands
from selfcodealign.cli import run as _run_commands  # noqa: F401 - registers `run`, `report`
from selfcodealign.cli.app import (
    State,
    benchmark_options,
    cli,
    model_options,
    resolve,
    run_options,
    shared_options,
)
from selfcodealign.config import reference_markdown, to_yaml
from selfcodealign.errors import AlreadyDoneError, SelfCodeAlignError

__all__ = ["cli", "main"]


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@shared_options
@run_options
@model_options
@benchmark_options
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


@cli.group("records")
def records_group() -> None:
    """Inspect the record types the stages write."""


@records_group.command("reference")
def records_reference() -> None:
    """Print every stage's record type, field by field, as Markdown.

    \b
    Example:
      selfcodealign records reference > docs/records.md
    """
    from selfcodealign.records import reference_markdown as records_markdown

    click.echo(records_markdown())


@cli.command("stages")
def stages_command() -> None:
    """Print the stage table: each stage, what it reads, its kind and what it does."""
    from selfcodealign import registry

    for spec in registry.stages():
        click.echo(f"{spec.name:<13} {spec.kind:<6} <- {spec.upstream or 'corpus':<13} "
                   f"{spec.summary}")


class Terminated(BaseException):
    """SIGTERM (a scheduler's preemption, `kill`): unwind so writers flush and commit."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn errors into one line and an exit code."""
    state = State()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _invoke(argv, state)
    finally:  # an embedding process (a test runner, a notebook) gets its own handler back
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)


def _invoke(argv: Sequence[str] | None, state: State) -> int | Any:
    """The CLI's exit code, every error turned into one line."""
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
    except AlreadyDoneError as exc:
        click.echo(str(exc), err=True)
        code = exc.exit_code
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
    return code


if __name__ == "__main__":
    main()
