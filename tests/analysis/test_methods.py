"""ARD rows of each analysis method on small hand-made ADaM frames, values checked by hand."""

import json
import math

import pandas as pd
import pytest

from pipeline.analysis.ard import ARD_COLUMNS, ard_value, read_ard, write_ard
from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
from pipeline.analysis.shell import check_shell
from pipeline.analysis.stage import build_output_ard
from pipeline.common.errors import ConfigError, InputError

DESIGN = {"arms": [{"armcd": "A", "trt": "Drug", "trtn": 1}, {"armcd": "P", "trt": "Placebo", "trtn": 2}]}


def adsl() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["1", "2", "3", "4", "5", "6"],
        "TRT01P": ["Drug", "Drug", "Drug", "Drug", "Placebo", "Placebo"],
        "TRT01A": ["Drug", "Drug", "Drug", "Drug", "Placebo", "Placebo"],
        "SAFFL": ["Y", "Y", "Y", "Y", "Y", "N"],
        "FASFL": ["Y"] * 6,
        "SEX": ["F", "M", "F", None, "F", "M"],
        "AGE": [30, 40, 50, 60, 45, 99],
    })


def adae() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["1", "1", "2", "3", "5", "6", "4"],
        "AESEQ": [1, 2, 1, 1, 1, 1, 1],
        "TRTEMFL": ["Y", "Y", "Y", "Y", "Y", "Y", None],
        "AESER": ["Y", "Y", "N", "Y", "N", "Y", "Y"],
        "AEBODSYS": ["SOC B", "SOC B", "SOC A", "SOC B", "SOC A", "SOC C", "SOC C"],
        "AEDECOD": ["PT 2", "PT 1", "PT 3", "PT 1", "PT 3", "PT 4", "PT 4"],
        "ASTDY": [10, 3, 5, 7, 9, 1, -2],
    })


def shell(rows, population="SAF", columns="actual", total=True, kind=None):
    output = {"title": "T", "population": population, "columns": columns, "total": total, "rows": rows}
    if kind:
        output["kind"] = kind
    return check_shell({
        "populations": {"SAF": {"flag": "SAFFL", "label": "Safety Set"}, "FAS": {"flag": "FASFL", "label": "FAS"}},
        "treatment_columns": {"actual": {"variable": "TRT01A"}, "planned": {"variable": "TRT01P"}},
        "comparison": {"reference_armcd": "P"},
        "outputs": {"t": output},
    }, "tlf.yaml")


def build(rows, **kwargs):
    data = {"adsl": adsl(), "adae": adae()}
    return build_output_ard(shell(rows, **kwargs), "t", DESIGN, data.__getitem__)


def test_subject_count_n_big_n_pct_and_events_by_hand():
    ard = build([{"id": "sae", "label": "SAE", "method": "subject_count", "dataset": "adae",
                  "where": {"TRTEMFL": "Y", "AESER": "Y"}}])
    assert list(ard.columns) == ARD_COLUMNS
    # Drug: subjects 1 (2 events) and 3 -> 2/4; Placebo: subject 6 is outside SAFFL -> 0/1
    assert ard_value(ard, "sae", "Drug", "n") == 2
    assert ard_value(ard, "sae", "Drug", "N") == 4
    assert ard_value(ard, "sae", "Drug", "pct") == 50.0
    assert ard_value(ard, "sae", "Drug", "events") == 3
    assert ard_value(ard, "sae", "Placebo", "n") == 0
    assert ard_value(ard, "sae", "Placebo", "pct") == 0.0
    assert ard_value(ard, "sae", "Total", "n") == 2
    assert ard_value(ard, "sae", "Total", "N") == 5
    assert ard_value(ard, "sae", "Total", "pct") == 40.0
    assert ard_value(ard, "big_n", "Placebo", "N") == 1


