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


def test_headers_state_data_cut_program_and_dictionaries(study):
    ctx, _ = study
    txt = (ctx.tlf_dir / "table2.txt").read_text(encoding="utf-8")
    assert "Program: python -m pipeline tables, shell tlf.yaml outputs.table2" in txt
    assert re.search(r"Run date: (\d{4}-\d\d-\d\d) \(= data cut\)   Data cut: \1   Dictionaries: MedDRA 27\.0", txt)
    for fmt in ("html", "rtf"):
        assert "Dictionaries: MedDRA 27.0" in (ctx.tlf_dir / f"table2.{fmt}").read_text(encoding="utf-8")


def test_table_columns_are_decimal_aligned_in_txt(study):
    ctx, _ = study
    lines = (ctx.tlf_dir / "table1.txt").read_text(encoding="utf-8").splitlines()
    adjusted = next(line for line in lines if line.lstrip().startswith("Adjusted (LS) geometric"))
    improvement = next(line for line in lines if line.lstrip().startswith("Relative improvement"))
    # the decimal points of 0.369 and 63.1 sit in the same column
    assert adjusted.index("0.369") + 1 == improvement.index("63.1") + 2


def test_week24_and_whole_study_tables_and_excluded_values_listing(study):
    ctx, _ = study
    t2 = (ctx.tlf_dir / "table2.txt").read_text(encoding="utf-8")
    assert "up to Week 24" in t2 and "Analysis period: Up to Week 24" in t2
    assert re.search(r"Any serious TEAE\s+6 \(15\.4\)\s+3 \(16\.7\)", t2)
    assert re.search(r"TEAE leading to discontinuation of study treatment\s+3 \(7\.7\)\s+1 \(5\.6\)", t2)
    study_txt = (ctx.tlf_dir / "table2_study.txt").read_text(encoding="utf-8")
    assert re.search(r"Any serious TEAE\s+6 \(15\.4\)\s+3 \(16\.7\)", study_txt)
    assert "severity under query" in study_txt and "missing severity counted as severe" not in study_txt
    listing = (ctx.tlf_dir / "l_anlexcl.txt").read_text(encoding="utf-8")
    assert "16685.529" in listing and "1315.930" in listing


def test_table1_footnotes_state_the_estimands(study):
    ctx, _ = study
    txt = " ".join((ctx.tlf_dir / "table1.txt").read_text(encoding="utf-8").split())
    assert "Estimand (primary) CRR at Week 24" in txt and "as published (3/37 = 8.1%)" in txt
    assert "Estimand (sensitivity) CRR at Week 24, non-responder imputation" in txt
    assert re.search(r"Responders, n/N \(%\)\s+3/39 \(7\.7\)\s+0/18 \(0\.0\)", txt)
