"""Great Expectations Data Docs that work offline: no CDN asset, static tables, a small local stylesheet.

GX loads Bootstrap, jQuery, bootstrap-table, Vega and Font Awesome from CDNs and fills its index tables from
inline JavaScript: offline its pages are bare and the tables empty. Each bootstrap-table's rows (a literal in
the script) are written into its ``<table>``; remote ``url(...)`` images in GX's CSS point to the bundled logo.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>\s*", re.I)
ANY_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.I | re.S)
TABLE_SCRIPT = re.compile(r"\$\('#([^']+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*columns:\s*(\[.*?\]),\s*"
                          r"data:\s*(\[.*?\]),\s*toolbar:", re.S)
REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)'\"]*['\"]?\s*\)", re.I)
OFFLINE_MARK = "<!-- data docs: offline -->"
OFFLINE_CSS = """<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2733; margin: 0 16px; }
.container, .container-fluid { max-width: 1400px; margin: 0 auto; padding-top: 12px; }
nav.navbar { height: auto !important; padding: 8px 0; border-bottom: 1px solid #d8dee4; }
img { max-width: 240px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #d8dee4; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f5; }
.table-responsive { overflow: visible; }
.modal, .ge-walkthrough-modal, .fa, .fas, .far, .navbar-toggler, .d-none { display: none; }
.card { border: 1px solid #d8dee4; border-radius: 4px; padding: 8px 12px; margin: 10px 0; }
.text-success { color: #1b6e33; } .text-danger { color: #b3261e; }
.badge { padding: 0 6px; border-radius: 8px; background: #eef2f5; }
@media print { .card { break-inside: avoid; } thead { display: table-header-group; } }
</style>
"""


def _cell(row: dict, field: str) -> str:
    if field == "validation_success" and "_validation_success_text" in row:
        return html.escape(str(row["_validation_success_text"]))
    return str(row.get(field, "")).strip()  # GX's own rendered markup


def static_table_rows(columns: list[dict], data: list[dict]) -> str:
    """A bootstrap-table's columns and rows as static ``<thead>``/``<tbody>`` HTML (row links kept).

    >>> print(static_table_rows([{"field": "a", "title": "A"}], [{"a": "x<y", "_table_row_link_path": "p.html"}]))
    <thead><tr><th>A</th><th></th></tr></thead>
    <tbody><tr><td>x<y</td><td><a href="p.html">open</a></td></tr></tbody>
    """
    visible = [c for c in columns if str(c.get("visible", "true")).lower() != "false"]
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in visible) + "<th></th>"
    body = []
    for row in data:
        link = row.get("_table_row_link_path")
        cells = "".join(f"<td>{_cell(row, c['field'])}</td>" for c in visible)
        cells += f'<td><a href="{html.escape(str(link))}">open</a></td>' if link else "<td></td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<thead><tr>{head}</tr></thead>\n<tbody>{''.join(body)}</tbody>"


def offline_page(text: str) -> str:
    """One Data Docs page without any remote asset or script, its JavaScript tables written out.

    >>> page = ('<head><link rel="stylesheet" href="https://cdn.x/b.css"><script src="https://cdn.x/j.js"></script></head>'
    ...         '<table id="t"></table><script>$(\\'#t\\').bootstrapTable( Object.assign( { columns: [{"field": "a", '
    ...         '"title": "A"}], data: [{"a": "1"}], toolbar: "#x"}, {}))</script>')
    >>> out = offline_page(page)
    >>> "https://" in out, "<script" in out, "<td>1</td>" in out
    (False, False, True)
    """
    if OFFLINE_MARK in text:
        return text
    for match in TABLE_SCRIPT.finditer(text):
        table_id = match.group(1)
        try:
            columns, data = ast.literal_eval(match.group(2)), ast.literal_eval(match.group(3))
        except (ValueError, SyntaxError):
            continue
        empty = re.compile(r"(<table\b[^>]*\bid=[\"']" + re.escape(table_id) + r"[\"'][^>]*>)\s*(</table>)", re.S)
        text = empty.sub(lambda m: m.group(1) + static_table_rows(columns, data) + m.group(2), text, count=1)
    text = REMOTE_LINK.sub("", text)
    text = ANY_SCRIPT.sub("", text)  # remote and inline scripts alike
    text = REMOTE_CSS_URL.sub("none", text)
    head_end = text.lower().find("</head>")
    insert = OFFLINE_MARK + "\n" + OFFLINE_CSS
    return text[:head_end] + insert + text[head_end:] if head_end >= 0 else insert + text


def make_data_docs_offline(docs_dir: Path) -> None:
    """Rewrite every Data Docs page and stylesheet under ``docs_dir`` so nothing is fetched from a network."""
    docs_dir = Path(docs_dir)
    for page in sorted(docs_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        offline = offline_page(text)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
    for sheet in sorted(docs_dir.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8")
        local = REMOTE_CSS_URL.sub("url('../images/logo-long.png')", text)
        if local != text:
            sheet.write_text(local, encoding="utf-8")
