import json

import pandas as pd

from pipeline.submit.datasetjson import (build_dataset_json, render_dataset_json_bytes, render_dataset_json_rows,
                                         validate_dataset_json)
from pipeline.submit.metadata import DatasetMeta, build_variable_meta, load_standard_origins

ADAE = DatasetMeta("ADAE", "Adverse Events Analysis Dataset", "ADaM", "OCCURRENCE DATA STRUCTURE",
                   "One record per adverse event per subject", ("STUDYID", "USUBJID", "AESEQ"))
CREATED = "2023-06-29T00:00:00"


def adae():
    return pd.DataFrame({
        "STUDYID": ["S1", "S1", "S1"],
        "USUBJID": ["S1-01", "S1-01", "S1-02"],
        "AESEQ": [1.0, 2.0, 1.0],
        "AETERM": ["Headache", "", "Nausea"],
        "ASTDT": pd.to_datetime(["2020-01-02", None, "2020-02-29"]),
        "AVAL": [0.5, float("nan"), 12.25],
    })


def variables(frame):
    return build_variable_meta(ADAE, frame, pd.DataFrame(), pd.DataFrame(), {"AETERM": "Reported Term"},
                               load_standard_origins()["adam"])


def build(frame):
    return build_dataset_json(ADAE, frame, variables(frame), CREATED, "STDY.S1", "MDV.S1.ADaMIG.1.3")


def render(frame):
    envelope = {k: v for k, v in build(frame).items() if k != "rows"}
    return render_dataset_json_bytes(envelope, render_dataset_json_rows(frame, variables(frame))).decode("utf-8")


def test_dataset_json_columns_carry_oid_type_length_keys_and_date_target_type():
    columns = {c["name"]: c for c in build(adae())["columns"]}
    assert columns["USUBJID"] == {"itemOID": "IT.ADAE.USUBJID", "name": "USUBJID", "label": "USUBJID",
                                  "dataType": "string", "length": 5, "keySequence": 2}
    assert columns["AESEQ"]["dataType"] == "integer" and columns["AESEQ"]["keySequence"] == 3
    assert columns["ASTDT"] == {"itemOID": "IT.ADAE.ASTDT", "name": "ASTDT", "label": "ASTDT", "dataType": "date",
                                "targetDataType": "integer", "displayFormat": "DATE9."}
    assert columns["AVAL"]["dataType"] == "float"


def test_dataset_json_rows_are_arrays_with_null_for_missing_and_iso_dates():
    obj = build(adae())
    assert obj["records"] == 3
    assert obj["rows"] == [
        ["S1", "S1-01", 1, "Headache", "2020-01-02", 0.5],
        ["S1", "S1-01", 2, None, None, None],
        ["S1", "S1-02", 1, "Nausea", "2020-02-29", 12.25],
    ]
    assert obj["itemGroupOID"] == "IG.ADAE" and obj["datasetJSONVersion"] == "1.1.0"


def test_dataset_json_is_schema_valid_and_text_is_stable_json():
    obj = build(adae())
    assert validate_dataset_json(obj) == []
    text = render(adae())
    assert text == render(adae())
    assert json.loads(text) == obj
    assert '\n    ["S1", "S1-01", 1, "Headache", "2020-01-02", 0.5],\n' in text


def test_validate_dataset_json_finds_bad_version_wrong_record_count_and_short_rows():
    obj = build(adae())
    obj["datasetJSONVersion"] = "1.0"
    obj["records"] = 4
    obj["rows"][1] = obj["rows"][1][:2]
    problems = validate_dataset_json(obj)
    assert any("does not match" in p and "datasetJSONVersion" in p for p in problems)
    assert "records = 4 but 3 rows" in problems
    assert "row widths [2, 6] differ from 6 columns" in problems


def test_dataset_json_of_an_empty_dataset_has_zero_records_and_no_rows():
    obj = build(adae().iloc[0:0])
    assert obj["records"] == 0 and obj["rows"] == []
    assert validate_dataset_json(obj) == []


def test_rows_rendered_column_wise_keep_awkward_values():
    import datetime as dt

    import numpy as np

    frame = pd.DataFrame({
        "TEXT": pd.Series(['quote " \\ slash', "", None, "\u00e9t\u00e9 \u8ca7\u8840", "tab\tnew\nline", "x" * 200], dtype=object),
        "SEQ": [1.0, None, 3.0, -4.0, 2.0 ** 52, 0.0],
        "VAL": [0.1, np.nan, np.inf, -0.0, 1e-300, 123456789.125],
        "ADT": pd.to_datetime(["2020-01-02", None, "1960-01-01", "2099-12-31", None, "2000-02-29"]),
        "ADTM": pd.to_datetime(["2020-01-02 08:30:15", None, None, "1999-12-31 23:59:59", None, None]),
        "ATM": [dt.time(8, 30), None, dt.time(0, 0, 1), None, None, dt.time(23, 59, 59)],
        "FLAG": [True, False, None, True, None, False],
    })
    vm = pd.DataFrame({"variable": list(frame.columns),
                       "kind": ["char", "integer", "float", "date", "datetime", "time", "char"]})
    envelope = {"name": "X", "records": len(frame)}
    text = render_dataset_json_bytes(envelope, render_dataset_json_rows(frame, vm)).decode("utf-8")
    assert '["quote \\" \\\\ slash", 1, 0.1, "2020-01-02", "2020-01-02T08:30:15", "08:30:00", "Y"]' in text
    assert json.loads(text)["rows"] == [
        ['quote " \\ slash', 1, 0.1, "2020-01-02", "2020-01-02T08:30:15", "08:30:00", "Y"],
        [None, None, None, None, None, None, "N"],
        [None, 3, None, "1960-01-01", None, "00:00:01", None],
        ["\u00e9t\u00e9 \u8ca7\u8840", -4, -0.0, "2099-12-31", "1999-12-31T23:59:59", None, "Y"],
        ["tab\tnew\nline", 2 ** 52, 1e-300, None, None, None, None],
        ["x" * 200, 0, 123456789.125, "2000-02-29", None, "23:59:59", "N"],
    ]
    assert render_dataset_json_bytes(envelope, render_dataset_json_rows(frame.iloc[:0], vm)) == \
        b'{\n  "records": 6,\n  "name": "X",\n  "rows": []\n}\n'


def test_rows_rendered_in_chunks_join_to_the_rows_rendered_at_once():
    from pipeline.submit.datasetjson import iter_dataset_json_bytes, iter_dataset_json_rows

    frame = pd.concat([adae()] * 3, ignore_index=True)   # 9 rows: chunks of 4, 4 and 1
    vm = variables(frame)
    chunks = [buffer.to_pybytes() for buffer in iter_dataset_json_rows(frame, vm, chunk_rows=4)]
    assert len(chunks) == 3 and chunks[0].count(b"\n") == 4 and not chunks[-1].endswith(b",\n")
    assert b"".join(chunks) == render_dataset_json_rows(frame, vm)
    assert chunks[-1] == b'    ["S1", "S1-02", 1, "Nausea", "2020-02-29", 12.25]'
    envelope = {k: v for k, v in build(frame).items() if k != "rows"}
    streamed = b"".join(bytes(part) for part in iter_dataset_json_bytes(envelope, iter(chunks)))
    assert streamed == render_dataset_json_bytes(envelope, render_dataset_json_rows(frame, vm))
    assert json.loads(streamed)["rows"][4] == ["S1", "S1-01", 2, None, None, None]
