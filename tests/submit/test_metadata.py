import datetime as dt

import pandas as pd
import pytest

from pipeline.submit.metadata import (build_dataset_meta, build_variable_meta, compute_decimals,
                                      compute_variable_kind, load_standard_origins,
                                      load_standard_variables)
from pipeline.common.study import StudyContext
from pipeline.standards.tables import submission_datasets

STANDARDS = StudyContext.create("iscalimab-ln").standards_dir


@pytest.fixture(scope="module")
def standard_variables():
    return load_standard_variables(STANDARDS)


def meta_of(name, columns, stored_label=None):
    return build_dataset_meta(name, columns, {}, submission_datasets(), stored_label)


def test_label_sources_in_order_study_spec_standard_parquet_generic_fallback(standard_variables):
    frame = pd.DataFrame({"AETERM": ["x"], "AESEV": ["MILD"], "AEXYZ": ["1"], "AENEWVAR": ["1"], "VISITNUM": [1.0]})
    study = pd.DataFrame({"dataset": ["AE"], "variable": ["AESEV"], "label": ["Severity (study wording)"]})
    meta = meta_of("AE", list(frame.columns))
    out = build_variable_meta(meta, frame, standard_variables, study, {"AEXYZ": "Stored Label"},
                              load_standard_origins()["sdtm"]).set_index("variable")
    assert out.loc["AESEV", ["label", "label_source"]].tolist() == ["Severity (study wording)", "study spec"]
    assert out.loc["AETERM", ["label", "label_source"]].tolist() == ["Reported Term for the Adverse Event", "standard"]
    assert out.loc["AEXYZ", ["label", "label_source"]].tolist() == ["Stored Label", "parquet"]
    assert out.loc["AENEWVAR", ["label", "label_source"]].tolist() == ["AENEWVAR", "fallback"]


def test_generic_labels_cover_domains_missing_from_the_standard_table(standard_variables):
    frame = pd.DataFrame({"STUDYID": ["S"], "XXSEQ": [1.0]})
    out = build_variable_meta(meta_of("XX", ["STUDYID", "XXSEQ"]), frame, standard_variables, pd.DataFrame(), {},
                              load_standard_origins()["sdtm"]).set_index("variable")
    assert out.loc["XXSEQ", ["label", "label_source"]].tolist() == ["Sequence Number", "standard (generic --)"]


def test_sdtm_origins_keys_and_mandatory_follow_the_standard(standard_variables):
    frame = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["AE"], "USUBJID": ["S-1"], "AESEQ": [1.0],
                          "AEDECOD": ["Nausea"], "AESTDTC": ["2020-01-02"], "AESTDY": [3.0], "AETERM": ["nausea"]})
    out = build_variable_meta(meta_of("AE", list(frame.columns)), frame, standard_variables, pd.DataFrame(), {},
                              load_standard_origins()["sdtm"]).set_index("variable")
    assert out.loc["AESTDY", "origin"] == "Derived" and "no day 0" in out.loc["AESTDY", "method"]
    assert out.loc["DOMAIN", ["origin", "origin_source"]].tolist() == ["Assigned", "Sponsor"]
    assert out.loc["AETERM", ["origin", "origin_source"]].tolist() == ["Collected", "Investigator"]
    assert out["key_sequence"].dropna().astype(int).to_dict() == {"STUDYID": 1, "USUBJID": 2, "AEDECOD": 3, "AESTDTC": 4}
    assert out.loc["AETERM", "mandatory"] == "Yes" and out.loc["AESTDY", "mandatory"] == "No"
    assert out.loc["AESTDTC", "define_type"] == "date" and out.loc["AESEQ", "kind"] == "integer"


def test_dataset_meta_for_split_and_supplemental_and_unknown_adam_datasets():
    lbch = meta_of("LBCH", ["STUDYID", "USUBJID", "LBTESTCD"], stored_label="Laboratory Tests Results (Chemistry)")
    assert (lbch.label, lbch.dataset_class, lbch.keys) == ("Laboratory Tests Results (Chemistry)", "FINDINGS",
                                                           ("STUDYID", "USUBJID", "LBTESTCD"))
    supp = meta_of("SUPPDM", ["STUDYID", "RDOMAIN", "USUBJID", "QNAM"])
    assert supp.label == "Supplemental Qualifiers for DM" and supp.purpose == "Tabulation"
    adxx = build_dataset_meta("ADXX", ["STUDYID", "USUBJID", "PARAMCD", "ASEQ"], {"ADXX": {"class": "BDS"}},
                              submission_datasets())
    assert (adxx.dataset_class, adxx.purpose, adxx.label_source) == ("BASIC DATA STRUCTURE", "Analysis", "fallback")


@pytest.mark.parametrize("values, kind", [
    (["a", None], "char"),
    ([1.0, None, 3.0], "integer"),
    ([1.5, 2.0], "float"),
    ([dt.date(2020, 1, 2), None], "date"),
    ([dt.datetime(2020, 1, 2, 8, 30)], "datetime"),
    ([dt.time(8, 30)], "time"),
    ([None, None], "char"),
])
def test_compute_variable_kind(values, kind):
    assert compute_variable_kind(pd.Series(values)) == kind


def test_compute_variable_kind_of_datetime64_at_midnight_is_a_date():
    assert compute_variable_kind(pd.Series(pd.to_datetime(["2020-01-02", None]))) == "date"
    assert compute_variable_kind(pd.Series(pd.to_datetime(["2020-01-02 10:00"]))) == "datetime"


def test_compute_decimals_ignores_binary_noise():
    assert compute_decimals(pd.Series([4.1, 13.0, 0.1 + 0.2])) == 1
    assert compute_decimals(pd.Series([1.0, 2.0])) is None
