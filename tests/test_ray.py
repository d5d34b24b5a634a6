"""The Ray executor on a local Ray instance (2 CPUs): same records as the local executor, and
killing an actor mid-stage loses nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.backends.base import SamplingParams
from selfcodealign.config import load_config
from selfcodealign.config.schema import ExecutorConfig
from selfcodealign.execution.base import Limits, Program, Status
from selfcodealign.pipeline import run_pipeline
from selfcodealign.store import iter_records

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from selfcodealign.distributed import connect

    yield connect(ExecutorConfig(name="ray", num_cpus=2))
    ray.shutdown()


def _records(run_dir: Path, stage: str) -> list[bytes]:
    out = []
    for record in iter_records(run_dir / stage):
        execution = record.get("execution")
        if isinstance(execution, dict):  # timings and cache hits differ from run to run
            execution.pop("duration_s", None)
            execution.pop("cached", None)
        out.append(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return sorted(out)


def test_the_pipeline_on_ray_equals_the_local_one(cluster: Any, tmp_path: Path,
                                                  benchmark_dir: Path) -> None:
    common = [f"run.root={tmp_path}", "backend.name=fake", "seeds.typecheck=false",
              f"seeds.benchmark_dir={benchmark_dir}", f"select.benchmark_dir={benchmark_dir}"]
    local = load_config(None, [*common, "run.name=local"])
    on_ray = load_config(None, [*common, "run.name=ray", "executor.name=ray",
                                "executor.engines=2", "executor.sandbox_actors=2",
                                "executor.sandbox_workers=1"])
    assert run_pipeline(local, limit=40).complete
    result = run_pipeline(on_ray, limit=40)
    assert result.complete
    seeds = [orjson.loads(r) for r in _records(tmp_path / "ray", "seeds")]
    assert len(seeds) >= 10  # the Ray tasks found the same seeds as the local miner
    for stage in ("seeds", "concepts", "instructions", "responses", "execute", "select"):
        ours, theirs = _records(tmp_path / "ray", stage), _records(tmp_path / "local", stage)
        assert ours == theirs and ours, stage
    manifest = orjson.loads((tmp_path / "ray" / "manifest.json").read_bytes())
    sandbox = manifest["stages"]["execute"]["info"]["sandbox"]
    assert sandbox["executor"] == "ray" and sandbox["actors"] == 2 and sandbox["workers"] == 2


def _programs(count: int) -> list[tuple[Program, Status]]:
    out = []
    for i in range(count):
        good = i % 4 != 0
        code = f"def f(x):\n    return x + {1 if good else 2}\n"
        tests = f"import time\ntime.sleep(0.01)\nassert f({i}) == {i + 1}\n"
        out.append((Program(code, tests), Status.PASSED if good else Status.FAILED))
    return out


def test_killing_a_sandbox_actor_loses_nothing(cluster: Any) -> None:
    from selfcodealign.distributed.sandbox import RaySandbox

    cfg = ExecutorConfig(name="ray", sandbox_actors=2, sandbox_workers=1, restart_wait_s=60)
    jobs = _programs(240)
    with RaySandbox(cfg, Limits(timeout_s=10)) as box:
        victim = box.actor_pids()[0]
        killer = threading.Timer(0.6, os.kill, (victim, signal.SIGKILL))
        killer.start()
        results = list(box.run_many([p for p, _ in jobs]))
        killer.join()
        assert victim not in box.actor_pids()  # it was really killed, and restarted
    assert [r.status for r in results] == [s for _, s in jobs]


def test_killing_an_engine_loses_nothing(cluster: Any, tmp_path: Path) -> None:
    from selfcodealign.distributed.backend import RayBackend

    script = tmp_path / "fake.yaml"
    script.write_text(r"rules: [{match: 'p(?P<x>\d+)', text: 'answer {g:x}'}]"
                      "\ndelay_s: 0.02\n")
    config = load_config(None, ["backend.name=fake", f"backend.script={script}",
                                "executor.name=ray", "executor.engines=2"])
    backend = RayBackend(config)
    try:
        victim = backend.engine_pids()[1]
        prompts = [f"p{i}" for i in range(100)]
        killer = threading.Timer(0.5, os.kill, (victim, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        answers = backend.generate(prompts, SamplingParams(temperature=0.0))
        killer.join()
        assert time.monotonic() - started > 0.5, "the batch ended before the kill"
        assert [a[0].text for a in answers] == [f"answer {i}" for i in range(100)]
        assert victim not in backend.engine_pids()
    finally:
        backend.close()


def test_the_band_sharded_index_finds_what_the_local_one_does(cluster: Any) -> None:
    from selfcodealign.distributed.lsh import ShardedDeduper
    from selfcodealign.overlap.minhash import Deduper

    words = [f"w{i}" for i in range(400)]
    texts = []
    for i in range(300):  # families of near-copies, and exact repeats, across batches
        base = " ".join(words[(i % 37) * 7:(i % 37) * 7 + 60])
        texts.append(base if i % 3 else base + f" extra{i} more{i}")
    keys = [f"d{i}" for i in range(len(texts))]
    local = Deduper(0.7, 128, 5)
    sharded = ShardedDeduper(cluster, 0.7, 128, 5, shards=3)
    try:
        sharded.add(keys[:40], texts[:40])  # the resume path
        local.add(keys[:40], texts[:40])
        for start in range(40, len(texts), 64):
            chunk_keys, chunk = keys[start:start + 64], texts[start:start + 64]
            expected = local.check(chunk_keys, chunk)
            got = sharded.check_sketches(chunk_keys, sharded.sketches(chunk))
            assert got == expected
        assert sharded.count == len(local.keys) and 0 < sharded.count < len(texts)
    finally:
        sharded.close()


def test_the_type_check_on_ray_agrees(cluster: Any) -> None:
    pytest.importorskip("basedpyright")
    from selfcodealign.executor import for_config
    from selfcodealign.seeds.typecheck import ShardedTypeChecker, TypeChecker, check_shard

    snippets = {f"s{i}": (f"def f{i}(x: int) -> int:\n    return x + {i}\n" if i % 2 else
                          f"def f{i}(x: int) -> str:\n    return x + {i}\n") for i in range(6)}
    config = load_config(None, ["executor.name=ray", "seeds.decontaminate=false"])
    shards = for_config(config).shard_map(check_shard, 100)
    assert shards is not None
    on_ray = ShardedTypeChecker(shards)
    expected = TypeChecker(batch_size=100).check(snippets)
    assert on_ray.check(snippets) == expected
    assert sorted(k for k, v in expected.items() if v) == ["s0", "s2", "s4"]
    assert on_ray.calls >= 2  # one call per shard at least


def test_selection_on_ray_equals_the_local_one(cluster: Any, tmp_path: Path,
                                               benchmark_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from test_selection import (
        crafted,
        distinct_code,
        distinct_instruction,
        run_interrupted,
        run_select,
        sample,
    )

    records = crafted(benchmark_dir) + [
        sample(f"s{p}{i}", f"P{p}", distinct_instruction(p % 20) + (" Twice." if p >= 20 else ""),
               distinct_code(p, i), f"assert f{p}() == {distinct_instruction(p)!r}")
        for p in range(30) for i in range(2)]  # tasks 20..29 near-copy 0..9's instructions
    common = ("select.check_tests=false", "executor.lsh_shards=2")
    local = run_select(tmp_path, records, benchmark_dir, "local", *common)
    on_ray = run_select(tmp_path, records, benchmark_dir, "ray", *common, "executor.name=ray")
    assert local["dropped"] == on_ray["dropped"] and local["kept"] == on_ray["kept"]
    assert on_ray["dropped"].get("near_duplicate_instruction", 0) >= 10

    def rows(name: str) -> list[str]:
        return sorted((tmp_path / name / "data.jsonl").read_text().splitlines())

    assert rows("local") == rows("ray")
    # an interrupted selection on Ray resumes from the sharded index rebuilt from its output
    run_interrupted(tmp_path, records, benchmark_dir, monkeypatch, "resumed", *common,
                    "executor.name=ray")
    assert [json.loads(r)["id"] for r in rows("resumed")] == \
        [json.loads(r)["id"] for r in rows("local")]


def test_data_parallel_size_is_the_number_of_engine_replicas(cluster: Any) -> None:
    """On Ray, `backend.data_parallel_size` N makes N engine actors (one per replica), and a
    batch is answered in order across them, as one engine would."""
    from selfcodealign.distributed.backend import RayBackend

    config = load_config(None, ["executor.name=ray", "backend.name=fake",
                                "backend.data_parallel_size=3"])
    backend = RayBackend(config)
    try:
        assert len(backend.engines) == 3 and len(set(backend.engine_pids())) == 3
        prompts = [f"## Example {i}" for i in range(7)]
        answers = backend.generate(prompts, SamplingParams(n=1), seeds=list(range(7)))
        from selfcodealign.backends import create_backend

        one = config.backend.model_copy(update={"data_parallel_size": 1})
        alone = create_backend(one).generate(prompts, SamplingParams(n=1), seeds=list(range(7)))
        assert [a[0].text for a in answers] == [a[0].text for a in alone]
    finally:
        backend.close()


def test_streamed_requests_go_to_free_engines_and_survive_a_dead_one(cluster: Any,
                                                                       tmp_path: Path) -> None:
    """The streamer deals requests to the engine with the fewest in flight (at most
    `in_flight` each); an engine killed mid-stream has its requests answered by the other,
    each exactly once."""
    from selfcodealign.distributed.backend import RayBackend

    script = tmp_path / "fake.yaml"
    script.write_text(r"rules: [{match: 'p(?P<x>\d+)', text: 'answer {g:x}'}]"
                      "\ndelay_s: 0.02\n")
    config = load_config(None, ["backend.name=fake", f"backend.script={script}",
                                "executor.name=ray", "executor.engines=2",
                                "backend.in_flight=3"])
    backend = RayBackend(config)
    try:
        stream = backend.streamer(SamplingParams(temperature=0.0))
        assert stream.capacity == 6
        victim = backend.engine_pids()[1]
        killer = threading.Timer(0.5, os.kill, (victim, signal.SIGKILL))
        killer.start()
        got: dict[int, Any] = {}
        sent = peak = 0
        while len(got) < 120:
            while sent < 120 and sent - len(got) < stream.capacity:
                stream.submit(sent, f"p{sent}", None)
                sent += 1
            peak = max(peak, max(len(h) for h in stream.holding))
            for key, answer in stream.finished(wait=True):
                assert key not in got
                got[key] = answer
        killer.join()
        assert peak <= 3
        assert [got[i][0].text for i in range(120)] == [f"answer {i}" for i in range(120)]
        assert stream.failures[1] == 1 and victim not in backend.engine_pids()
    finally:
        backend.close()
