"""Offline is a normal case: the benchmark files come from `--benchmarks DIR`, the environment
or the cache, `selfcodealign benchmarks` manages them, and the free tour runs on without them
(one warning, recorded) while the paper's settings stop with an error that names the way out."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign import benchmarks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No benchmark files anywhere and no way to download them (a closed local port)."""
    monkeypatch.delenv("SELFCODEALIGN_BENCHMARKS", raising=False)
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(tmp_path / "cache"))
    dead = {name: (file, f"http://127.0.0.1:9/{file}", version)
            for name, (file, _, version) in benchmarks.RELEASES.items()}
    monkeypatch.setattr(benchmarks, "RELEASES", dead)
    return tmp_path


def test_list_import_and_list_again(offline: Path, run_cli: Callable[..., Any],
                                    benchmark_dir: Path) -> None:
    missing = run_cli("benchmarks", "list")
    assert missing.code == 4 and missing.out.count("missing") == 2
    imported = run_cli("benchmarks", "import", str(benchmark_dir))
    assert imported.code == 0 and "164 tasks" in imported.out and "399 tasks" in imported.out
    listed = run_cli("benchmarks", "list")
    assert listed.code == 0 and "v0.1.10" in listed.out and "v0.2.0" in listed.out
    assert str(offline / "cache") in listed.out and "sha256" in listed.out


def test_import_checks_the_content_not_the_name(offline: Path, run_cli: Callable[..., Any],
                                                benchmark_dir: Path) -> None:
    fake = offline / "wrong"
    fake.mkdir()
    # MBPP+ tasks under HumanEval+'s name
    (fake / "HumanEvalPlus.jsonl.gz").write_bytes((benchmark_dir / "MbppPlus.jsonl.gz")
                                                  .read_bytes())
    result = run_cli("benchmarks", "import", str(fake))
    assert result.code == 1 and "holds mbpp tasks" in result.err
    empty = offline / "empty"
    empty.mkdir()
    assert "no HumanEvalPlus/MbppPlus" in run_cli("benchmarks", "import", str(empty)).err


@pytest.fixture
def release_server(benchmark_dir: Path) -> Iterator[str]:
    """A local HTTP server standing in for the EvalPlus release."""
    folder = str(benchmark_dir)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, directory=folder, **kw)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_fetches_the_pinned_release(offline: Path, run_cli: Callable[..., Any],
                                             release_server: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmarks, "RELEASES", {
        name: (file, f"{release_server}/{file}", version)
        for name, (file, _, version) in benchmarks.RELEASES.items()})
    result = run_cli("benchmarks", "download", "humaneval")
    assert result.code == 0 and "164 tasks" in result.out
    assert (offline / "cache" / "HumanEvalPlus.jsonl.gz").is_file()
    rows = gzip.decompress((offline / "cache" / "HumanEvalPlus.jsonl.gz").read_bytes())
    assert rows.count(b"\n") >= 164


def test_download_offline_is_one_line(offline: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli("benchmarks", "download")
    assert result.code == 1 and result.err.count("\n") == 1 and "--benchmarks DIR" in result.err


def _write_corpus(folder: Path) -> Path:
    from tests.test_golden_tour import write_corpus

    write_corpus(folder)
    return folder


def test_the_free_tour_runs_offline_with_one_warning(offline: Path,
                                                     run_cli: Callable[..., Any]) -> None:
    corpus = _write_corpus(offline / "corpus")
    result = run_cli("run", "--config", str(ROOT / "configs" / "dry-run-fake.yaml"),
                     "--runs-dir", str(offline / "runs"), "--set", f"seeds.corpus=[{corpus}]")
    assert result.code == 0, result.err
    assert "Saving the dataset" not in result.err and "Creating parquet" not in result.err
    warnings = [line for line in result.err.splitlines() if "decontamination skipped" in line]
    assert len(warnings) == 2  # one for seeds, one for select
    assert "--benchmarks DIR" in warnings[0]
    manifest = orjson.loads((offline / "runs" / "dry-run" / "manifest.json").read_bytes())
    for stage in ("seeds", "select"):
        info = manifest["stages"][stage]["info"]["decontamination"]
        assert info["status"] == "skipped" and "not available locally" in info["reason"]


def test_the_paper_setting_stops_and_names_the_way_out(offline: Path,
                                                       run_cli: Callable[..., Any]) -> None:
    corpus = _write_corpus(offline / "corpus")
    result = run_cli("run", "--set", "backend.name=fake", "--set", "seeds.typecheck=false",
                     "--runs-dir", str(offline / "runs"), "--set", f"seeds.corpus=[{corpus}]")
    assert result.code == 1
    assert "--benchmarks DIR" in result.err and "SELFCODEALIGN_BENCHMARKS" in result.err


def test_benchmarks_flag_reaches_every_stage(offline: Path, run_cli: Callable[..., Any],
                                             benchmark_dir: Path) -> None:
    corpus = _write_corpus(offline / "corpus")
    result = run_cli("run", "--set", "backend.name=fake", "--set", "seeds.typecheck=false",
                     "--runs-dir", str(offline / "runs"), "--set", f"seeds.corpus=[{corpus}]",
                     "--benchmarks", str(benchmark_dir))
    assert result.code == 0, result.err
    manifest = orjson.loads((offline / "runs" / "default" / "manifest.json").read_bytes())
    for stage in ("seeds", "select"):
        assert manifest["stages"][stage]["info"]["decontamination"]["status"] == "on"
    shown = run_cli("config", "show", "--benchmarks", str(benchmark_dir))
    assert shown.code == 0 and shown.out.count(str(benchmark_dir)) == 3


def test_no_decontamination_is_one_switch_and_warns(offline: Path,
                                                    run_cli: Callable[..., Any]) -> None:
    corpus = _write_corpus(offline / "corpus")
    result = run_cli("run", "--set", "backend.name=fake", "--set", "seeds.typecheck=false",
                     "--runs-dir", str(offline / "runs"), "--set", f"seeds.corpus=[{corpus}]",
                     "--no-decontamination")
    assert result.code == 0, result.err
    assert sum("decontamination is off" in line for line in result.err.splitlines()) == 2
    manifest = orjson.loads((offline / "runs" / "default" / "manifest.json").read_bytes())
    assert manifest["stages"]["seeds"]["info"]["decontamination"]["status"] == "off"
