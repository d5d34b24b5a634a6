"""A real writer process for the SIGKILL resume test (run as a script, killed by the test).

It runs a Mapper stage through `run_stage` over N deterministic inputs and, after each batch is
handed to the writer, appends how many inputs it has handed over to a log file, so the test
knows how much work the process had finished when it was killed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from selfcodealign.records import make_id
from selfcodealign.runner import Drop, Mapper, Outcome, run_stage
from selfcodealign.store import RunStore, StoreOptions

FLUSH_EVERY = 7
SHARD_SIZE = 40


def outputs_of(i: int) -> list[str] | None:
    """The ids input i maps to, or None when it is dropped."""
    if i % 5 == 0:
        return None
    return [make_id("in", i, "out", k) for k in range(i % 3 + 1)]


class Expand(Mapper):
    name = "expand"
    batch_size = 5

    def map(self, record: dict[str, object]) -> Iterable[dict[str, object]]:
        i = int(record["i"])  # type: ignore[call-overload]
        ids = outputs_of(i)
        if ids is None:
            raise Drop("multiple_of_five")
        return [{"id": rid, "i": i, "k": k} for k, rid in enumerate(ids)]


class Logged(Expand):
    def __init__(self, log: Path) -> None:
        self.fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.handed = 0

    def process(self, batch: list[dict[str, object]]) -> list[Outcome]:
        time.sleep(0.002 * len(batch))  # slow enough for a kill to land mid-run
        return super().process(batch)


def main() -> None:
    run_dir, log, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    store = RunStore(run_dir)
    opts = StoreOptions(flush_every=FLUSH_EVERY, shard_size=SHARD_SIZE, compress=True,
                        flush_seconds=3600)
    writer = store.open_stage("expand", {"n": n}, options=opts)
    stage = Logged(log)
    inputs = ({"id": make_id("in", i), "i": i} for i in range(n))
    original_write = writer.write

    def write_and_log(src: str, *args: object, **kw: object) -> None:
        original_write(src, *args, **kw)  # type: ignore[arg-type]
        stage.handed += 1
        os.write(stage.fd, f"{stage.handed}\n".encode())

    writer.write = write_and_log  # type: ignore[method-assign]
    run_stage(stage, inputs, writer, total=n)


if __name__ == "__main__":
    main()
