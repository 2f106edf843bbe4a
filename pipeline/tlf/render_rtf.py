"""RTF output that opens in Word and LibreOffice: real table rows, headers repeated per page.

Each page is its own RTF section whose header carries the titles and a literal "Page x of n"
from our paginator (no fields), and whose footer carries the footnotes. Column-header rows are
repeated at the top of every page's table and marked ``\\trhdr``; rows are ``\\trkeep`` so a row
never splits. Sizes are computed from the page geometry in the shell (``defaults.rtf``).
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any, Mapping

from pipeline.tlf.display import BLANK, GROUP, HEADING, Display
from pipeline.tlf.paginate import paginate
from pipeline.tlf.templating import template

TWIPS_PER_INCH = 1440
TWIPS_PER_POINT = 20
INDENT_TWIPS = 288
RTF_ALIGN = {"left": "ql", "right": "qr", "center": "qc"}
DEFAULT_GEOMETRY: dict[str, Any] = {
    "paper": [11, 8.5],
    "margins": {"top": 1.5, "bottom": 1.25, "left": 1.0, "right": 1.0, "header": 0.5, "footer": 0.5},
    "font": "Courier New",
    "font_size": 9,
    "line_height_factor": 1.2,
}


_RTF_SPECIAL = re.compile(r"[\\{}\n\t]")


def rtf_escape(text: str) -> str:
    r"""Text as RTF: control characters escaped, non-ASCII as ``\uN?``, newlines as ``\line``.

    >>> rtf_escape("{a}\\b é\nx")
    '\\{a\\}\\\\b \\u233?\\line x'
    """
    if text.isascii() and not _RTF_SPECIAL.search(text):
        return text  # most cells: nothing to escape
    out = []
    for char in text:
        code = ord(char)
        if char in "\\{}":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\line ")
        elif char == "\t":
            out.append("\\tab ")
        elif code > 127:
            out.append(f"\\u{code if code < 32768 else code - 65536}?")
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class RtfCell:
    text: str          # escaped RTF text
    right: int         # right edge in twips (\cellx)
    align: str         # ql, qc, qr
    indent: int = 0    # left indent in twips
    bold: bool = False
    border_top: bool = False
    border_bottom: bool = False


@dataclass(frozen=True)
class RtfRow:
    cells: list[RtfCell]
    header: bool = False


@dataclass(frozen=True)
class RtfPage:
    number: int
    count: int
    header_lines: list[str]
    rows: list[RtfRow]


@dataclass(frozen=True)
class RtfGeometry:
    """Page geometry in twips and the font metrics the paginator estimates with."""

    paper_width: int
    paper_height: int
    margin_left: int
    margin_right: int
    margin_top: int
    margin_bottom: int
    header_y: int
    footer_y: int
    font: str
    half_points: int
    line_twips: int
    char_twips: int

    @property
    def text_width(self) -> int:
        return self.paper_width - self.margin_left - self.margin_right


def rtf_geometry(settings: Mapping[str, Any] | None, header_lines: int, footer_lines: int) -> RtfGeometry:
    """Twips geometry from the shell's ``rtf`` settings, with margins grown to fit titles and footnotes.

    >>> g = rtf_geometry(None, header_lines=6, footer_lines=3)
    >>> g.paper_width, g.text_width, g.char_twips
    (15840, 12960, 108)
    """
    merged = {**DEFAULT_GEOMETRY, **(settings or {})}
    given = {**DEFAULT_GEOMETRY["margins"], **(merged.get("margins") or {})}
    margins = {key: int(round(float(given[key]) * TWIPS_PER_INCH)) for key in DEFAULT_GEOMETRY["margins"]}
    width, height = (int(round(float(v) * TWIPS_PER_INCH)) for v in merged["paper"])
    size = float(merged["font_size"])
    line = int(round(size * float(merged["line_height_factor"]) * TWIPS_PER_POINT))
    char = int(round(size * 0.6 * TWIPS_PER_POINT))  # fixed-pitch fonts: advance = 0.6 em
    top = max(margins["top"], margins["header"] + (header_lines + 1) * line)
    bottom = max(margins["bottom"], margins["footer"] + (footer_lines + 1) * line)
    return RtfGeometry(width, height, margins["left"], margins["right"], top, bottom, margins["header"],
                       margins["footer"], str(merged["font"]), int(round(size * 2)), line, char)


def _column_edges(display: Display, geometry: RtfGeometry) -> tuple[list[int], list[int]]:
    """Right edges (twips) of every column and their widths in characters."""
    total = geometry.text_width
    if display.kind == "listing":
        # each column: its shell width or its longest header word, plus one character of cell padding
        chars = list(display.column_widths) or [12] * len(display.column_headers)
        chars = [max(c, *(len(word) for word in h.split())) + 1 for c, h in zip(chars, display.column_headers)]
        scale = total / (sum(chars) * geometry.char_twips)
        widths = [int(c * geometry.char_twips * scale) for c in chars]
    else:
        count = max(len(display.column_headers), 1)
        labels = [len(l.label) + 2 * l.indent + 2 for l in display.lines if any(l.cells)]
        label_chars = min(max(labels + [30]), 60)
        label = min(label_chars * geometry.char_twips, int(total * 0.5))
        widths = [label] + [(total - label) // count] * count
    edges = list(accumulate(widths))
    edges[-1] = total
    char_widths = [max(int(w / geometry.char_twips) - 1, 4) for w in widths]
    return edges, char_widths


def _text_height(text: str, chars: int) -> int:
    if not text:
        return 1
    return sum(max(1, math.ceil(len(part) / max(chars, 1))) if part else 1 for part in text.split("\n"))


def build_rtf_pages(display: Display, settings: Mapping[str, Any] | None = None) -> tuple[list[RtfPage], RtfGeometry, list[str]]:
    """Paginate a display for RTF: pages (each starting with the column-header row), the geometry, footnotes.

    >>> from pipeline.tlf.display import Line
    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A", "B"), (Line("Any AE", ("1 (50.0)", "0")),), ("Foot.",))
    >>> pages, geometry, footnotes = build_rtf_pages(d)
    >>> len(pages), pages[0].rows[0].header, [cell.text for cell in pages[0].rows[1].cells], footnotes
    (1, True, ['Any AE', '1 (50.0)', '0'], ['Foot.'])
    """
    titles = [display.number, display.title, f"Population: {display.population}"]
    titles = [t for t in titles if t]
    footnotes = list(display.footnotes)
    geometry = rtf_geometry(settings, 0, 0)  # the width of a line does not depend on the margins grown here
    chars_per_line = max(geometry.text_width // geometry.char_twips, 20)
    footer_lines = sum(len(textwrap.wrap(f, chars_per_line)) or 1 for f in footnotes)
    header_lines_wrapped = sum(len(textwrap.wrap(t, chars_per_line)) or 1 for t in titles) + 3
    geometry = rtf_geometry(settings, header_lines_wrapped, footer_lines + 1)
    edges, char_widths = _column_edges(display, geometry)
    listing = display.kind == "listing"

    header_texts = list(display.column_headers) if listing else [display.label_header or ""] + list(display.column_headers)
    header_height = max(_text_height(t, w) for t, w in zip(header_texts, char_widths))
    aligns = ([RTF_ALIGN.get(a, "ql") for a in (display.column_align or ("left",) * len(edges))] if listing
              else ["ql"] + ["qc"] * (len(edges) - 1))
    header_row = RtfRow([RtfCell(rtf_escape(text), edge, align, border_top=True, border_bottom=True)
                         for text, edge, align in zip(header_texts, edges, aligns)], header=True)

    rows: list[RtfRow] = []
    heights: list[int] = []
    for line in display.rendered_lines:
        if line.kind == GROUP or (listing and not line.cells):
            rows.append(RtfRow([RtfCell(rtf_escape(line.label), edges[-1], "ql", bold=True)]))
            heights.append(_text_height(line.label, chars_per_line))
            continue
        if listing:
            cells = [RtfCell(rtf_escape(text), edge, align) for text, edge, align in zip(line.cells, edges, aligns)]
            heights.append(max(_text_height(t, w) for t, w in zip(line.cells, char_widths)))
        else:
            indent = INDENT_TWIPS * line.indent
            label_chars = char_widths[0] - 2 * line.indent
            if not any(line.cells) and line.kind == HEADING:
                cells = [RtfCell(rtf_escape(line.label), edges[-1], "ql", indent)]
                heights.append(_text_height(line.label, chars_per_line))
            else:
                cells = [RtfCell(rtf_escape(line.label), edges[0], "ql", indent)]
                cells += [RtfCell(rtf_escape(text), edge, "qc") for text, edge in zip(line.cells, edges[1:])]
                heights.append(_text_height(line.label, label_chars))
        rows.append(RtfRow(cells))

    body_twips = geometry.paper_height - geometry.margin_top - geometry.margin_bottom
    capacity = max(body_twips // geometry.line_twips - header_height - 1 - len(display.header_lines), 3)
    pages_idx = paginate(heights, [l.block for l in display.lines], capacity, [l.kind == BLANK for l in display.lines])
    pages = []
    for number, indices in enumerate(pages_idx, start=1):
        page_rows = [header_row] + [rows[i] for i in indices]
        page_rows[-1] = replace(page_rows[-1], cells=[replace(c, border_bottom=True) for c in page_rows[-1].cells])
        pages.append(RtfPage(number, len(pages_idx), [rtf_escape(t) for t in titles], page_rows))
    return pages, geometry, [rtf_escape(f) for f in footnotes]


def render_rtf(display: Display, settings: Mapping[str, Any] | None = None) -> str:
    """A display as an RTF document (one section per page).

    >>> from pipeline.tlf.display import Display, Line
    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A\\n(N=2)",), (Line("Any AE", ("1 (50.0)",)),), ("Foot.",))
    >>> text = render_rtf(d)
    >>> text.startswith("{\\\\rtf1") and "\\\\trhdr" in text and "Page 1 of 1" in text
    True
    """
    pages, geometry, footnotes = build_rtf_pages(display, settings)
    return template("table.rtf.j2").render(
        display=display, pages=pages, g=geometry, footnotes=footnotes,
        top_left=rtf_escape(display.top_left), second_left=rtf_escape(display.second_left),
        run_lines=[rtf_escape(t) for t in display.header_lines],
        title=rtf_escape(f"{display.number} {display.title}".strip()))

