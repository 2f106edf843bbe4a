"""GX Data Docs are part of the outputs, so they must be reproducible (GX stamps times and UUIDs)."""

import hashlib

import pandas as pd

from pipeline.validate.expectations import GxSession


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _validate(payload, docs_dir):
    session = GxSession(docs_dir)
    result = session.validate(payload)
    session.finish()
    return result


def test_data_docs_are_byte_identical_across_runs(tmp_path):
    frame = pd.DataFrame({"AGE": [34, 51, 80]})
    payload = ("000_dm_records", frame, [("ISL-0201", "expect_column_values_to_be_between",
                                          {"column": "AGE", "min_value": 18, "max_value": 75})])
    first, second = tmp_path / "a", tmp_path / "b"
    result = _validate(payload, first)
    _validate(payload, second)

    assert result[("000_dm_records", "ISL-0201")]["unexpected_index_list"] == [2]
    assert _digest(first) == _digest(second)
    pages = [p.read_text(encoding="utf-8") for p in first.rglob("*.html")]
    assert pages and not any("logo-long.png?d=" in page for page in pages)
