"""`selfcodealign run` (the whole loop, and its --dry-run plan) and `selfcodealign report`."""

from __future__ import annotations

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
from selfcodealign.cli.commands import fewshot_option


@cli.command("run")
@benchmark_options
@shared_options
@run_options
@model_options
@executor_options
@fewshot_option
@click.option("--until", type=click.Choice(registry.names()),
              help="Last stage to run (run.until): the dataset, training, or evaluation.")
@click.option("--dry-run", is_flag=True,
              help="Show the stages, their state and what the rest would cost; run nothing.")
def run_command(dry_run: bool, limit: int | None, force: bool, **flags: Any) -> None:
    """Run the whole loop (seeds -> ... -> select [-> train -> evaluate]), resumably.

    Kill it anywhere and rerun the same command: finished stages are skipped, a stage in
    progress continues where it stopped, and no LLM request is sent twice. --limit N mines
    seeds from N corpus inputs only (a small trial).

    \b
    Example:
      selfcodealign run --config configs/cpu-small.yaml
      selfcodealign run --config configs/paper-starcoder2-15b.yaml --until evaluate
      selfcodealign run --backend fake --run-name demo --limit 50
      selfcodealign run --config configs/paper-starcoder2-15b.yaml --ray-address auto
    """
    from selfcodealign.pipeline import dry_run_plan, run_pipeline

    config = resolve(click.get_current_context(), **flags)
    if dry_run:
        _print_plan(dry_run_plan(config))
        return

    def announce(index: int, count: int, stage: str) -> None:
        click.echo(f"[{index}/{count}] {stage}", err=True)

    result = run_pipeline(config, limit=limit, force=force, on_stage=announce)
    _print_pipeline(result)
    if not result.complete:
        from selfcodealign.errors import IncompleteError

        raise IncompleteError(f"stopped at stage '{result.stopped_at}': "
                              f"{next(s.note for s in result.stages if s.action == 'stopped')}")


def _print_plan(plan: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    click.echo(f"run directory: {plan['run_dir']}")
    click.echo(f"backend: {plan['backend']}  model: {plan['model'] or '(not set)'}")
    mined = plan.get("seeds")
    basis = ("" if plan["seeds_complete"] else
             f" (seeds not mined yet: estimates are per {plan['basis_seeds']:,} seeds)"
             if not mined else
             f" ({mined:,} seeds mined so far, more to come: estimates are per "
             f"{plan['basis_seeds']:,} seeds)")
    table = Table(title=f"what run would do{basis}", show_edge=False)
    for column in ("stage", "state", "kept", "requests", "samples", "prompt tok",
                   "max out tok"):
        table.add_column(column, justify="left" if column in ("stage", "state") else "right")

    def num(value: Any) -> str:
        return "" if value is None else f"{value:,}"

    for row in plan["stages"]:
        table.add_row(row["stage"], row["state"], num(row.get("kept")), num(row.get("requests")),
                      num(row.get("completions")), num(row.get("prompt_tokens")),
                      num(row.get("completion_tokens")))
    total = plan["total"]
    table.add_row("total", "", "", num(total["requests"]), num(total["completions"]),
                  num(total["prompt_tokens"]), num(total["completion_tokens"]))
    console.print(table)
    console.print("prompt tok: estimated at 4 characters per token; max out tok: the "
                  "sampling.max_tokens ceiling per sample")


def _print_pipeline(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result.run_dir.name}", show_edge=False)
    for column in ("stage", "this run", "kept", "dropped", "time", "note"):
        table.add_column(column, justify="right" if column in ("kept", "dropped", "time")
                         else "left")
    for stage in result.stages:
        if stage.action == "pending":
            continue
        seconds = stage.total_seconds or stage.seconds
        table.add_row(stage.name, stage.action, f"{stage.kept:,}", f"{stage.dropped:,}",
                      f"{seconds:.1f} s", stage.note)
    console = Console()
    console.print(table)
    state = "complete" if result.complete else f"stopped at {result.stopped_at}"
    console.print(f"{state} | run directory {result.run_dir} | dataset "
                  f"{result.run_dir / 'dataset'} | report: selfcodealign report "
                  f"{result.run_dir}")


@cli.command("report")
@click.argument("run_dir", type=click.Path())
@shared_options
@click.option("--output", "output_path", type=click.Path(dir_okay=False),
              help="HTML file to write (default: RUN_DIR/report.html).")
def report_command(run_dir: str, output_path: str | None) -> None:
    """Write one self-contained, offline HTML report of a run: funnel, drop reasons, execution,
    pass rates, concepts, lengths, timing, scores, and a searchable browser of samples.

    \b
    Example:
      selfcodealign report runs/demo
      selfcodealign report runs/demo --output demo.html
      (then open demo.html#status=failed&q=palindrome to land on a filtered sample list)
    """
    from selfcodealign.report import write_report

    resolve(click.get_current_context())
    path = write_report(run_dir, output_path)
    click.echo(f"report written to {path} ({path.stat().st_size / 1024:.0f} KiB, "
               "self-contained, opens offline)")
