import datetime as dt

import pandas as pd
import pyreadstat
import pytest

from pipeline.common.errors import InputError
from pipeline.submit.metadata import DatasetMeta, build_variable_meta, load_standard_origins
from pipeline.submit.xpt import check_xpt_limits, check_xpt_read_back, format_xpt_timestamp, write_xpt

STAMP = "29JUN23:00:00:00"
DM = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "One record per subject", ("STUDYID", "USUBJID"))
ADSL = DatasetMeta("ADSL", "Subject-Level Analysis Dataset", "ADaM", "SUBJECT LEVEL ANALYSIS DATASET",
                   "One record per subject", ("STUDYID", "USUBJID"))


def variable_meta(meta, frame, labels=None):
    return build_variable_meta(meta, frame, pd.DataFrame(), pd.DataFrame(), labels or {},
                               load_standard_origins()["sdtm"])


@pytest.fixture
def dm():
    return pd.DataFrame({
        "STUDYID": ["S1", "S1", "S1"],
        "USUBJID": ["S1-101-001", "S1-101-002", "S1-102-010"],
        "AGE": [34.0, None, 61.0],
        "SEX": ["F", "M", None],
        "RFSTDTC": ["2019-03-15", "2019-04", None],
    })


def test_xpt_header_timestamps_are_the_fixed_stamp_and_reruns_are_byte_identical(tmp_path, dm):
    vm = variable_meta(DM, dm)
    first = write_xpt(tmp_path / "a" / "dm.xpt", dm, DM, vm, STAMP).read_bytes()
    second = write_xpt(tmp_path / "b" / "dm.xpt", dm, DM, vm, STAMP).read_bytes()
    assert first == second
    records = [first[i:i + 80] for i in range(0, 8 * 80, 80)]
    assert records[1].endswith(STAMP.encode()) and records[2].startswith(STAMP.encode())
    assert records[5].endswith(STAMP.encode()) and records[6].startswith(STAMP.encode())
    now = format_xpt_timestamp(dt.datetime.now())[:7].encode()  # ddMMMyy of today
    assert now not in first[: 8 * 80] or now == STAMP[:7].encode()


def test_xpt_character_lengths_are_the_longest_value_and_labels_come_from_metadata(tmp_path, dm):
    vm = variable_meta(DM, dm, {"AGE": "Age", "SEX": "Sex"})
    path = write_xpt(tmp_path / "dm.xpt", dm, DM, vm, STAMP)
    data, meta = pyreadstat.read_xport(path)
    assert meta.table_name == "DM" and meta.file_label == "Demographics"
    assert meta.variable_storage_width == {"STUDYID": 2, "USUBJID": 10, "AGE": 8, "SEX": 1, "RFSTDTC": 10}
    assert meta.column_labels == ["STUDYID", "USUBJID", "Age", "Sex", "RFSTDTC"]
    assert data["RFSTDTC"].tolist() == ["2019-03-15", "2019-04", ""]
    assert check_xpt_read_back(path, dm, DM, vm) == []


def test_xpt_adam_dates_are_sas_dates_with_date9_and_datetimes_with_datetime20(tmp_path):
    frame = pd.DataFrame({
        "USUBJID": ["01", "02"],
        "TRTSDT": pd.to_datetime(["1960-01-01", None]),
        "ADT": [dt.date(2020, 1, 2), None],
        "TRTSDTM": pd.to_datetime(["2020-01-02 08:30:00", None]),
    })
    vm = variable_meta(ADSL, frame)
    assert vm.set_index("variable").loc[["TRTSDT", "ADT", "TRTSDTM"], "display_format"].tolist() == [
        "DATE9.", "DATE9.", "DATETIME20."]
    path = write_xpt(tmp_path / "adsl.xpt", frame, ADSL, vm, STAMP)
    raw, meta = pyreadstat.read_xport(path, disable_datetime_conversion=True)
    assert raw["TRTSDT"].tolist()[0] == 0.0
    assert raw["ADT"].tolist()[0] == 21916.0  # days from 1960-01-01 to 2020-01-02
    assert raw["TRTSDTM"].tolist()[0] == 21916 * 86400 + 8.5 * 3600
    # A SAS format name is the same format with or without its trailing dot; readers differ in which they print.
    assert meta.original_variable_types["TRTSDT"].rstrip(".") == "DATE9"
    assert meta.original_variable_types["TRTSDTM"].rstrip(".") == "DATETIME20"
    assert check_xpt_read_back(path, frame, ADSL, vm) == []


def test_read_back_check_reports_a_value_that_differs(tmp_path, dm):
    vm = variable_meta(DM, dm)
    path = write_xpt(tmp_path / "dm.xpt", dm, DM, vm, STAMP)
    changed = dm.assign(AGE=[34.0, None, 62.0])
    problems = check_xpt_read_back(path, changed, DM, vm)
    assert problems == ["dm.xpt: AGE row 3: read back 61.0, expected 62.0 (1 value(s) differ)"]


def test_xpt_file_name_must_be_the_lower_case_dataset_name(tmp_path, dm):
    with pytest.raises(InputError, match="must be the lower-case dataset name 'dm.xpt'"):
        write_xpt(tmp_path / "DM.xpt", dm, DM, variable_meta(DM, dm), STAMP)


def test_limits_count_bytes_not_characters_and_name_the_record():
    frame = pd.DataFrame({"AETERM": ["\u00e9" * 101, "x" * 200, "ok"]})  # 202 bytes, 200 bytes
    vm = pd.DataFrame({"variable": ["AETERM"], "label": ["Reported Term for the Adverse Event"]})
    issues = check_xpt_limits(DatasetMeta("AE", "Adverse Events", "SDTM", "EVENTS", "", ()), frame, vm)
    assert issues[["variable", "row", "check", "severity"]].values.tolist() == [
        ["AETERM", 1, "value longer than 200 bytes", "error"]]


