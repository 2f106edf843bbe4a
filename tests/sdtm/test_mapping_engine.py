"""Engine behaviour on small hand-made raw files: ledger, duplicates, unknown subjects, transpose, merge, flags."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mini import make_ctx  # noqa: E402

from pipeline.common.errors import PipelineError  # noqa: E402
from pipeline.sdtm.mapping.engine import (  # noqa: E402
    _names_by_last_reader, apply_transpose, check_ledger, merge_records, reason_category)
from pipeline.sdtm.mapping.spec import Application, TransposeSpec, Where  # noqa: E402
from pipeline.sdtm.stage import run  # noqa: E402

DM = """\
domain: DM
sources:
  - form: dm
    files: "site_*/dm.csv"
    subject: subj
required: [USUBJID]
variables:
  STUDYID: {hardcode: {design: study.studyid}}
  DOMAIN: {hardcode: DM}
  SUBJID: {derive: {function: normalise_id, column: subj, pad: 4}}
  USUBJID: {concat: {columns: [STUDYID, _site, SUBJID], sep: "-"}}
  SITEID: {assign: _site}
  SEX:
    assign_ct: {column: sex, codelist: SEX, values: {Female: F, Male: M}}
    on_error: flag
  RFICDTC: {iso8601: {column: consent, formats: ["%d.%m.%Y"]}}
"""
VS = """\
domain: VS
sources:
  - form: vs
    files: "site_*/vs.csv"
    subject: subj
    numeric: [wt, ht]
    reader: {delimiter: ";", decimal: ","}
transpose:
  value_to: _value
  items:
    - {column: ht, set: {VSTESTCD: HEIGHT, _unit: cm}}
    - {column: wt, set: {VSTESTCD: WEIGHT, _unit: {column: wt_unit}}}
required: [USUBJID, VSTESTCD, VSDTC]
variables:
  STUDYID: {hardcode: {design: study.studyid}}
  DOMAIN: {hardcode: VS}
  _subjid: {derive: {function: normalise_id, column: subj, pad: 4}}
  USUBJID: {concat: {columns: [STUDYID, _site, _subjid], sep: "-"}}
  VSORRES: {assign: _value}
  VSORRESU: {assign_unit: _unit}
  VSSTRESN: {convert_unit: {value: _value, unit: VSORRESU, to: {by: VSTESTCD, units: {HEIGHT: cm, WEIGHT: kg}}, digits: 1}}
  VSDTC: {iso8601: {column: date, formats: ["%d.%m.%Y"]}}
derivations:
  dy: [{dtc: VSDTC, new_var: VSDY}]
  seq: {order: [VSDTC, VSTESTCD]}
