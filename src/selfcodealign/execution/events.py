"""Events on the verdict channel: a failing check tells the parent the moment it fails.

`report` writes one `F` line on fd 3 (at most `MAX_EVENTS` with details; one is enough to fail
the sample). `State` holds the per-process counters the harness summarises; they are advisory,
the parent counts failures from the events it received (see verdict.py).
"""

from __future__ import annotations

import contextlib
import os
import traceback
from typing import Any

import orjson

CHANNEL_FD = 3
MAX_EVENTS = 20


class State:
    """Per-process counters (the child starts from the zygote's zeros). They are advisory:
    the parent counts failures from the events it received, not from these."""

    checks = 0
    tests_run = 0
    skipped = 0
    failures = 0
    first_failure = ""
    runner_done = False  # unittest.main() or pytest.main() ran the tests
    closing = False  # set once the harness writes its summary: later events are moot
    completed: set[tuple[type, str]] = set()  # noqa: RUF012 - process-wide by design
    originals: dict[str, Any] = {}  # noqa: RUF012 - the implementation's own definitions
    namespace: dict[str, Any] | None = None
    not_run: list[str] = []  # noqa: RUF012


# -- events --------------------------------------------------------------------------------

_write = os.write


def report(where: str, detail: str) -> None:
    """A check failed: tell the parent now, before anything can catch the exception."""
    State.failures += 1
    if not State.first_failure:
        State.first_failure = f"{where}: {detail}"[:1500]
    if State.closing or State.failures > MAX_EVENTS:
        return
    data = b"F" + orjson.dumps({"where": where, "detail": detail[:1500]}) + b"\n"
    # A closed channel is found by the parent (no summary arrives).
    with contextlib.suppress(OSError):
        _write(CHANNEL_FD, data)


def exception_text(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def err_text(err: Any) -> str:
    if isinstance(err, tuple) and len(err) == 3 and err[1] is not None:
        return exception_text(err[1])
    return str(err)[:300]
