"""The stage table: adding a stage is one `register` call and one function, and `run`, resume,
the dry-run plan, the fingerprints and the report all pick it up without touching the package.

The toy stage `shout` reads the selected samples and writes each instruction in capitals. It is
registered here, in the test, after `select`; the run goes `--until shout`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from selfcodealign import registry
from selfcodealign.config import load_config, stage_settings
from selfcodealign.errors import ConfigError
from selfcodealign.pipeline import dry_run_plan, planned, run_pipeline
from selfcodealign.registry import StageContext, StageSpec
from selfcodealign.report import build as report_build
from selfcodealign.runner import Drop, Mapper, Rec, run_stage
from selfcodealign.stageio import open_target

CALLS: list[int] = []


class Shout(Mapper):
    name: ClassVar[str] = "shout"
    empty_reason: ClassVar[str] = "nothing_to_shout"

    def map(self, record: Rec) -> Iterable[Rec]:
        text = str(record.get("instruction", ""))
        if "recursion" in text:
            raise Drop("too_quiet_for_recursion")
        return [{"id": record["id"] + "-loud", "parent": record["id"], "shout": text.upper()}]


def run_toy(ctx: StageContext) -> dict[str, Any]:
    CALLS.append(1)
    target = open_target(ctx.config, "shout", None, force=ctx.force)
    stats = run_stage(Shout(), ctx.store.read("select"), target.writer, limit=ctx.limit)
    return {"kept": stats.kept, "complete": stats.complete, **target.finish(stats)}


@pytest.fixture
def toy_stage() -> Iterator[StageSpec]:
    spec = StageSpec("shout", "data", "select", None, ("run.seed",), f"{__name__}:run_toy",
                     "capitalise every selected instruction")
    registry.register(spec, before="train")
    try:
        yield spec
    finally:
        registry.unregister("shout")


def test_a_toy_stage_runs_resumes_and_reports(toy_stage: StageSpec, tmp_path: Path,
                                              benchmark_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_golden_tour import write_corpus

    monkeypatch.chdir(tmp_path)
    write_corpus(Path("corpus"))
    config = load_config(None, [
        "run.root=runs", "backend.name=fake", "seeds.corpus=[corpus]", "seeds.typecheck=false",
        f"seeds.benchmark_dir={benchmark_dir}", f"select.benchmark_dir={benchmark_dir}",
        "run.until=shout"])
    assert planned(config)[-2:] == ["select", "shout"]
    assert stage_settings(config, "shout") == {"run.seed": 3407}
    CALLS.clear()
    first = run_pipeline(config)
    assert first.complete and CALLS == [1]
    shout = next(s for s in first.stages if s.name == "shout")
    selected = next(s for s in first.stages if s.name == "select").kept
    assert shout.action == "ran" and shout.kept + shout.dropped == selected > 0
    records = list(Path("runs/default/shout").glob("shard-*.jsonl"))
    assert records and all(line.isupper() or '"shout"' in line
                           for line in records[0].read_text().splitlines())

    # resume: a finished stage is current and is not run again
    again = run_pipeline(config)
    assert CALLS == [1] and next(s for s in again.stages if s.name == "shout").action == "skipped"

    # the plan lists it with its state, and the report shows its numbers
    plan = dry_run_plan(config)
    assert plan["stages"][-1]["stage"] == "shout" and plan["stages"][-1]["state"] == "complete"
    data = report_build.gather("runs/default")
    assert "shout" in data["stats"] and "shout" in data["drops"]
    assert data["stats"]["shout"]["kept"] == shout.kept


def test_the_table_is_the_one_source(toy_stage: StageSpec) -> None:
    assert registry.names()[-3:] == ("shout", "train", "evaluate")
    assert "shout" in registry.record_stages() and registry.upstream("shout") == "select"
    assert registry.names("llm") == ("concepts", "instructions", "responses")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(toy_stage)
    with pytest.raises(ValueError, match="built in"):
        registry.unregister("seeds")
    with pytest.raises(ValueError, match="unknown stage 'nowhere'"):
        registry.register(StageSpec("x", "data", "nowhere", None, (), "m:f", "x"))


def test_until_names_a_stage_of_the_table() -> None:
    with pytest.raises(ConfigError, match="unknown stage 'shout'"):
        load_config(None, ["run.until=shout"])
    assert load_config(None, ["run.until=execute"]).run.until == "execute"
    spec = registry.get("concepts")
    assert spec.load().__name__ == "run_step" and spec.section == "concepts"


def test_every_report_section_the_table_names_exists() -> None:
    import re
    from pathlib import Path

    import selfcodealign.report.sections as sections

    anchors = set(re.findall(r'section\("([a-z-]+)"', Path(sections.__file__).read_text()))
    named = {spec.name: spec.report for spec in registry.stages() if spec.report}
    assert named and all(anchor in anchors for anchor in named.values()), named
    assert sections._own_section("execute") == ' <a class="dim" href="#execution">its figures</a>'
    assert sections._own_section("a-stage-from-the-future") == ""
