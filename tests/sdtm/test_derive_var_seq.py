"""derive_var_seq: --SEQ numbering is 1..n per subject, ordered, deterministic under any input order."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_var_seq import derive_var_seq

AE = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S1", "S1", "S2", "S2", "S1"],
        "AETERM": ["Rash", "Nausea", "Fever", "Headache", "Cough", "Nausea"],
        "AESTDTC": ["2019-02-01", "2019-01-10", "2019-01-10", "2019-01-05", None, "2019-01"],
    }
)


def seq_by_term(frame: pd.DataFrame) -> dict:
    return {(u, t, d): s for u, t, d, s in zip(frame.USUBJID, frame.AETERM, frame.AESTDTC.fillna(""), frame.AESEQ)}


def test_seq_numbers_each_subject_from_one_in_date_order():
    out = derive_var_seq(AE, "AE", order=["AESTDTC", "AETERM"])
    assert out[["USUBJID", "AETERM", "AESEQ"]].values.tolist() == [
        ["S1", "Nausea", 1],  # partial 2019-01 sorts before 2019-01-10
        ["S1", "Fever", 2],
        ["S1", "Nausea", 3],
        ["S1", "Rash", 4],
        ["S2", "Headache", 1],
        ["S2", "Cough", 2],  # missing date sorts last
    ]
    assert out["AESEQ"].dtype == "int64"


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_seq_is_deterministic_under_shuffle(seed):
    expected = seq_by_term(derive_var_seq(AE, "AE", order="AESTDTC"))
    shuffled = AE.sample(frac=1, random_state=seed)
    out = derive_var_seq(shuffled, "AE", order="AESTDTC")
    assert seq_by_term(out) == expected
    assert out.equals(derive_var_seq(AE, "AE", order="AESTDTC"))


def test_seq_ties_on_order_are_broken_the_same_way_whatever_the_row_order():
    ties = pd.DataFrame({"USUBJID": ["S1"] * 4, "LBTESTCD": ["B", "A", "D", "C"], "LBDTC": ["2019-01-01"] * 4})
    first = derive_var_seq(ties, "LB", order="LBDTC")
    again = derive_var_seq(ties.iloc[[3, 1, 0, 2]], "LB", order="LBDTC")
    assert first["LBSEQ"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(first, again)


def test_seq_without_by_vars_numbers_the_whole_dataset():
    ts = pd.DataFrame({"TSPARMCD": ["B", "A", "C"]})
    assert derive_var_seq(ts, "TS", order="TSPARMCD", by_vars=())["TSSEQ"].tolist() == [1, 2, 3]


def test_seq_replaces_an_existing_seq_and_leaves_the_input_alone():
    before = AE.assign(AESEQ=99)
    copy = before.copy()
    out = derive_var_seq(before, "AE", order="AESTDTC")
    assert out["AESEQ"].max() == 4
    pd.testing.assert_frame_equal(before, copy)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"domain": "ae", "order": "AESTDTC"}, ConfigError, "not a two-character"),
        ({"domain": "AE", "order": "AENOPE"}, InputError, "missing column(s) AENOPE"),
        ({"domain": "AE", "order": []}, ConfigError, "order is empty"),
    ],
)
def test_seq_bad_arguments_name_the_culprit(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        derive_var_seq(AE, **kwargs)
