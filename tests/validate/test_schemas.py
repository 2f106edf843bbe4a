"""Pandera schemas from specs: clean data passes; each broken thing gives exactly one named finding."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.standards.study import StudyMetadata
from pipeline.validate.schemas import validate_dataset

from .conftest import clean_sdtm

COLUMNS = ["rule_id", "severity", "dataset", "variable", "usubjid", "record", "value"]


def validate(meta: StudyMetadata, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    spec = meta.datasets[name]
    return validate_dataset(frame, spec, meta.dataset_variables(name), meta.codelists, name)


def rows(findings: pd.DataFrame) -> list[list[object]]:
    out = findings[COLUMNS].astype(object).where(findings[COLUMNS].notna(), None)
    return sorted(out.values.tolist(), key=lambda r: [str(x) for x in r])


@pytest.mark.parametrize("name", ["DM", "AE", "EX", "LB"])
def test_clean_dataset_has_no_finding(tiny_meta: StudyMetadata, name: str) -> None:
    assert rows(validate(tiny_meta, name, clean_sdtm()[name])) == []


def test_null_in_required_variable_is_cg0014_error_on_that_record(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[1, "AETERM"] = None
    assert rows(validate(tiny_meta, "AE", ae)) == [["CG0014", "error", "AE", "AETERM", "TINY01-001", 2, None]]


def test_blank_text_counts_as_null_in_required_variable(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[2, "AEDECOD"] = "  "
    assert rows(validate(tiny_meta, "AE", ae)) == [["CG0014", "error", "AE", "AEDECOD", "TINY01-002", 3, None]]


def test_missing_required_variable_is_cg0014_dataset_level(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"].drop(columns=["AEDECOD"])
    assert rows(validate(tiny_meta, "AE", ae)) == [["CG0014", "error", "AE", "AEDECOD", None, None, None]]


def test_missing_expected_variable_is_cg0016_warning(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"].drop(columns=["AESER"])
    assert rows(validate(tiny_meta, "AE", ae)) == [["CG0016", "warning", "AE", "AESER", None, None, None]]


def test_value_outside_non_extensible_codelist_is_error(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[0, "AESEV"] = "VERY BAD"
    found = validate(tiny_meta, "AE", ae)
    assert rows(found) == [["ISL-0002", "error", "AE", "AESEV", "TINY01-001", 1, "VERY BAD"]]
    assert found["message"].iloc[0] == "AESEV value 'VERY BAD' is not in non-extensible codelist AESEV"


def test_sex_x_is_not_in_sex_codelist(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm.loc[2, "SEX"] = "X"
    assert rows(validate(tiny_meta, "DM", dm)) == [["ISL-0002", "error", "DM", "SEX", "TINY01-003", 3, "X"]]


def test_value_outside_extensible_codelist_is_one_warning_per_value(tiny_meta: StudyMetadata) -> None:
    lb = clean_sdtm()["LB"]
    lb.loc[[0, 2], "LBTESTCD"] = "UPCR"  # not a CDISC test code; LBTESTCD is extensible
    lb.loc[[0, 2], "LBSEQ"] = [1.0, 1.0]
    found = validate(tiny_meta, "LB", lb)
    assert rows(found) == [["ISL-0003", "warning", "LB", "LBTESTCD", "TINY01-001", 1, "UPCR"]]
    assert "2 record(s)" in found["message"].iloc[0]


def test_study_codelist_from_study_yaml_rejects_unknown_arm(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm.loc[0, "ARMCD"] = "DRUG10"
    assert rows(validate(tiny_meta, "DM", dm)) == [["ISL-0002", "error", "DM", "ARMCD", "TINY01-001", 1, "DRUG10"]]


def test_duplicate_natural_key_flags_both_records(tiny_meta: StudyMetadata) -> None:
    lb = clean_sdtm()["LB"]
    lb.loc[1, "VISITNUM"] = 1.0  # same subject, test and visit as record 1
    found = validate(tiny_meta, "LB", lb)
    assert rows(found) == [
        ["ISL-0006", "error", "LB", "VISITNUM", "TINY01-001", 1, "TINY01, TINY01-001, PROTCRT, 1"],
        ["ISL-0006", "error", "LB", "VISITNUM", "TINY01-001", 2, "TINY01, TINY01-001, PROTCRT, 1"],
    ]


def test_duplicate_usubjid_in_dm_is_sd0083(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm.loc[1, "USUBJID"] = "TINY01-001"
    assert rows(validate(tiny_meta, "DM", dm)) == [
        ["SD0083", "error", "DM", "USUBJID", "TINY01-001", 1, "TINY01-001"],
        ["SD0083", "error", "DM", "USUBJID", "TINY01-001", 2, "TINY01-001"],
    ]


def test_duplicate_seq_within_subject_is_cg0028(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[1, "AESEQ"] = 1.0
    assert rows(validate(tiny_meta, "AE", ae)) == [
        ["CG0028", "error", "AE", "AESEQ", "TINY01-001", 1, "1"],
        ["CG0028", "error", "AE", "AESEQ", "TINY01-001", 2, "1"],
    ]


@pytest.mark.parametrize("bad", ["2024-13-01", "2023-02-30", "15MAR2024", "2024-02-10T25:00",
                                 "2024-02-30/2024-03-01", "2024-02-01T10:00/2024-02-30", "2024-02-01/2024-02-30T08"])
def test_invalid_iso8601_date_is_isl_0004(tiny_meta: StudyMetadata, bad: str) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[0, "AESTDTC"] = bad
    assert rows(validate(tiny_meta, "AE", ae)) == [["ISL-0004", "error", "AE", "AESTDTC", "TINY01-001", 1, bad]]


@pytest.mark.parametrize("good", ["2024", "2024-02", "2024---15", "2024-02-29", "2024-02-10T08", "2024-02-10T08:30:15",
                                  "2024-02-01T10:00/2024-02-29", "2024-02/2024-03-31T08"])
def test_partial_and_complete_iso8601_dates_are_valid(tiny_meta: StudyMetadata, good: str) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[0, "AESTDTC"] = good
    assert rows(validate(tiny_meta, "AE", ae)) == []


def test_text_longer_than_200_is_isl_0001(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[2, "AETERM"] = "x" * 201
    found = validate(tiny_meta, "AE", ae)
    assert rows(found) == [["ISL-0001", "error", "AE", "AETERM", "TINY01-002", 3, "x" * 201]]
    assert found["message"].iloc[0] == "AETERM value is 201 characters long, more than 200"


def test_text_longer_than_declared_length_is_isl_0001(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm.loc[0, "USUBJID"] = "TINY01-00001"  # 12 characters: fits
    assert rows(validate(tiny_meta, "DM", dm)) == []
    dm.loc[0, "USUBJID"] = "TINY01-000001"  # 13 > declared length 12
    assert rows(validate(tiny_meta, "DM", dm)) == [["ISL-0001", "error", "DM", "USUBJID", "TINY01-000001", 1,
                                                    "TINY01-000001"]]


def test_number_in_char_variable_is_type_finding(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm["SITEID"] = [1, 1, 2]
    assert rows(validate(tiny_meta, "DM", dm)) == [["CG0012", "error", "DM", "SITEID", None, None, None]]


def test_text_in_num_variable_is_type_finding(tiny_meta: StudyMetadata) -> None:
    dm = clean_sdtm()["DM"]
    dm["AGE"] = ["34", "51", "80"]
    assert rows(validate(tiny_meta, "DM", dm)) == [["CG0012", "error", "DM", "AGE", None, None, None]]


def test_stresn_differing_from_stresc_is_isl_0007(tiny_meta: StudyMetadata) -> None:
    lb = clean_sdtm()["LB"]
    lb.loc[1, "LBSTRESN"] = 8.0
    found = validate(tiny_meta, "LB", lb)
    assert rows(found) == [["ISL-0007", "error", "LB", "LBSTRESN", "TINY01-001", 2, "8"]]
    assert found["message"].iloc[0] == "LBSTRESN 8 differs from --STRESC 0.8"


def test_numeric_stresc_without_stresn_is_fb3101(tiny_meta: StudyMetadata) -> None:
    lb = clean_sdtm()["LB"]
    lb.loc[3, "LBSTRESN"] = None
    assert rows(validate(tiny_meta, "LB", lb)) == [["FB3101", "warning", "LB", "LBSTRESN", "TINY01-002", 4, "2.5"]]


def test_censored_stresc_with_stresn_is_fb3103(tiny_meta: StudyMetadata) -> None:
    lb = clean_sdtm()["LB"]
    lb.loc[2, "LBSTRESN"] = 0.1
    assert rows(validate(tiny_meta, "LB", lb)) == [["FB3103", "warning", "LB", "LBSTRESN", "TINY01-002", 3, "<0.1"]]


def test_column_not_in_spec_is_isl_0008_warning(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"].assign(AEXTRA="x")
    assert rows(validate(tiny_meta, "AE", ae)) == [["ISL-0008", "warning", "AE", "AEXTRA", None, None, None]]


def test_caller_frame_is_not_mutated(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[2, "AEDECOD"] = "  "
    before = ae.copy()
    validate(tiny_meta, "AE", ae)
    pd.testing.assert_frame_equal(ae, before)


def test_every_failure_is_collected_not_only_the_first(tiny_meta: StudyMetadata) -> None:
    ae = clean_sdtm()["AE"]
    ae.loc[0, "AESEV"] = "VERY BAD"
    ae.loc[1, "AESTDTC"] = "2024-13-01"
    ae.loc[2, "AETERM"] = None
    assert [r[0] for r in rows(validate(tiny_meta, "AE", ae))] == ["CG0014", "ISL-0002", "ISL-0004"]


def test_text_length_counts_characters_not_bytes() -> None:
    from pipeline.validate.frames import TEXT_DTYPE
    from pipeline.validate.schemas import _fits_length

    values = pd.Series(["Müller", "ab", None, "abcdefg"], dtype=TEXT_DTYPE)
    assert _fits_length(values, 6).tolist() == [True, True, True, False]
    assert _fits_length(values, 7).tolist() == [True, True, True, True]   # "Müller" is 7 bytes but 6 characters
