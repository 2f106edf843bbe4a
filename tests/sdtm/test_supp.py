"""SUPP-- building and long-text splitting (SDTMIG 4.5.3)."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.supp import SUPP_COLUMNS, build_supp, split_long_text

AE = pd.DataFrame(
    {
        "STUDYID": "X",
        "USUBJID": ["S1", "S1", "S2"],
        "AESEQ": [2, 10, 1],
        "AETRTEM": ["Y", None, "Y"],
        "AESPEC": ["", "Rash on arms", None],
        "AEDOSE": [10.0, None, 2.5],
    }
)
SPECS = [
    {"qnam": "AETRTEM", "qlabel": "Treatment Emergent Flag", "qorig": "Derived"},
    {"qnam": "AESPEC", "qlabel": "Specify Event"},
    {"qnam": "AEDOSEX", "qlabel": "Dose at Onset", "source": "AEDOSE", "qorig": "Assigned", "qeval": "SPONSOR"},
]


def test_supp_has_one_row_per_record_per_non_null_qnam():
    supp = build_supp(AE, "AE", SPECS)
    assert list(supp.columns) == SUPP_COLUMNS
    assert supp[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL", "QORIG"]].values.tolist() == [
        ["S1", "AESEQ", "2", "AETRTEM", "Y", "Derived"],
        ["S1", "AESEQ", "2", "AEDOSEX", "10", "Assigned"],
        ["S1", "AESEQ", "10", "AESPEC", "Rash on arms", "CRF"],  # IDVARVAL sorted as a number
        ["S2", "AESEQ", "1", "AETRTEM", "Y", "Derived"],
        ["S2", "AESEQ", "1", "AEDOSEX", "2.5", "Assigned"],
    ]
    assert (supp["RDOMAIN"] == "AE").all() and supp.loc[1, "QEVAL"] == "SPONSOR"


def test_suppdm_is_subject_level():
    dm = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1", "S2"], "RACE1": ["ASIAN", None]})
    supp = build_supp(dm, "DM", [{"qnam": "RACE1", "qlabel": "Race 1"}])
    assert supp[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]].values.tolist() == [["S1", None, None, "RACE1", "ASIAN"]]


def test_supp_long_qval_continues_in_numbered_qnams():
    text = "word " * 100  # 500 characters
    frame = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1"], "CMSEQ": [1], "CMCOMM": [text]})
    supp = build_supp(frame, "CM", [{"qnam": "CMCOMM", "qlabel": "Comment"}])
    assert supp["QNAM"].tolist() == ["CMCOMM", "CMCOMM1", "CMCOMM2"]
    assert supp["QLABEL"].tolist() == ["Comment", "Comment 1", "Comment 2"]
    assert supp["QVAL"].str.len().max() <= 200
    assert " ".join(supp["QVAL"]) == text.strip()


def test_supp_is_empty_with_the_standard_columns_when_nothing_to_write():
    supp = build_supp(AE.assign(AETRTEM=None), "AE", SPECS[:1])
    assert supp.empty and list(supp.columns) == SUPP_COLUMNS


@pytest.mark.parametrize(
    "specs, message",
    [
        ([{"qnam": "AE_TRTEM", "qlabel": "x", "source": "AETRTEM"}], "not a valid SDTM name"),
        ([{"qnam": "AETRTEM", "qlabel": "x" * 41}], "qlabel"),
        ([{"qnam": "AETRTEM", "qlabel": "x"}, {"qnam": "AETRTEM", "qlabel": "y"}], "QNAM repeated"),
    ],
)
def test_supp_bad_specs_are_config_errors(specs, message):
    with pytest.raises(ConfigError, match=message):
        build_supp(AE, "AE", specs)


def test_supp_parent_seq_must_be_unique_per_subject():
    with pytest.raises(InputError, match="AESEQ is not unique"):
        build_supp(AE.assign(AESEQ=1), "AE", SPECS[:1])


@pytest.mark.parametrize(
    "text, width, pieces",
    [
        ("abc", 5, ["abc"]),
        ("abcdefgh", 3, ["abc", "def", "gh"]),  # no space: hard cut
        ("ab cd ef", 5, ["ab cd", "ef"]),
        ("ab cd ef", 4, ["ab", "cd", "ef"]),
        ("é" * 3, 4, ["éé", "é"]),  # width counts UTF-8 bytes
    ],
)
def test_split_long_text_table(text, width, pieces):
    out = split_long_text(pd.Series([text]), width).iloc[0]
    assert [p for p in out.tolist() if p is not None] == pieces
