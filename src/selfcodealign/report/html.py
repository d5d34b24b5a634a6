"""The page: header, sections, the sample browser, all in one offline HTML file.

Nothing is fetched: the stylesheet and script (report.css, report.js, next to this module) are
inlined, charts are inline SVG, and the samples travel as JSON inside a
`<script type="application/json">` tag with `<`, `>` and `&` written as \\u escapes, so no record
can close the tag. The script renders the samples with `textContent` only, and reads its filters
from the URL fragment (`report.html#q=palindrome&status=failed`) so a filtered view can be shared.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.report import sections as s
from selfcodealign.report.build import gather
from selfcodealign.report.sections import Safe, e, num
from selfcodealign.store.files import atomic_write

NAV = (("funnel", "Funnel"), ("drops", "Drops"), ("execution", "Execution"),
       ("rates", "Pass rates"), ("concepts", "Concepts"), ("lengths", "Lengths"),
       ("timing", "Timing"), ("evaluation", "Evaluation"), ("samples", "Samples"))
FILTERS = (("status", "all statuses"), ("category", "all categories"),
           ("difficulty", "all difficulties"), ("selection", "any selection"))


def _asset(name: str) -> str:
    return resources.files("selfcodealign.report").joinpath(name).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `<`, `>` or `&` appear literally."""
    text = orjson.dumps(value).decode("utf-8")
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _header(run: dict[str, Any]) -> str:
    git = run.get("git_commit")
    fields = [
        ("created", s.when(run.get("created_at"))), ("updated", s.when(run.get("updated_at"))),
        ("backend", run.get("backend") or "—"), ("model", run.get("model") or "—"),
        ("selfcodealign", run.get("version") or "—"), ("python", run.get("python") or "—"),
        ("git", f"{git[:12]}{' (dirty)' if run.get('git_dirty') else ''}" if git else "—"),
        ("config hash", run.get("config_hash") or "—"),
        ("stages", ", ".join(run["stages"]) or "none"),
    ]
    meta = "".join(f'<div{" class=wide" if k == "stages" else ""}><dt>{e(k)}</dt>'
                   f"<dd>{e(v)}</dd></div>" for k, v in fields)
    nav = "".join(f'<a href="#{a}">{e(t)}</a>' for a, t in NAV)
    return (f'<header class="top"><div class="wrap"><p class="kicker">SelfCodeAlign run report'
            f'</p><h1>{e(run["name"])}</h1><p class="path"><code>{e(run["path"])}</code></p>'
            f'<dl class="meta">{meta}</dl><nav>{nav}</nav></div></header>')


def _samples(info: dict[str, Any]) -> Safe:
    items, total, cap = info["items"], info["total"], info["cap"]
    if not items:
        return s.section("samples", "Samples", s.empty("No records to browse yet."))
    capped = total > len(items)
    note = (f"{num(len(items))} of {num(total)} records of the {info['source']} stage embedded "
            f"(capped at {num(cap)}, chosen deterministically by a hash of instruction and "
            "record id, so all responses of a chosen instruction stay together)."
            if capped else f"All {num(total)} records of the {info['source']} stage.")
    selects = "".join(
        f'<label><span>{e(field)}</span><select id="f-{field}" data-field="{field}">'
        f'<option value="">{e(label)}</option></select></label>' for field, label in FILTERS)
    controls = (
        '<div class="filters"><label class="grow"><span>search</span><input id="f-q" '
        'type="search" placeholder="instruction, response, tests, concepts, id…" '
        f'autocomplete="off"></label>{selects}<button id="f-reset" type="button">Reset</button>'
        '</div>'
        f'<p class="count" id="sample-count">{num(len(items))} samples</p>'
        '<noscript><p class="empty">The sample browser needs JavaScript.</p></noscript>'
        '<div id="sample-list" class="samples"></div>'
        '<button id="sample-more" class="more" type="button" hidden>Show more</button>'
        f'<script type="application/json" id="sample-data">{script_json(info)}</script>'
    )
    return s.section("samples", "Samples", Safe(controls),
                     note=note + " Filters are kept in the address (#q=…&status=…), so a view "
                                 "can be bookmarked or shared.")


def render(data: dict[str, Any]) -> str:
    """The whole page for data from `gather()`."""
    run = data["run"]
    body = "".join([
        s.funnel(data), s.drops(data), s.execution(data), s.pass_rates(data),
        s.concepts(data), s.lengths(data), s.timing(data), s.evaluation(data),
        _samples(data["samples"]),
    ])
    footer = (f'<footer class="wrap">Generated {e(s.when(run["generated_at"]))} by selfcodealign '
              f'{e(run["report_version"])} from <code>{e(run["path"])}</code>. This file is '
              "self-contained and works offline.</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{e(run['name'])} · selfcodealign report</title>"
        f"<style>{_asset('report.css')}</style></head><body>"
        f'{_header(run)}<main class="wrap">{body}</main>{footer}'
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of `run_dir` (default `<run_dir>/report.html`); returns its path.

    Raises InputError when `run_dir` is not a run directory.
    """
    data = gather(run_dir)
    path = Path(output) if output is not None else Path(run_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render(data).encode("utf-8"))
    return path
