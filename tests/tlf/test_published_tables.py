"""The rendered tables of the default study show the ARD's numbers (read back from HTML, TXT, RTF)."""

import re

import pytest

from pipeline.analysis.ard import read_ard
from pipeline.analysis.shell import load_shell
from pipeline.tlf.display import build_display

from .test_render import html_rows, rtf_rows


@pytest.fixture(scope="module")
def study(tables_built):
    return tables_built, load_shell(tables_built.specs_dir)


@pytest.mark.parametrize("output_id", ["table1", "table2", "t_demog", "t_teae_soc_pt", "l_sae"])
def test_every_cell_of_the_display_is_in_html_rtf_and_txt(study, output_id):
    ctx, shell = study
    display = build_display(shell, output_id, read_ard(ctx.ard_dir, output_id))
    html = html_rows((ctx.tlf_dir / f"{output_id}.html").read_text(encoding="utf-8"))
    rtf = rtf_rows((ctx.tlf_dir / f"{output_id}.rtf").read_text(encoding="utf-8"))
    txt = (ctx.tlf_dir / f"{output_id}.txt").read_text(encoding="utf-8")
    for line in display.lines:
        cells = [c for c in line.cells if c]
        if not cells:
            continue
        row = [line.label, *line.cells] if display.has_label_column else list(line.cells)
        assert row in html, f"{output_id}: {row} not in the HTML"
        assert [re.sub(r"\\u(\d+)\?", lambda m: chr(int(m.group(1))), c) for c in row] in \
            [[re.sub(r"\\u(\d+)\?", lambda m: chr(int(m.group(1))), c) for c in r] for r in rtf], \
            f"{output_id}: {row} not in the RTF"
        for cell in cells:
            assert cell.split()[0] in txt


def test_published_counts_appear_in_rendered_table2(study):
    ctx, _ = study
    rows = html_rows((ctx.tlf_dir / "table2.html").read_text(encoding="utf-8"))
    sae = next(r for r in rows if r[0] == "Any serious TEAE")
    assert sae[1:3] == ["6 (15.4)", "3 (16.7)"]
    txt = (ctx.tlf_dir / "table2.txt").read_text(encoding="utf-8")
    assert re.search(r"Any serious TEAE\s+6 \(15\.4\)\s+3 \(16\.7\)", txt)


def test_published_crr_appears_in_rendered_table1(study):
    ctx, _ = study
    rows = html_rows((ctx.tlf_dir / "table1.html").read_text(encoding="utf-8"))
    crr = next(r for r in rows if r[0].startswith("Responders"))
    assert crr[1:] == ["3/37 (8.1)", "0/18 (0.0)"]
    rtf = (ctx.tlf_dir / "table1.rtf").read_text(encoding="utf-8")
    assert re.search(r"3/37 \(8\.1\) *\\cell", rtf) and re.search(r"0/18 \(0\.0\) *\\cell", rtf)
