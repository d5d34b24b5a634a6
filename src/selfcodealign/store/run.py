"""A run directory: resolved config, manifest, and one folder per stage.

    runs/<name>/
      config.yaml       the resolved configuration of the latest invocation
      manifest.json     environment, config hash, invocations, per-stage summaries
      <stage>/          stage.json (the settings that made it), shards, rejects, stats.json

A stage remembers the output-affecting settings it was made with (`stage.json`). Reopening it
with different settings is refused, naming each setting that changed, unless `force` is given;
a forced mix is recorded in the stage's history.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.errors import ConfigMismatchError, StoreError
from selfcodealign.processes import alive
from selfcodealign.store.files import atomic_write, list_shards
from selfcodealign.store.manifest import environment
from selfcodealign.store.stage import (
    STATS_FILE,
    StageWriter,
    StoreOptions,
    iter_records,
    now_iso,
)

log = logging.getLogger(__name__)

_MISSING = "<unset>"


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} does not hold a JSON object")
    return data


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write(path, orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings whose values differ, as {key: (old, new)}."""
    keys = sorted(set(old) | set(new))
    return {
        k: (old.get(k, _MISSING), new.get(k, _MISSING))
        for k in keys
        if old.get(k, _MISSING) != new.get(k, _MISSING)
    }


def guard_settings(directory: Path, stage: str, settings: Mapping[str, Any], *,
                   force: bool = False) -> None:
    """Refuse to add to a stage folder whose outputs were made with other settings (naming
    each changed one) unless `force`; record the settings, and any forced change, in
    `stage.json`."""
    meta_path = directory / "stage.json"
    meta = _load_json(meta_path)
    settings = dict(settings)
    changed = settings_diff(meta.get("settings", {}), settings) if meta else {}
    has_data = any(list_shards(directory, kind) for kind in ("shard", "rejects"))
    if changed and has_data:
        described = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        if not force:
            raise ConfigMismatchError(
                f"stage '{stage}' in {directory.parent} was made with other settings "
                f"({described}); rerun with the original settings, choose a new --run-name "
                "or --output, or pass --force to mix outputs"
            )
        log.warning("stage '%s': --force mixes outputs made with other settings (%s)",
                    stage, described)
        meta.setdefault("history", []).append(
            {"at": now_iso(), "forced": True,
             "changed": {k: [o, n] for k, (o, n) in changed.items()}}
        )
    meta.update(stage=stage, settings=settings)
    meta.setdefault("created_at", now_iso())
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(meta_path, meta)


def _alive(call: dict[str, Any]) -> bool:
    """Whether the process of an unfinished invocation is still running (on this host)."""
    pid, host = call.get("pid"), call.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return False  # no way to tell: an invocation of an older version, or another machine
    # this process too: `run` opens stage invocations inside its own
    return pid == os.getpid() or alive(pid)


def _mark_killed(calls: list[dict[str, Any]]) -> None:
    """Invocations that never ended (SIGKILL, power loss, OOM) and whose process is gone are
    marked `killed`, so the manifest never shows a run as still going."""
    for call in calls:
        if isinstance(call, dict) and "status" not in call and not _alive(call):
            call.update(status="killed", marked_at=now_iso())


class RunStore:
    """The run directory of one named run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    # -- run level ----------------------------------------------------------------------------

    def begin(self, command: str, *, config_yaml: str, config_hash: str) -> None:
        """Create the run directory, write the resolved config (as YAML), record this
        invocation with the config's hash."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run directory {self.path}: {exc}") from None
        atomic_write(self.path / "config.yaml", config_yaml.encode())
        manifest = _load_json(self.path / "manifest.json")
        manifest.setdefault("created_at", now_iso())
        manifest.update(environment())
        manifest["config_hash"] = config_hash
        calls = manifest.setdefault("invocations", [])
        _mark_killed(calls)
        calls.append(
            {"command": command, "argv": sys.argv[1:], "started_at": now_iso(),
             "config_hash": manifest["config_hash"], "pid": os.getpid(),
             "host": socket.gethostname()}
        )
        manifest["updated_at"] = now_iso()
        _write_json(self.path / "manifest.json", manifest)

    def end(self, status: str = "ok", command: str | None = None) -> None:
        """Close the latest invocation (of `command`, when given: `run` holds the stages'
        own) in the manifest and refresh per-stage summaries."""
        manifest = _load_json(self.path / "manifest.json")
        calls = [c for c in manifest.get("invocations", [])
                 if command is None or c.get("command") == command]
        if calls:
            calls[-1].update(ended_at=now_iso(), status=status)
        manifest["stages"] = {
            stage: self.stage_stats(stage) for stage in self.stages()
        }
        manifest["updated_at"] = now_iso()
        _write_json(self.path / "manifest.json", manifest)

    def manifest(self) -> dict[str, Any]:
        return _load_json(self.path / "manifest.json")

    def record(self, section: str, name: str, value: Any) -> None:
        """Set `manifest[section][name]` (e.g. evaluation scores per benchmark)."""
        manifest = _load_json(self.path / "manifest.json")
        manifest.setdefault(section, {})[name] = value
        manifest["updated_at"] = now_iso()
        _write_json(self.path / "manifest.json", manifest)

    def stages(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if (p / "stage.json").exists())

    # -- stage level --------------------------------------------------------------------------

    def open_stage(
        self,
        stage: str,
        settings: Mapping[str, Any],
        *,
        force: bool = False,
        options: StoreOptions | None = None,
    ) -> StageWriter:
        """A writer for `stage`, after checking that stored outputs were made the same way."""
        directory = self.stage_dir(stage)
        guard_settings(directory, stage, settings, force=force)
        return StageWriter(directory, options)

    def count(self, stage: str) -> int:
        """Kept records of a stage, from its stats (for progress totals)."""
        return int(self.stage_stats(stage).get("kept", 0))

    def stage_stats(self, stage: str) -> dict[str, Any]:
        stats = _load_json(self.stage_dir(stage) / STATS_FILE)
        stats.pop("commit", None)
        return stats

    def read(self, stage: str, kind: str = "shard") -> Iterator[dict[str, Any]]:
        """Stream the kept records (or rejects) of a stage."""
        directory = self.stage_dir(stage)
        if not directory.is_dir():
            raise StoreError(f"stage '{stage}' has no outputs in {self.path}; run it first")
        return iter_records(directory, kind)
