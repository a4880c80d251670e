"""The self-contained HTML page: header, sections, tables, PNG figures as base64 data URIs.

Every text taken from the tables goes through ``html.escape``; nothing is loaded from outside
the page.
"""
from __future__ import annotations

import base64
import datetime as dt
import math
from html import escape

import pandas as pd

from recsys_spark.report.model import Header, Section
from recsys_spark.report.plots import png_bytes

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: .85em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
p.missing { background: #fff6e0; border-left: 4px solid #e0a000; padding: .5em .8em; }
img { max-width: 100%; display: block; margin: .5em 0 1em; }
code { background: #f3f3f3; padding: 0 .2em; }
"""


def format_value(value: object) -> str:
    """A cell's text: '' for null/NaN, 4 significant digits for floats, ISO for dates."""
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def render_table(frame: pd.DataFrame, caption: str) -> str:
    """``frame`` as an HTML table (text columns left-aligned, numbers right-aligned)."""
    text_columns = {c for c in frame.columns if frame[c].dtype == object}
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="text">{escape(format_value(v))}</td>' if c in text_columns
            else f"<td>{escape(format_value(v))}</td>" for c, v in zip(frame.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def render_image(alt: str, png: bytes) -> str:
    """An <img> whose source is the PNG itself (data URI), so the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def render_section(section: Section) -> str:
    """One <section>: title, intro, "not available" paragraphs, notes, figures, tables."""
    parts = [f'<section id="{escape(section.key)}">', f"<h2>{escape(section.title)}</h2>"]
    if section.intro:
        parts.append(f"<p>{escape(section.intro)}</p>")
    for missing in section.missing:
        parts.append(f'<p class="missing">Not available: {escape(missing.what)}. '
                     f"Run <code>{escape(missing.hint)}</code> to produce it.</p>")
    parts += [f"<p>{escape(note)}</p>" for note in section.notes]
    parts += [render_image(alt, png_bytes(fig)) for alt, fig in section.figures]
    parts += [render_table(t.frame, t.caption) for t in section.tables]
    parts.append("</section>")
    return "\n".join(parts)


def render_header(header: Header) -> str:
    """Title, warehouse, run ids of the run date, and the version of every table read."""
    versions = pd.DataFrame({"table": list(header.versions),
                             "version": ["missing" if v is None else str(v)
                                         for v in header.versions.values()]})
    run_ids = sorted(set(header.runs["run_id"])) if not header.runs.empty else []
    return "\n".join([
        f"<h1>recsys-spark report: run date {header.run_date.isoformat()}</h1>",
        f"<p>Warehouse <code>{escape(header.warehouse)}</code>; generated "
        f"{header.generated_at:%Y-%m-%d %H:%M:%S} UTC; run ids: "
        f"{escape(', '.join(run_ids) or 'none')}.</p>",
        render_table(header.runs, f"Stage runs on {header.run_date.isoformat()} (last attempt)"),
        render_table(versions, "Table versions read"),
    ])


def render_page(header: Header, sections: list[Section]) -> str:
    """The whole HTML document."""
    toc = "".join(f'<li><a href="#{escape(s.key)}">{escape(s.title)}</a></li>' for s in sections)
    body = "\n".join(render_section(s) for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>recsys-spark report {header.run_date.isoformat()}</title>"
            f"<style>{STYLE}</style></head><body>\n{render_header(header)}\n"
            f"<nav><ul>{toc}</ul></nav>\n{body}\n</body></html>\n")
