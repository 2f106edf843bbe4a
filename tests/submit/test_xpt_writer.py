"""Our vectorised XPT v5 writer against pyreadstat (ReadStat): same bytes, and read back value for value."""

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from pipeline.common.xpt import build_xpt_bytes, ibm_from_ieee, ieee_from_ibm, read_xpt_layout

STAMP = "29JUN23:00:00:00"
AWKWARD_NUMBERS = [0.0, -0.0, 1.0, -1.0, 0.1, -118.625, 1e-300, -1e-300, 5e-324, 2.0 ** -260, 2.0 ** -261,
                   1e74, -9.9e74, 2.0 ** 249, 1e300, np.inf, -np.inf, np.nan, 123456789.123456789, 1 / 3,
                   2.0 ** 53 + 1, -2.0 ** 52, 86400 * 365.25 * 63]


def awkward_frame() -> pd.DataFrame:
    count = len(AWKWARD_NUMBERS)
    texts = ["x" * 200, "", None, "  leading blanks", "trailing blanks  ", 'quote " and \\ backslash',
             "\u00e9t\u00e9 \u00b5mol/L", "tab\there", "z"] * 3
    return pd.DataFrame({
        "NUM": np.array(AWKWARD_NUMBERS, dtype="float64"),
        "TEXT": pd.Series(texts[:count], dtype=object),
        "EMPTY": pd.Series([None] * count, dtype=object),
        "ALLNAN": np.full(count, np.nan),
        "ADT": np.arange(count, dtype="float64") * 1000 - 5000,
    })


def write_both(tmp_path, frame, formats=None, labels=None):
    labels = labels or [f"Label of {c}" for c in frame.columns]
    ours = tmp_path / "ours.xpt"
    ours.write_bytes(build_xpt_bytes(frame, "AWK", "Awkward values", labels, formats or {}, STAMP).tobytes())
    theirs = tmp_path / "theirs.xpt"
    pyreadstat.write_xport(frame, str(theirs), file_label="Awkward values", column_labels=labels, table_name="AWK",
                           file_format_version=5, variable_format=formats or None)
    return ours, theirs


def test_our_file_has_the_bytes_pyreadstat_writes_apart_from_the_creation_stamp(tmp_path):
    frame = awkward_frame()
    ours, theirs = write_both(tmp_path, frame, {"ADT": "DATE9.", "NUM": "8.2"})
    theirs_bytes = theirs.read_bytes()
    stamp = theirs_bytes[144:160]   # ReadStat writes the wall clock; we write the fixed stamp
    assert ours.read_bytes() == theirs_bytes.replace(stamp, STAMP.encode())


def test_pyreadstat_reads_back_every_awkward_value(tmp_path):
    frame = awkward_frame()
    ours, _ = write_both(tmp_path, frame, {"ADT": "DATE9."})
    data, meta = pyreadstat.read_xport(str(ours), disable_datetime_conversion=True)
    assert meta.table_name == "AWK" and meta.file_label == "Awkward values"
    assert meta.column_labels == [f"Label of {c}" for c in frame.columns]
    assert meta.variable_storage_width == {"NUM": 8, "TEXT": 200, "EMPTY": 1, "ALLNAN": 8, "ADT": 8}
    assert meta.number_rows == len(frame)
    got = data["NUM"].to_numpy()
    for want, read in zip(frame["NUM"], got):
        if np.isnan(want):
            assert np.isnan(read)
        elif abs(want) < 2.0 ** -260 or want == 0:   # below the IBM range (and -0.0): zero
            assert read == 0.0 and not np.signbit(read)
        elif abs(want) >= 2.0 ** 249:   # above it: the largest IBM number, which readers take as infinity
            assert read == np.copysign(np.inf, want)
        else:
            assert read == want                      # IBM doubles keep the whole IEEE fraction
    # text: ReadStat strips trailing blanks and reads missing as ""; ours wrote UTF-8 bytes
    assert data["TEXT"].tolist() == [(v or "").rstrip() for v in frame["TEXT"]]
    assert data["EMPTY"].tolist() == [""] * len(frame)
    assert data["ALLNAN"].isna().all()
    assert data["ADT"].tolist() == frame["ADT"].tolist()


def test_zero_row_dataset_matches_pyreadstat_and_reads_back_empty(tmp_path):
    frame = awkward_frame().iloc[:0]
    ours, theirs = write_both(tmp_path, frame)
    theirs_bytes = theirs.read_bytes()
    assert ours.read_bytes() == theirs_bytes.replace(theirs_bytes[144:160], STAMP.encode())
    data, meta = pyreadstat.read_xport(str(ours))
    assert len(data) == 0 and list(data.columns) == list(frame.columns)
    assert meta.variable_storage_width["TEXT"] == 1


@pytest.mark.parametrize("rows", [1, 9, 10, 11, 80, 81])
def test_record_padding_at_every_row_count_matches_pyreadstat(tmp_path, rows):
    # row length 8: 10 rows fill exactly one 80-byte record, the others leave a padded tail
    frame = pd.DataFrame({"A": np.arange(rows, dtype="float64") - 3.5})
    ours, theirs = write_both(tmp_path, frame)
    theirs_bytes = theirs.read_bytes()
    assert ours.read_bytes() == theirs_bytes.replace(theirs_bytes[144:160], STAMP.encode())
    assert pyreadstat.read_xport(str(ours))[0]["A"].tolist() == frame["A"].tolist()


def test_ibm_conversion_round_trips_random_doubles_exactly():
    rng = np.random.default_rng(7)
    values = rng.standard_normal(10_000) * 10.0 ** rng.integers(-70, 70, 10_000)
    assert np.array_equal(ieee_from_ibm(ibm_from_ieee(values)), values)
    assert ieee_from_ibm(ibm_from_ieee(np.array([np.inf, -1e300, -0.0, np.nan]))).tolist()[:3] == [np.inf, -np.inf, 0.0]


def test_ibm_words_of_the_edge_values_and_the_input_is_left_alone():
    values = np.array([0.0, -0.0, 1e-300, -2.0 ** 249, 2.0 ** 248, np.inf, np.nan, -118.625])
    before = values.copy()
    words = ibm_from_ieee(values).tobytes().hex(" ", 8).split()
    assert words == ["0000000000000000", "0000000000000000", "0000000000000000", "ffffffffffffffff",
                     "7f10000000000000", "7fffffffffffffff", "2e00000000000000", "c276a00000000000"]
    assert values.tobytes() == before.tobytes()


def test_layout_reader_sees_what_the_writer_declared():
    data = build_xpt_bytes(awkward_frame(), "AWK", "Awkward values", list("abcde"), {"ADT": "DATE9."}, STAMP).tobytes()
    name, label, variables, first = read_xpt_layout(data)
    assert (name, label) == ("AWK", "Awkward values")
    assert [(v["name"], v["is_char"], v["width"], v["position"], v["format"]) for v in variables] == [
        ("NUM", False, 8, 0, ""), ("TEXT", True, 200, 8, ""), ("EMPTY", True, 1, 208, ""),
        ("ALLNAN", False, 8, 209, ""), ("ADT", False, 8, 217, "DATE9")]
    assert first % 80 == 0