def test_limits_flag_long_dataset_and_variable_names_and_labels():
    meta = DatasetMeta("ADLONGNAME", "A" * 41, "ADaM", "BASIC DATA STRUCTURE", "", ())
    frame = pd.DataFrame({"1BAD": [1.0], "GOOD": [2.0]})
    vm = pd.DataFrame({"variable": ["1BAD", "GOOD"], "label": ["x", "L" * 41]})
    checks = check_xpt_limits(meta, frame, vm)[["variable", "check", "severity"]].values.tolist()
    assert checks == [
        ["", "dataset name not a SAS v5 name (<= 8, letter first)", "error"],
        ["", "dataset label longer than 40", "warning"],
        ["1BAD", "variable name not a SAS name", "error"],
        ["GOOD", "variable label longer than 40", "warning"],
    ]


def test_read_back_check_reports_a_damaged_text_value_and_a_truncated_file(tmp_path, dm):
    vm = variable_meta(DM, dm)
    path = write_xpt(tmp_path / "dm.xpt", dm, DM, vm, STAMP)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"S1-102-010", b"S1-102-011"))
    assert check_xpt_read_back(path, dm, DM, vm) == [
        "dm.xpt: USUBJID row 3: read back 'S1-102-011', expected 'S1-102-010' (1 value(s) differ)"]
    path.write_bytes(data[:-80])
    assert check_xpt_read_back(path, dm, DM, vm)[0].startswith("dm.xpt: 2 rows, expected 3")


def test_mixed_and_boolean_text_columns_are_written_as_text_consistently(tmp_path):
    from pipeline.submit.datasetjson import compute_dataset_json_rows

    frame = pd.DataFrame({"USUBJID": ["01", "02", "03"], "QVAL": pd.Series(["A", 3.0, None], dtype=object),
                          "FLAG": [True, False, True]})
    vm = variable_meta(DM, frame)
    assert vm.set_index("variable").loc[["QVAL", "FLAG"], "length"].tolist() == [1, 1]
    path = write_xpt(tmp_path / "dm.xpt", frame, DM, vm, STAMP)
    data, _ = pyreadstat.read_xport(path)
    assert data["QVAL"].tolist() == ["A", "3", ""] and data["FLAG"].tolist() == ["Y", "N", "Y"]
    assert check_xpt_read_back(path, frame, DM, vm) == []
    assert [row[1:] for row in compute_dataset_json_rows(frame, vm)] == [["A", "Y"], ["3", "N"], [None, "Y"]]


def test_read_back_in_several_chunks_reports_the_first_difference_and_counts_all(tmp_path, dm, monkeypatch):
    import pipeline.submit.xpt as xpt

    frame = pd.concat([dm] * 3, ignore_index=True)   # 9 records, read back 2 at a time
    vm = variable_meta(DM, frame)
    path = write_xpt(tmp_path / "dm.xpt", frame, DM, vm, STAMP)
    monkeypatch.setattr(xpt, "READ_BACK_ROWS", 2)
    assert check_xpt_read_back(path, frame, DM, vm) == []
    changed = frame.copy()
    changed.loc[[4, 8], "USUBJID"] = "S1-999-999"
    changed.loc[7, "AGE"] = 35.0
    assert check_xpt_read_back(path, changed, DM, vm) == [
        "dm.xpt: USUBJID row 5: read back 'S1-101-002', expected 'S1-999-999' (2 value(s) differ)",
        "dm.xpt: AGE row 8: read back nan, expected 35.0 (1 value(s) differ)"]


def test_limits_name_every_record_of_a_repeated_long_value_up_to_twenty():
    long_value = "x" * 201
    frame = pd.DataFrame({"AETERM": ["ok", long_value, None, long_value] + [long_value] * 30})
    vm = pd.DataFrame({"variable": ["AETERM"], "label": ["Reported Term for the Adverse Event"]})
    issues = check_xpt_limits(DatasetMeta("AE", "Adverse Events", "SDTM", "EVENTS", "", ()), frame, vm)
    assert issues["row"].tolist() == [2, 4] + list(range(5, 23))


def test_read_back_reports_a_field_outside_the_record_and_numbers_beyond_the_tolerance(tmp_path, dm):
    import struct

    vm = variable_meta(DM, dm)
    path = write_xpt(tmp_path / "dm.xpt", dm, DM, vm, STAMP)
    data = bytearray(path.read_bytes())
    age = 80 * 8 + 2 * 140   # the third NAMESTR (AGE); its position in the record is bytes 84-87
    data[age + 84:age + 88] = struct.pack(">i", 30)
    path.write_bytes(bytes(data))
    assert check_xpt_read_back(path, dm, DM, vm) == [
        "dm.xpt: AGE at bytes 30 to 38 of a 31-byte record, expected 8 bytes inside it"]
    path = write_xpt(tmp_path / "dm.xpt", dm, DM, vm, STAMP)
    assert check_xpt_read_back(path, dm.assign(AGE=[34.0 * (1 + 2 ** -50), None, 61.0]), DM, vm) == []
    assert check_xpt_read_back(path, dm.assign(AGE=[34.0, 1.0, 61.0 * (1 + 1e-11)]), DM, vm) == [
        "dm.xpt: AGE row 2: read back nan, expected 1.0 (2 value(s) differ)"]
