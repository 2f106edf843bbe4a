"""Readers: every format read as text, lineage ids, manifest, one clear error per bad file."""

from __future__ import annotations

import hashlib

import openpyxl
import pandas as pd
import pyreadstat
import pytest

from pipeline.common.errors import InputError
from pipeline.ingest.readers import ReaderOptions, add_lineage, file_manifest_entry, read_raw_file


def test_csv_is_read_as_text_without_guessing_missing_values(tmp_path):
    path = tmp_path / "dm.csv"
    path.write_bytes("SUBJ;SEX;RACE;WT\n0012;N;NA;70,5\n0013;F;;\n".encode("latin-1"))
    frame = read_raw_file(path, ReaderOptions(delimiter=";", encoding="latin-1"))
    assert frame.to_dict("records") == [
        {"SUBJ": "0012", "SEX": "N", "RACE": "NA", "WT": "70,5"},
        {"SUBJ": "0013", "SEX": "F", "RACE": "", "WT": ""},
    ]


def test_latin1_micro_sign_and_utf8_bom_are_decoded(tmp_path):
    latin = tmp_path / "lab.csv"
    latin.write_bytes("UNIT\n\u00b5mol/L\n".encode("latin-1"))
    bom = tmp_path / "lab2.csv"
    bom.write_bytes("\ufeffUNIT\nmg/dL\n".encode("utf-8"))
    assert read_raw_file(latin, ReaderOptions(encoding="latin-1"))["UNIT"].tolist() == ["\u00b5mol/L"]
    assert list(read_raw_file(bom, ReaderOptions(encoding="utf-8-sig")).columns) == ["UNIT"]


def test_xlsx_numbers_become_plain_text(tmp_path):
    path = tmp_path / "vs.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Export"
    sheet.append(["Subject No", "Weight", "Height", "Visit"])
    sheet.append(["12", 70.5, 170.0, "Baseline"])
    sheet.append(["13", None, 165.0, "N"])
    book.save(path)
    frame = read_raw_file(path, ReaderOptions(format="xlsx", sheet="Export"))
    assert frame.values.tolist() == [["12", "70.5", "170", "Baseline"], ["13", "", "165", "N"]]


def test_xpt_numeric_missing_is_empty_text(tmp_path):
    path = tmp_path / "vs.xpt"
    pyreadstat.write_xport(pd.DataFrame({"SUBJNO": ["12", "13"], "WEIGHT": [70.5, float("nan")]}), str(path),
                           table_name="VS", file_format_version=5)
    frame = read_raw_file(path)
    assert frame.values.tolist() == [["12", "70.5"], ["13", ""]]


def test_ragged_csv_row_names_file_and_row(tmp_path):
    path = tmp_path / "ae.csv"
    path.write_text("A,B\n1,2\n3,4,5\n")
    with pytest.raises(InputError, match=r"ae.csv: row 2: 3 fields where the header has 2"):
        read_raw_file(path)


def test_undecodable_csv_names_file_and_encoding(tmp_path):
    path = tmp_path / "mh.csv"
    path.write_bytes(b"TERM\n\xe9t\xe9\n")
    with pytest.raises(InputError, match=r"mh.csv: cannot decode byte 5 as utf-8"):
        read_raw_file(path)


def test_broken_xlsx_and_xpt_give_one_line(tmp_path):
    for name in ("dm.xlsx", "dm.xpt", "dm.sas7bdat"):
        path = tmp_path / name
        path.write_bytes(b"this is not a workbook")
        with pytest.raises(InputError) as info:
            read_raw_file(path)
        assert name in str(info.value) and "unreadable" in str(info.value) and "\n" not in str(info.value)


def test_unknown_reader_option_is_rejected():
    with pytest.raises(InputError, match="unknown reader option"):
        ReaderOptions.from_dict({"delimeter": ";"})


def test_lineage_rows_are_one_based_data_records():
    frame = add_lineage(pd.DataFrame({"A": ["x", "y", "z"]}), "site_101/ae.csv", "101")
    assert frame["_row"].tolist() == [1, 2, 3]
    assert set(frame["_file"]) == {"site_101/ae.csv"} and set(frame["_site"]) == {"101"}


def test_manifest_entry_has_size_hash_and_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"A\n1\n2\n")
    entry = file_manifest_entry(path, "site_1/a.csv", 2, "csv")
    assert entry == {"path": "site_1/a.csv", "size": 6, "sha256": hashlib.sha256(b"A\n1\n2\n").hexdigest(),
                     "rows_read": 2, "format": "csv"}


def test_a_row_of_empty_fields_is_kept_so_row_numbers_stay_true(tmp_path):
    path = tmp_path / "cm.csv"
    path.write_text("A,B\n1,2\n,\n3,4\n\n")
    frame = add_lineage(read_raw_file(path), "cm.csv", "101")
    assert frame[["A", "_row"]].values.tolist() == [["1", 1], ["", 2], ["3", 3]]


def test_xlsx_cells_keep_their_spaces_when_strip_is_off(tmp_path):
    path = tmp_path / "ae.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["TERM"])
    book.active.append(["  Headache "])
    book.save(path)
    assert read_raw_file(path, ReaderOptions(strip=False))["TERM"].tolist() == ["  Headache "]
    assert read_raw_file(path, ReaderOptions())["TERM"].tolist() == ["Headache"]
