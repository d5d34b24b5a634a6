"""`selfcodealign report`: one self-contained, offline HTML file about a run.

`gather()` (build.py, streaming scans in scan.py) turns a run directory into plain numbers;
`render()` (html.py, charts as inline SVG from svg.py, CSS and JS from report.css/report.js)
turns them into a page; `write_report()` does both and writes the file atomically.
"""

from selfcodealign.report.build import gather
from selfcodealign.report.html import render, write_report

__all__ = ["gather", "render", "write_report"]
