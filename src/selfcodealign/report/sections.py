"""The report's sections, each a function from gathered data to an HTML fragment.

Every value from the run is escaped on the way out: `table()` escapes plain strings and passes
only `Safe` ones (fragments built here) through. A section whose stage has not run says so
instead of showing zeros.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from selfcodealign import registry
from selfcodealign.reasons import explain
from selfcodealign.report.svg import Bar, bars, histogram

STATUS_TONES = {"passed": "ok", "failed": "bad", "error": "bad", "syntax_error": "bad",
                "tamper": "bad", "suspect": "warn", "timeout": "warn", "memory": "warn",
                "output_limit": "warn", "no_tests_ran": "muted", "infra_error": "muted"}
DIFFICULTY_ORDER = ("easy", "medium", "hard")


class Safe(str):
    """HTML built by this module: `table()` and `section()` do not escape it again."""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def secs(value: Any) -> str:
    if value is None:
        return "—"
    s = float(value)
    if s < 60:
        return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def when(value: Any) -> str:
    return "—" if not value else str(value).replace("T", " ")


def status_tone(status: str) -> str:
    return STATUS_TONES.get(status, "muted")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
          numeric: Sequence[int] = ()) -> Safe:
    """A table; columns listed in `numeric` are right-aligned. Plain strings are escaped."""
    def cell(tag: str, i: int, value: Any) -> str:
        css = ' class="num"' if i in numeric else ""
        text = value if isinstance(value, Safe) else e(value)
        return f"<{tag}{css}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return Safe(f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")


def section(anchor: str, title: str, *parts: str, note: str = "") -> Safe:
    intro = f'<p class="note">{e(note)}</p>' if note else ""
    return Safe(f'<section id="{e(anchor)}" class="card"><h2>{e(title)}</h2>{intro}'
                + "".join(parts) + "</section>")


def empty(text: str) -> Safe:
    return Safe(f'<p class="empty">{e(text)}</p>')


def figure(chart: str, caption: str = "") -> Safe:
    cap = f"<figcaption>{e(caption)}</figcaption>" if caption else ""
    return Safe(f'<figure class="fig">{chart}{cap}</figure>')


# -- sections -------------------------------------------------------------------------------------

def funnel(data: dict[str, Any]) -> Safe:
    rows = data["funnel"]
    tones = {"passed": "ok", "selected": "alt"}
    chart = bars([Bar(r["label"], r["count"] or 0,
                      "not run" if r["count"] is None else
                      f"{num(r['count'])} · {pct(r['of_seeds'])} of seeds",
                      tones.get(r["step"], "accent") if r["count"] is not None else "muted")
                  for r in rows], label="Funnel: records kept at each step", text_width=190)
    tab = table(["step", "records", "of previous step", "of seeds"],
                [[r["label"], num(r["count"]), pct(r["of_previous"]), pct(r["of_seeds"])]
                 for r in rows], numeric=(1, 2, 3))
    parts = [figure(chart), tab]
    dataset = data.get("dataset")
    if dataset:
        found = ", ".join(f"{k}: {num(v)}" for k, v in dataset["contamination"].items() if v)
        parts.append(Safe(
            f'<p class="note">Exported dataset: <b>{num(dataset["rows"])}</b> rows in '
            f'<code>{e(dataset["path"])}</code> ({e(", ".join(dataset["files"]))}); '
            f"benchmark contamination removed by selection: {e(found or 'none')}.</p>"))
    return section("funnel", "Funnel", *parts,
                   note="Records kept after each step. Several responses are sampled per "
                        "instruction, so that step can exceed 100% of the one before.")


def _own_section(stage: str) -> str:
    """A link to the section with the stage's own figures (the stage table's `report`)."""
    try:
        anchor = registry.get(stage).report
    except ValueError:  # a stage this version does not know (an older or newer run)
        return ""
    return (f' <a class="dim" href="#{e(anchor)}">its figures</a>'
            if anchor and anchor != "drops" else "")


def drops(data: dict[str, Any]) -> Safe:
    info = data["drops"]
    if not info:
        return section("drops", "Drop reasons", empty("No stage has run yet."))
    summary = table(
        ["stage", "outputs", "kept", "dropped", "drop rate", "top reason"],
        [[stage, num(d["total"]), num(d["kept"]), num(d["total"] - d["kept"]),
          pct((d["total"] - d["kept"]) / d["total"] if d["total"] else None),
          next(iter(d["reasons"]), "—")] for stage, d in info.items()],
        numeric=(1, 2, 3, 4))
    cards = []
    for stage, d in info.items():
        if not d["reasons"]:
            continue
        chart = bars([Bar(reason, count, f"{num(count)} · {pct(count / d['total'])}", "bad")
                      for reason, count in d["reasons"].items()],
                     label=f"Drop reasons of {stage}")
        glossary = [[reason, num(count), entry.meaning, entry.action]
                    for reason, count in d["reasons"].items()
                    if (entry := explain(reason)) is not None]
        legend = table(["reason", "count", "what happened", "what moves it"], glossary,
                       numeric=(1,)) if glossary else Safe("")
        cards.append(Safe(f'<div class="sub"><h3>{e(stage)} <span class="dim">'
                          f'{num(d["total"] - d["kept"])} of {num(d["total"])} dropped'
                          f"</span>{_own_section(stage)}</h3>{chart}{legend}</div>"))
    return section("drops", "Drop reasons", summary, *cards,
                   note="Outputs = kept + dropped records of a stage (for seeds: candidate "
                        "functions). Every dropped record carries one reason.")


def execution(data: dict[str, Any]) -> Safe:
    info = data.get("execution")
    if not info:
        return section("execution", "Execution", empty("The execute stage has not run."))
    total = info["total"] or 1
    chart = bars([Bar(s, c, f"{num(c)} · {pct(c / total)}", status_tone(s))
                  for s, c in info["statuses"].items()], label="Execution statuses")
    tab = table(["status", "records", "share"],
                [[s, num(c), pct(c / total)] for s, c in info["statuses"].items()],
                numeric=(1, 2))
    parts = [figure(chart), tab]
    box = data.get("sandbox")
    if isinstance(box, dict):
        layers = ", ".join(f"{k}" + ("" if v is True else f" {v}")
                           for k, v in (box.get("layers") or {}).items() if v)
        parts.append(Safe(f'<p class="note">Sandbox isolation: <b>{e(box.get("level"))}</b> '
                          f'on {e(box.get("workers"))} workers ({e(layers)}).</p>'))
    return section("execution", "Execution", *parts,
                   note=f"{num(info['total'])} responses run in the sandbox; only 'passed' "
                        "means their own tests ran and succeeded.")


def _ordered(groups: dict[str, Any], field: str) -> list[str]:
    keys = list(groups)
    if field == "difficulty":
        known = [k for k in DIFFICULTY_ORDER if k in groups]
        return known + [k for k in keys if k not in known]
    return sorted(keys, key=lambda k: -(groups[k][0] if isinstance(groups[k], list)
                                         else groups[k]))


def pass_rates(data: dict[str, Any]) -> Safe:
    rates, groups = data.get("pass_rates"), data.get("groups") or {}
    if not rates and not groups:
        return section("rates", "Pass rate by category and difficulty",
                       empty("No instructions or executed responses yet."))
    cards = []
    for field in ("category", "difficulty"):
        counts = groups.get(field, {})
        if rates:
            cells = rates[field]
            keys = _ordered(cells, field)
            chart = bars([Bar(k, cells[k][1] / cells[k][0] if cells[k][0] else 0,
                              f"{pct(cells[k][1] / cells[k][0] if cells[k][0] else None)} · "
                              f"{num(cells[k][1])}/{num(cells[k][0])}", "ok") for k in keys],
                         label=f"Pass rate by {field}", scale_max=1.0, width=520,
                         label_width=120, text_width=130)
            tab = table([field, "instructions", "executed", "passed", "pass rate"],
                        [[k, num(counts.get(k)), num(cells[k][0]), num(cells[k][1]),
                          pct(cells[k][1] / cells[k][0] if cells[k][0] else None)]
                         for k in keys], numeric=(1, 2, 3, 4))
        else:
            keys = _ordered(counts, field)
            chart = bars([Bar(k, counts[k], num(counts[k])) for k in keys],
                         label=f"Instructions by {field}", width=520, label_width=120,
                         text_width=80)
            tab = table([field, "instructions"], [[k, num(counts[k])] for k in keys],
                        numeric=(1,))
        cards.append(f'<div class="sub"><h3>By {e(field)}</h3>{chart}{tab}</div>')
    note = ("Share of executed responses that passed, per instruction category and difficulty."
            if rates else "Not executed yet: instruction counts per category and difficulty.")
    return section("rates", "Pass rate by category and difficulty",
                   Safe('<div class="grid2">' + "".join(cards) + "</div>"), note=note)


def concepts(data: dict[str, Any]) -> Safe:
    info = data.get("concepts")
    if not info or not info["top"]:
        return section("concepts", "Concepts", empty("No concepts stage yet."))
    chart = bars([Bar(c, n, num(n), "alt") for c, n in info["top"]],
                 label="Most frequent concepts", label_width=300, text_width=70, row_height=22)
    approx = " Counts are lower bounds (rare concepts were pruned)." if info["approximate"] else ""
    return section("concepts", "Concepts", figure(chart),
                   note=f"Top {len(info['top'])} of {num(info['distinct'])} distinct concepts "
                        f"({num(info['mentions'])} mentions in {num(info['records'])} records "
                        f"of the {info['stage']} stage; comma-separated, compared ignoring "
                        f"case).{approx}")


def lengths(data: dict[str, Any]) -> Safe:
    cards = []
    for name in ("instruction", "response"):
        info = data["lengths"].get(name)
        if not info or not info.get("n"):
            cards.append(f'<div class="sub"><h3>{e(name.title())}s</h3>'
                         f"{empty(f'No {name}s yet.')}</div>")
            continue
        unit = info["unit"]
        chart = histogram(info["edges"], info["counts"], info["overflow"], unit=unit,
                          label=f"{name} length histogram", width=560)
        stats = (f"{num(info['n'])} {name}s · median {num(info['median'])} · mean "
                 f"{num(info['mean'])} · p90 {num(info['p90'])} · max {num(info['max'])} {unit}")
        cards.append(f'<div class="sub"><h3>{e(name.title())}s</h3>{chart}'
                     f'<p class="note">{e(stats)}</p></div>')
    return section("lengths", "Lengths", Safe('<div class="grid2">' + "".join(cards) + "</div>"),
                   note="Lengths in words (whitespace-separated tokens, code included); the "
                        "last grey bar counts texts longer than the 99th percentile.")


def timing(data: dict[str, Any]) -> Safe:
    stages, invocations = data["timing"]["stages"], data["timing"]["invocations"]
    if not stages and not invocations:
        return section("timing", "Timing", empty("No timings recorded."))
    parts: list[str] = []
    if stages:
        parts.append(figure(bars([Bar(s, float(t["elapsed_s"] or 0), secs(t["elapsed_s"]))
                                  for s, t in stages.items()], label="Time per stage")))
        parts.append(table(
            ["stage", "elapsed", "sessions", "inputs", "inputs/s", "kept/s", "started",
             "updated", "complete"],
            [[s, secs(t["elapsed_s"]), num(t["sessions"]), num(t["inputs_done"]),
              num(t["inputs_per_s"]), num(t["kept_per_s"]), when(t["started_at"]),
              when(t["updated_at"]), "yes" if t["complete"] else "no"]
             for s, t in stages.items()], numeric=(1, 2, 3, 4, 5)))
    if data["generation"]:
        parts.append(Safe("<h3>LLM calls</h3>"))
        parts.append(table(
            ["stage", "requests", "completions", "prompt tokens", "completion tokens",
             "completion tok/s", "parsed", "shared prompt prefix"],
            [[s, num(g["requests"]), num(g["completions"]), num(g["prompt_tokens"]),
              num(g["completion_tokens"]), num(g["completion_tokens_per_s"]),
              pct(g["parsed"]), pct(g["prefix_share"])] for s, g in data["generation"].items()],
            numeric=(1, 2, 3, 4, 5, 6, 7)))
    if invocations:
        rows = [[i["command"], Safe(f"<code>{e(i['argv'])}</code>"), when(i["started_at"]),
                 secs(i["wall_s"]), i["status"]] for i in invocations]
        parts.append(Safe(f"<details><summary>{len(invocations)} command invocations</summary>"
                          + table(["command", "arguments", "started", "wall time", "status"],
                                  rows, numeric=(3,)) + "</details>"))
    return section("timing", "Timing", *parts,
                   note="Elapsed time is summed over a stage's sessions (resumes included).")


# The paper's headline pass@1 (docs/method.md, "Stage 7"), shown next to a run's own scores.
PAPER_SCORES = (
    ("SelfCodeAlign-CQ-7B", 0.671, 0.652),
    ("StarCoder2-15B-Instruct", 0.634, 0.612),
    ("CodeQwen1.5-7B base", 0.457, 0.602),
)


def evaluation(data: dict[str, Any]) -> Safe:
    scores = data.get("evaluation") or {}
    rows, chart_rows = [], []
    for bench, info in scores.items():
        info = info if isinstance(info, dict) else {}
        pak = info.get("pass_at_k") or {}
        base, plus = pak.get("base") or {}, pak.get("plus") or {}
        for metric in sorted(set(base) | set(plus), key=lambda m: (len(m), m)):
            rows.append([bench, metric, pct(base.get(metric)), pct(plus.get(metric)),
                         num(info.get("tasks")), info.get("model") or "—"])
            for variant, values, tone in (("base", base, "accent"), ("plus", plus, "alt")):
                if values.get(metric) is not None:
                    chart_rows.append(Bar(f"{bench} {metric} {variant}", values[metric],
                                          pct(values[metric]), tone))
    during = _during_training(data.get("checkpoints") or [])
    if not rows:
        return section("evaluation", "Evaluation",
                       empty("No evaluation yet (selfcodealign evaluate records its scores "
                             "in the run's manifest)."), *during)
    for model, humaneval, mbpp in PAPER_SCORES:  # the paper's plus pass@1, for comparison
        for bench, value in (("humaneval", humaneval), ("mbpp", mbpp)):
            if bench in scores:
                chart_rows.append(Bar(f"paper: {model} {bench}+", value, pct(value), "muted"))
    paper = table(["paper", "HumanEval+ pass@1", "MBPP+ pass@1"],
                  [[model, pct(h), pct(m)] for model, h, m in PAPER_SCORES], numeric=(1, 2))
    return section("evaluation", "Evaluation",
                   figure(bars(chart_rows, label="Evaluation scores", scale_max=1.0,
                               label_width=300)),
                   table(["benchmark", "metric", "base", "plus", "tasks", "model"], rows,
                         numeric=(2, 3, 4)),
                   paper, *during,
                   note="EvalPlus pass@k: 'base' uses the original tests, 'plus' the extended "
                        "ones. Grey bars: the paper's headline plus pass@1 (greedy).")


def _during_training(entries: list[dict[str, Any]]) -> list[Safe]:
    """The scores of each training checkpoint (train.eval_benchmarks): bars of the plus
    pass@1 by step, and a table of every metric."""
    if not entries:
        return []
    metrics = sorted({k for entry in entries for k in entry if "pass@" in k},
                     key=lambda k: ("+" not in k, k))
    chart = [Bar(f"step {entry['step']} {k.removesuffix('_pass@1')}", float(entry[k]),
                 pct(entry[k]), "alt")
             for entry in entries for k in metrics if k.endswith("+_pass@1") and k in entry]
    rows = [[num(entry["step"]), *(pct(entry.get(k)) for k in metrics),
             num(entry.get("limit")) if entry.get("limit") is not None else "all"]
            for entry in entries]
    parts = [Safe("<h3>During training</h3>")]
    if chart:
        parts.append(figure(bars(chart, label="Plus pass@1 by checkpoint", scale_max=1.0,
                                 label_width=300),
                            "Each checkpoint's score on the extended tests "
                            "(train.eval_benchmarks)."))
    parts.append(table(["step", *metrics, "tasks"], rows,
                       numeric=tuple(range(len(metrics) + 2))))
    return parts
