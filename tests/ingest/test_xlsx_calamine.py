"""The calamine XLSX reader gives the text openpyxl gave, cell for cell (the raw text contract)."""

import datetime as dt

import openpyxl
import pytest

from pipeline.ingest import readers
from pipeline.ingest.readers import ReaderOptions, read_raw_file


def _awkward_workbook(path, *, error_cell=False, escaped_text=False, big_integer=False, number_header=False):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Export"
    sheet.append([])  # data starts at B3: an empty first row, an empty first column
    sheet.append([])
    sheet.append([None, 7 if number_header else "SUBJ", "DATE", "TIME", "RESULT", "TEXT", "FLAG", None])
    rows = [
        ["001", dt.datetime(2024, 3, 5), dt.time(10, 30), 170.0, "  1.50 ", True],
        [7, dt.datetime(2024, 3, 5, 10, 30), dt.datetime(2024, 3, 5, 10, 30, 15), 70.5, "0012", False],
        [None, dt.date(2020, 1, 1), dt.timedelta(hours=30), 1 / 3, "1E3", None],
        [],  # an empty row inside the sheet is a record
        ["0007", None, None, -0.0, "", "N"],
        [1e15, None, None, 2 ** 40, "NA", "=1+1"],
    ]
    for row in rows:
        sheet.append([None, *row])
    sheet.cell(row=4, column=4).number_format = "hh:mm"
    sheet.cell(row=5, column=4).number_format = "yyyy-mm-dd hh:mm:ss"
    sheet.cell(row=6, column=4).number_format = "[h]:mm"
    if error_cell:
        sheet["F9"] = "#N/A"
    if escaped_text:
        sheet["F9"] = "a_x000D_b"
    if big_integer:
        sheet["E9"] = 12345678901234567890
    sheet.append([None] * 8)  # trailing formatted-but-empty rows are not records
    book.save(path)
    return path


def _as_openpyxl_reads(path, options, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(readers, "_xlsx_rows_calamine", lambda path, options: None)
        return read_raw_file(path, options)


@pytest.mark.parametrize("options", [ReaderOptions(skip_rows=2), ReaderOptions(skip_rows=2, strip=False),
                                     ReaderOptions(skip_rows=2, sheet="Export"), ReaderOptions(skip_rows=2, sheet=0)])
def test_calamine_reads_awkward_cells_as_openpyxl_did(tmp_path, monkeypatch, options):
    path = _awkward_workbook(tmp_path / "lab.xlsx")
    assert readers._xlsx_rows_calamine(path, options) is not None  # the fast reader is the one used
    frame = read_raw_file(path, options)
    assert frame.equals(_as_openpyxl_reads(path, options, monkeypatch))
    assert frame.columns.tolist() == ["", "SUBJ", "DATE", "TIME", "RESULT", "TEXT", "FLAG"]
    assert frame["SUBJ"].tolist() == ["001", "7", "", "", "0007", "1000000000000000"]
    assert frame["DATE"].tolist()[:3] == ["2024-03-05", "2024-03-05T10:30", "2020-01-01"]
    assert frame["TIME"].tolist()[:3] == ["10:30:00", "2024-03-05T10:30:15", "1 day, 6:00:00"]
    assert frame["RESULT"].tolist() == ["170", "70.5", repr(1 / 3), "", "0", "1099511627776"]
    assert frame["TEXT"].tolist()[:3] == (["1.50", "0012", "1E3"] if options.strip else ["  1.50 ", "0012", "1E3"])
    assert frame["FLAG"].tolist() == ["True", "False", "", "", "N", ""]


@pytest.mark.parametrize("awkward", ["error_cell", "escaped_text", "big_integer", "number_header"])
def test_cells_calamine_reads_otherwise_go_to_openpyxl(tmp_path, monkeypatch, awkward):
    path = _awkward_workbook(tmp_path / "lab.xlsx", **{awkward: True})
    options = ReaderOptions(skip_rows=2)
    assert readers._xlsx_rows_calamine(path, options) is None
    assert read_raw_file(path, options).equals(_as_openpyxl_reads(path, options, monkeypatch))
