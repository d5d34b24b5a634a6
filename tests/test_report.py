"""`selfcodealign report`: figures against the stages' own stats, a self-contained page, escaping
of hostile record text, partial runs, and (with Chromium) the sample browser's URL filters."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import _benchmark_folder
from selfcodealign import __version__
from selfcodealign.cli import main
from selfcodealign.errors import InputError
from selfcodealign.report import gather, render, write_report
from selfcodealign.store import RunStore

HOSTILE = '</script><script>alert(1)</script><img src=x onerror=alert(2)>'


def _cli(mp: pytest.MonkeyPatch, *args: str) -> None:
    mp.setattr(sys, "argv", ["selfcodealign", *args])  # the manifest records the command line
    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), f"selfcodealign {' '.join(args)} exited {exc.code}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A whole small run (fake backend, 30 seed files), built once through the real CLI."""
    benchmarks = _benchmark_folder()
    if benchmarks is None:
        pytest.skip("HumanEval+/MBPP+ files not found (set SELFCODEALIGN_BENCHMARKS)")
    root = tmp_path_factory.mktemp("report-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SELFCODEALIGN_BENCHMARKS", str(benchmarks))
        common = ["--runs-dir", str(root), "--run-name", "r"]
        _cli(mp, "seeds", *common, "--limit", "30", "--no-typecheck")
        for stage in ("concepts", "instructions", "responses"):
            _cli(mp, stage, *common, "--backend", "fake")
        _cli(mp, "execute", *common)
        _cli(mp, "select", *common)
    yield root / "r"


def test_gather_agrees_with_the_stage_stats(run: Path) -> None:
    data = gather(run)
    store = RunStore(run)
    stats = {s: store.stage_stats(s) for s in store.stages()}
    funnel = {row["step"]: row for row in data["funnel"]}
    for stage in ("seeds", "concepts", "instructions", "responses"):
        assert funnel[stage]["count"] == stats[stage]["kept"] > 0
    passed = int(stats["execute"]["metrics"]["status.passed"])
    assert funnel["passed"]["count"] == passed
    assert funnel["selected"]["count"] == stats["select"]["kept"] > 0
    assert funnel["passed"]["of_previous"] == pytest.approx(passed / stats["responses"]["kept"])
    assert funnel["selected"]["of_seeds"] == pytest.approx(
        stats["select"]["kept"] / stats["seeds"]["kept"])
    for stage, drops in data["drops"].items():
        assert drops["reasons"] == stats[stage]["dropped_by_reason"]
        assert drops["total"] == stats[stage]["kept"] + stats[stage]["dropped"]
    executed = data["execution"]
    assert executed["total"] == stats["execute"]["kept"] == sum(executed["statuses"].values())
    for field in ("category", "difficulty"):
        cells = data["pass_rates"][field].values()
        assert sum(c[0] for c in cells) == executed["total"] and sum(c[1] for c in cells) == passed
        assert sum(data["groups"][field].values()) == stats["instructions"]["kept"]
    assert data["concepts"]["records"] == stats["concepts"]["kept"]
    assert data["lengths"]["instruction"]["n"] == stats["instructions"]["kept"]
    lengths = data["lengths"]["response"]
    assert lengths["n"] == sum(lengths["counts"]) + lengths["overflow"] == executed["total"]
    samples = data["samples"]
    assert samples["source"] == "execute" and samples["total"] == executed["total"]
    assert len(samples["items"]) == min(samples["cap"], samples["total"])
    selected = [i for i in samples["items"] if i["selection"] == "selected"]
    assert len(selected) == stats["select"]["kept"] and all(i["status"] == "passed"
                                                           for i in selected)
    assert set(data["timing"]["stages"]) == set(stats)
    assert data["run"]["name"] == "r" and data["run"]["backend"] == "fake"
    assert data["run"]["version"] == __version__
    assert data["dataset"]["rows"] == stats["select"]["kept"]


def test_the_sample_cap_is_deterministic_and_stated(run: Path, tmp_path: Path) -> None:
    first, second = gather(run, sample_cap=20), gather(run, sample_cap=20)
    ids = [i["id"] for i in first["samples"]["items"]]
    assert len(ids) == 20 and ids == [i["id"] for i in second["samples"]["items"]]
    # whole instructions are kept together: few distinct parents, not 20 scattered ones
    assert len({i["instruction"] for i in first["samples"]["items"]}) <= 3
    page = render(first)
    assert f"20 of {first['samples']['total']} records of the execute stage" in page
    assert "capped at 20" in page