"""


@pytest.fixture()
def mini_study(tmp_path):
    ctx = make_ctx(tmp_path, {"dm.yaml": DM, "vs.yaml": VS}, quarantine_gate={"max_share": 1.0})
    site = ctx.raw_dir / "site_101"
    site.mkdir()
    (site / "dm.csv").write_text("subj,Initials,sex,consent\n1,AB,Female,01.02.2020\n2,CD,X,03.02.2020\n,EF,Male,04.02.2020\n")
    (site / "vs.csv").write_text(
        "subj;date;ht;wt;wt_unit\n"
        "1;01.02.2020;165;64,5;kg\n"      # two records
        "1;01.02.2020;165;64,5;kg\n"      # exact duplicate of row 1
        "2;31.02.2020;;70;kg\n"           # impossible date
        "9;02.02.2020;;71;kg\n"           # no such subject in DM
        ";02.02.2020;;72;kg\n"            # missing subject number
        "1;05.02.2020;;141,1;LB\n"        # imperial weight
        "1;06.02.2020;;;\n")              # nothing measured
    (site / "notes.txt").write_text("not an export\n")
    run(ctx)
    return ctx


def test_ledger_balances_and_counts_each_reason(mini_study):
    ledger = json.loads(mini_study.ledger_path.read_text())
    vs = ledger["files"]["site_101/vs.csv"]
    assert vs["rows_read"] == 7
    counts = vs["domains"]["VS"]
    assert counts["rows_mapped"] == 2 and counts["records"] == 3
    assert counts["rows_quarantined"] == 5
    assert counts["quarantined_by_reason"] == {"empty record": 1, "exact duplicate": 1, "impossible date": 1,
                                               "missing key USUBJID": 1, "unknown subject": 1}
    assert ledger["balanced"] is True and check_ledger(ledger) == []
    assert ledger["unconsumed_files"] == ["site_101/notes.txt"]   # listed, never ignored silently


def test_quarantine_names_file_row_column_and_keeps_the_raw_record(mini_study):
    q = pd.read_parquet(mini_study.quarantine_dir / "vs.parquet").set_index("row")
    assert q.loc[2, "reason"] == "site_101/vs.csv row 2: exact duplicate of row 1"
    assert q.loc[3, "column"] == "date"
    assert q.loc[3, "reason"] == ("site_101/vs.csv row 3: impossible date '31.02.2020' (day 31 does not exist in 2020-02) "
                                  "in column date")
    assert json.loads(q.loc[3, "record"]) == {"date": "31.02.2020", "ht": "", "subj": "2", "wt": "70", "wt_unit": "kg"}
    assert q.loc[4, "reason"] == "site_101/vs.csv row 4: unknown subject 'CFZ533X2202-101-0009' (no DM record)"


def test_mapped_values_lineage_and_study_day(mini_study):
    vs = pd.read_parquet(mini_study.sdtm_dir / "vs.parquet")
    assert vs[["VSSEQ", "VSTESTCD", "VSORRES", "VSORRESU", "VSSTRESN", "VSDTC"]].values.tolist() == [
        [1.0, "HEIGHT", "165", "cm", 165.0, "2020-02-01"],
        [2.0, "WEIGHT", "64.5", "kg", 64.5, "2020-02-01"],
        [3.0, "WEIGHT", "141.1", "LB", 64.0, "2020-02-05"],
    ]
    lineage = pd.read_parquet(mini_study.lineage_dir / "vs.parquet")
    assert lineage[["SEQ", "SOURCE_FILE", "SOURCE_ROW"]].values.tolist() == [
        [1.0, "site_101/vs.csv", 1], [2.0, "site_101/vs.csv", 1], [3.0, "site_101/vs.csv", 6]]
    assert "_file" not in vs.columns and "_row" not in vs.columns


def test_quarantined_raw_record_drops_personal_fields(mini_study):
    q = pd.read_parquet(mini_study.quarantine_dir / "dm.parquet")
    assert q["reason"].tolist() == ["site_101/dm.csv row 3: missing key USUBJID"]
    assert json.loads(q["record"].iloc[0]) == {"consent": "04.02.2020", "sex": "Male", "subj": ""}


def test_unknown_code_flagged_is_kept_visible_not_changed(mini_study):
    dm = pd.read_parquet(mini_study.sdtm_dir / "dm.parquet").set_index("SUBJID")
    assert dm.loc["0002", "SEX"] == "X"
    flagged = pd.read_parquet(mini_study.quarantine_dir / "flagged" / "dm.parquet")
    assert flagged[["row", "column", "value", "category"]].values.tolist() == [[2, "sex", "X", "unknown code"]]


def test_unbalanced_ledger_is_detected():
    ledger = {"files": {"a.csv": {"rows_read": 5, "domains": {"VS": {"rows_mapped": 3, "rows_quarantined": 1}}}}}
    assert check_ledger(ledger) == ["a.csv -> VS: 5 rows read but 3 mapped + 1 quarantined"]


def test_transpose_counts_a_wide_row_once_and_keeps_item_order():
    spec = TransposeSpec(({"column": "A", "set": {"T": "a"}}, {"column": "B", "set": {"T": "b"}}), "_v", False,
                         Where(Path("x.yaml"), 1))
    long, empty = apply_transpose(pd.DataFrame({"A": ["1", "", ""], "B": ["2", "3", ""]}), spec)
    assert long[["T", "_v", "_wide_index"]].values.tolist() == [["a", "1", 0], ["b", "2", 0], ["b", "3", 1]]
    assert empty.tolist() == [False, False, True]


def test_transpose_leaves_unread_item_columns_out_of_the_long_frame():
    spec = TransposeSpec(({"column": "A", "set": {"T": "a"}}, {"column": "B", "set": {"T": "b"}}), "_v", False,
                         Where(Path("x.yaml"), 1))
    wide = pd.DataFrame({"S": ["s1", "s2"], "A": ["1", ""], "B": ["2", "3"]})
    long, _ = apply_transpose(wide, spec, unread=["A"])
    assert "A" not in long.columns and "B" in long.columns
    assert long[["S", "T", "_v", "B"]].values.tolist() == [["s1", "a", "1", "2"], ["s1", "b", "2", "2"],
                                                           ["s2", "b", "3", "3"]]


def test_names_by_last_reader_lists_each_name_at_its_last_reading_variable():
    applications = {
        "X": (Application("X", "assign", {"column": "a"}, None, "quarantine", Where(Path("x.yaml"), 1)),),
        "Y": (Application("Y", "concat", {"columns": ["X", "b"]}, {"column": "a", "equals": "1"}, "quarantine",
                          Where(Path("x.yaml"), 2)),),
        "Z": (Application("Z", "iso8601", {"column": "c", "time": "b"}, None, "quarantine", Where(Path("x.yaml"), 3)),),
    }
    assert _names_by_last_reader(applications) == {1: ["a", "X"], 2: ["b", "c"]}


@pytest.mark.parametrize(("reason", "category"), [
    ("unknown unit 'mg/dl?' in column unit", "unknown unit"),
    ("missing key LBORRES", "missing key LBORRES"),
    ("no TV record with VISIT='WEEK 99'", "no TV record with VISIT"),
    ("exact duplicate of row 12", "exact duplicate"),
])
def test_reason_categories(reason, category):
    assert reason_category(reason) == category


def test_missing_raw_directory_is_one_clear_error(tmp_path):
    ctx = make_ctx(tmp_path, {"dm.yaml": DM})
    ctx.raw_dir.rmdir()
    with pytest.raises(PipelineError, match="raw directory not found"):
        run(ctx)


UNSCHEDULED = """\
domain: VS
sources:
  - form: vs
    files: "site_*/vs.csv"
    subject: subj
