"""``report.html``: one self-contained, offline HTML page built from simple section objects.

The page has no external references at all: the CSS is inline, images are base64 ``data:``
URIs, there is no JavaScript, and a Content-Security-Policy forbids loading anything else. All
text (method names, error messages) is HTML-escaped.

>>> from xaibench.results.html import Image, Section, Table, Text, write_report
>>> write_report(  # doctest: +SKIP
...     "out/report.html",
...     title="xaibench quick run",
...     run=store.latest_run(),
...     sections=[
...         Section("Leaderboard", [Text("Rank 1 in **bold**."), Table(board, "all cells")]),
...         Section("Plots", [Image("out/plots/leaderboard.png", "Leaderboard")]),
...     ],
... )
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xaibench._text import visible
from xaibench._version import __version__
from xaibench.results.tables import fmt

MAX_ROWS = 500
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# blocks -------------------------------------------------------------------------------------
@dataclass
class Text:
    """Markdown-ish text: paragraphs split by blank lines, ``- `` bullet lists, ``**bold**``
    and ```code```; everything else is shown as written (HTML is escaped, never interpreted,
    except short ``<sup>a</sup>`` markers)."""

    text: str


@dataclass
class Code:
    """Preformatted text (a command, a traceback), shown verbatim in monospace."""

    text: str


@dataclass
class Table:
    """A DataFrame as a table. Floats go through ``float_format`` (default: ``tables.fmt``);
    string cells may use ``**bold**``, ```code``` and ``<sup>a</sup>`` (``tables.wide``). Only the first ``max_rows`` rows are shown,
    with a note saying how many there are."""

    data: pd.DataFrame
    caption: str = ""
    float_format: Callable[[float], str] = fmt
    max_rows: int = MAX_ROWS
    index: bool = False


@dataclass
class Image:
    """A PNG, JPEG or GIF embedded as a data URI: a file path, the image's bytes, or a
    matplotlib figure (anything with ``savefig``)."""

    source: str | Path | bytes | object
    caption: str = ""
    alt: str = ""


@dataclass
class Section:
    """A titled part of the report; ``blocks`` may hold nested sections (subsections).
    ``collapsed`` sections show only their title until the reader opens them (``<details>``)."""

    title: str
    blocks: list = field(default_factory=list)
    collapsed: bool = False
    css_class: str = ""  # e.g. "verdict": styled as the page's answer
    in_toc: bool = True  # listed in the table of contents


# text ---------------------------------------------------------------------------------------
def _esc(text) -> str:
    """``text`` HTML-escaped, its control characters visible (``_text.visible``)."""
    return html.escape(visible(text), quote=True)


def _inline(text: str) -> str:
    """Escape ``text``, then render ```code```, ``**bold**`` and short ``<sup>a</sup>`` markers
    (as written by ``tables.wide``)."""
    out = _esc(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"&lt;sup&gt;([\w,*†‡§]{1,8})&lt;/sup&gt;", r"<sup>\1</sup>", out)


def _text(block: Text) -> str:
    parts = []
    for para in re.split(r"\n\s*\n", block.text.strip()):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        if lines and all(line.startswith(("- ", "* ")) for line in lines):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        elif lines:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _code(block: Code) -> str:
    return f"<pre>{_esc(block.text)}</pre>"


# tables -------------------------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?(?:%| ?(?:[nµm]?s))?|–|n/a|nan|-?inf"
# a number, or "mean [low, high]", optionally bold and followed by a short marker
_NUMBER_RE = re.compile(
    rf"^(\*\*)?(?:{_NUM})(?: \[(?:{_NUM}), (?:{_NUM})\])?(\*\*)?(?: ?[A-Za-z*†‡§]{{1,3}}|<sup>[^<]{{1,8}}</sup>)?$"
)


def _value(value, float_format: Callable[[float], str]) -> tuple[str, bool]:
    """A cell's HTML and whether it reads as a number."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–", True
    if isinstance(value, (bool, np.bool_)):
        return _esc(value), False
    if isinstance(value, (int, np.integer)):
        return f"{int(value)}", True
    if isinstance(value, (float, np.floating)):
        return _esc(float_format(float(value))), True
    text = str(value)
    numeric = bool(_NUMBER_RE.match(text))
    html_ = _inline(text)
    if numeric and " [" in text:  # "mean [low, high]": the interval under the mean, smaller
        html_ = re.sub(r" (\[[^\]]*\])", r'<br><span class="ci">\1</span>', html_, count=1)
    return html_, numeric


