"""The pyarrow CSV reader gives the strings the csv module gave, and leaves it every file it would read otherwise."""

import pytest

from pipeline.common.errors import InputError
from pipeline.ingest import readers
from pipeline.ingest.readers import ReaderOptions, read_raw_file

AWKWARD = {
    "crlf": "SUBJ;VAL;UNIT\r\n001; 1,5 ;mg\r\n0002;;\r\n",
    "blank lines inside and at the end": "SUBJ;VAL;UNIT\n001;1;a\n\n\n002;2;b\n\n",
    "a line of empty fields": "SUBJ;VAL;UNIT\n;;\n003;3;c",
    "no final newline, spaces and accents": " SUBJ ; VAL;UNIT\n  001 ;  éµ\u00a0 ;\tmg\t",
    "separators inside a line": "SUBJ;VAL;UNIT\n001;a\x0bb\x0cc\u2028d\x1ce;x\x85y\n",
    "header only": "SUBJ;VAL;UNIT\n",
    "trailing delimiter": "SUBJ;VAL;\n001;2;\n",
}
# read by the csv module: quotes, leading blank lines, skipped rows, ragged rows, duplicated names
CSV_MODULE = {
    "quoted": 'SUBJ;VAL;UNIT\n001;"a;b";"say ""x"""\n002;"multi\nline";c\n',
    "blank line before the header": "\nSUBJ;VAL;UNIT\n001;1;a\n",
    "whitespace-only line": "SUBJ;VAL;UNIT\n001;1;a\n  \n",
    "lone carriage returns": "SUBJ;VAL;UNIT\r001;1E3;mg\r002;NA;N\r",
    "a carriage return inside a line": "SUBJ;VAL;UNIT\r\n001;1\r3;mg\r\n",
    "ragged": "SUBJ;VAL;UNIT\n001;1\n",
    "duplicated names": "SUBJ;VAL;VAL\n001;1;2\n",
}


def _as_csv_module_reads(path, options, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(readers, "_read_csv_arrow", lambda text, options: None)
        try:
            return read_raw_file(path, options)
        except InputError as exc:
            return str(exc)


def _read(path, options):
    try:
        return read_raw_file(path, options)
    except InputError as exc:
        return str(exc)


@pytest.mark.parametrize("strip", [True, False])
@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_arrow_reads_unquoted_csv_as_the_csv_module(tmp_path, monkeypatch, name, strip):
    path = tmp_path / "lab.csv"
    path.write_text(AWKWARD[name], encoding="utf-8", newline="")
    options = ReaderOptions(delimiter=";", strip=strip)
    assert readers._read_csv_arrow(AWKWARD[name], options) is not None  # the fast reader is the one used
    frame = read_raw_file(path, options)
    expected = _as_csv_module_reads(path, options, monkeypatch)
    assert frame.equals(expected) and frame.columns.tolist() == expected.columns.tolist()


@pytest.mark.parametrize("name", sorted(CSV_MODULE))
def test_csv_the_arrow_reader_leaves_to_the_csv_module(tmp_path, monkeypatch, name):
    path = tmp_path / "lab.csv"
    path.write_text(CSV_MODULE[name], encoding="utf-8", newline="")
    options = ReaderOptions(delimiter=";")
    assert readers._read_csv_arrow(CSV_MODULE[name], options) is None
    read, expected = _read(path, options), _as_csv_module_reads(path, options, monkeypatch)
    assert read == expected if isinstance(expected, str) else read.equals(expected)


def test_arrow_csv_values_exactly(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text(AWKWARD["no final newline, spaces and accents"], encoding="utf-8", newline="")
    frame = read_raw_file(path, ReaderOptions(delimiter=";"))
    assert frame.to_dict("records") == [{"SUBJ": "001", "VAL": "éµ", "UNIT": "mg"}]
    path.write_text(AWKWARD["blank lines inside and at the end"], encoding="utf-8", newline="")
    assert read_raw_file(path, ReaderOptions(delimiter=";"))["SUBJ"].tolist() == ["001", "002"]
