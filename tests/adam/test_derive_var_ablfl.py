import pandas as pd

from pipeline.adam.derive_var_extreme_flag import derive_var_ablfl


def _lb(rows):
    df = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "ADT", "AVAL", "TRTSDT", "SRCSEQ", "expected"])
    return df.assign(ADT=pd.to_datetime(df["ADT"]), TRTSDT=pd.to_datetime(df["TRTSDT"]))


def test_last_non_missing_on_or_before_first_dose():
    lb = _lb([
        ("1", "UPCR", "2024-01-01", 2.0, "2024-01-10", 1, None),
        ("1", "UPCR", "2024-01-08", 1.9, "2024-01-10", 2, None),
        ("1", "UPCR", "2024-01-10", None, "2024-01-10", 3, None),   # missing value on day 1: skipped
        ("1", "UPCR", "2024-01-24", 1.0, "2024-01-10", 4, None),   # after dose
        ("1", "EGFR", "2024-01-10", 80.0, "2024-01-10", 5, "Y"),   # on the first dose day counts
        ("2", "UPCR", "2024-02-01", 3.0, None, 1, None),           # never dosed: no baseline
    ])
    lb.loc[1, "expected"] = "Y"
    out = derive_var_ablfl(lb, ["USUBJID", "PARAMCD"], order=["ADT", "SRCSEQ"])
    assert out["ABLFL"].tolist() == lb["expected"].tolist()


def test_missing_baseline_when_only_post_dose_values():
    lb = _lb([("1", "UPCR", "2024-01-11", 2.0, "2024-01-10", 1, None)])
    assert derive_var_ablfl(lb, ["USUBJID", "PARAMCD"])["ABLFL"].tolist() == [None]


def test_same_day_tie_goes_to_later_sequence():
    lb = _lb([("1", "UPCR", "2024-01-08", 2.0, "2024-01-10", 2, None),
              ("1", "UPCR", "2024-01-08", 1.5, "2024-01-10", 1, None)])
    assert derive_var_ablfl(lb, ["USUBJID", "PARAMCD"], order=["ADT", "SRCSEQ"])["ABLFL"].tolist() == ["Y", None]


def test_filter_add_restricts_candidates():
    lb = _lb([("1", "UPCR", "2024-01-01", 2.0, "2024-01-10", 1, None),
              ("1", "UPCR", "2024-01-08", 1.5, "2024-01-10", 2, None)]).assign(VISIT=["BASELINE", "UNSCHEDULED 2.01"])
    out = derive_var_ablfl(lb, ["USUBJID", "PARAMCD"], filter_add="not startswith(VISIT, 'UNSCHED')")
    assert out["ABLFL"].tolist() == ["Y", None]


def test_character_values_count_when_not_blank():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["CAST"] * 2, "AVALC": ["POSITIVE", " "],
                       "ADT": pd.to_datetime(["2024-01-01", "2024-01-05"]), "TRTSDT": pd.to_datetime(["2024-01-10"] * 2)})
    out = derive_var_ablfl(lb, ["USUBJID", "PARAMCD"], analysis_var="AVALC")
    assert out["ABLFL"].tolist() == ["Y", None]