def _table(block: Table) -> str:
    """Columns whose every cell reads as a number are right-aligned and monospace."""
    df = block.data.reset_index() if block.index else block.data
    shown = df.iloc[: block.max_rows]
    cells = [[_value(v, block.float_format) for v in shown.iloc[:, j]] for j in range(df.shape[1])]
    numeric = [bool(col) and all(num for _, num in col) for col in cells]
    tag = ['<td class="num">' if n else "<td>" for n in numeric]
    head = "".join(
        f'<th class="num">{_esc(c)}</th>' if n else f"<th>{_esc(c)}</th>"
        for c, n in zip(df.columns, numeric, strict=True)
    )
    rows = [
        "<tr>" + "".join(f"{tag[j]}{col[i][0]}</td>" for j, col in enumerate(cells)) + "</tr>"
        for i in range(len(shown))
    ]
    caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
    out = (
        f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )
    if len(df) > len(shown):
        out += (
            f'<p class="note">Showing the first {len(shown):,} of {len(df):,} rows; '
            "the CSV files of the run directory hold all of them.</p>"
        )
    elif df.empty:
        out += '<p class="note">(no rows)</p>'
    return out


# images -------------------------------------------------------------------------------------
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


def _image_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if hasattr(source, "savefig"):
        buf = io.BytesIO()
        source.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"Image: no image file at {path}")
    return path.read_bytes()


def _image(block: Image) -> str:
    data = _image_bytes(block.source)  # xaibench's figures are palette PNGs already
    mime = next((m for magic, m in _MAGIC if data.startswith(magic)), None)
    if mime is None:
        raise ValueError(
            f"Image: expected PNG, JPEG or GIF data, got bytes starting with {data[:8]!r}"
        )
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    alt = _esc(block.alt or block.caption or "plot")
    caption = f"<figcaption>{_inline(block.caption)}</figcaption>" if block.caption else ""
    return f'<figure><img src="{uri}" alt="{alt}">{caption}</figure>'


# sections and page --------------------------------------------------------------------------
_RENDER = {Text: _text, Code: _code, Table: _table, Image: _image}


