"""The analysis results data (ARD) frame: build, check, write and read it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from pipeline.common.errors import InputError
from pipeline.common.io import read_parquet, write_parquet_atomic, write_text_atomic

ARD_COLUMNS = ["output_id", "row_id", "row_label", "group", "stat", "value"]
BIG_N_ROW = "big_n"


def melt_stats(dataset: pd.DataFrame, stats: Iterable[str], row_id: str | None = None,
               row_label: str | None = None, group_var: str = "group") -> pd.DataFrame:
    """Turn wide statistics (one row per row id and group, one column per statistic) into ARD rows.

    ``row_id``/``row_label`` name one row for every record; when ``None`` they are read from the
    columns of the same name. Rows keep the order of ``dataset`` then of ``stats``;
    ``output_id`` is left empty for :func:`finalise_ard` to fill.

    >>> wide = pd.DataFrame({"group": ["A", "B"], "n": [3, 1], "pct": [75.0, 25.0]})
    >>> melt_stats(wide, ["n", "pct"], "any_ae", "Any AE")[["group", "stat", "value"]].values.tolist()
    [['A', 'n', 3.0], ['A', 'pct', 75.0], ['B', 'n', 1.0], ['B', 'pct', 25.0]]
    """
    stats = list(stats)
    needed = stats + [group_var] + [c for c, given in (("row_id", row_id), ("row_label", row_label))
                                    if given is None]
    missing = [s for s in needed if s not in dataset.columns]
    if missing:
        raise KeyError(f"melt_stats: columns {missing} not in the statistics frame")
    rows = len(dataset)
    # the values as DataFrame.melt stacks them (column after column, same dtype), then reordered
    # record after record: a stable argsort of (record, position of the stat) as melt's rows
    values = pd.concat([dataset[s] for s in stats], ignore_index=True).values if stats else np.array([])
    position = {s: i for i, s in enumerate(stats)}
    record = np.tile(np.arange(rows), len(stats))
    order = np.argsort(record * len(stats) + np.repeat([position[s] for s in stats], rows).astype(int), kind="stable")
    record = record[order]

    def text(column: str, given: str | None) -> np.ndarray:
        source = dataset[column] if given is None else pd.Series(given, index=dataset.index, dtype=object)
        return source.astype(str).to_numpy()[record]

    return pd.DataFrame({"output_id": "", "row_id": text("row_id", row_id), "row_label": text("row_label", row_label),
                         "group": text(group_var, None),
                         "stat": np.array([str(s) for s in stats], dtype=object)[order // rows if rows else order],
                         "value": values[order]})


def finalise_ard(parts: list[pd.DataFrame], output_id: str, text_values: bool = False) -> pd.DataFrame:
    """Concatenate ARD pieces in display order and set ``output_id`` and column types.

    >>> part = pd.DataFrame({"output_id": "", "row_id": "r", "row_label": "R", "group": "A",
    ...                      "stat": "n", "value": [2]})
    >>> finalise_ard([part], "table9").astype(object).iloc[0].tolist()
    ['table9', 'r', 'R', 'A', 'n', 2.0]
    """
    if not parts:
        frame = pd.DataFrame(columns=ARD_COLUMNS)
    else:
        frame = pd.concat([p[ARD_COLUMNS] for p in parts], ignore_index=True)
    frame = frame.assign(output_id=output_id)
    for column in ARD_COLUMNS[:-1]:
        frame[column] = frame[column].astype(str)
    if text_values:  # listings: every value as text (counts such as big_n without decimals)
        frame["value"] = frame["value"].map(
            lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
            else v if isinstance(v, str) else f"{v:g}").astype(object)
    else:
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.reset_index(drop=True)


def ard_to_records(ard: pd.DataFrame) -> list[dict]:
    """ARD rows as JSON-ready records; ``NaN`` becomes ``None`` (JSON ``null``).

    >>> ard_to_records(pd.DataFrame({"stat": ["sd"], "value": [float("nan")]}))
    [{'stat': 'sd', 'value': None}]
    """
    records = ard.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[key] = None
    return records


def write_ard(ard: pd.DataFrame, ard_dir: str | Path, output_id: str) -> list[Path]:
    """Write ``<ard_dir>/<output_id>.parquet`` and ``.json`` (deterministic, atomic).

    >>> import tempfile
    >>> part = pd.DataFrame({"output_id": "", "row_id": "r", "row_label": "R", "group": "A", "stat": "n", "value": [2]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_ard(finalise_ard([part], "t"), tmp, "t")
    ...     back = read_ard(tmp, "t")
    >>> [p.name for p in paths], back["value"].tolist()
    (['t.parquet', 't.json'], [2.0])
    """
    missing = [c for c in ARD_COLUMNS if c not in ard.columns]
    if missing:
        raise ValueError(f"ARD {output_id}: missing columns {missing}")
    ard_dir = Path(ard_dir)
    frame = ard[ARD_COLUMNS]
    return [
        write_parquet_atomic(ard_dir / f"{output_id}.parquet", frame),
        write_text_atomic(ard_dir / f"{output_id}.json", ard_json_text(frame)),
    ]


_JSON_SCALARS = {str, float, int, bool, type(None)}


def ard_json_text(ard: pd.DataFrame) -> str:
    """:func:`ard_to_records` as JSON text, byte for byte what :func:`pipeline.common.io.write_json_atomic`
    writes for them (sorted keys, two-space indent, trailing newline), built a column at a time.

    json's indenting encoder is pure Python, and it and building one dict per record were most of
    writing a listing's ARD. Here each column's values (as ``to_dict`` boxes them, NaN as ``None``)
    go through json's C encoder in one call, whose output for a list holds no raw newline, so the
    values split apart on the separator; they are then laid out as the indenting encoder does.
    Values other than text, numbers, booleans and ``None`` go through ``json.dumps`` as before.

    >>> print(ard_json_text(pd.DataFrame({"value": [2.0, float("nan")], "stat": ["n", "pct"]})), end="")
    [
      {
        "stat": "n",
        "value": 2.0
      },
      {
        "stat": "pct",
        "value": null
      }
    ]
    """
    columns = ard.to_dict(orient="list")
    names = sorted(columns, key=str)
    values = {name: [None if isinstance(v, float) and math.isnan(v) else v for v in columns[name]] for name in names}
    simple = (len(ard) > 0 and len(names) == len(ard.columns) and all(isinstance(name, str) for name in names)
              and all({type(v) for v in values[name]} <= _JSON_SCALARS for name in names))
    if not simple:
        records = [dict(zip(names, row)) for row in zip(*(values[name] for name in names))]
        return json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    fields = []
    for name in names:
        encoded = json.dumps(values[name], ensure_ascii=False, separators=("\n", ": "))[1:-1].split("\n")
        key = json.dumps(name, ensure_ascii=False)
        fields.append([f"    {key}: {value}" for value in encoded])
    body = ",\n".join("  {\n" + ",\n".join(record) + "\n  }" for record in zip(*fields))
    return "[\n" + body + "\n]\n"


def read_ard(ard_dir: str | Path, output_id: str) -> pd.DataFrame:
    """Read ``<ard_dir>/<output_id>.parquet`` and check its columns (example: :func:`write_ard`).

    >>> read_ard("/nonexistent", "table1")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: /nonexistent/table1.parquet: file not found (run the stage that writes it first)
    """
    path = Path(ard_dir) / f"{output_id}.parquet"
    frame = read_parquet(path)
    missing = [c for c in ARD_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not an ARD file, missing columns {', '.join(missing)}")
    return frame


def ard_value(ard: pd.DataFrame, row_id: str, group: str, stat: str) -> float:
    """The single value of one statistic; ``KeyError`` naming the key when absent.

    >>> ard = pd.DataFrame({"row_id": ["sae"], "group": ["A"], "stat": ["n"], "value": [6.0]})
    >>> ard_value(ard, "sae", "A", "n")
    6.0
    """
    hit = ard.loc[(ard["row_id"] == row_id) & (ard["group"] == group) & (ard["stat"] == stat), "value"]
    if hit.empty:
        raise KeyError(f"ARD has no value for row_id={row_id!r}, group={group!r}, stat={stat!r}")
    return float(hit.iloc[0])
