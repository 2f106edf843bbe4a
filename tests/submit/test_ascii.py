import pandas as pd
import pytest

from pipeline.submit.ascii import compute_ascii_text, derive_vars_ascii


@pytest.mark.parametrize("original, expected", [
    ("\u00b5mol/L", "umol/L"),
    ("Ren\u00e9e M\u00fcller", "Renee Muller"),
    ("Alzheimer\u2019s", "Alzheimer's"),
    ("\u201cquoted\u201d", '"quoted"'),
    ("10\u00a0mg", "10 mg"),
    ("2\u20133 days", "2-3 days"),
    ("\u2265 60", ">= 60"),
    ("Stra\u00dfe", "Strasse"),
    ("\u4e2d", "?"),
    ("line\nbreak", "line break"),
    ("plain ASCII", "plain ASCII"),
])
def test_compute_ascii_text_spells_each_character(original, expected):
    assert compute_ascii_text(original) == expected


def test_derive_vars_ascii_reports_every_changed_value_with_its_record_number():
    frame = pd.DataFrame({
        "USUBJID": ["01", "02", "03"],
        "AETERM": ["Kopfschmerz", "\u00dcbelkeit", None],
        "LBORRESU": ["\u00b5mol/L", "\u00b5mol/L", "g/L"],
        "AESEQ": [1.0, 2.0, 3.0],
    })
    new, report = derive_vars_ascii(frame, "AE")
    assert new["AETERM"].tolist() == ["Kopfschmerz", "Ubelkeit", None]
    assert new["LBORRESU"].tolist() == ["umol/L", "umol/L", "g/L"]
    assert report[["dataset", "variable", "row", "original", "replacement"]].values.tolist() == [
        ["AE", "AETERM", 2, "\u00dcbelkeit", "Ubelkeit"],
        ["AE", "LBORRESU", 1, "\u00b5mol/L", "umol/L"],
        ["AE", "LBORRESU", 2, "\u00b5mol/L", "umol/L"],
    ]


def test_derive_vars_ascii_does_not_mutate_the_callers_frame():
    frame = pd.DataFrame({"AETERM": ["\u00e9"]})
    derive_vars_ascii(frame, "AE")
    assert frame["AETERM"].iloc[0] == "\u00e9"


def test_derive_vars_ascii_on_clean_data_reports_nothing():
    frame = pd.DataFrame({"A": ["x", None], "B": [None, None]})
    new, report = derive_vars_ascii(frame, "XX")
    assert report.empty
    pd.testing.assert_frame_equal(new, frame)
