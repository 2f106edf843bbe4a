"""What changed since the last run: findings new, resolved and unchanged per rule and site.

The report keeps a copy of the findings (with their raw sources) and the ledger it last saw under
``reports/history/last/``. When a run brings different findings or ledger, that copy becomes the
baseline ``reports/history/previous/`` and the new one is kept as ``last``; a rerun on the same
inputs changes nothing, so the report stays byte-identical. A findings identity leaves the record
number out (it shifts when a row is fixed): rule, dataset, variable, subject, value and message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import InputError
from pipeline.common.io import csv_text, read_spreadsheet_csv
from pipeline.common.io import write_bytes_atomic, write_text_atomic
from pipeline.report.sections import read_json

HISTORY_DIR = "history"
FINDINGS_FILE = "findings.csv"
LEDGER_FILE = "ledger.json"
IDENTITY = ["rule_id", "dataset", "variable", "usubjid", "value", "message"]


def snapshot_text(findings: pd.DataFrame) -> str:
    """The findings as sorted CSV text (identity columns and site), the form kept between runs.

    >>> snapshot_text(pd.DataFrame({"rule_id": ["B", "A"], "site": ["1", "2"]})).splitlines()[:2]
    ['rule_id,dataset,variable,usubjid,value,message,site', 'A,,,,,,2']
    """
    columns = IDENTITY + ["site"]
    frame = findings.reindex(columns=columns).astype("string").fillna("")
    frame = frame.sort_values(columns, kind="stable")
    return csv_text(frame)


def rotate_history(reports_dir: Path, findings_text: str, ledger_text: str) -> Path | None:
    """Keep the current state as ``last``; move the old ``last`` to ``previous`` when the state changed.

    Returns the baseline folder to compare with (``previous``), or None on the first run.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> rotate_history(root, "a", "{}") is None, rotate_history(root, "a", "{}") is None
    (True, True)
    >>> rotate_history(root, "b", "{}").name, (root / "history" / "previous" / "findings.csv").read_text()
    ('previous', 'a')
    """
    history = Path(reports_dir) / HISTORY_DIR
    last, previous = history / "last", history / "previous"
    last_findings, last_ledger = last / FINDINGS_FILE, last / LEDGER_FILE
    if last_findings.exists():
        old_findings, old_ledger = last_findings.read_bytes(), (last_ledger.read_bytes() if last_ledger.exists() else b"")
        if old_findings != findings_text.encode() or old_ledger != ledger_text.encode():
            write_bytes_atomic(previous / FINDINGS_FILE, old_findings)
            write_bytes_atomic(previous / LEDGER_FILE, old_ledger)
    for path, text in ((last_findings, findings_text), (last_ledger, ledger_text)):
        if not path.exists() or path.read_bytes() != text.encode():
            write_text_atomic(path, text)
    return previous if (previous / FINDINGS_FILE).exists() else None


def find_snapshot(folder: Path) -> Path | None:
    """The kept findings copy in ``folder``: the folder itself, or a run's ``reports/history/last/``.

    >>> find_snapshot(Path("/nowhere")) is None
    True
    """
    folder = Path(folder)
    for candidate in (folder, folder / "reports" / HISTORY_DIR / "last"):
        if (candidate / FINDINGS_FILE).exists():
            return candidate
    return None


def read_snapshot(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The findings and ledger kept in a history folder (see :func:`find_snapshot`)."""
    candidate = find_snapshot(folder)
    if candidate is None:
        raise InputError(f"{folder}: no kept findings ({FINDINGS_FILE}) found, nor reports/{HISTORY_DIR}/last/")
    findings = read_spreadsheet_csv(candidate / FINDINGS_FILE)
    ledger_path = candidate / LEDGER_FILE
    has_ledger = ledger_path.exists() and ledger_path.read_text(encoding="utf-8").strip()
    return findings, read_json(ledger_path) if has_ledger else {}


def compare_findings(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Counts of new, resolved and unchanged findings per rule and site (identity without record number).

    Duplicated identities are matched one to one.

    >>> prev = pd.DataFrame({"rule_id": ["R1", "R1", "R2"], "site": ["1", "1", "2"], "usubjid": ["a", "b", "c"]})
    >>> cur = pd.DataFrame({"rule_id": ["R1", "R3"], "site": ["1", "2"], "usubjid": ["a", "d"]})
    >>> compare_findings(prev, cur).values.tolist()
    [['R1', '1', 0, 1, 1], ['R2', '2', 0, 1, 0], ['R3', '2', 1, 0, 0]]
    """
    columns = IDENTITY + ["site"]

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reindex(columns=columns).astype("string").fillna("")
        return out.assign(_n=out.groupby(columns, sort=False).cumcount())

    merged = keyed(previous).merge(keyed(current), on=columns + ["_n"], how="outer", indicator=True)
    merged["status"] = merged["_merge"].map({"left_only": "resolved", "right_only": "new", "both": "unchanged"})
    table = pd.crosstab([merged["rule_id"], merged["site"]], merged["status"])
    table = table.reindex(columns=["new", "resolved", "unchanged"], fill_value=0).reset_index()
    table.columns.name = None
    return table.sort_values(["rule_id", "site"], kind="stable").reset_index(drop=True)


def compare_records(previous: dict[str, Any], current: dict[str, Any]) -> pd.DataFrame:
    """SDTM records per domain before and now (from the ledgers' totals), with the change.

    >>> compare_records({"totals": {"records": {"AE": 10, "LB": 5}}}, {"totals": {"records": {"AE": 12, "LB": 5}}}).values.tolist()
    [['AE', 10, 12, 2], ['LB', 5, 5, 0]]
    """
    before = ((previous or {}).get("totals") or {}).get("records") or {}
    now = ((current or {}).get("totals") or {}).get("records") or {}
    rows = [{"domain": d, "previous": int(before.get(d, 0)), "current": int(now.get(d, 0)),
             "change": int(now.get(d, 0)) - int(before.get(d, 0))} for d in sorted(set(before) | set(now))]
    return pd.DataFrame(rows, columns=["domain", "previous", "current", "change"])
