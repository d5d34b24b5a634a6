"""Wiring shared by the steps: benchmark decontamination, on, off, or skipped offline."""

from __future__ import annotations

import logging
from typing import Any

from selfcodealign.config import Config
from selfcodealign.errors import InputError
from selfcodealign.overlap.decontam import Decontaminator

log = logging.getLogger("selfcodealign")


def decontaminator(config: Config, stage: str) -> tuple[Decontaminator | None, dict[str, Any]]:
    """The benchmark decontaminator of `stage` (seeds or select) and what to record about it
    (`{"status": "on" | "off" | "skipped", ...}`, kept in the stage's stats, so in the run's
    manifest). Off by setting, it says so once. When the benchmark files cannot be found (no
    network, no `--benchmarks DIR`), that is an error, unless `run.missing_benchmarks: warn`
    (the free tours): then one warning, and the stage runs on without it."""
    section = getattr(config, stage)
    names = list(section.benchmarks)
    enabled = bool(names) and bool(getattr(section, "decontaminate", True))
    if not enabled:
        log.warning("%s: benchmark decontamination is off (%s); the data may overlap "
                    "HumanEval+/MBPP+", stage, "no benchmarks listed" if not names else
                    f"{stage}.decontaminate: false")
        return None, {"status": "off", "benchmarks": []}
    folder = str(section.benchmark_dir) if section.benchmark_dir else None
    try:
        made = Decontaminator(names, folder, ngram=section.ngram)
    except InputError as exc:
        if config.run.missing_benchmarks != "warn":
            raise
        log.warning("%s: benchmark decontamination skipped (run.missing_benchmarks: warn): %s",
                    stage, exc)
        return None, {"status": "skipped", "benchmarks": names, "reason": str(exc)}
    return made, {"status": "on", "benchmarks": names}
