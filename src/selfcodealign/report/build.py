"""The numbers behind the report, gathered from a run directory in one streaming read.

`gather(run_dir)` returns plain data (no HTML): the run's header, the funnel seeds -> concepts ->
instructions -> responses -> passed -> selected, drop reasons per stage, execution statuses, pass
rates by category and difficulty, concept frequencies, length histograms, timings, generation
metrics, evaluation scores, the exported dataset, and a capped sample of records for the browser.
A partial run gives what exists: a missing stage is absent, never zero.

Kept counts come from each stage's stats.json (rebuilt from disk by the store), or by counting
records when a stage has none; everything else is counted by streaming the records.
"""

from __future__ import annotations

import contextlib
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from selfcodealign import __version__, registry
from selfcodealign.errors import InputError
from selfcodealign.report import scan
from selfcodealign.store import RunStore
from selfcodealign.store.files import list_shards

FUNNEL = (("seeds", "seeds"), ("concepts", "concepts"), ("instructions", "instructions"),
          ("responses", "responses"), ("passed", "passed execution"), ("selected", "selected"))


def _is_stage(folder: Path) -> bool:
    return folder.is_dir() and ((folder / "stage.json").exists()
                                or (folder / "stats.json").exists()
                                or bool(list_shards(folder, "shard")))


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def _seconds(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))
                ).total_seconds()
    except ValueError:
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _flag(argv: list[str], flag: str, key: str) -> str | None:
    """The last value given to `flag` (or `--set key=...`) on a command line."""
    value = None
    for i, arg in enumerate(argv):
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if arg == flag and nxt is not None:
            value = nxt
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == "--set" and nxt is not None and nxt.startswith(key + "="):
            value = nxt.split("=", 1)[1]
    return value


def _backend(manifest: dict[str, Any], config: dict[str, Any], settings: dict[str, Any],
             stages: dict[str, dict[str, Any]]) -> tuple[str | None, str | None]:
    """Backend and model of the generation stages: what the latest LLM stage recorded in its
    stats, else the last generating command line, the generation stages' recorded settings,
    then config.yaml (which is the latest invocation's)."""
    for name in reversed(registry.names("llm")):
        info = (stages.get(name) or {}).get("info")
        recorded = info.get("backend") if isinstance(info, dict) else None
        if isinstance(recorded, dict) and recorded.get("name"):
            return str(recorded["name"]), recorded.get("model")
    backend = model = None
    for inv in manifest.get("invocations") or []:
        if isinstance(inv, dict) and inv.get("command") in (*registry.names("llm"), "run"):
            argv = [str(a) for a in inv.get("argv") or []]
            backend = _flag(argv, "--backend", "backend.name") or backend
            model = _flag(argv, "--model", "backend.model") or model
    cfg = config.get("backend") if isinstance(config.get("backend"), dict) else {}
    model = model or settings.get("backend.model") or (cfg or {}).get("model")
    return backend or (cfg or {}).get("name"), model


