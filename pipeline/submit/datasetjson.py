"""CDISC Dataset-JSON v1.1 writer and validator.

Text is written in a stable layout (metadata first, one row per line) so a diff between two
deliveries shows changed records, and the same inputs give the same bytes.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.common.errors import InputError
from pipeline.common.vector import as_text, factorize
from pipeline.submit.metadata import DatasetMeta, installed_version, iter_rows

DATASET_JSON_VERSION = "1.1.0"
SCHEMA_ROW_SAMPLE = 200
ROWS_PER_CHUNK = 1 << 16   # rows rendered at a time: the pieces' positions take 4 bytes per value
SCHEMA_FILE = Path(__file__).resolve().parent / "dataset-json-1.1.schema.json"
_MEMBER_ORDER = ["datasetJSONCreationDateTime", "datasetJSONVersion", "fileOID", "dbLastModifiedDateTime",
                 "originator", "sourceSystem", "studyOID", "metaDataVersionOID", "metaDataRef",
                 "itemGroupOID", "records", "name", "label", "columns"]


def item_group_oid(dataset_name: str) -> str:
    """OID of a dataset, shared by define.xml (with ARM) and Dataset-JSON."""
    return f"IG.{dataset_name}"


def item_oid(dataset_name: str, variable: str) -> str:
    """OID of a variable, shared by define.xml (with ARM) and Dataset-JSON.

    >>> item_oid("DM", "AGE")
    'IT.DM.AGE'
    """
    return f"IT.{dataset_name}.{variable}"


def build_dataset_json_columns(meta: DatasetMeta, variable_meta: pd.DataFrame) -> list[dict[str, Any]]:
    """The ``columns`` member: itemOID, name, label, dataType, targetDataType, length, displayFormat, keySequence.

    >>> vm = pd.DataFrame({"variable": ["ADT"], "label": ["Analysis Date"], "json_type": ["date"],
    ...                    "json_target_type": ["integer"], "kind": ["date"], "length": [8],
    ...                    "display_format": ["DATE9."], "key_sequence": [None]})
    >>> build_dataset_json_columns(DatasetMeta("ADLB", "Lab", "ADaM", "", "", ()), vm)
    [{'itemOID': 'IT.ADLB.ADT', 'name': 'ADT', 'label': 'Analysis Date', 'dataType': 'date', 'targetDataType': 'integer', 'displayFormat': 'DATE9.'}]
    """
    columns = []
    for row in iter_rows(variable_meta):
        column = {"itemOID": item_oid(meta.name, row.variable), "name": row.variable, "label": str(row.label),
                  "dataType": row.json_type,
                  "targetDataType": row.json_target_type if isinstance(row.json_target_type, str) else None,
                  "length": int(row.length) if row.kind == "char" else None, "displayFormat": row.display_format,
                  "keySequence": None if pd.isna(row.key_sequence) else int(row.key_sequence)}
        columns.append({key: value for key, value in column.items() if value is not None and value != ""})
    return columns


def compute_dataset_json_rows(dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> list[list[Any]]:
    """Rows as lists in column order: ISO text for dates, ``int`` for integers, ``None`` for missing
    (the text of :func:`render_dataset_json_rows` read back, so both say the same).

    >>> vm = pd.DataFrame({"variable": ["USUBJID", "AESEQ", "ASTDT"], "kind": ["char", "integer", "date"]})
    >>> frame = pd.DataFrame({"USUBJID": ["01", ""], "AESEQ": [1.0, None], "ASTDT": pd.to_datetime(["2020-01-02", None])})
    >>> compute_dataset_json_rows(frame, vm)
    [['01', 1, '2020-01-02'], [None, None, None]]
    """
    return json.loads(b"[" + render_dataset_json_rows(dataset, variable_meta) + b"]")


def _json_distinct(values, to_json) -> tuple[np.ndarray, list[str]]:
    """(codes, JSON texts): ``texts[codes]`` is the JSON text of each value, computed once per distinct
    value; missing values point at the trailing ``null``."""
    codes, uniques = factorize(values)
    texts = [to_json(u) for u in uniques] + ["null"]
    return np.where(codes < 0, len(uniques), codes), texts


def compute_dataset_json_texts(column: pd.Series, kind: str) -> tuple[np.ndarray, list[str]]:
    """(codes, texts) of one column, ``texts[codes]`` its JSON text (``null`` for missing), without a Python
    object per row: ISO text for dates, integers without a point, floats as ``repr``.

    >>> codes, texts = compute_dataset_json_texts(pd.Series([1.5, None, 1.5]), "float")
    >>> codes.tolist(), texts
    ([0, 1, 0], ['1.5', 'null'])
    """
    if kind in ("date", "datetime"):
        stamps = pd.to_datetime(column, errors="coerce")
        pattern = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S"
        return _json_distinct(stamps.to_numpy(), lambda t: json.dumps(pd.Timestamp(t).strftime(pattern)))
    if kind == "time":
        return _json_distinct(column.astype(object).to_numpy(),
                              lambda t: json.dumps(t.strftime("%H:%M:%S")) if hasattr(t, "strftime") else "null")
    if kind == "integer":
        numbers = pd.to_numeric(column, errors="coerce")
        if numbers.dtype == "float64":   # whole numbers stored as floats: the text of each distinct value
            codes, uniques = pd.factorize(numbers.to_numpy(), use_na_sentinel=True)
            if np.all(np.isfinite(uniques) & (uniques == np.round(uniques)) & (np.abs(uniques) < 2.0 ** 63)):
                return np.where(codes < 0, len(uniques), codes), [str(int(v)) for v in uniques] + ["null"]
        return _json_distinct(numbers.astype("Int64").array, lambda v: str(int(v)))   # else as Int64 says
    if kind == "float":
        numbers = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
        numbers = np.where(np.isfinite(numbers), numbers, np.nan)
        return _json_distinct(numbers, lambda v: float.__repr__(float(v)))
    # encode_basestring is what json.dumps(v, ensure_ascii=False) does with a str v
    return _json_distinct(as_text(column), lambda v: "null" if v == "" or v is None else encode_basestring(v))


def encode_dataset_json_column(column: pd.Series, kind: str) -> pa.Array:
    """The JSON text of each value of one column (``null`` for missing), gathered in Arrow.

    >>> encode_dataset_json_column(pd.Series([1.5, None, 2.0]), "float").to_pylist()
    ['1.5', 'null', '2.0']
    >>> encode_dataset_json_column(pd.Series(["a\\"b", "", None]), "char").to_pylist()
    ['"a\\\\"b"', 'null', 'null']
    """
    codes, texts = compute_dataset_json_texts(column, kind)
    return pa.array(texts, type=pa.large_string()).take(pa.array(codes))


def iter_dataset_json_rows(dataset: pd.DataFrame, variable_meta: pd.DataFrame,
                           chunk_rows: int = ROWS_PER_CHUNK) -> Iterator[pa.Buffer]:
    """The lines of the ``rows`` member (``    [v1, v2],`` ... without the last comma) as UTF-8 buffers of
    at most ``chunk_rows`` rows each.

    Every distinct value's text carries what follows it in the line (``, `` or ``],\\n``; the first column
    also ``    [`` before it), so the rows are one Arrow ``take`` of these pieces in row-major order.

    >>> vm = pd.DataFrame({"variable": ["USUBJID", "AESEQ"], "kind": ["char", "integer"]})
    >>> frame = pd.DataFrame({"USUBJID": ["01", "02"], "AESEQ": [1.0, None]})
    >>> [buffer.to_pybytes() for buffer in iter_dataset_json_rows(frame, vm, chunk_rows=1)]
    [b'    ["01", 1],\\n', b'    ["02", null]']
    """
    count, width = dataset.shape
    if not count:
        return
    kinds = dict(zip(variable_meta["variable"], variable_meta["kind"]))
    pieces: list[str] = []
    columns = []   # (codes, position of the column's first piece)
    for index, variable in enumerate(dataset.columns):
        codes, texts = compute_dataset_json_texts(dataset[variable], kinds.get(variable, "char"))
        before, after = ("    [" if index == 0 else ""), ("],\n" if index == width - 1 else ", ")
        columns.append((codes, len(pieces)))
        pieces += [before + text + after for text in texts]
    table = pa.array(pieces, type=pa.large_string())
    index_type = np.int32 if len(pieces) < 2 ** 31 else np.int64
    for start in range(0, count, chunk_rows):
        stop = min(start + chunk_rows, count)
        positions = np.empty((stop - start, width), dtype=index_type)
        for column, (codes, first) in enumerate(columns):
            np.add(codes[start:stop], first, out=positions[:, column], casting="unsafe")
        lines = table.take(pa.array(positions.ravel()))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
        end = int(offsets[-1]) - (2 if stop == count else 0)   # the last row has no ",\n"
        yield lines.buffers()[2].slice(int(offsets[0]), end - int(offsets[0]))


def render_dataset_json_rows(dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> bytes:
    """The lines of the ``rows`` member (``    [v1, v2],`` ... without the last comma) as UTF-8 bytes.

    >>> vm = pd.DataFrame({"variable": ["USUBJID", "AESEQ"], "kind": ["char", "integer"]})
    >>> render_dataset_json_rows(pd.DataFrame({"USUBJID": ["01", "02"], "AESEQ": [1.0, None]}), vm)
    b'    ["01", 1],\\n    ["02", null]'
    """
    return b"".join(buffer.to_pybytes() for buffer in iter_dataset_json_rows(dataset, variable_meta))


def build_dataset_json(meta: DatasetMeta, dataset: pd.DataFrame, variable_meta: pd.DataFrame,
                       created: str, study_oid: str, metadata_version_oid: str, as_of: str = "") -> dict[str, Any]:
    """The Dataset-JSON v1.1 object of one dataset; ``as_of`` (the data cut) is ``dbLastModifiedDateTime``.

    >>> vm = pd.DataFrame({"variable": ["USUBJID"], "label": ["Unique Subject Identifier"], "json_type": ["string"],
    ...                    "json_target_type": [None], "kind": ["char"], "length": [2], "display_format": [""], "key_sequence": [1]})
    >>> obj = build_dataset_json(DatasetMeta("DM", "Demographics", "SDTM", "", "", ("USUBJID",)),
    ...                          pd.DataFrame({"USUBJID": ["01"]}), vm, "2023-06-29T00:00:00", "S.X", "MDV.X")
    >>> obj["records"], obj["itemGroupOID"], obj["rows"]
    (1, 'IG.DM', [['01']])
    """
    if list(variable_meta["variable"]) != list(dataset.columns):
        raise InputError(f"dataset {meta.name}: metadata variables {list(variable_meta['variable'])} "
                         f"do not match the columns {list(dataset.columns)}")
    obj = {
        "datasetJSONCreationDateTime": created,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study_oid}.{meta.standard}.{meta.name}",
        "originator": "cdisc-pipeline",
        "sourceSystem": {"name": "cdisc-pipeline", "version": installed_version()},
        "studyOID": study_oid,
        "metaDataVersionOID": metadata_version_oid,
        "metaDataRef": "../define.xml",
        "itemGroupOID": item_group_oid(meta.name),
        "records": int(len(dataset)),
        "name": meta.name,
        "label": meta.label,
        "columns": build_dataset_json_columns(meta, variable_meta),
        "rows": compute_dataset_json_rows(dataset, variable_meta),
    }
    if as_of:
        obj["dbLastModifiedDateTime"] = as_of
    return obj


def render_dataset_json_bytes(obj: dict[str, Any], rows_text: bytes) -> bytes:
    """Stable text: members in specification order, two-space indent, one row per line, with ``rows_text``
    (from :func:`render_dataset_json_rows`) as the ``rows`` member, never decoded into a Python string.

    >>> print(render_dataset_json_bytes({"name": "DM", "columns": []}, b'    ["a", 1]').decode())
    {
      "name": "DM",
      "columns": [],
      "rows": [
        ["a", 1]
      ]
    }
    <BLANKLINE>
    """
    return b"".join(bytes(part) for part in iter_dataset_json_bytes(obj, [rows_text] if rows_text else []))


def iter_dataset_json_bytes(obj: dict[str, Any], rows_chunks: Iterable) -> Iterator:
    """The parts of :func:`render_dataset_json_bytes`, with the ``rows`` member given as chunks of bytes
    (from :func:`iter_dataset_json_rows`), so a file can be written without holding all its rows at once.

    >>> b"".join(bytes(p) for p in iter_dataset_json_bytes({"name": "DM"}, []))
    b'{\\n  "name": "DM",\\n  "rows": []\\n}\\n'
    """
    order = [k for k in _MEMBER_ORDER if k in obj] + sorted(k for k in obj if k not in _MEMBER_ORDER and k != "rows")
    head = "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(obj[k], ensure_ascii=False, allow_nan=False)},\n"
                            for k in order)
    yield head.encode("utf-8")
    rows_written = False
    for chunk in rows_chunks:
        if not len(chunk):
            continue
        if not rows_written:
            yield b'  "rows": [\n'
            rows_written = True
        yield chunk
    yield b"\n  ]\n}\n" if rows_written else b'  "rows": []\n}\n'


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate_dataset_json(obj: dict[str, Any]) -> list[str]:
    """Schema errors of a Dataset-JSON object plus consistency checks (records = rows, row width).

    >>> validate_dataset_json({"name": "DM"})[0]
    "'columns' is a required property"
    """
    import jsonschema

    validator = jsonschema.Draft201909Validator(_schema())
    # The row schema is "array of scalars or null": checking a sample through jsonschema and
    # every row's width below keeps validation linear and fast on large datasets.
    sample = {**obj, "rows": obj["rows"][:SCHEMA_ROW_SAMPLE]} if isinstance(obj.get("rows"), list) else obj
    problems = [error.message + (f" (at {'/'.join(map(str, error.absolute_path))})" if error.absolute_path else "")
                for error in sorted(validator.iter_errors(sample), key=lambda e: (list(e.absolute_path), e.message))]
    rows = obj.get("rows")
    columns = obj.get("columns") or []
    if isinstance(rows, list):
        if obj.get("records") != len(rows):
            problems.append(f"records = {obj.get('records')} but {len(rows)} rows")
        if not all(isinstance(r, list) for r in rows):
            problems.append("every row must be an array")
        widths = {len(r) for r in rows if isinstance(r, list)}
        if widths and widths != {len(columns)}:
            problems.append(f"row widths {sorted(widths)} differ from {len(columns)} columns")
    return problems
