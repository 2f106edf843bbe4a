import pandas as pd

from pipeline.adam.derive_locf_records import derive_locf_records

REF = pd.DataFrame({"PARAMCD": ["UPCR"] * 4, "AVISITN": [4.0, 5.0, 6.0, 10.0],
                    "AVISIT": ["WEEK 2", "WEEK 4", "WEEK 8", "WEEK 24"]})


def test_empty_windows_get_the_last_observed_value_with_its_date():
    adlb = pd.DataFrame({
        "USUBJID": ["1", "1", "1", "2"], "PARAMCD": ["UPCR"] * 4, "AVISITN": [4.0, 5.0, 6.0, 5.0],
        "AVISIT": ["WEEK 2", "WEEK 4", "WEEK 8", "WEEK 4"], "AVAL": [2.0, 1.5, None, 3.0],
        "ADT": pd.to_datetime(["2024-01-15", "2024-01-29", "2024-02-26", "2024-02-01"]),
        "ANL01FL": ["Y", "Y", "Y", "Y"],
    })
    out = derive_locf_records(adlb, REF, ["USUBJID", "PARAMCD"], ["AVISITN"], keep_vars=["ADT"],
                              filter_add="ANL01FL == 'Y'")
    added = out[out["DTYPE"] == "LOCF"].sort_values(["USUBJID", "AVISITN"])
    assert added[["USUBJID", "AVISIT", "AVAL"]].values.tolist() == [
        ["1", "WEEK 8", 1.5], ["1", "WEEK 24", 1.5], ["2", "WEEK 8", 3.0], ["2", "WEEK 24", 3.0]]
    assert added["ADT"].tolist()[:2] == [pd.Timestamp("2024-01-29")] * 2
    # nothing is carried before the first observation (subject 2, week 2); originals unchanged
    assert len(out) == 4 + 4
    assert out["DTYPE"].iloc[:4].isna().all()


def test_no_gaps_adds_nothing_but_dtype_column():
    adlb = pd.DataFrame({"USUBJID": ["1"] * 4, "PARAMCD": ["UPCR"] * 4, "AVISITN": REF["AVISITN"],
                         "AVISIT": REF["AVISIT"], "AVAL": [1.0, 2.0, 3.0, 4.0]})
    out = derive_locf_records(adlb, REF, ["USUBJID", "PARAMCD"], ["AVISITN"])
    assert len(out) == 4 and out["DTYPE"].isna().all()


def test_only_groups_with_a_gap_are_carried_and_other_parameters_are_left_alone():
    adlb = pd.DataFrame({
        "USUBJID": ["1", "1", "1", "1", "2"], "PARAMCD": ["UPCR", "EGFR", "EGFR", "UPCR", "UPCR"],
        "AVISITN": [4.0, 4.0, 5.0, 5.0, 4.0], "AVISIT": ["WEEK 2", "WEEK 2", "WEEK 4", "WEEK 4", "WEEK 2"],
        "AVAL": [2.0, 90.0, 80.0, 1.0, 5.0], "ANL01FL": ["Y"] * 5,
    })
    ref = pd.DataFrame({"PARAMCD": ["UPCR"] * 2, "AVISITN": [4.0, 5.0], "AVISIT": ["WEEK 2", "WEEK 4"]})
    out = derive_locf_records(adlb, ref, ["USUBJID", "PARAMCD"], ["AVISITN"], filter_add="ANL01FL == 'Y'")
    assert out.iloc[5:][["USUBJID", "PARAMCD", "AVISIT", "AVAL", "DTYPE"]].values.tolist() == [
        ["2", "UPCR", "WEEK 4", 5.0, "LOCF"]]
    assert out.iloc[:5].drop(columns="DTYPE").equals(adlb) and out["DTYPE"].iloc[:5].isna().all()