def test_the_page_is_self_contained(run: Path, tmp_path: Path) -> None:
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 8
    for pattern in (r"<script[^>]*\ssrc\s*=", r"<link\b", r"<img\b", r"<iframe\b", r"@import",
                    r"url\(", r"(src|href)\s*=\s*[\"']?\s*(https?:)?//"):
        assert not re.search(pattern, page, re.IGNORECASE), pattern
    assert page.count("<script") == 2  # the JSON data and the browser script, both inline
    other = write_report(run, tmp_path / "sub" / "elsewhere.html")
    assert other == tmp_path / "sub" / "elsewhere.html" and other.is_file()


def _hostile_run(folder: Path) -> None:
    store = RunStore(folder)
    base = {"instruction": f"Reverse a string {HOSTILE}", "category": HOSTILE,
            "difficulty": "easy", "concepts": f"{HOSTILE}, loops", "response": HOSTILE,
            "tests": "assert f() == '</script>'", "seed": "def f(): pass"}
    with store.open_stage("instructions", {}) as writer:
        writer.write("i1", kept=[{**base, "id": "i1", "parent": "c1"}])
    with store.open_stage("execute", {}) as writer:
        writer.write("r1", kept=[{**base, "id": "r1", "parent": "i1", "status": "failed",
                                  "execution": {"status": "failed", "detail": HOSTILE}}])
        writer.write("r2", kept=[{**base, "id": "r2", "parent": "i1", "status": HOSTILE}])


def test_hostile_record_text_is_escaped(tmp_path: Path) -> None:
    _hostile_run(tmp_path)
    page = write_report(tmp_path).read_text()
    assert "<script>alert" not in page and "</script><script>" not in page
    assert "<img" not in page and page.count("<script") == 2
    assert html.escape(HOSTILE) in page  # in tables and chart labels, as text
    blob = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', page,
                     re.DOTALL)
    assert blob is not None
    items = orjson.loads(blob.group(1))["items"]  # \u003c escapes decode back to the original
    assert items[0]["instruction"] == f"Reverse a string {HOSTILE}"
    assert items[1]["status"] == HOSTILE


@pytest.mark.parametrize("stages", [("seeds",), ("seeds", "concepts", "instructions",
                                                 "responses")])
def test_a_partial_run_renders(run: Path, tmp_path: Path, stages: tuple[str, ...]) -> None:
    partial = tmp_path / "partial"
    for stage in stages:
        shutil.copytree(run / stage, partial / stage)
    data = gather(partial)
    counts = {row["step"]: row["count"] for row in data["funnel"]}
    assert all(counts[s] is not None for s in stages)
    assert counts["passed"] is None and counts["selected"] is None
    assert data["execution"] is None and data["samples"]["source"] == stages[-1]
    page = write_report(partial).read_text()
    assert "The execute stage has not run." in page and "not run" in page
    if "instructions" in stages:
        assert "Instructions by category" in page  # counts instead of pass rates


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    for folder in (tmp_path / "missing", tmp_path / "notes", tmp_path):
        with pytest.raises(InputError, match="is not a run directory"):
            write_report(folder)
    assert not (tmp_path / "report.html").exists()


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium) for the browser test")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={cwd / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True,
                          cwd=cwd)


def _shown(dom: str) -> tuple[str, list[dict[str, Any]]]:
    count = re.search(r'id="sample-count">([^<]*)<', dom)
    assert count is not None
    cards = [dict(re.findall(r'data-(\w+)="([^"]*)"', tag))
             for tag in re.findall(r'<article class="sample[^>]*>', dom)]
    return count.group(1), cards