def test_soc_pt_rows_sorted_by_descending_total_then_alphabetically():
    ard = build([{"id": "soc_pt", "method": "soc_pt_counts", "dataset": "adae", "where": {"TRTEMFL": "Y"},
                  "soc": "AEBODSYS", "pt": "AEDECOD", "any_label": "Any"}])
    order = list(dict.fromkeys(ard.loc[ard["row_id"] != "big_n", "row_id"]))
    # SOC A and SOC B both have 2 subjects in Total -> alphabetical; SOC C only from excluded subjects
    assert order == ["ANY", "SOC A", "SOC A|PT 3", "SOC B", "SOC B|PT 1", "SOC B|PT 2"]
    assert ard_value(ard, "SOC B|PT 1", "Drug", "n") == 2
    assert ard_value(ard, "SOC B", "Drug", "n") == 2
    assert ard_value(ard, "SOC B", "Drug", "events") == 3
    assert ard_value(ard, "ANY", "Total", "n") == 4
    assert ard_value(ard, "SOC A|PT 3", "Placebo", "pct") == 100.0


def test_categorical_rows_use_submission_values_and_count_missing():
    ard = build([{"id": "SEX", "method": "categorical_summary", "variable": "SEX", "levels": ["F", "M"]}],
                population="FAS", columns="planned")
    order = list(dict.fromkeys(ard.loc[ard["row_id"] != "big_n", "row_id"]))
    assert order == ["SEX=F", "SEX=M", "SEX=(missing)"]
    assert ard_value(ard, "SEX=F", "Drug", "n") == 2
    assert ard_value(ard, "SEX=F", "Drug", "pct") == 50.0
    assert ard_value(ard, "SEX=(missing)", "Drug", "n") == 1
    assert ard_value(ard, "SEX=M", "Total", "n") == 2
    assert ard_value(ard, "SEX=M", "Total", "N") == 6


def test_continuous_rows_have_n_mean_sd_median_min_max():
    ard = build([{"id": "AGE", "method": "continuous_summary", "variable": "AGE"}], population="FAS",
                columns="planned", total=False)
    assert set(ard.loc[ard["row_id"] == "AGE", "stat"]) >= {"n", "mean", "sd", "median", "min", "max"}
    assert ard_value(ard, "AGE", "Drug", "mean") == 45.0
    assert ard_value(ard, "AGE", "Placebo", "max") == 99
    assert "Total" not in set(ard["group"])


def test_binary_response_uses_evaluable_subjects_as_denominator():
    adrs = pd.DataFrame({"USUBJID": ["1", "2", "3", "5"], "PARAMCD": "CRR", "AVALC": ["Y", "N", "N", "N"]})
    data = {"adsl": adsl(), "adrs": adrs}
    rows = [{"id": "crr", "method": "binary_response", "dataset": "adrs", "where": {"PARAMCD": "CRR"},
             "response": "AVALC", "responder": "Y"}]
    ard = build_output_ard(shell(rows, population="FAS", columns="planned", total=False), "t", DESIGN,
                           data.__getitem__)
    assert (ard_value(ard, "crr", "Drug", "n"), ard_value(ard, "crr", "Drug", "N")) == (1, 3)
    assert ard_value(ard, "crr", "Drug", "pct") == pytest.approx(100 / 3)
    assert ard_value(ard, "crr", "Placebo", "pct") == 0.0
    assert ard_value(ard, "crr", "Placebo", "lcl") == 0.0
    assert ard_value(ard, "crr", "Placebo", "ucl") == pytest.approx(97.5)  # 1 - 0.025 ** (1/1)


def test_binary_response_with_two_records_per_subject_names_the_subject():
    adrs = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": "CRR", "AVALC": ["Y", "N"]})
    rows = [{"id": "crr", "method": "binary_response", "dataset": "adrs", "response": "AVALC", "responder": "Y"}]
    with pytest.raises(InputError, match=r"rows\[crr\].*USUBJID = 1"):
        build_output_ard(shell(rows, population="FAS", columns="planned"), "t", DESIGN,
                         {"adsl": adsl(), "adrs": adrs}.__getitem__)


def test_filter_on_absent_variable_names_file_output_row_and_variable():
    rows = [{"id": "disc", "method": "subject_count", "dataset": "adae", "where": {"AEACN": "DRUG WITHDRAWN"}}]
    with pytest.raises(ConfigError, match=r"tlf.yaml: outputs.t.rows\[disc\]: dataset adae has no variable AEACN"):
        build(rows)


