from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.config import reference_markdown

COMMANDS = ["seeds", "concepts", "instructions", "responses", "execute", "select", "train",
            "evaluate", "run", "report"]


def test_console_script_help_works() -> None:
    out = subprocess.run(["selfcodealign", "--help"], capture_output=True, text=True, check=True)
    for command in COMMANDS:
        assert f"\n  {command} " in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(run_cli: Callable[..., object],
                                                command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0, result.err
    assert "Example:" in result.out and f"selfcodealign {command}" in result.out
    assert "--config" in result.out and "--set" in result.out


def test_library_errors_are_one_line_and_exit_1(run_cli: Callable[..., object]) -> None:
    result = run_cli("concepts", "--set", "sampling.temprature=1")
    assert result.code == 1
    assert result.err.startswith("error: unknown config key 'sampling.temprature'")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_debug_shows_the_traceback(run_cli: Callable[..., object]) -> None:
    result = run_cli("--debug", "concepts", "--set", "sampling.temprature=1")
    assert result.code == 1 and "Traceback" in result.err and "ConfigError" in result.err


def test_config_show_layers_file_set_and_flags(run_cli: Callable[..., object],
                                               tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("backend:\n  model: from-yaml\nsampling:\n  temperature: 0.1\n  top_p: 0.5\n")
    # --config/--set before the command, and again after it: both are honoured, in order.
    result = run_cli("--config", str(cfg), "--set", "sampling.temperature=0.2", "config", "show",
                     "--set", "sampling.top_p=0.8", "--model", "from-flag")
    assert result.code == 0, result.err
    assert "model: from-flag" in result.out
    assert "temperature: 0.2" in result.out and "top_p: 0.8" in result.out
    after = run_cli("config", "show", "--config", str(cfg))
    assert "model: from-yaml" in after.out and "temperature: 0.1" in after.out


def test_config_reference_prints_the_docs(run_cli: Callable[..., object]) -> None:
    result = run_cli("config", "reference")
    assert result.out.strip() == reference_markdown().strip()


def test_run_dry_run_lists_stages(run_cli: Callable[..., object], tmp_path: Path) -> None:
    result = run_cli("run", "--dry-run", "--runs-dir", str(tmp_path), "--run-name", "demo")
    assert result.code == 0, result.err
    assert f"run directory: {tmp_path / 'demo'}" in result.out
    assert "seeds" in result.out and "not started" in result.out
    assert not (tmp_path / "demo").exists()  # a dry run writes nothing


def test_bad_option_is_a_usage_error(run_cli: Callable[..., object]) -> None:
    result = run_cli("execute", "--workers", "-1")
    assert result.code == 2 and "Invalid value for '--workers'" in result.err


def test_import_is_light() -> None:
    code = ("import sys, selfcodealign.cli, selfcodealign.store; "
            "heavy = [m for m in ('torch', 'transformers', 'vllm', 'trl', 'ray', 'datasets') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sigterm_unwinds_so_finished_work_is_flushed(tmp_path: Path) -> None:
    """A SIGTERM mid-stage runs the writer's cleanup: the buffered group reaches the disk."""
    script = f"""
import os, signal, click
from pathlib import Path
from selfcodealign.cli import cli, main
from selfcodealign.store import StageWriter, StoreOptions

@cli.command("busy")
def busy():
    with StageWriter(Path({str(tmp_path)!r}), StoreOptions(flush_every=1000)) as w:
        w.write("a", kept=[{{"id": "a"}}])  # buffered, not yet flushed
        os.kill(os.getpid(), signal.SIGTERM)
        import time; time.sleep(30)

main(["busy"])
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 143
    assert "terminated: finished work is saved" in proc.stderr
    assert (tmp_path / "shard-00000.jsonl.part").read_text() == '{"id":"a"}\n'


def test_the_sigterm_handler_is_given_back(run_cli: Callable[..., Any]) -> None:
    """Inside a test runner or a notebook the CLI's SIGTERM handler (which unwinds a run so its
    writers commit) must not outlive the call: afterwards SIGTERM is what it was before."""
    import signal

    def mine(_signum: int, _frame: object) -> None:
        return None

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        run_cli("stages")
        assert signal.getsignal(signal.SIGTERM) is mine
        run_cli("config", "show", "--set", "nope.key=1")  # an error exit gives it back too
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_plan_header_knows_partly_mined_seeds(run_cli: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    from tests.test_golden_tour import write_corpus

    write_corpus(tmp_path / "corpus")
    common = ["--set", "backend.name=fake", "--set", "seeds.typecheck=false",
              "--set", f"seeds.corpus=[{tmp_path / 'corpus'}]", "--runs-dir",
              str(tmp_path / "runs"), "--no-decontamination"]
    before = run_cli("run", "--dry-run", *common)
    assert before.code == 0 and "seeds not mined yet" in before.out
    mined = run_cli("seeds", "--limit", "2", *[a for a in common if a != "--dry-run"])
    assert mined.code == 0, mined.err
    partly = run_cli("run", "--dry-run", *common)
    assert "seeds not mined yet" not in partly.out
    assert "10 seeds mined so far, more to come" in " ".join(partly.out.split())
