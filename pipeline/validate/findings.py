"""One findings table for every check source (columns: DESIGN.md and ``pipeline/validate/README.md``), the
severity gate and spreadsheet-safe CSV output."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, GateFailed
from pipeline.common.io import write_csv_atomic, write_parquet_atomic
from pipeline.common.text import value_text

FINDINGS_COLUMNS = [
    "rule_id", "severity", "dataset", "variable", "usubjid", "record", "value", "message", "check_source",
]
SEVERITIES = ("notice", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
SEVERITIES_WORST_FIRST = tuple(reversed(SEVERITIES))
CHECK_SOURCES = ("pandera", "great_expectations", "conformance", "specs")

_STRING_COLUMNS = [c for c in FINDINGS_COLUMNS if c != "record"]
# built once: checks return empty findings far more often than not
_EMPTY_FINDINGS = pd.DataFrame({c: pd.Series(dtype="Int64" if c == "record" else "object") for c in FINDINGS_COLUMNS})


def empty_findings() -> pd.DataFrame:
    """An empty findings frame with the contract columns and dtypes.

    >>> list(empty_findings().columns) == FINDINGS_COLUMNS
    True
    """
    return _EMPTY_FINDINGS.copy()


def make_findings(
    rule_id: str,
    severity: str,
    dataset: str,
    message: str | Iterable[str],
    check_source: str,
    variable: str | Iterable[str | None] | None = None,
    usubjid: Iterable[object] | object = None,
    record: Iterable[object] | object = None,
    value: Iterable[object] | object = None,
    n: int | None = None,
) -> pd.DataFrame:
    """Build findings rows; scalars are broadcast to ``n`` rows (or to the length of a list argument).

    >>> f = make_findings("CG0029", "error", "AE", "USUBJID not in DM", "conformance",
    ...                   variable="USUBJID", usubjid=["S-1", "S-2"], record=[3, 7], value=["S-1", "S-2"])
    >>> f[["rule_id", "usubjid", "record"]].values.tolist()
    [['CG0029', 'S-1', 3], ['CG0029', 'S-2', 7]]
    """
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity '{severity}' for rule {rule_id}: expected one of {', '.join(SEVERITIES)}")
    if check_source not in CHECK_SOURCES:
        raise ValueError(f"check_source '{check_source}' for rule {rule_id}: expected one of {', '.join(CHECK_SOURCES)}")
    columns = {"variable": variable, "usubjid": usubjid, "record": record, "value": value, "message": message}
    lengths = {len(v) for v in columns.values() if _is_list_like(v)}
    if len(lengths) > 1:
        raise ValueError(f"rule {rule_id}: list arguments differ in length {sorted(lengths)}")
    size = lengths.pop() if lengths else (1 if n is None else n)
    data = {"rule_id": [rule_id] * size, "severity": [severity] * size, "dataset": [dataset] * size,
            "check_source": [check_source] * size}
    data.update({name: list(given) if _is_list_like(given) else [given] * size for name, given in columns.items()})
    return normalise_findings(pd.DataFrame(data, columns=FINDINGS_COLUMNS))


def _is_list_like(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pd.Series, pd.Index))


def normalise_findings(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns only, strings as text (null stays null), record as nullable integer.

    >>> normalise_findings(pd.DataFrame({"rule_id": ["X"], "severity": ["error"], "record": [2.0],
    ...     "value": [3.5]}))[["value", "record"]].values.tolist()
    [['3.5', 2]]
    """
    out = frame.reindex(columns=FINDINGS_COLUMNS).copy()
    for column in _STRING_COLUMNS:
        values = out[column]
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            out[column] = values.where(values.notna(), None)
            continue
        text = values.map(_to_text, na_action="ignore").astype("object")
        out[column] = text.where(values.notna(), None)
    out["record"] = pd.to_numeric(out["record"], errors="coerce").round().astype("Int64")
    return out


def _to_text(value: object) -> str:
    return value.isoformat() if isinstance(value, pd.Timestamp) else value_text(value)