def test_listing_rows_in_arm_then_sort_order_with_record_ids():
    rows = [{"id": "l", "method": "listing", "dataset": "adae", "where": {"AESER": "Y"}, "sort": ["USUBJID", "ASTDY"],
             "record_id": ["USUBJID", "AESEQ"],
             "columns": [{"variable": "USUBJID"}, {"variable": "AEDECOD"}, {"variable": "ASTDY", "decimals": 0}]}]
    ard = build(rows, kind="listing", total=False)
    records = ard.loc[ard["row_id"] != "big_n"]
    assert list(dict.fromkeys(records["row_id"])) == ["1|2", "1|1", "3|1", "4|1"]
    assert records.loc[(records["row_id"] == "1|2") & (records["stat"] == "ASTDY"), "value"].item() == "3"


def test_listing_with_one_record_id_variable_uses_it_alone():
    rows = [{"id": "l", "method": "listing", "dataset": "adae", "where": {"AESER": "Y"}, "sort": ["USUBJID", "ASTDY"],
             "record_id": ["AEDECOD"], "columns": [{"variable": "USUBJID"}, {"variable": "AEDECOD"}]}]
    ard = build(rows, kind="listing", total=False)
    records = ard.loc[ard["row_id"] != "big_n"]
    terms = records.loc[records["stat"] == "AEDECOD"]
    assert terms["row_id"].tolist() == terms["value"].tolist() == ["PT 1", "PT 2", "PT 1", "PT 4"]


def test_ard_round_trip_and_json_null_for_nan(tmp_path):
    # one placebo subject in the safety set -> its SD is NaN
    ard = build([{"id": "AGE", "method": "continuous_summary", "variable": "AGE"}], total=False)
    write_ard(ard, tmp_path, "t")
    first = (tmp_path / "t.parquet").read_bytes(), (tmp_path / "t.json").read_bytes()
    write_ard(ard, tmp_path, "t")
    assert first == ((tmp_path / "t.parquet").read_bytes(), (tmp_path / "t.json").read_bytes())
    back = read_ard(tmp_path, "t")
    pd.testing.assert_frame_equal(back, ard)
    records = json.loads((tmp_path / "t.json").read_text())
    sd_placebo = [r for r in records if r["group"] == "Placebo" and r["stat"] == "sd"]
    assert sd_placebo == [{"output_id": "t", "row_id": "AGE", "row_label": "AGE", "group": "Placebo",
                           "stat": "sd", "value": None}]


def test_example_study_table1_against_hand_values():
    shell_ = example_shell()
    adam = example_adam()
    ard = build_output_ard(shell_, "table1", EXAMPLE_DESIGN, adam.__getitem__)
    assert ard_value(ard, "crr", "Active", "n") == 1 and ard_value(ard, "crr", "Active", "N") == 3
    # SLEDAI: arm means -3 and -1, baselines balanced around the overall mean -> LS means = means
    assert ard_value(ard, "sledai_chg", "Active", "mean") == -3.0
    assert ard_value(ard, "sledai_chg", "Placebo", "mean") == -1.0
    gmr = ard_value(ard, "upcr_rel_improvement", "Active", "gmr")
    pct = ard_value(ard, "upcr_rel_improvement", "Active", "pct")
    assert pct == pytest.approx((1 - gmr) * 100)
    ratio = ard_value(ard, "upcr_comparison", "Active", "ratio")
    assert ratio == pytest.approx(gmr / ard_value(ard, "upcr_rel_improvement", "Placebo", "gmr"))
    assert not math.isnan(ard_value(ard, "upcr_comparison", "Active", "pvalue"))


def test_adsl_without_population_flag_names_dataset_and_variable():
    data = {"adsl": adsl().drop(columns=["SAFFL"]), "adae": adae()}
    with pytest.raises(InputError, match=r"outputs.t: dataset adsl has no variable SAFFL"):
        build_output_ard(shell([{"id": "x", "method": "subject_count", "dataset": "adae"}]), "t", DESIGN,
                         data.__getitem__)


def test_subject_in_population_without_treatment_is_named():
    frame = adsl()
    frame.loc[1, "TRT01A"] = None
    with pytest.raises(InputError, match=r"USUBJID = 2: TRT01A is missing for a subject with SAFFL = Y"):
        build_output_ard(shell([{"id": "x", "method": "subject_count", "dataset": "adae"}]), "t", DESIGN,
                         {"adsl": frame, "adae": adae()}.__getitem__)