required: [USUBJID]
variables:
  STUDYID: {hardcode: {design: study.studyid}}
  DOMAIN: {hardcode: VS}
  USUBJID: {concat: {columns: [STUDYID, _site, {column: subj, pad: 4}], sep: "-"}}
  VSTESTCD: {hardcode: WEIGHT}
  VSORRES: {assign: wt}
  VISIT: {assign: visit}
  VSDTC: {iso8601: date}
derivations:
  visit: {dtc: VSDTC}
  seq: {order: [VSDTC]}
"""


def test_unscheduled_visits_are_numbered_after_the_previous_planned_visit(tmp_path):
    ctx = make_ctx(tmp_path, {"dm.yaml": DM, "vs.yaml": UNSCHEDULED})
    site = ctx.raw_dir / "site_101"
    site.mkdir()
    (site / "dm.csv").write_text("subj,sex,consent\n1,Female,01.02.2020\n")
    (site / "vs.csv").write_text("subj,visit,date,wt\n1,Week 4,2020-03-30,64\n1,Unscheduled,2020-04-02,63\n"
                                 "1,UNSCHEDULED,2020-04-09,62\n1,week 8,2020-04-27,61\n")
    run(ctx)
    vs = pd.read_parquet(ctx.sdtm_dir / "vs.parquet")
    assert vs[["VISIT", "VISITNUM"]].values.tolist() == [["WEEK 4", 5.0], ["UNSCHEDULED 5.01", 5.01],
                                                         ["UNSCHEDULED 5.02", 5.02], ["WEEK 8", 6.0]]


def test_merge_source_without_rows_leaves_the_records_as_they_are() -> None:
    """A merge source export with a header and no rows (a site's file, or a Dask block's slice) merges nothing."""
    data = pd.DataFrame({"USUBJID": ["A", "B"], "SEX": ["F", "M"], "_file": "dm.csv", "_row": [1, 2]})
    extra = pd.DataFrame({name: pd.Series([], dtype=object) for name in ["USUBJID", "ARMCD", "_file", "_site"]})
    extra["_row"] = pd.Series([], dtype="int64")
    merged, rejected = merge_records("DM", data, extra, ("USUBJID",), Where(Path("dm.yaml"), 5))
    assert merged[["USUBJID", "SEX", "ARMCD"]].values.tolist() == [["A", "F", None], ["B", "M", None]]
    assert len(rejected) == 0
