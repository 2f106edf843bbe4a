"""Great Expectations suites built from expectations.yaml, on small hand-made frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.validate.conformance import ValidationData
from pipeline.validate.expectations import load_expectation_specs, resolve_reference, run_expectations
from pipeline.validate.schemas import prepare_dataset

from .conftest import clean_sdtm

DESIGN = {"study": {"start_date": "2024-01-01", "completion_date": "2024-12-31"},
          "arms": [{"armcd": "DRUG"}, {"armcd": "PBO"}], "eligibility": {"age": [18, 75], "upcr_min_mg_mg": 0.5},
          "visits": [{"visit": "SCREENING"}, {"visit": "WEEK 4"}]}

SPEC = """
expectations:
  - id: ISL-0201
    title: Age within the inclusion range
    dataset: DM
    filter: {ARMCD: $study:arms.armcd}
    expectation: expect_column_values_to_be_between
    kwargs: {column: AGE, min_value: $study:eligibility.age.0, max_value: $study:eligibility.age.1}
    severity: error
    message: "AGE {value} is outside {min_value}-{max_value}"
  - id: ISL-0205
    title: Baseline UPCR meets the inclusion threshold
    dataset: LB
    filter: {LBTESTCD: PROTCRT, VISIT: SCREENING}
    view_options: {numeric: [LBSTRESN]}
    expectation: expect_column_values_to_be_between
    kwargs: {column: LBSTRESN, min_value: $study:eligibility.upcr_min_mg_mg}
    severity: warning
    message: "Baseline UPCR {value} is below {min_value}"
  - id: ISL-0210
    title: Lab dates inside the study period
    dataset: LB
    view: dates
    view_options: {columns: [LBDTC]}
    expectation: expect_column_values_to_be_between
    kwargs: {column: LBDTC_DATE, min_value: $study:study.start_date, max_value: $study:study.completion_date}
    severity: error
    message: "{column} {value} is outside {min_value} to {max_value}"
  - id: ISL-0206
    title: UPCR complete at the visits that took place
    dataset: LB
    view: completeness_by_visit
    view_options: {test_var: LBTESTCD, tests: [PROTCRT], result_var: LBSTRESC, visits: $study:visits.visit}
    expectation: expect_column_values_to_be_between
    kwargs: {column: COMPLETENESS, min_value: 0.9}
    severity: warning
    message: "Completeness {value} is below {min_value}"
  - id: ISL-0216
    title: Visits in chronological order
    dataset: SV
    view: visit_order
    view_options: {date: SVSTDTC}
    expectation: expect_column_values_to_be_in_set
    kwargs: {column: VISIT_ORDER_OK, value_set: [true]}
    severity: warning
    message: "Visit starts before an earlier-numbered visit"
  - id: ISL-0209
    title: Result consistent with the subject's other results
    dataset: LB
    view: within_subject_ratio
    view_options: {value: LBSTRESN, by: [USUBJID, LBTESTCD], min_records: 3}
    expectation: expect_column_values_to_be_between
    kwargs: {column: RATIO, min_value: 0.1, max_value: 10}
    severity: warning
    message: "{column} {value} is far from the subject's median"
