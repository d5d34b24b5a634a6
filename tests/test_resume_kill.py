"""Resume under SIGKILL: a real writer process is killed again and again mid-run.

After every kill the stage is recovered and checked: nothing committed is lost (at most the
batch in flight), no id appears twice, and every input is either wholly stored or not at all.
The last run finishes the stage, which must then hold exactly the expected records.
"""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from selfcodealign.records import make_id
from selfcodealign.store import StageWriter, iter_records

sys.path.insert(0, str(Path(__file__).parent))
from _writer_process import Expand, outputs_of

N = 1500
SCRIPT = Path(__file__).parent / "_writer_process.py"


def stored_lines(stage: Path) -> list[dict[str, object]]:
    """Every line in every shard file (finished and open), to count duplicates on disk."""
    out = []
    for path in sorted(stage.iterdir()):
        if path.name.startswith(("shard-", "rejects-")):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as fh:
                out += [orjson.loads(line) for line in fh if line.endswith(b"\n")]
    return out


def check_consistent(stage: Path) -> int:
    """No duplicates, whole groups only; returns how many inputs are stored."""
    writer = StageWriter(stage)  # recovery, exactly as a rerun would do it
    writer.close()
    all_lines = stored_lines(stage)
    ids = Counter(str(r["id"]) for r in all_lines)
    assert not [i for i, c in ids.items() if c > 1], "an id is stored twice"
    by_input: dict[int, set[str]] = {}
    for line in all_lines:
        by_input.setdefault(int(line["i"]), set()).add(str(line["id"]))  # type: ignore[call-overload]
    for i, got in by_input.items():
        expected = outputs_of(i)
        assert got == (set(expected) if expected else {make_id("in", i)}), f"input {i} is partial"
    return len(by_input)


def test_sigkill_loses_nothing_committed_and_duplicates_nothing(tmp_path: Path) -> None:
    run_dir, log = tmp_path / "run", tmp_path / "handed.log"
    stage = run_dir / "expand"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    kills, stored_before = 0, 0
    for _ in range(6):
        log.write_text("")
        proc = subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), str(log), str(N)],
                                env=env, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.6, 1.6))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        handed = [int(x) for x in log.read_text().split()]
        stored = check_consistent(stage)
        # Every input handed to the writer survives, except at most the batch in flight.
        handed_now = handed[-1] if handed else 0
        assert stored >= stored_before + handed_now - Expand.batch_size
        assert stored > stored_before, "no progress between kills"
        stored_before = stored
    assert kills >= 2, "the writer finished before it could be killed twice"
    final = subprocess.run([sys.executable, str(SCRIPT), str(run_dir), str(log), str(N)],
                           env=env, capture_output=True, timeout=120)
    assert final.returncode == 0, final.stderr.decode()
    assert check_consistent(stage) == N
    kept = [r["id"] for r in iter_records(stage)]
    expected_kept = [rid for i in range(N) for rid in (outputs_of(i) or [])]
    assert sorted(kept) == sorted(expected_kept)
    rejects = list(iter_records(stage, "rejects"))
    assert len(rejects) == N // 5 and {r["reason"] for r in rejects} == {"multiple_of_five"}
    stats = orjson.loads((stage / "stats.json").read_bytes())
    assert stats["complete"] is True and stats["inputs_done"] == N
    assert stats["kept"] == len(expected_kept) and stats["sessions"] >= kills + 1
    assert not list(stage.glob("*.part")), "a complete stage has only finished shards"
