"""Self-contained HTML (inline CSS, no external assets), print-ready: headers repeat when printed."""

from __future__ import annotations

from itertools import groupby
from typing import Any, Mapping

from pipeline.tlf.display import Display
from pipeline.tlf.templating import template



def render_html(display: Display, settings: Mapping[str, Any] | None = None) -> str:
    """A display as one HTML page; lines of a block share a ``<tbody>`` kept together in print.

    >>> from pipeline.tlf.display import Display, Line
    >>> d = Display("t", "Table 1", "Demo <1>", "Safety Set", "", ("A\\n(N=2)",), (Line("Any AE", ("1 (50.0)",)),), ("Foot.",))
    >>> html = render_html(d)
    >>> "<td class=\\"cell\\">1 (50.0)</td>" in html and "Demo &lt;1&gt;" in html
    True
    """
    settings = dict(settings or {})
    blocks = [list(lines) for _, lines in groupby(display.rendered_lines, key=lambda line: line.block)]
    ncols = len(display.column_headers) + (1 if display.has_label_column else 0)
    if display.kind == "listing":
        chars = list(display.column_widths) or [1] * len(display.column_headers)
        widths = [100.0 * c / sum(chars) for c in chars]
    else:
        label = float(settings.get("label_width_pct", 40))
        widths = [label] + [(100.0 - label) / max(len(display.column_headers), 1)] * len(display.column_headers)
    return template("table.html.j2").render(
        d=display, blocks=blocks, ncols=ncols, widths=[f"{w:.2f}%" for w in widths],
        font=settings.get("font", "Courier New, Courier, monospace"),
        font_size=settings.get("font_size", 9),
        page_size=settings.get("page_size", "landscape"))

