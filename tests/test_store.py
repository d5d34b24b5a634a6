from __future__ import annotations

import gzip
import logging
from pathlib import Path

import orjson
import pytest

from selfcodealign.config import Config, load_config, stage_settings
from selfcodealign.errors import ConfigMismatchError, StoreError
from selfcodealign.records import make_id
from selfcodealign.stageio import begin, run_store, stage_writer
from selfcodealign.store import RunStore, StageWriter, StoreOptions, iter_records


def rec(i: int, **extra: object) -> dict[str, object]:
    return {"id": make_id("item", i), "value": i, **extra}


def lines(path: Path) -> list[dict[str, object]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return [orjson.loads(line) for line in fh]


def test_write_read_rejects_and_stats(tmp_path: Path) -> None:
    with StageWriter(tmp_path, StoreOptions(flush_every=2)) as w:
        w.write("src-a", kept=[rec(1), rec(2)])
        w.write("src-b", dropped=[(rec(3), "too_long")])
        w.write(rec(4)["id"], kept=[rec(4)])  # a filter keeps its input as is
        w.write("src-c", dropped=[(rec(5), "too_long"), (rec(6), "no_docstring")])
    kept = list(iter_records(tmp_path))
    assert [r["value"] for r in kept] == [1, 2, 4]
    assert kept[0]["input_id"] == "src-a" and "input_id" not in kept[2]
    rejects = list(iter_records(tmp_path, "rejects"))
    assert [(r["value"], r["reason"]) for r in rejects] == [
        (3, "too_long"), (5, "too_long"), (6, "no_docstring")]
    stats = orjson.loads((tmp_path / "stats.json").read_bytes())
    assert stats["kept"] == 3 and stats["dropped"] == 3 and stats["inputs_done"] == 4
    assert stats["dropped_by_reason"] == {"too_long": 2, "no_docstring": 1}
    assert stats["complete"] is False and stats["sessions"] == 1
    assert stats["inputs_per_s"] > 0 and stats["elapsed_s"] >= 0


def test_resume_skips_done_inputs_and_never_duplicates(tmp_path: Path) -> None:
    with StageWriter(tmp_path) as w:
        w.write("a", kept=[rec(1)])
        w.write("b", dropped=[(rec(2), "bad")])
    w = StageWriter(tmp_path)
    assert w.is_done("a") and w.is_done("b") and not w.is_done("c")
    assert w.stats.kept == 1 and w.stats.dropped == {"bad": 1} and w.stats.sessions == 2
    w.write("a", kept=[rec(1)])  # a careless caller rewrites a finished input
    w.write("c", kept=[rec(1), rec(3)])  # and a duplicate id inside a new group
    stats = w.close(complete=True)
    assert stats.duplicates_skipped == 2 and stats.kept == 2 and stats.complete
    ids = [r["id"] for r in iter_records(tmp_path)]
    assert sorted(ids) == sorted({rec(1)["id"], rec(3)["id"]})


def test_each_input_needs_an_outcome_and_ids(tmp_path: Path) -> None:
    w = StageWriter(tmp_path)
    with pytest.raises(ValueError, match="no record and no drop reason"):
        w.write("a")
    with pytest.raises(ValueError, match="has no string 'id'"):
        w.write("a", kept=[{"value": 1}])
    with pytest.raises(ValueError, match="non-empty string"):
        w.write("a", dropped=[(rec(1), "")])
    w.close()
    with pytest.raises(StoreError, match="is closed"):
        w.write("a", kept=[rec(1)])


@pytest.mark.parametrize("compress", [False, True])
def test_shards_rotate_and_finish_atomically(tmp_path: Path, compress: bool) -> None:
    opts = StoreOptions(shard_size=3, flush_every=1, compress=compress)
    w = StageWriter(tmp_path, opts)
    for i in range(8):
        w.write(f"s{i}", kept=[rec(i)])
    w.close()
    names = sorted(p.name for p in tmp_path.glob("shard-*.jsonl*"))
    ext = ".jsonl.gz" if compress else ".jsonl"
    assert names == [f"shard-00000{ext}", f"shard-00001{ext}", "shard-00002.jsonl.part"]
    assert sorted(p.name for p in tmp_path.glob("*.idx")) == ["shard-00000.idx", "shard-00001.idx"]
    w = StageWriter(tmp_path, opts)  # resume appends to the open shard
    w.write("s8", kept=[rec(8)])
    w.close(complete=True)
    names = sorted(p.name for p in tmp_path.glob("shard-*.jsonl*"))
    assert names == [f"shard-0000{i}{ext}" for i in range(3)]
    assert [r["value"] for r in iter_records(tmp_path)] == list(range(9))
    assert len(lines(tmp_path / f"shard-00002{ext}")) == 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_corrupt_last_line_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = StageWriter(tmp_path, StoreOptions(shard_size=2, flush_every=1))
    for i in range(3):
        w.write(f"s{i}", kept=[rec(i)])
    w.close()
    finished = tmp_path / "shard-00000.jsonl"
    with open(finished, "ab") as fh:  # damage a finished shard: half a record, no newline
        fh.write(b'{"id": "zz", "val')
    with caplog.at_level(logging.WARNING):
        assert [r["value"] for r in iter_records(tmp_path)] == [0, 1, 2]
    assert "dropped a corrupt last line" in caplog.text
    assert "shard-00000.jsonl" in caplog.text


def test_damaged_open_shard_is_cut_back_on_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = StageWriter(tmp_path, StoreOptions(flush_every=1))
    for i in range(3):
        w.write(f"s{i}", kept=[rec(i)])
    w.close()
    part = tmp_path / "shard-00000.jsonl.part"
    data = part.read_bytes()
    (tmp_path / "commits.log").unlink()  # no commit record: recovery falls back to line checks
    part.write_bytes(data[:-5])  # the last record loses its tail
    with caplog.at_level(logging.WARNING):
        w = StageWriter(tmp_path)
    assert "corrupt last line" in caplog.text
    assert not w.is_done("s2") and w.is_done("s1") and w.stats.kept == 2
    w.write("s2", kept=[rec(2)])
    w.close(complete=True)
    assert [r["value"] for r in iter_records(tmp_path)] == [0, 1, 2]


def test_corrupt_line_in_the_middle_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shard = tmp_path / "shard-00000.jsonl"
    shard.write_bytes(b'{"id": "a"}\nnot json\n{"id": "b"}\n')
    with caplog.at_level(logging.WARNING):
        assert [r["id"] for r in iter_records(tmp_path)] == ["a", "b"]
    assert "corrupt line in the middle" in caplog.text


def test_uncommitted_batch_is_discarded_as_a_whole(tmp_path: Path) -> None:
    w = StageWriter(tmp_path, StoreOptions(flush_every=1))
    w.write("a", kept=[rec(1)])
    w.close()
    # A crash after the append of a two-record group but before its commit:
    with open(tmp_path / "shard-00000.jsonl.part", "ab") as fh:
        fh.write(orjson.dumps({**rec(2), "input_id": "b"}) + b"\n")
    with open(tmp_path / "rejects-00000.jsonl.part", "ab") as fh:
        fh.write(orjson.dumps({**rec(3), "input_id": "b", "reason": "r"}) + b"\n")
    w = StageWriter(tmp_path)
    assert not w.is_done("b") and w.stats.kept == 1 and not w.stats.dropped
    assert not (tmp_path / "rejects-00000.jsonl.part").exists()


def test_crash_between_finish_and_unlink_leaves_no_duplicate(tmp_path: Path) -> None:
    w = StageWriter(tmp_path, StoreOptions(flush_every=1, compress=True))
    w.write("a", kept=[rec(1)])
    w.close()
    part = tmp_path / "shard-00000.jsonl.part"
    with open(part, "rb") as src, gzip.open(tmp_path / "shard-00000.jsonl.gz", "wb") as dst:
        dst.write(src.read())  # the finished copy exists, the part was not removed yet
    assert [r["id"] for r in iter_records(tmp_path)] == [rec(1)["id"]]
    w = StageWriter(tmp_path)
    assert not part.exists() and w.stats.kept == 1
    w.close()


def test_stage_settings_guard_resume(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    base = Config()
    with store.open_stage("responses", stage_settings(base, "responses")) as w:
        w.write("a", kept=[rec(1)])
    # Operational settings may change freely.
    busy = load_config(None, ["run.flush_every=2", "backend.base_url=[http://h/v1]"])
    store.open_stage("responses", stage_settings(busy, "responses")).close()
    hotter = load_config(None, ["sampling.temperature=0.9", "responses.n=4"])
    with pytest.raises(ConfigMismatchError) as info:
        store.open_stage("responses", stage_settings(hotter, "responses"))
    message = str(info.value)
    assert "responses.n: 10 -> 4" in message and "sampling.temperature: 0.7 -> 0.9" in message
    assert "--force" in message and "\n" not in message
    store.open_stage("responses", stage_settings(hotter, "responses"), force=True).close()
    meta = orjson.loads((store.stage_dir("responses") / "stage.json").read_bytes())
    assert meta["settings"]["responses.n"] == 4
    assert meta["history"][0]["changed"]["responses.n"] == [10, 4]
    # A stage without outputs takes new settings silently.
    store.open_stage("select", {"x": 1}).close()
    store.open_stage("select", {"x": 2}).close()


def test_run_directory_config_and_manifest(tmp_path: Path) -> None:
    config = load_config(None, [f"run.root={tmp_path}", "run.name=demo",
                                "sampling.temperature=0.5"])
    store = run_store(config)
    begin(store, config, "concepts")
    assert store.path == tmp_path / "demo"
    assert load_config(store.path / "config.yaml") == config
    with stage_writer(store, config, "concepts") as w:
        w.write("a", kept=[rec(1)])
    assert store.count("concepts") == 1
    meta = orjson.loads((store.stage_dir("concepts") / "stage.json").read_bytes())
    assert meta["settings"] == stage_settings(config, "concepts")
    store.end("ok")
    manifest = store.manifest()
    assert manifest["package"] == "selfcodealign" and manifest["version"]
    assert manifest["python"] and "pydantic" in manifest["libraries"]
    assert manifest["libraries"]["pydantic"] is not None
    assert len(manifest["config_hash"]) == 16
    assert manifest["invocations"][-1]["command"] == "concepts"
    assert manifest["invocations"][-1]["status"] == "ok" and manifest["invocations"][-1]["ended_at"]
    assert manifest["stages"]["concepts"]["kept"] == 1
    assert "commit" not in manifest["stages"]["concepts"]
    assert "git" in manifest
    with pytest.raises(StoreError, match="stage 'select' has no outputs"):
        store.read("select")


def test_record_ids_are_stable_and_records_round_trip() -> None:
    from selfcodealign.records import Concept, problem

    assert make_id("seed", 3, "concepts") == make_id("seed", 3, "concepts")
    assert make_id("seed", 3) != make_id("seed", 4) and len(make_id("x")) == 16
    assert make_id("a", "bc") != make_id("ab", "c")  # parts are delimited
    record = {"id": make_id("p", 0), "parent": "p", "seed": "def f(): pass", "concepts": "x",
              "seed_id": "p", "meta": {"shots": [1, 2]}}
    # keys the store adds (`input_id`, `reason`) do not make a record misfit its type
    assert problem({**record, "input_id": "p", "reason": "x"}, Concept) is None


def test_the_next_run_marks_a_killed_invocation(tmp_path: Path) -> None:
    """An invocation that never ended (SIGKILL, OOM, power loss) is marked `killed` by the next
    one once its process is gone; one whose process still runs is left open."""
    import os
    import subprocess
    import sys

    store = RunStore(tmp_path / "run")
    store.begin("seeds", config_yaml="{}\n", config_hash="h")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    manifest = store.manifest()
    manifest["invocations"][0]["pid"] = gone.pid  # as if that process had been SIGKILLed
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manifest["invocations"].append({**manifest["invocations"][0], "pid": alive.pid})
        manifest["invocations"].append({"command": "old", "started_at": "x"})  # no pid: old
        (store.path / "manifest.json").write_bytes(orjson.dumps(manifest))
        store.begin("seeds", config_yaml="{}\n", config_hash="h")
        calls = store.manifest()["invocations"]
        assert [c.get("status") for c in calls] == ["killed", None, "killed", None]
        assert calls[-1]["pid"] == os.getpid()
        store.end("ok")
        assert store.manifest()["invocations"][-1]["status"] == "ok"
    finally:
        alive.kill()
        alive.wait()