def _header(path: Path, manifest: dict[str, Any], config: dict[str, Any],
            stages: dict[str, dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    run_cfg = config.get("run") if isinstance(config.get("run"), dict) else {}
    backend, model = _backend(manifest, config, settings, stages) if any(
        s in stages for s in registry.names("llm")) else (None, None)
    git = ((manifest.get("git") or {}).get("package") or {}) if isinstance(
        manifest.get("git"), dict) else {}
    return {
        "name": (run_cfg or {}).get("name") or path.resolve().name, "path": str(path),
        "created_at": manifest.get("created_at"), "updated_at": manifest.get("updated_at"),
        "backend": backend, "model": model, "version": manifest.get("version"),
        "report_version": __version__, "python": manifest.get("python"),
        "config_hash": manifest.get("config_hash"), "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"), "stages": list(stages),
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _funnel(counts: dict[str, int | None]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous = None
    seeds = counts.get("seeds")
    for step, label in FUNNEL:
        count = counts.get(step)
        rows.append({"step": step, "label": label, "count": count,
                     "of_previous": _ratio(count, previous), "of_seeds": _ratio(count, seeds)})
        previous = count if count is not None else previous
    return rows


def _drops(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for stage, st in stats.items():
        reasons = {str(k): int(v) for k, v in (st.get("dropped_by_reason") or {}).items()}
        total = int(st.get("kept", 0)) + sum(reasons.values())
        out[stage] = {"kept": int(st.get("kept", 0)), "total": total, "reasons": reasons}
    return out


def _timing(manifest: dict[str, Any], stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    stages = {
        stage: {k: st.get(k) for k in ("elapsed_s", "inputs_done", "inputs_per_s", "kept_per_s",
                                       "sessions", "complete", "started_at", "updated_at")}
        for stage, st in stats.items()
    }
    invocations = [
        {"command": inv.get("command"), "argv": shlex.join(str(a) for a in inv.get("argv") or []),
         "started_at": inv.get("started_at"), "ended_at": inv.get("ended_at"),
         "status": inv.get("status") or "unfinished",
         "wall_s": _seconds(inv.get("started_at"), inv.get("ended_at"))}
        for inv in manifest.get("invocations") or [] if isinstance(inv, dict)
    ]
    return {"stages": stages, "invocations": invocations}


def _generation(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """LLM call metrics of the generation stages (tokens, parse rate, shared prompt prefix)."""
    out = {}
    for stage in registry.names("llm"):
        metrics = (stats.get(stage) or {}).get("metrics") or {}
        if not metrics:
            continue
        elapsed = float(stats[stage].get("elapsed_s") or 0.0)
        completion = metrics.get("completion_tokens")
        out[stage] = {
            "requests": metrics.get("requests"), "completions": metrics.get("completions"),
            "prompt_tokens": metrics.get("prompt_tokens"), "completion_tokens": completion,
            "completion_tokens_per_s": completion / elapsed if completion and elapsed else None,
            "parsed": _ratio(metrics.get("parsed"), metrics.get("completions")),
            "prefix_share": _ratio(metrics.get("prefix_shared_chars"),
                                   metrics.get("prefix_total_chars")),
        }
    return out


def _dataset(path: Path) -> dict[str, Any] | None:
    folder = path / "dataset"
    data = folder / "data.jsonl"
    if not data.is_file():
        return None
    with data.open("rb") as fh:
        rows = sum(1 for line in fh if line.strip())
    contamination: Any = {}
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        contamination = orjson.loads((folder / "contamination.json").read_bytes())
    counts = contamination.get("counts") if isinstance(contamination, dict) else None
    return {"path": str(folder), "rows": rows, "contamination": counts or {},
            "files": sorted(p.name for p in folder.iterdir())}


def _kept(store: RunStore, stage: str, stats: dict[str, Any]) -> int:
    kept = stats.get("kept")
    return int(kept) if kept is not None else scan.count_records(store.stage_dir(stage))


def gather(run_dir: str | Path, *, sample_cap: int = scan.SAMPLE_CAP) -> dict[str, Any]:
    """Everything the report shows, as plain data. Raises InputError for a non-run folder."""
    path = Path(run_dir)
    present = [s for s in registry.record_stages() if _is_stage(path / s)]
    if not path.is_dir() or (not (path / "manifest.json").is_file() and not present):
        raise InputError(f"{path} is not a run directory (no manifest.json and no stage folders)")
    store = RunStore(path)
    manifest = store.manifest()
    stats = {s: store.stage_stats(s) for s in present}
    for stage in present:
        stats[stage]["kept"] = _kept(store, stage, stats[stage])
    settings: dict[str, Any] = {}
    for stage in reversed(registry.names("llm")):
        if stage in present and not settings:
            settings = _stage_settings(path / stage)
    counts: dict[str, int | None] = {s: stats[s]["kept"] for s, _ in FUNNEL if s in stats}
    data: dict[str, Any] = {
        "run": _header(path, manifest, _read_yaml(path / "config.yaml"), stats, settings),
        "stats": stats, "drops": _drops(stats), "timing": _timing(manifest, stats),
        "generation": _generation(stats), "evaluation": manifest.get("evaluation") or {},
        "checkpoints": checkpoint_scores(path / "train"),
        "dataset": _dataset(path),
        "sandbox": ((stats.get("execute") or {}).get("info") or {}).get("sandbox"),
    }
    data.update(_scan_records(store, present, sample_cap, counts))
    if "select" in stats:
        counts["selected"] = stats["select"]["kept"]
    data["funnel"] = _funnel(counts)
    return data


def checkpoint_scores(train_dir: Path) -> list[dict[str, Any]]:
    """The benchmark scores of each training checkpoint (`train.eval_benchmarks`), by step;
    a line cut by a crash is skipped."""
    history = train_dir / "benchmark_history.jsonl"
    if not history.is_file():
        return []
    entries: dict[int, dict[str, Any]] = {}
    for line in history.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            entries[entry["step"]] = entry
    return [entries[step] for step in sorted(entries)]


def _stage_settings(folder: Path) -> dict[str, Any]:
    try:
        meta = orjson.loads((folder / "stage.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    settings = meta.get("settings") if isinstance(meta, dict) else None
    return settings if isinstance(settings, dict) else {}


def _scan_records(store: RunStore, present: list[str], cap: int,
                  counts: dict[str, int | None]) -> dict[str, Any]:
    """The streaming part: outputs (execute, else responses), instructions, concepts, and the
    sample for the browser (from the latest stage that holds records)."""
    out: dict[str, Any] = {"execution": None, "pass_rates": None, "groups": None,
                           "concepts": None, "lengths": {}}
    output_stage: str | None = next((s for s in ("execute", "responses") if s in present), None)
    items: list[dict[str, Any]] = []
    total = 0
    source = output_stage
    if output_stage is not None:
        outputs = scan.scan_outputs(store.stage_dir(output_stage), output_stage, cap)
        total, items = outputs.total, outputs.sampler.items()
        out["lengths"]["response"] = outputs.lengths.summary()
        if output_stage == "execute":
            counts["passed"] = outputs.statuses.get("passed", 0)
            out["execution"] = {"total": outputs.total,
                                "statuses": dict(outputs.statuses.most_common())}
            out["pass_rates"] = outputs.by
    concepts = None
    if "instructions" in present:
        instructions = scan.scan_instructions(store.stage_dir("instructions"))
        out["groups"] = {k: dict(c.most_common()) for k, c in instructions.groups.items()}
        out["lengths"]["instruction"] = instructions.lengths.summary()
        concepts = instructions.concepts
    if "concepts" in present:  # one record per seed: the better base for frequencies
        concepts = scan.scan_concepts(store.stage_dir("concepts"))
    if concepts is not None:
        out["concepts"] = {"stage": "concepts" if "concepts" in present else "instructions",
                           **concepts.summary()}
    if source is None:
        source = next((s for s in ("instructions", "concepts", "seeds") if s in present), None)
        if source is not None:
            total, items = scan.sample_stage(store.stage_dir(source), source, cap)
    out["samples"] = {"source": source, "total": total, "cap": cap, "items": items}
    if "select" in present and items:
        _mark_selection(store, items)
    return out


def _mark_selection(store: RunStore, items: list[dict[str, Any]]) -> None:
    """Label each sample "selected" or with the select stage's reason for dropping it."""
    chosen = scan.selection_of(store.stage_dir("select"), (i["id"] for i in items))
    for item in items:
        item["selection"] = chosen.get(item["id"], "not_selected")