"""

COLUMNS = ["rule_id", "severity", "dataset", "variable", "usubjid", "record", "value"]


def sdtm_with_sv() -> dict[str, pd.DataFrame]:
    sdtm = clean_sdtm()
    sdtm["SV"] = pd.DataFrame({
        "STUDYID": ["TINY01"] * 4, "DOMAIN": ["SV"] * 4, "USUBJID": ["TINY01-001"] * 2 + ["TINY01-002"] * 2,
        "VISITNUM": [1.0, 3.0, 1.0, 3.0], "VISIT": ["SCREENING", "WEEK 4"] * 2,
        "SVSTDTC": ["2024-01-20", "2024-02-29", "2024-01-22", "2024-03-02"],
    })
    return sdtm


def findings(tmp_path: Path, sdtm: dict[str, pd.DataFrame], spec: str = SPEC) -> list[list]:
    path = tmp_path / "expectations.yaml"
    path.write_text(spec, encoding="utf-8")
    specs, _ = load_expectation_specs(path, DESIGN)
    data = ValidationData({k: prepare_dataset(v) for k, v in sdtm.items()}, {})
    found = run_expectations(data, specs)
    out = found[COLUMNS].astype(object).where(found[COLUMNS].notna(), None)
    return sorted(out.values.tolist(), key=lambda r: [str(x) for x in r])


@pytest.fixture(scope="module")
def gx_imported() -> None:
    import great_expectations  # noqa: F401  (import once per module: it is slow)


def test_clean_data_meets_every_expectation(tmp_path: Path, gx_imported: None) -> None:
    assert findings(tmp_path, sdtm_with_sv()) == []


def test_age_outside_inclusion_range_uses_study_yaml_limits(tmp_path: Path, gx_imported: None) -> None:
    sdtm = sdtm_with_sv()
    sdtm["DM"].loc[1, "AGE"] = 76.0
    sdtm["DM"].loc[2, "AGE"] = 90.0  # screen failure: outside the filter
    assert findings(tmp_path, sdtm) == [["ISL-0201", "error", "DM", "AGE", "TINY01-002", 2, "76"]]


def test_baseline_upcr_below_threshold_is_a_warning(tmp_path: Path, gx_imported: None) -> None:
    sdtm = sdtm_with_sv()
    sdtm["LB"].loc[0, ["LBSTRESC", "LBSTRESN"]] = ["0.4", 0.4]
    assert findings(tmp_path, sdtm) == [["ISL-0205", "warning", "LB", "LBSTRESN", "TINY01-001", 1, "0.4"]]


def test_date_outside_study_period_reports_the_iso_text(tmp_path: Path, gx_imported: None) -> None:
    sdtm = sdtm_with_sv()
    sdtm["LB"].loc[3, "LBDTC"] = "2025-01-02T10:00"
    assert findings(tmp_path, sdtm) == [["ISL-0210", "error", "LB", "LBDTC", "TINY01-002", 4, "2025-01-02T10:00"]]


def test_missing_result_at_a_visit_that_took_place_lowers_completeness(tmp_path: Path, gx_imported: None) -> None:
    sdtm = sdtm_with_sv()
    sdtm["LB"] = sdtm["LB"].drop(index=3).reset_index(drop=True)  # subject 002 had WEEK 4 but no UPCR
    got = findings(tmp_path, sdtm)
    assert got == [["ISL-0206", "warning", "LB", "COMPLETENESS", None, None, "0.5"]]


def test_visit_out_of_chronological_order(tmp_path: Path, gx_imported: None) -> None:
    sdtm = sdtm_with_sv()
    sdtm["SV"].loc[1, "SVSTDTC"] = "2024-01-10"  # WEEK 4 before SCREENING
    assert findings(tmp_path, sdtm) == [["ISL-0216", "warning", "SV", "VISIT_ORDER_OK", "TINY01-001", 2, "False"]]


def test_value_hundred_times_the_subjects_median_is_flagged(tmp_path: Path, gx_imported: None) -> None:
    lb = pd.DataFrame({
        "STUDYID": ["TINY01"] * 4, "DOMAIN": ["LB"] * 4, "USUBJID": ["TINY01-001"] * 4, "LBSEQ": [1.0, 2.0, 3.0, 4.0],
        "LBTESTCD": ["C3"] * 4, "LBSTRESN": [1.1, 1.0, 110.0, 0.9], "VISIT": ["X"] * 4, "LBDTC": ["2024-02-01"] * 4,
    })
    sdtm = sdtm_with_sv()
    sdtm["LB"] = lb
    assert findings(tmp_path, sdtm) == [["ISL-0209", "warning", "LB", "LBSTRESN", "TINY01-001", 3, "110"]]


def test_reference_to_missing_study_fact_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\$study:eligibility.weight.0: study.yaml has no 'eligibility.weight.0'"):
        resolve_reference("$study:eligibility.weight.0", DESIGN)


def test_unknown_expectation_type_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("expectations:\n  - {id: X, title: t, dataset: DM, expectation: expect_magic, severity: error}\n")
    with pytest.raises(ConfigError, match=r"e.yaml:line 2: expectation 'expect_magic' is not supported"):
        load_expectation_specs(path, DESIGN)


def test_filter_on_a_column_the_dataset_lacks_is_logged_not_silent(monkeypatch):
    from pipeline.validate import expectations
    from pipeline.validate.expectations import ExpectationSpec, iter_views
    from pipeline.validate.rules import Rule

    warnings = []
    monkeypatch.setattr(expectations.log, "warning", lambda message, *args: warnings.append(message % args))
    spec = ExpectationSpec(Rule("ISL-0299", "t", "d", "m", "error", "great_expectations"), "DM",
                           "expect_column_values_to_not_be_null", {"column": "AGE"},
                           filter={"ARMCDX": ["A"]}, line=12)
    data = ValidationData({"DM": pd.DataFrame({"ARMCD": ["A"], "AGE": [40]})}, {})
    assert list(iter_views(data, [spec])) == []  # the filter keeps no record
    assert warnings == ["expectations.yaml line 12: ISL-0299 filters on ARMCDX, not a column of DM: "
                        "no record is checked"]


@pytest.mark.parametrize("row_filter, problem", [
    ("{ARMCD: {not_in: [A]}}", r"e.yaml:3: expectation X filter: filter on ARMCD must be a value, a list or one of"),
    ("\"ARMCD.isin(['A'])\"", r"e.yaml:3: expectation X filter: expression .*'\.isin' is not part of the expression language"),
    ("\"__import__('os')\"", r"e.yaml:3: expectation X filter: expression"),
])
def test_a_bad_filter_is_refused_at_load_with_file_and_line(tmp_path: Path, row_filter: str, problem: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("expectations:\n  - {id: X, title: t, dataset: DM, expectation: expect_column_values_to_not_be_null,\n"
                    f"     filter: {row_filter}, severity: error}}\n")
    with pytest.raises(ConfigError, match=problem):
        load_expectation_specs(path, DESIGN)


def test_filters_are_expressions_of_the_one_language(tmp_path: Path) -> None:
    from pipeline.validate.expectations import filter_records

    path = tmp_path / "e.yaml"
    path.write_text("expectations:\n"
                    "  - {id: A, title: t, dataset: DM, expectation: expect_column_values_to_not_be_null,\n"
                    "     filter: {ARMCD: $study:arms.armcd, AGE: {notnull: true}}, severity: error}\n"
                    "  - {id: B, title: t, dataset: DM, expectation: expect_column_values_to_not_be_null,\n"
                    "     filter: \"ARMCD == 'PBO' and AGE >= 18\", severity: error}\n")
    (mapping, text), _ = load_expectation_specs(path, DESIGN)
    dm = pd.DataFrame({"ARMCD": ["DRUG", "PBO", "SCRNFAIL", "PBO"], "AGE": [40, 17, 50, None]})
    assert filter_records(dm, mapping.where).tolist() == [True, True, False, False]
    assert filter_records(dm, text.where).tolist() == [False, False, False, False]
    assert filter_records(dm.assign(AGE=[40, 30, 50, 20]), text.where).tolist() == [False, True, False, True]


def _spec_items(tmp_path: Path) -> list:
    path = tmp_path / "expectations.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return load_expectation_specs(path, DESIGN)[0]


def _sdtm_with_findings() -> dict[str, pd.DataFrame]:
    sdtm = sdtm_with_sv()
    sdtm["DM"].loc[1, "AGE"] = 76.0
    sdtm["LB"].loc[3, "LBDTC"] = "2025-01-02T10:00"
    sdtm["SV"].loc[1, "SVSTDTC"] = "2024-01-10"
    return {name: prepare_dataset(frame) for name, frame in sdtm.items()}


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("max_pending_bytes", [0, 256 * 2**20])
def test_views_sent_one_by_one_to_a_worker_give_the_in_process_findings_and_data_docs(
        tmp_path: Path, gx_imported: None, monkeypatch: pytest.MonkeyPatch, max_pending_bytes: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.validate import expectations
    from pipeline.validate.expectations import ExpectationRun

    monkeypatch.setattr(expectations, "MAX_PENDING_BYTES", max_pending_bytes)  # 0: wait for each view
    specs, sdtm = _spec_items(tmp_path), _sdtm_with_findings()
    here = run_expectations(ValidationData(sdtm, {}), specs, tmp_path / "here")
    with ThreadPoolExecutor(max_workers=1) as worker:   # one worker, tasks in order, as the GX worker process
        run = ExpectationRun(ValidationData(sdtm, {}), specs, tmp_path / "worker", executor=worker)
        sent = run.findings()
        assert run.done()
    pd.testing.assert_frame_equal(sent, here)
    assert sorted(sent["rule_id"]) == ["ISL-0201", "ISL-0210", "ISL-0216"]
    assert _digests(tmp_path / "worker") == _digests(tmp_path / "here") != {}
    assert expectations._WORKER_SESSIONS == {}   # the worker forgets a run once its Data Docs are built


def test_a_view_sent_to_the_worker_keeps_only_what_gx_and_the_findings_read() -> None:
    from pipeline.validate.expectations import ExpectationSpec, PreparedView
    from pipeline.validate.rules import Rule

    spec = ExpectationSpec(Rule("ISL-0210", "t", "d", "m", "error", "great_expectations"), "LB", "",
                           {"column": "LBDTC_DATE"}, view="dates", view_options={"columns": ["LBDTC"]})
    frame = pd.DataFrame({"USUBJID": ["S-1"], "VISITNUM": [1.0], "LBDTC": ["2024-01-01"], "__record": [1],
                          "LBDTC_DATE": pd.to_datetime(["2024-01-01"])})
    sent = PreparedView("006_lb_dates", frame, [spec]).for_findings()
    assert list(sent.frame.columns) == ["USUBJID", "LBDTC", "__record", "LBDTC_DATE"]


def test_an_unfiltered_view_shares_the_text_of_the_dataset() -> None:
    from pipeline.validate.expectations import ExpectationSpec, view_records
    from pipeline.validate.rules import Rule

    lb = prepare_dataset(pd.DataFrame({"USUBJID": ["S-1", "S-2"], "LBDTC": ["2024-01-01", "2024-13-01"]}))
    spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "LB", "", {},
                           view_options={"columns": ["LBDTC"]})
    view = view_records(ValidationData({"LB": lb}, {}), spec, {"USUBJID", "LBDTC"})
    assert view["__record"].tolist() == [1, 2]
    assert view["LBDTC_DATE"].astype(str).tolist() == ["2024-01-01", "NaT"]
    assert view["USUBJID"].array._pa_array.chunks[0].buffers()[2].address == \
        lb["USUBJID"].array._pa_array.chunks[0].buffers()[2].address   # no copy of the text


def test_ratio_groups_join_the_text_of_each_distinct_combination() -> None:
    from pipeline.validate.expectations import _text_key_groups

    frame = pd.DataFrame({"A": pd.Series(["x", "x", "y", None, "x"], dtype="string[pyarrow]"),
                          "B": [1.0, 1.0, 1.0, 2.0, 2.0]})
    assert _text_key_groups(frame, ["A", "B"]).tolist() == [0, 0, 1, 2, 3]
    assert _text_key_groups(frame, ["A"]).tolist() == [0, 0, 1, 2, 0]


def test_the_gx_workers_modules_do_not_import_pandera() -> None:
    """The worker process imports only GX and what a view needs: pandera would add to the time before it starts."""
    import subprocess
    import sys

    code = "import sys, pipeline.validate.expectations; print('pandera' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
