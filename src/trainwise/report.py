"""Self-contained HTML reports: tables and PNG figures embedded as base64."""
from __future__ import annotations

import base64
import html
import os

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}code,pre{background:#f6f6f6;padding:.1em .3em}
.ok{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}
"""


def esc(x) -> str:
    return html.escape(str(x))


def img_tag(path: str, alt: str = "") -> str:
    """An <img> with the PNG at ``path`` embedded, so the report is one file."""
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f'<img alt="{esc(alt or os.path.basename(path))}" src="data:image/png;base64,{data}">'


def table(rows: list[dict], columns=None) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return esc(f"{v:.4g}")
    return esc("" if v is None else v)


def write_report(path, title: str, sections: list[tuple[str, str]]) -> str:
    """Write ``sections`` (heading, HTML body) under ``title`` to ``path``; atomically."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{esc(heading)}</h2>\n{body}")
    parts.append("</body></html>")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    os.replace(tmp, path)
    return str(path)
