import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_vars_merged import derive_vars_merged


@pytest.fixture()
def adsl():
    return pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["1", "2", "3"]})


@pytest.fixture()
def ex():
    return pd.DataFrame({
        "STUDYID": ["S"] * 5, "USUBJID": ["1", "1", "1", "2", "2"],
        "EXSEQ": [1, 2, 3, 1, 2],
        "EXSTDT": pd.to_datetime(["2024-01-15", "2024-01-01", "2024-01-29", "2024-02-01", None]),
        "EXDOSE": [600.0, 0.0, 610.0, 700.0, 700.0],
    })


def test_first_by_order_after_filter_renames_and_keeps_rows(adsl, ex):
    out = derive_vars_merged(adsl, ex, by_vars=["STUDYID", "USUBJID"], order=["EXSTDT", "EXSEQ"], mode="first",
                             filter_add="EXDOSE > 0 and notna(EXSTDT)", new_vars={"TRTSDT": "EXSTDT"})
    assert out["USUBJID"].tolist() == ["1", "2", "3"]
    assert out["TRTSDT"].tolist() == [pd.Timestamp("2024-01-15"), pd.Timestamp("2024-02-01"), pd.NaT]


def test_last_by_order_ignores_missing_dates_at_the_end(adsl, ex):
    out = derive_vars_merged(adsl, ex, by_vars=["USUBJID"], order=["EXSTDT"], mode="last",
                             filter_add="notna(EXSTDT)", new_vars={"TRTEDT": "EXSTDT"})
    assert out["TRTEDT"].tolist()[:2] == [pd.Timestamp("2024-01-29"), pd.Timestamp("2024-02-01")]


def test_missing_values_and_exist_flag_for_unmatched(adsl, ex):
    out = derive_vars_merged(adsl, ex, by_vars=["USUBJID"], order=["EXSEQ"], mode="first",
                             new_vars={"FIRSTDOSE": "EXDOSE"}, missing_values={"FIRSTDOSE": 0.0},
                             exist_flag="EXFL", false_value="N")
    assert out["FIRSTDOSE"].tolist() == [600.0, 700.0, 0.0]
    assert out["EXFL"].tolist() == ["Y", "Y", "N"]


def test_by_vars_mapping_joins_differently_named_keys():
    dm = pd.DataFrame({"SITEID": ["101", "501"]})
    sites = pd.DataFrame({"siteid": ["101", "501"], "region": ["EUROPE", "ASIA"]})
    out = derive_vars_merged(dm, sites, by_vars={"SITEID": "siteid"}, new_vars={"REGION1": "region"})
    assert out.columns.tolist() == ["SITEID", "REGION1"]
    assert out["REGION1"].tolist() == ["EUROPE", "ASIA"]


def test_duplicates_without_order_name_the_group(adsl, ex):
    with pytest.raises(DerivationError, match=r"more than one record per USUBJID \(e\.g\. \{'USUBJID': '1'\}\)"):
        derive_vars_merged(adsl, ex, by_vars=["USUBJID"], new_vars=["EXDOSE"])


def test_existing_variable_is_not_overwritten(adsl, ex):
    with pytest.raises(DerivationError, match="variable STUDYID already exists"):
        derive_vars_merged(adsl, ex.drop_duplicates("USUBJID"), by_vars=["USUBJID"], new_vars=["STUDYID"])


def test_missing_key_column_names_the_dataset(adsl, ex):
    with pytest.raises(DerivationError, match="dataset_add: required variable SUBJID is missing"):
        derive_vars_merged(adsl.assign(SUBJID="x"), ex, by_vars=["SUBJID"])


def test_caller_frame_is_not_mutated(adsl, ex):
    before = adsl.copy()
    derive_vars_merged(adsl, ex, by_vars=["USUBJID"], order=["EXSEQ"], mode="last", new_vars=["EXDOSE"])
    pd.testing.assert_frame_equal(adsl, before)


def test_index_of_dataset_is_preserved(ex):
    adsl = pd.DataFrame({"USUBJID": ["2", "1"]}, index=[7, 3])
    out = derive_vars_merged(adsl, ex, by_vars=["USUBJID"], order=["EXSEQ"], mode="first", new_vars=["EXSEQ"])
    assert out.index.tolist() == [7, 3]
    assert out["EXSEQ"].tolist() == [1, 1]


def test_text_and_numeric_keys_still_match():
    dm = pd.DataFrame({"SITEID": ["101", "501"], "N": [1.0, 2.0]})
    sites = pd.DataFrame({"siteid": [101, 501], "region": ["EUROPE", "ASIA"]})
    assert derive_vars_merged(dm, sites, by_vars={"SITEID": "siteid"}, new_vars={"R": "region"})["R"].tolist() == \
        ["EUROPE", "ASIA"]
    arms = pd.DataFrame({"trtn": ["1", "2"], "trt": ["A", "B"]})
    out = derive_vars_merged(dm, arms, by_vars={"N": "trtn"}, new_vars={"TRT": "trt"})
    assert out["TRT"].tolist() == ["A", "B"] and out["N"].dtype == float