def concat_findings(parts: Iterable[pd.DataFrame | None]) -> pd.DataFrame:
    """Findings frames stacked (None and empty ones left out); empty findings when there are none."""
    parts = [p for p in parts if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_findings()


def combine_findings(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate findings from every source and sort them deterministically.

    >>> a = make_findings("B", "warning", "AE", "m", "pandera", record=[2])
    >>> b = make_findings("A", "error", "DM", "m", "conformance", record=[1])
    >>> combine_findings([a, b])["rule_id"].tolist()
    ['A', 'B']
    """
    parts = [normalise_findings(f) for f in frames if f is not None and len(f)]
    return sort_findings(concat_findings(parts)) if parts else empty_findings()


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Errors first, then by rule, dataset, record, variable, subject and value; duplicates dropped.

    >>> f = pd.concat([make_findings("B", "warning", "AE", "m", "pandera"), make_findings("A", "error", "AE", "m", "pandera")])
    >>> sort_findings(f)["rule_id"].tolist()
    ['A', 'B']
    """
    out = findings.drop_duplicates(ignore_index=True)
    rank = out["severity"].map(SEVERITY_RANK).fillna(-1).astype(int)
    text = {c: out[c].fillna("") for c in ("rule_id", "dataset", "variable", "usubjid", "value", "message")}
    keys = pd.DataFrame({"rank": -rank, **text, "record": out["record"].fillna(-1).astype("int64")})
    order = keys.sort_values(["rank", "rule_id", "dataset", "record", "variable", "usubjid", "value", "message"],
                             kind="mergesort").index
    return out.loc[order].reset_index(drop=True)


def write_findings(findings: pd.DataFrame, validation_dir: Path) -> tuple[Path, Path]:
    """Write ``findings.parquet`` (raw values) and ``findings.csv`` (spreadsheet-safe).

    >>> import tempfile
    >>> paths = write_findings(make_findings("A", "error", "AE", "m", "pandera"), Path(tempfile.mkdtemp()))
    >>> [p.name for p in paths]
    ['findings.parquet', 'findings.csv']
    """
    findings = normalise_findings(findings)
    parquet = write_parquet_atomic(Path(validation_dir) / "findings.parquet", findings)
    csv = write_csv_atomic(Path(validation_dir) / "findings.csv", findings)
    return parquet, csv


def findings_at_or_above(findings: pd.DataFrame, gate: str) -> pd.DataFrame:
    """Findings whose severity is at least ``gate``.

    >>> f = combine_findings([make_findings("A", "warning", "AE", "m", "pandera"),
    ...                       make_findings("B", "error", "AE", "m", "pandera")])
    >>> findings_at_or_above(f, "error")["rule_id"].tolist()
    ['B']
    """
    rank = findings["severity"].map(SEVERITY_RANK)
    return findings[rank >= _gate_rank(gate)]


def gate_blocked(counts: dict[str, int], gate: str) -> bool:
    """Whether findings counted by severity stop the run at ``gate`` (the rule of :func:`findings_at_or_above`).

    >>> gate_blocked({"error": 2}, "warning"), gate_blocked({"notice": 4, "error": 0}, "warning")
    (True, False)
    """
    return any(int(n) > 0 and SEVERITY_RANK.get(s, -1) >= _gate_rank(gate) for s, n in counts.items())


def _gate_rank(gate: str) -> int:
    if gate not in SEVERITY_RANK:
        raise ConfigError(f"validation.gate '{gate}': expected one of {', '.join(SEVERITIES)}")
    return SEVERITY_RANK[gate]


def summarise_findings(findings: pd.DataFrame, examples: int = 3) -> str:
    """A short text summary: counts by rule and dataset, and the first examples.

    >>> f = make_findings("CG0029", "error", "AE", "USUBJID not in DM", "conformance", usubjid=["S-9"], record=[4])
    >>> print(summarise_findings(f))
    1 finding(s): CG0029 AE x1; e.g. CG0029 AE record 4 S-9: USUBJID not in DM
    """
    if findings.empty:
        return "no findings"
    counts = (findings.groupby(["rule_id", "dataset"], dropna=False, sort=True).size()
              .reset_index(name="n").sort_values(["n", "rule_id"], ascending=[False, True], kind="mergesort"))
    parts = [f"{r.rule_id} {r.dataset} x{r.n}" for r in counts.head(12).itertuples()]
    if len(counts) > 12:
        parts.append(f"... {len(counts) - 12} more rule/dataset pairs")
    sample = findings.head(examples)
    shown = []
    for r in sample.itertuples():
        where = f"record {r.record}" if pd.notna(r.record) else "dataset"
        who = f" {r.usubjid}" if r.usubjid is not None else ""
        shown.append(f"{r.rule_id} {r.dataset} {where}{who}: {r.message}")
    return f"{len(findings)} finding(s): {', '.join(parts)}; e.g. " + " | ".join(shown)


def evaluate_gate(findings: pd.DataFrame, gate: str, raise_on_gate: bool = True) -> pd.DataFrame:
    """Raise :class:`GateFailed` (exit 1) when findings reach the gate severity; return them.

    >>> f = make_findings("A", "warning", "AE", "m", "pandera")
    >>> len(evaluate_gate(f, "error")), len(evaluate_gate(f, "warning", raise_on_gate=False))
    (0, 1)
    """
    blocking = findings_at_or_above(findings, gate)
    if len(blocking) and raise_on_gate:
        raise GateFailed(f"{len(blocking)} finding(s) at severity '{gate}' or worse. "
                         + summarise_findings(blocking))
    return blocking