def test_the_browser_applies_filters_from_the_url(run: Path, tmp_path: Path) -> None:
    page = write_report(run, tmp_path / "report.html")
    items = gather(run)["samples"]["items"]
    failed = [i for i in items if i["status"] == "failed"]
    assert failed
    dom = _chromium("--dump-dom", f"{page.as_uri()}#status=failed", cwd=tmp_path).stdout
    assert dom.count("<svg") >= 8
    count, cards = _shown(dom)
    assert count.startswith(f"{len(failed)} of {len(items)} samples")  # the script ran
    assert len(cards) == min(len(failed), 50) and {c["status"] for c in cards} == {"failed"}
    word = items[0]["instruction"].split()[-1].strip(".;,")
    expected = [i for i in items if i["category"] == items[0]["category"]
                and i["status"] == "passed" and word.lower() in
                "\n".join(i[k] for k in ("instruction", "response", "tests", "concepts", "id",
                                         "detail", "seed")).lower()]
    uri = f"{page.as_uri()}#q={word}&status=passed&category={items[0]['category']}"
    count, cards = _shown(_chromium("--dump-dom", uri, cwd=tmp_path).stdout)
    assert count.startswith(f"{len(expected)} of {len(items)} samples")
    assert all(c["status"] == "passed" and c["category"] == items[0]["category"] for c in cards)
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), cwd=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_browser_shows_hostile_text_as_text(tmp_path: Path) -> None:
    _hostile_run(tmp_path / "run")
    page = write_report(tmp_path / "run")
    dom = _chromium("--dump-dom", page.as_uri(), cwd=tmp_path).stdout
    count, cards = _shown(dom)
    assert count.startswith("2 of 2 samples") and len(cards) == 2
    assert f'<div class="instr">Reverse a string {html.escape(HOSTILE, quote=False)}</div>' in dom
    assert "<img" not in dom and "alert(1)</script>" not in dom


def test_evaluation_scores_are_shown(run: Path, tmp_path: Path) -> None:
    partial = tmp_path / "evaluated"
    shutil.copytree(run / "seeds", partial / "seeds")
    scores = {"pass_at_k": {"base": {"pass@1": 0.61}, "plus": {"pass@1": 0.54}},
              "tasks": 164, "model": "out/model", "dataset_version": "v0.1.10"}
    RunStore(partial).record("evaluation", "humaneval", scores)
    assert gather(partial)["evaluation"]["humaneval"]["pass_at_k"] == scores["pass_at_k"]
    page = write_report(partial).read_text()
    assert "<td>humaneval</td><td>pass@1</td>" in page
    assert ">61.0%<" in page and ">54.0%<" in page and "out/model" in page
    assert "paper: SelfCodeAlign-CQ-7B humaneval+" in page and ">67.1%<" in page


@pytest.mark.parametrize("bins", [3, 8, 12, 40])
def test_histogram_tick_labels_never_run_into_more(bins: int) -> None:
    """The overflow bar's "more" label and the last edge's tick used to overlap ("41more")."""
    import re

    from selfcodealign.report.svg import histogram

    edges = list(range(1, bins * 5 + 2, 5))
    svg = histogram(edges, [3] * (len(edges) - 1), 7, unit="lines", label="x")
    ticks = [(float(x), text) for x, text in re.findall(
        r'<text class="tick" x="([0-9.]+)" y="[0-9.]+" text-anchor="middle">([^<]+)</text>',
        svg)]
    more = [x for x, text in ticks if text == "more"]
    assert len(more) == 1
    assert all(abs(x - more[0]) >= 28 for x, text in ticks if text not in ("more", "lines"))


def test_checkpoint_scores_during_training_are_shown(run: Path, tmp_path: Path) -> None:
    """train.eval_benchmarks scores each checkpoint: the report shows them by step, from the
    history the training writes (a line cut by a crash skipped, a repeated step once)."""
    partial = tmp_path / "trained"
    shutil.copytree(run / "seeds", partial / "seeds")
    (partial / "train").mkdir()
    lines = [{"step": 400, "checkpoint": "c4", "limit": None, "humaneval_pass@1": 0.5,
              "humaneval+_pass@1": 0.4375},
             {"step": 200, "checkpoint": "c2", "limit": None, "humaneval_pass@1": 0.25,
              "humaneval+_pass@1": 0.125}]
    history = b"".join(orjson.dumps(x) + b"\n" for x in lines) + b'{"step": 600, "hum'
    (partial / "train" / "benchmark_history.jsonl").write_bytes(history)
    assert [c["step"] for c in gather(partial)["checkpoints"]] == [200, 400]
    page = write_report(partial).read_text()
    assert "During training" in page and "step 200 humaneval+" in page
    assert ">43.8%<" in page and ">12.5%<" in page and ">25.0%<" in page
    assert "step 600" not in page
