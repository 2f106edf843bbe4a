import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_extreme_flag import derive_var_extreme_flag


@pytest.fixture()
def ae():
    return pd.DataFrame({
        "USUBJID": ["1", "1", "1", "1", "2", "2"],
        "AEBODSYS": ["INF", "INF", "GI", "INF", "GI", "GI"],
        "AEDECOD": ["NASO", "UTI", "NAUSEA", "NASO", "NAUSEA", "NAUSEA"],
        "ASTDT": pd.to_datetime(["2024-02-01", "2024-01-15", "2024-01-15", "2024-03-01", None, "2024-05-01"]),
        "AESEQ": [1, 2, 3, 4, 1, 2],
        "TRTEMFL": ["Y", "Y", "Y", "Y", "Y", None],
    })


@pytest.mark.parametrize("by_vars, expected", [
    (["USUBJID"], ["", "Y", "", "", "Y", ""]),
    (["USUBJID", "AEBODSYS"], ["", "Y", "Y", "", "Y", ""]),
    (["USUBJID", "AEBODSYS", "AEDECOD"], ["Y", "Y", "Y", "", "Y", ""]),
])
def test_occurrence_flags_first_teae_by_date_then_seq(ae, by_vars, expected):
    out = derive_var_extreme_flag(ae, by_vars, ["ASTDT", "AESEQ"], "AOCCFL", mode="first", filter_add="TRTEMFL == 'Y'")
    assert out["AOCCFL"].fillna("").tolist() == expected


def test_missing_order_value_sorts_last(ae):
    out = derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT"], "LASTFL", mode="last")
    # subject 2: the missing date sorts after 2024-05-01, so it is the "last"
    assert out["LASTFL"].fillna("").tolist() == ["", "", "", "Y", "Y", ""]


def test_ties_first_keeps_earlier_input_row_unless_flag_all(ae):
    one = derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT"], "FL", mode="first")
    assert one["FL"].fillna("").tolist()[:4] == ["", "Y", "", ""]
    tied = derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT"], "FL", mode="first", flag_all=True)
    assert tied["FL"].fillna("").tolist()[:4] == ["", "Y", "Y", ""]


def test_descending_order_and_false_value(ae):
    out = derive_var_extreme_flag(ae, ["USUBJID"], ["desc(AESEQ)"], "MAXSEQFL", mode="first", false_value="N")
    assert out["MAXSEQFL"].tolist() == ["N", "N", "N", "Y", "N", "Y"]


def test_bad_mode_is_named(ae):
    with pytest.raises(DerivationError, match="mode must be 'first' or 'last', got 'middle'"):
        derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT"], "FL", mode="middle")


def test_bad_filter_is_named(ae):
    with pytest.raises(DerivationError, match="filter_add: expression 'NOPE == 1': unknown variable NOPE"):
        derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT"], "FL", filter_add="NOPE == 1")


def test_duplicate_index_labels_flag_only_the_extreme_row():
    # e.g. a frame stacked with pd.concat without ignore_index: labels 0, 0, 1
    adlb = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ADY": [1.0, 2.0, 3.0]}, index=[0, 0, 1])
    last = derive_var_extreme_flag(adlb, ["USUBJID"], ["ADY"], "LASTFL", mode="last")
    assert last["LASTFL"].tolist() == [None, "Y", "Y"]
    tied = derive_var_extreme_flag(adlb.assign(ADY=1.0), ["USUBJID"], ["ADY"], "FL", mode="first", flag_all=True)
    assert tied["FL"].tolist() == ["Y", "Y", "Y"]
    assert tied.index.tolist() == [0, 0, 1]
