"""Plain-text output in the fixed-width style of a classic SAS listing (e.g. 132 x 60).

Every page repeats the titles and the column headers, ends with the footnotes, and carries
"Page x of n"; pages are separated by a form feed. The layout (padding, wrapping, alignment) is
made here; the template only places the prepared lines.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from itertools import zip_longest

from pipeline.tlf.display import BLANK, GROUP, Display
from pipeline.tlf.paginate import paginate
from pipeline.tlf.templating import template

INDENT = 2


@dataclass(frozen=True)
class TextPage:
    number: int
    count: int
    head: list[str]
    body: list[str]
    foot: list[str]


def wrap_text(text: str, width: int, indent: int = 0) -> list[str]:
    """Wrap ``text`` into lines of at most ``width`` characters, hanging indent for continuations.

    >>> wrap_text("Treatment-emergent adverse events by system organ class", 24, indent=2)
    ['  Treatment-emergent', '    adverse events by', '    system organ class']
    """
    if width < 4:
        raise ValueError(f"column width too small: {width}")
    if not text:
        return [" " * indent] if indent else [""]
    lead = " " * indent
    return textwrap.wrap(text, width=width, initial_indent=lead, subsequent_indent=lead + "  ",
                         break_on_hyphens=False) or [lead]


def wrap_cell(text: str, width: int) -> list[str]:
    """Wrap a listing cell; a slash is a break opportunity too (``RECOVERING/RESOLVING``).

    >>> wrap_cell("RECOVERING/RESOLVING", 12)
    ['RECOVERING/', 'RESOLVING']
    >>> wrap_cell("", 5)
    ['']
    """
    if len(text) <= width:
        return [text]
    if "/" in text and "/ " not in text:
        return [part.replace("/ ", "/") for part in textwrap.wrap(text.replace("/", "/ "), width)] or [""]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def wrap_header(text: str, width: int) -> list[str]:
    """The lines of a column header: each ``\\n``-separated part wrapped word-wise to ``width``.

    A single word longer than ``width`` is hard-cut; an empty part stays an empty line.

    >>> wrap_header("Xanomeline Low Dose\\n(N=84)", 12)
    ['Xanomeline', 'Low Dose', '(N=84)']
    >>> wrap_header("Iscalimab 10 mg/kg\\n(N=39)", 20)
    ['Iscalimab 10 mg/kg', '(N=39)']
    >>> wrap_header("Hydroxychloroquine", 8)
    ['Hydroxyc', 'hloroqui', 'ne']
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"header width must be a positive integer, got {width!r}")
    lines: list[str] = []
    for part in str(text or "").split("\n"):
        lines += textwrap.wrap(part, width=width, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def align_tokens(cells: list[str]) -> list[str]:
    """Right-align the first token (the leading number) of a column's cells, so numbers line up.

    >>> align_tokens(["5 (100)", "12 (33.3)", "0"])
    [' 5 (100)', '12 (33.3)', ' 0']
    """
    split = [c.split(" ", 1) if c else [] for c in cells]
    width = max((len(s[0]) for s in split if s), default=0)
    return [" ".join([s[0].rjust(width)] + s[1:]) if s else "" for s in split]


def _center_block(cells: list[str], width: int) -> list[str]:
    block = max((len(c) for c in cells), default=0)
    pad = max((width - block) // 2, 0)
    return [(" " * pad + c.ljust(block)).rstrip() if c else "" for c in cells]


def table_widths(display: Display, width: int) -> tuple[int, list[int]]:
    """Label column width and treatment column widths of a table on a ``width``-character page.

    The label column takes what its labels need (30 to 60 characters; headings without cells may
    run into the treatment columns); the treatment columns share the rest.

    >>> from pipeline.tlf.display import Line
    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A", "B"), (Line("Any AE", ("1", "0")),), ())
    >>> table_widths(d, 60)
    (30, [15, 15])
    """
    count = max(len(display.column_headers), 1)
    labels = [len(line.label) + INDENT * line.indent + 2 for line in display.lines if any(line.cells)]
    labels += [len(part) + 2 for part in (display.label_header or "").split("\n")]
    label_width = min(max(labels + [30]), 60)
    column = max((width - label_width) // count, 8)
    return width - column * count, [column] * count


def _column_cells(display: Display, widths: list[int]) -> list[list[str]]:
    columns = []
    for k, width in enumerate(widths):
        raw = [line.cells[k] if k < len(line.cells) else "" for line in display.rendered_lines]
        columns.append(_center_block(raw if display.decimal_align else align_tokens(raw), width))
    return columns


def layout_table_lines(display: Display, width: int) -> tuple[list[str], list[list[str]]]:
    """The header lines and, per display line, its text lines (labels wrapped, cells aligned).

    >>> from pipeline.tlf.display import Line
    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A", "B"), (Line("Any AE", ("1 (50.0)", "0")),), ())
    >>> header, body = layout_table_lines(d, 60)
    >>> [h.strip() for h in header], [b.split() for b in body[0]]
    (['A              B'], [['Any', 'AE', '1', '(50.0)', '0']])
    """
    label_width, widths = table_widths(display, width)
    header_cols = [wrap_header(h, max(w - 1, 1)) for h, w in zip(display.column_headers, widths)]
    label_parts = wrap_header(display.label_header or "", max(label_width - 1, 1))
    header = [(label.ljust(label_width) + "".join(part.center(w) for part, w in zip(parts, widths))).rstrip()
              for label, *parts in _bottom_aligned([label_parts] + header_cols)]
    columns = _column_cells(display, widths)
    body = []
    for index, line in enumerate(display.lines):
        if line.kind == BLANK:
            body.append([""])
            continue
        label_room = label_width - 1 if any(line.cells) else width
        labels = wrap_text(line.label, label_room, INDENT * line.indent)
        cells = "".join(col[index].ljust(w) if col[index] else " " * w for col, w in zip(columns, widths))
        first = (labels[0].ljust(label_width) + cells).rstrip()
        body.append([first] + labels[1:])
    return header, body


def _bottom_aligned(columns: list[list[str]]) -> list[tuple[str, ...]]:
    """Rows of multi-line column headers, shorter headers padded on top so their last lines meet."""
    depth = max(len(c) for c in columns)
    return list(zip(*([""] * (depth - len(c)) + c for c in columns)))


def _justify(text: str, width: int, align: str) -> str:
    return text.rjust(width) if align == "right" else text.center(width) if align == "center" else text.ljust(width)


def layout_listing_lines(display: Display, width: int) -> tuple[list[str], list[list[str]]]:
    """Header and wrapped record lines of a listing with the shell's column widths.

    >>> from pipeline.tlf.display import Line
    >>> d = Display("l", "Listing 1", "SAEs", "Safety Set", None, ("Subject", "Outcome"),
    ...             (Line("", ("S01", "RECOVERING/RESOLVING")),), (), kind="listing", column_widths=(8, 12))
    >>> layout_listing_lines(d, 40)
    (['Subject   Outcome'], [['S01       RECOVERING/', '          RESOLVING']])
    """
    widths = list(display.column_widths) or [12] * len(display.column_headers)
    gap = 2 if sum(widths) + 2 * (len(widths) - 1) <= width else 1
    aligns = list(display.column_align) or ["left"] * len(widths)
    header = [(" " * gap).join(_justify(part, w, a) for part, w, a in zip(parts, widths, aligns)).rstrip()
              for parts in _bottom_aligned([wrap_text(h, w) for h, w in zip(display.column_headers, widths)])]
    body = []
    for line in display.lines:
        if line.kind == BLANK:
            body.append([""])
        elif line.kind == GROUP or not line.cells:
            body.append(wrap_text(line.label, width))
        else:
            wrapped = [wrap_cell(c, w) for c, w in zip(line.cells, widths)]
            body.append([(" " * gap).join(_justify(part, w, a) for part, w, a in zip(parts, widths, aligns)).rstrip()
                         for parts in zip_longest(*wrapped, fillvalue="")])
    return header, body


def title_lines(display: Display, width: int, page: int, pages: int) -> list[str]:
    """The lines above the column headers: sponsor line with "Page x of n", titles centred.

    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A",), (), (), top_left="ACME")
    >>> [line.strip() for line in title_lines(d, 40, 1, 2)]
    ['ACME                        Page 1 of 2', '', '', 'Table 1', 'Demo', 'Population: Safety Set', '']
    """
    right = f"Page {page} of {pages}"
    lines = [display.top_left[: width - len(right) - 1].ljust(width - len(right)) + right]
    lines.append(display.second_left[:width])
    lines += [text[:width] for text in display.header_lines]
    lines.append("")
    for text in (display.number, display.title, f"Population: {display.population}"):
        lines += [part.center(width).rstrip() for part in textwrap.wrap(text, width)] if text else []
    lines.append("")
    return lines


def render_txt(display: Display, width: int = 132, length: int = 60) -> str:
    """The pages of a display as fixed-width text (pages separated by form feeds).

    >>> from pipeline.tlf.display import Display, Line
    >>> d = Display("t", "Table 1", "Demo", "Safety Set", "", ("A\\n(N=2)",), (Line("Any AE", ("1 (50.0)",)),), ("Foot.",))
    >>> text = render_txt(d, width=60, length=20)
    >>> "Page 1 of 1" in text and "1 (50.0)" in text
    True
    """
    if width < 40 or length < 15:
        raise ValueError(f"page too small for a table: {width} x {length}")
    header, body = (layout_listing_lines if display.kind == "listing" else layout_table_lines)(display, width)
    rule = "-" * width
    foot = [rule] + [part for note in display.footnotes for part in textwrap.wrap(note, width)]
    fixed = len(title_lines(display, width, 1, 1)) + 1 + len(header) + 1 + len(foot)
    capacity = length - fixed
    if capacity < 3:
        raise ValueError(f"page length {length} leaves no room for the table body")
    heights = [len(lines) for lines in body]
    pages = paginate(heights, [line.block for line in display.lines], capacity,
                     [line.kind == BLANK for line in display.lines])
    text_pages = []
    for number, indices in enumerate(pages, start=1):
        head = title_lines(display, width, number, len(pages)) + [rule] + header + [rule]
        page_body = [text for i in indices for text in body[i]] or ["No data."]
        text_pages.append(TextPage(number, len(pages), head, page_body, foot))
    return template("table.txt.j2").render(pages=text_pages, form_feed="\f")