class _Anchors:
    """Unique, readable ids for section titles."""

    def __init__(self):
        self.used: set[str] = set()

    def __call__(self, title: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        anchor, i = base, 2
        while anchor in self.used:
            anchor, i = f"{base}-{i}", i + 1
        self.used.add(anchor)
        return anchor


def _section(section: Section, anchors: _Anchors, level: int) -> tuple[str, str]:
    """The section's HTML and its table-of-contents entry."""
    if not isinstance(section, Section):
        raise TypeError(f"sections: expected Section objects, got {type(section).__name__}")
    anchor = anchors(section.title)
    h = min(level, 6)
    body, toc = [f'<h{h} id="{anchor}">{_esc(section.title)}</h{h}>'], []
    for block in section.blocks:
        if isinstance(block, Section):
            html_, entry = _section(block, anchors, level + 1)
            body.append(html_)
            if block.in_toc:
                toc.append(entry)
            continue
        render = _RENDER.get(type(block))
        if render is None:
            raise TypeError(
                f"Section {section.title!r}: expected Text, Code, Table, Image or Section "
                f"blocks, got {type(block).__name__}"
            )
        body.append(render(block))
    sub = f"<ul>{''.join(toc)}</ul>" if toc else ""
    entry = f'<li><a href="#{anchor}">{_esc(section.title)}</a>{sub}</li>'
    css = f"level{level} {section.css_class}".strip()
    if section.collapsed:
        body[0] = f"<summary>{body[0]}</summary>"
        inner = "<details>" + "\n".join(body) + "</details>"
        return f'<section class="{css} collapsed">{inner}</section>', entry
    return f'<section class="{css}">' + "\n".join(body) + "</section>", entry


def _flatten(config: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, name + ".")
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            rows.append((name, text))
    return rows


def run_section(run: dict | None) -> Section:
    """The run's parameters: id, status, times, command, configuration and versions."""
    run = run or {}
    summary = [(k, run[k]) for k in ("id", "status", "started", "finished") if k in run]
    blocks: list = [Table(pd.DataFrame(summary, columns=["", "value"]).astype(str))]
    if run.get("command"):
        blocks += [Text("Command:"), Code(str(run["command"]))]
    for key, title in (("config", "Configuration"), ("versions", "Versions")):
        if run.get(key):
            rows = pd.DataFrame(_flatten(run[key]), columns=["setting", "value"])
            blocks.append(Section(title, [Table(rows.astype(str))]))
    return Section("Run: configuration and versions", blocks, collapsed=True)


def write_report(
    path: str | Path,
    *,
    title: str,
    run: dict | None,
    sections: list,
    lead: Section | None = None,
) -> Path:
    """Write the report to ``path`` (one self-contained HTML file) and return its path.

    The page opens with ``title`` and the ``lead`` section (the answer: the verdict), then a
    table of contents, the ``sections`` (:class:`Section` objects holding :class:`Text`,
    :class:`Code`, :class:`Table`, :class:`Image` blocks and nested sections) and, collapsed at
    the end, a section made from ``run`` (``Store.run()``: id, started, finished, status,
    command, config, versions).
    """
    anchors = _Anchors()
    bodies, entries = [], []
    for section in [*sections, run_section(run)]:
        body, entry = _section(section, anchors, 2)
        bodies.append(body)
        entries.append(entry)
    page = _PAGE.format(
        title=_esc(title),
        csp=_CSP,
        css=_CSS,
        lead=_section(lead, anchors, 2)[0] if lead is not None else "",
        toc="".join(entries),
        body="\n".join(bodies),
        version=_esc(__version__),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


# cells --------------------------------------------------------------------------------------
_IDS = ["dataset", "model", "method", "metric"]


def _first_line(text) -> str:
    if not isinstance(text, str):
        return ""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def cells_summary(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The failed and the not-applicable cells of a store's cells table (``Store.cells()``).

    Returns ``failed`` (dataset, model, method, metric, error: the error's first line) and
    ``not_applicable`` (dataset, model, method, metrics, reason), where cells of one method
    that are not applicable for the same reason share a row and list their metrics.
    """
    missing = set(_IDS + ["status", "error"]) - set(cells.columns)
    if missing:
        raise ValueError(f"cells_summary: cells table lacks columns {sorted(missing)}")
    err = cells[cells["status"] == "error"].sort_values(_IDS)
    failed = err[_IDS].assign(error=err["error"].map(_first_line)).reset_index(drop=True)
    na = cells[cells["status"] == "not_applicable"]
    na = na.assign(reason=na["error"].map(_first_line))
    keys = ["dataset", "model", "method", "reason"]
    grouped = (
        na.groupby(keys, sort=True)["metric"]
        .agg(lambda s: ", ".join(sorted(s)))
        .reset_index()
        .rename(columns={"metric": "metrics"})
    )
    return failed, grouped.reindex(columns=["dataset", "model", "method", "metrics", "reason"])


def failures_section(cells: pd.DataFrame) -> Section:
    """The "Failures and not-applicable cells" section for a store's cells table."""
    failed, not_applicable = cells_summary(cells)
    n_na = int((cells["status"] == "not_applicable").sum())
    return Section(
        "Failures and not-applicable cells",
        [
            Text(
                f"{len(failed)} failed cells and {n_na} not-applicable cells out of "
                f"{len(cells)}. Full error texts are in the store (`results.sqlite`, "
                "table `cells`)."
            ),
            Section("Failed cells", [Table(failed)]),
            Section("Not-applicable cells", [Table(not_applicable)]),
        ],
    )


_CSS = """
:root { --fg: #1d232b; --muted: #5b6573; --line: #d9dee5; --zebra: #f5f7fa; --accent: #2457a6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.35rem; margin-top: 2.5rem; padding-bottom: 0.3rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
h4, h5, h6 { font-size: 1rem; margin-top: 1.4rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav.toc { background: var(--zebra); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.6rem 1.2rem; margin-bottom: 1.5rem; }
nav.toc ul { margin: 0.2rem 0; padding-left: 1.2rem; }
code, pre, td.num { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
code { background: var(--zebra); padding: 0 0.25em; border-radius: 3px; font-size: 0.92em; }
pre { background: var(--zebra); border: 1px solid var(--line); border-radius: 4px; padding: 0.6rem 0.8rem;
  overflow-x: auto; white-space: pre-wrap; word-break: break-word; font-size: 0.85rem; }
.table-wrap { overflow: auto; max-height: 80vh; width: fit-content; max-width: 100%; margin: 0.6rem 1rem 1rem 0; border: 1px solid var(--line); border-radius: 4px;
  display: inline-block; vertical-align: top; }
table { border-collapse: collapse; font-size: 0.86rem; }
caption { caption-side: top; text-align: left; padding: 0.4rem 0.6rem; color: var(--muted); }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: #e9edf2; z-index: 1; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:hover { background: #e8f0fb; }
th.num { text-align: right; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; font-size: 0.82rem; }
td.num .ci { color: var(--muted); font-size: 0.74rem; }
details > summary { cursor: pointer; list-style: none; }
details > summary::-webkit-details-marker { display: none; }
details > summary > :is(h2, h3, h4)::before { content: "▸ "; color: var(--muted); }
details[open] > summary > :is(h2, h3, h4)::before { content: "▾ "; }
details > summary > :is(h2, h3, h4) { display: inline-block; }
section.verdict { background: #f1f6ee; border: 1px solid #bcd6b0; border-radius: 6px; padding: 0.2rem 1.2rem 0.6rem; }
section.verdict h2 { margin-top: 0.8rem; border: none; }
section.verdict .table-wrap { max-height: none; background: #fff; }
section.verdict td { font-size: 0.82rem; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.3rem; }
.note { color: var(--muted); font-size: 0.88rem; font-style: italic; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 3rem; border-top: 1px solid var(--line); padding-top: 0.5rem; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
<h1>{title}</h1>
{lead}
<nav class="toc"><strong>Contents</strong><ul>{toc}</ul></nav>
{body}
<footer>Generated by xaibench {version}. Self-contained: opens offline.</footer>
</main>
</body>
</html>
"""
