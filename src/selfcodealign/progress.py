"""Progress of a long stage: items done, items/s, ETA and the stage's main rate.

On a terminal this is a rich progress bar; otherwise (CI, `nohup`, a pipe) it is a plain log line
every `interval` seconds, so batch logs stay readable. Rates count only the items processed in
this session: items skipped because a previous session finished them do not inflate items/s.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress

log = logging.getLogger("selfcodealign.progress")


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Track one stage. `advance(n)` after work; `set_rate(label, value)` for the main rate."""

    def __init__(
        self,
        stage: str,
        total: int | None = None,
        *,
        done: int = 0,
        interval: float = 10.0,
        stream: IO[str] | None = None,
        enabled: bool = True,
    ) -> None:
        self.stage = stage
        self.total = total
        self.done = done  # includes items finished by earlier sessions
        self.new = 0  # processed in this session
        self.rate_label: str | None = None
        self.rate_value: float | None = None
        self.note = ""  # a stage's extra figure, e.g. tokens/s
        self.interval = interval
        self._start = time.monotonic()
        self._last_log = self._start
        stream = stream or sys.stderr
        self._bar: RichProgress | None = None
        self.enabled = enabled
        if enabled and stream.isatty():
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(file=stream), transient=False,
            )
            self._task = self._bar.add_task(stage, total=total, completed=done, status="")
            self._bar.start()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def items_per_s(self) -> float:
        elapsed = time.monotonic() - self._start
        return self.new / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.items_per_s()
        if self.total is None or rate <= 0:
            return None
        return max(self.total - self.done, 0) / rate

    def status(self) -> str:
        parts = [f"{self.items_per_s():.1f} items/s"]
        eta = self.eta_s()
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        if self.rate_label is not None and self.rate_value is not None:
            parts.append(f"{self.rate_label} {self.rate_value:.1%}")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)

    def line(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        if self.total:
            count += f" ({self.done / self.total:.1%})"
        return f"{self.stage}: {count} | {self.status()}"

    def set_rate(self, label: str, value: float | None) -> None:
        self.rate_label, self.rate_value = label, value

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.new += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, status=self.status())
            return
        now = time.monotonic()
        if now - self._last_log >= self.interval:
            self._last_log = now
            log.info("%s", self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, status=self.status())
            self._bar.stop()
            self._bar = None
        elif self.enabled:
            took = format_duration(time.monotonic() - self._start)
            log.info("%s | done in %s", self.line(), took)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
