"""Rendered TXT, RTF and HTML: page geometry, repeated headers, page numbers, same numbers as the ARD."""

import re
from html.parser import HTMLParser

import pytest

from pipeline.analysis.ard import ard_value
from pipeline.tlf.display import build_display
from pipeline.tlf.render_html import render_html
from pipeline.tlf.render_rtf import render_rtf
from pipeline.tlf.render_txt import render_txt


def n_pct(ard, row_id, group):
    """'n (pct)' computed here from the ARD with plain Python rounding rules for these values."""
    n = int(ard_value(ard, row_id, group, "n"))
    pct = ard_value(ard, row_id, group, "pct")
    return "0" if n == 0 else ("{} (100)".format(n) if pct == 100 else f"{n} ({pct:.1f})")


class TableText(HTMLParser):
    """Rows of an HTML table as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def html_rows(html):
    parser = TableText()
    parser.feed(html)
    return parser.rows


def rtf_rows(rtf):
    """Rows of the RTF tables as lists of cell texts (control words stripped)."""
    rows = []
    for chunk in re.findall(r"\\trowd(.*?)\\row", rtf, flags=re.S):
        cells = re.findall(r"\\f0\\fs\d+(?:\\b)? ?(.*?)\\cell", chunk)
        rows.append([c.replace("\\line ", "\n").strip() for c in cells])
    return rows


@pytest.mark.parametrize("row_id", ["any_ae", "sae", "ae_disc"])
def test_table2_numbers_identical_in_html_txt_rtf_and_ard(example_shell_, example_ards, row_id):
    ard = example_ards["table2"]
    display = build_display(example_shell_, "table2", ard)
    label = next(r["label"] for r in example_shell_.outputs["table2"]["rows"] if r["id"] == row_id)
    expected = [n_pct(ard, row_id, g) for g in ("Active", "Placebo", "Total")]
    assert [label, *expected] in html_rows(render_html(display))
    assert [label, *expected] in rtf_rows(render_rtf(display))
    txt_line = next(line for line in render_txt(display).splitlines() if line.startswith(label))
    tokens = " ".join(expected).split()
    assert txt_line.split()[-len(tokens):] == tokens


def test_table1_crr_and_gmr_cells_match_ard(example_shell_, example_ards):
    ard = example_ards["table1"]
    display = build_display(example_shell_, "table1", ard)
    rows = html_rows(render_html(display))
    crr = next(r for r in rows if r[0].startswith("Responders"))
    n, big_n = int(ard_value(ard, "crr", "Active", "n")), int(ard_value(ard, "crr", "Active", "N"))
    assert crr[1] == f"{n}/{big_n} ({ard_value(ard, 'crr', 'Active', 'pct'):.1f})" == "1/3 (33.3)"
    gmr = next(r for r in rows if r[0].startswith("Adjusted (LS) geometric mean ratio"))
    assert gmr[1].startswith(f"{ard_value(ard, 'upcr_rel_improvement', 'Active', 'gmr'):.3f} (")
    observed = next(r for r in rows if r[0].startswith("Geometric mean ratio to baseline, observed"))
    assert observed[1].startswith(f"{ard_value(ard, 'upcr_rel_improvement', 'Active', 'gmr_obs'):.3f} (")
    assert rows[0] == ["Endpoint\n  Statistic", "Active\n(N=4)", "Placebo\n(N=3)"]


def test_txt_pages_fit_132_by_60_and_repeat_headers(example_shell_, long_soc_pt):
    display = build_display(example_shell_, "t_teae_soc_pt", long_soc_pt)
    pages = render_txt(display, 132, 60).rstrip("\n").split("\f")
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        lines = page.rstrip("\n").split("\n")
        assert len(lines) <= 60
        assert max(len(line) for line in lines) <= 132
        assert lines[0].endswith(f"Page {number} of {len(pages)}")
        assert any(line.startswith("Primary system organ class") for line in lines[:15])
        assert lines[-2].startswith("Sorted by descending frequency") and lines[-1].startswith("Source: ")


def test_txt_keeps_each_body_system_with_its_terms(example_shell_, long_soc_pt):
    display = build_display(example_shell_, "t_teae_soc_pt", long_soc_pt)
    for page in render_txt(display, 132, 60).split("\f"):
        body = [line for line in page.split("\n") if line.startswith(("Body system", "  Term"))]
        socs = [line.split()[2] for line in body if line.startswith("Body system")]
        terms = {line.split()[1].split("-")[0] for line in body if line.startswith("  Term")}
        assert terms <= set(socs), f"a term is separated from its body system: {terms - set(socs)}"


def test_rtf_has_real_rows_repeated_marked_headers_and_page_numbers(example_shell_, long_soc_pt):
    display = build_display(example_shell_, "t_teae_soc_pt", long_soc_pt)
    rtf = render_rtf(display)
    pages = rtf.count("\\sectd")
    assert pages >= 2
    assert rtf.count("\\trhdr") == pages
    assert rtf.count("\\trowd") == rtf.count("\\row\n")
    for number in range(1, pages + 1):
        assert f"Page {number} of {pages}" in rtf
    assert rtf.count("{") == rtf.count("}") + rtf.count("\\{") - rtf.count("\\}")
    assert "\\chpgn" not in rtf and "NUMPAGES" not in rtf  # page numbers are ours, not fields


def test_html_is_self_contained_with_header_row(example_shell_, example_ards):
    display = build_display(example_shell_, "t_demog", example_ards["t_demog"])
    html = render_html(display)
    assert "<thead>" in html and "<style>" in html
    assert not re.search(r"(src|href)=\"(http|//)", html)
    assert ["Female", "3 (75.0)", "2 (66.7)", "5 (71.4)"] in html_rows(html)


def test_listing_shows_every_serious_event_once(example_shell_, example_ards):
    display = build_display(example_shell_, "l_sae", example_ards["l_sae"])
    rows = [r for r in html_rows(render_html(display)) if len(r) == 11]
    subjects = [r[0] for r in rows[1:]]
    assert subjects == ["S01", "S04", "S06", "S07"]
    # age, sex, dates, causality, outcome and action of each SAE
    assert rows[2][1:3] == ["45", "F"]
    assert rows[2][4] == "2020-04-09" and rows[2][8] == "RELATED" and rows[2][9] == "FATAL"
    assert rows[2][10] == "DRUG WITHDRAWN"
    assert "Active (N=5)" in render_txt(display)


def test_rendering_is_deterministic(example_shell_, example_ards):
    display = build_display(example_shell_, "table1", example_ards["table1"])
    assert render_rtf(display) == render_rtf(display)
    assert render_html(display) == render_html(display)
    assert render_txt(display) == render_txt(display)


def test_every_output_renders_when_there_are_no_adverse_events(example_shell_):
    from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam
    from pipeline.analysis.stage import build_output_ard

    adam = example_adam()
    adam["adae"] = adam["adae"].iloc[0:0]
    for output_id in example_shell_.outputs:
        display = build_display(example_shell_, output_id,
                                build_output_ard(example_shell_, output_id, EXAMPLE_DESIGN, adam.__getitem__))
        txt = render_txt(display)
        assert render_rtf(display) and render_html(display) and "Page 1 of " in txt
        if output_id == "l_sae":
            assert "No records to list." in txt
        if output_id == "table2":
            assert ["Any TEAE", "0", "0", "0"] in html_rows(render_html(display))
