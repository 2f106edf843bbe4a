"""Run a mapping file over raw exports: ingest, bind, map, quarantine, count.

The flow for one domain::

    sources -> files (per site) -> read as text + lineage -> site renames / value maps / decimal marks
            -> filter -> exact duplicates -> transpose -> variables (algorithm applications)
            -> required keys -> known subjects -> records + quarantine + flags + ledger counts

Every raw row read is either mapped (one or more records) or quarantined once, with a reason;
:func:`check_ledger` proves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.ingest.readers import LINEAGE_COLUMNS, ReaderOptions, add_lineage, detect_format, file_manifest_entry, read_raw_file
from pipeline.sdtm.mapping.algorithms import (
    REGISTRY, Batch, Columns, DateDialect, MappingEnv, condition_columns, evaluate_condition)
from pipeline.sdtm.mapping.spec import Application, DomainMapping, SourceSpec, TransposeSpec, Where, merge_variables

QUARANTINE_COLUMNS = ["domain", "file", "row", "site", "subject", "column", "value", "category", "reason", "record"]
_CATEGORY = re.compile(r"^([^'(=]*?)\s*(?:'|\(|=|$)")


def reason_category(reason: str) -> str:
    """The category of a quarantine reason: its words before the first quote or parenthesis.

    >>> reason_category("unparseable date '2019/13' (expected %Y-%m-%d) in column AESTDAT")
    'unparseable date'
    >>> reason_category("exact duplicate of row 4")
    'exact duplicate'
    """
    text = str(reason)
    if text.startswith("exact duplicate"):
        return "exact duplicate"
    match = _CATEGORY.match(text)
    category = match.group(1).strip() if match else text
    return category or text


@dataclass
class IngestedFile:
    """One raw file read for one source: the text frame with lineage and the site's effective source."""

    relative: str
    site: str
    frame: pd.DataFrame
    source: SourceSpec
    options: ReaderOptions
    rows_read: int
    manifest: dict[str, Any]
    original: pd.DataFrame | None = None
    batch: str = ""


@dataclass
class DomainResult:
    """Records (SDTM variables plus lineage columns), quarantined rows, flags, per-file counts."""

    domain: str
    data: pd.DataFrame
    quarantine: pd.DataFrame
    flags: pd.DataFrame
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    merged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["_file", "_row"]))


def _safe_relative(raw_dir: Path, path: Path) -> str:
    resolved, root = path.resolve(), raw_dir.resolve()
    if root != resolved and root not in resolved.parents:
        raise ConfigError(f"{path}: outside the raw directory {raw_dir} (symlinks or '..' are not followed)")
    return path.resolve().relative_to(root).as_posix()


def discover_files(source: SourceSpec, raw_dir: Path) -> list[tuple[str, str, Path]]:
    """``(relative path, site, absolute path)`` of every file a source reads, sites' own globs included.

    The site comes from the path (``site.from_path`` regex with a ``site`` group, default
    ``site_(?P<site>[^/]+)/``). Files matched by a site's own ``files`` glob belong to that site.

    >>> import tempfile
    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> raw = Path(tempfile.mkdtemp())
    >>> for name in ("site_101/ae.csv", "site_102/ae.xlsx", "site_102/ae.csv"):
    ...     (raw / name).parent.mkdir(exist_ok=True); _ = (raw / name).write_text("x")
    >>> text = "domain: AE\\nsources:\\n  - {form: ae, files: 'site_*/ae.csv', sites: {'102': {files: site_102/ae.xlsx}}}\\n"
    >>> source = load_mapping(raw / "ae.yaml", text=text).sources[0]
    >>> [(rel, site) for rel, site, _ in discover_files(source, raw)]
    [('site_101/ae.csv', '101'), ('site_102/ae.xlsx', '102')]
    """
    raw_dir = Path(raw_dir)
    pattern = re.compile(source.site_pattern)
    found: dict[str, tuple[str, str, Path]] = {}
    own_files = {site for site, override in source.sites.items() if "files" in override.raw}
    for site in sorted(own_files):
        for path in sorted(raw_dir.glob(str(source.sites[site].raw["files"]))):
            if path.is_file():
                rel = _safe_relative(raw_dir, path)
                found[rel] = (rel, site, path)
    for path in sorted(raw_dir.glob(source.files)):
        if not path.is_file():
            continue
        rel = _safe_relative(raw_dir, path)
        match = pattern.search(rel)
        site = match.group("site") if match and "site" in match.groupdict() else ""
        if rel in found or site in own_files:
            continue  # a site that declares its own files reads only those
        found[rel] = (rel, site, path)
    return [found[k] for k in sorted(found)]


def ingest_source(source: SourceSpec, raw_dir: Path) -> list[IngestedFile]:
    """Read every file of a source with its site's reader options; apply renames, value maps, decimals.

    >>> import tempfile
    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> raw = Path(tempfile.mkdtemp()); (raw / "site_101").mkdir()
    >>> _ = (raw / "site_101" / "vs.csv").write_text("Subj;Gewicht\\n7;70,5\\n")
    >>> text = ("domain: VS\\nsources:\\n  - form: vs\\n    files: site_*/vs.csv\\n    subject: Subj\\n"
    ...         "    reader: {delimiter: ';', decimal: ','}\\n    numeric: [weight]\\n    rename: {Gewicht: weight}\\n")
    >>> item = ingest_source(load_mapping(raw / "vs.yaml", text=text).sources[0], raw)[0]
    >>> item.frame[["Subj", "weight", "_file", "_row", "_site", "_subject"]].values.tolist()
    [['7', '70.5', 'site_101/vs.csv', 1, '101', '7']]
    """
    out = []
    for rel, site, path in discover_files(source, raw_dir):
        effective = source.for_site(site)
        try:
            options = ReaderOptions.from_dict(effective.reader, where=f"{source.where} reader options of site {site}")
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        frame = shared_values(read_raw_file(path, options))
        manifest = file_manifest_entry(path, rel, len(frame), detect_format(path, options))
        original = frame  # as read, for the quarantine's raw records (prepare_frame works on a copy)
        frame = prepare_frame(frame, effective, options)
        frame = add_lineage(frame, rel, site)
        if effective.subject:
            if effective.subject not in frame.columns:
                raise effective.where.error(f"source {source.form}: subject column '{effective.subject}' not found in "
                                            f"{rel} (columns: {', '.join(c for c in frame.columns if not c.startswith('_'))})")
            frame["_subject"] = frame[effective.subject]
        override = source.sites.get(site)
        own = override is not None and ("variables" in override.raw or "filter" in override.raw)
        batch = f"{source.form}|{'merge' if source.merge else ''}|{site if own else ''}"
        out.append(IngestedFile(rel, site, frame, effective, options, len(frame), manifest, original, batch))
    return out


def shared_values(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with equal cells of a column sharing one value object: a raw column repeats few
    distinct values (sites, visits, units, codes), so memory follows the distinct values, not the cells.

    >>> frame = shared_values(pd.DataFrame({"A": ["x", "".join(["x"]), None]}))
    >>> frame["A"].tolist(), frame["A"][0] is frame["A"][1]
    (['x', 'x', None], True)
    """
    columns = {}
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if values.dtype != object:
            columns[position] = values.to_numpy()
            continue
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        shared = np.asarray(uniques, dtype=object).take(np.where(codes < 0, 0, codes)) if len(uniques) else \
            values.to_numpy(dtype=object, copy=True)
        missing = codes < 0
        if missing.any() and len(uniques):
            shared[missing] = values.to_numpy(dtype=object)[missing]
        columns[position] = shared
    out = pd.DataFrame(columns, index=frame.index)  # by position: a header may repeat a name
    out.columns = frame.columns
    return out


def prepare_frame(frame: pd.DataFrame, source: SourceSpec, options: ReaderOptions) -> pd.DataFrame:
    """Site renames to canonical column names, site value maps, and decimal commas to points.

    >>> from pipeline.sdtm.mapping.spec import SourceSpec, Where
    >>> src = SourceSpec("vs", "*.csv", "", None, {}, ("WT",), (), {}, {"Gewicht": "WT"}, None, {}, None, {}, {}, Where(Path("m"), 1))
    >>> prepare_frame(pd.DataFrame({"Gewicht": ["70,5"]}), src, ReaderOptions(decimal=",")).to_dict("records")
    [{'WT': '70.5'}]
    """
    frame = frame.rename(columns=source.rename)
    for column, value_map in source.values.items():
        if column in frame.columns:
            frame[column] = frame[column].replace({str(k): str(v) for k, v in value_map.items()})
    if options.decimal != ".":
        for column in source.numeric:
            if column in frame.columns:
                frame[column] = frame[column].str.replace(options.decimal, ".", regex=False)
    return frame


def _effective_variables(mapping: DomainMapping, source: SourceSpec) -> dict[str, tuple[Application, ...]]:
    """Domain variables, replaced or extended by the source's (and its site's) own; a ``merge`` source's only."""
    return dict(source.variables) if source.merge else merge_variables(mapping.variables, source.variables)


def check_bindings(mapping: DomainMapping, ingested: IngestedFile) -> None:
    """Fail before mapping when an application names a column the file does not have (file + line).

    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> mapping = load_mapping(Path("ae.yaml"), text="domain: AE\\nsources: []\\nvariables:\\n  AETERM: {assign: verbatim}\\n")
    >>> item = IngestedFile("site_1/ae.csv", "1", pd.DataFrame({"term": ["x"]}), SourceSpec(
    ...     "ae", "*.csv", "", None, {}, (), (), {}, {}, None, {}, None, {}, {}, Where(Path("ae.yaml"), 3)),
    ...     ReaderOptions(), 1, {})
    >>> check_bindings(mapping, item)
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ae.yaml:4: variable AETERM: column 'verbatim' not found in site_1/ae.csv (columns: term; variables defined above: none)
    """
    source = ingested.source
    available = set(ingested.frame.columns)
    transpose = source.transpose or mapping.transpose
    if transpose is not None:
        for item in transpose.items:
            if item["column"] not in available:
                raise transpose.where.error(f"transpose item column '{item['column']}' not found in {ingested.relative} "
                                            f"(columns: {_show_columns(ingested.frame)})")
            for value in (item.get("set") or {}).values():
                if isinstance(value, dict) and value.get("column") not in available:
                    raise transpose.where.error(f"transpose set column '{value.get('column')}' not found in "
                                                f"{ingested.relative}")
        available |= {k for item in transpose.items for k in (item.get("set") or {})} | {transpose.value_to}
    if source.filter is not None:
        condition = source.filter.get("condition", source.filter) if isinstance(source.filter, dict) else None
        for name in condition_columns(condition):
            if name.replace("raw.", "", 1) not in available:
                raise source.where.error(f"filter column '{name}' not found in {ingested.relative} "
                                         f"(columns: {_show_columns(ingested.frame)})")
    defined: set[str] = set()
    for variable, applications in _effective_variables(mapping, source).items():
        for app in applications:
            names = REGISTRY[app.algorithm].referenced_columns(app.params) + condition_columns(app.condition)
            for name in names:
                bare = name[4:] if name.startswith("raw.") else name
                if bare in available or (not name.startswith("raw.") and bare in defined):
                    continue
                raise app.where.error(f"variable {variable}: column '{bare}' not found in {ingested.relative} "
                                      f"(columns: {_show_columns(ingested.frame)}; variables defined above: "
                                      f"{', '.join(sorted(defined)) or 'none'})")
        defined.add(variable)


def mapping_applications(mapping: DomainMapping) -> list[Application]:
    """Every algorithm application of a mapping: its variables, its sources' and their sites' own."""
    applications = [a for apps in mapping.variables.values() for a in apps]
    for source in mapping.sources:
        applications += [a for apps in source.variables.values() for a in apps]
        for override in source.sites.values():
            applications += [a for apps in override.raw.get("_variables", {}).values() for a in apps]
    return applications


def looked_up_datasets(mappings: dict[str, DomainMapping]) -> set[str]:
    """Names of the datasets the ``lookup`` applications of ``mappings`` read (a domain, TV, design.arms ...)."""
    return {str(app.params["dataset"]) for mapping in mappings.values() for app in mapping_applications(mapping)
            if app.algorithm == "lookup"}


def check_references(mapping: DomainMapping, env: MappingEnv, known_datasets: set[str]) -> None:
    """Fail before mapping when an application names an unknown codelist, dataset or study.yaml entry.

    >>> from pipeline.sdtm.mapping.examples import example_env
    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> text = "domain: AE\\nsources: []\\nvariables:\\n  AESEV: {assign_ct: {column: sev, codelist: SEVERITY}}\\n"
    >>> check_references(load_mapping(Path("ae.yaml"), text=text), example_env(), {"TV"})
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: ae.yaml:4: variable AESEV: unknown codelist 'SEVERITY' (known: ...)
    """
    for app in mapping_applications(mapping):
        params = app.params
        try:
            if app.algorithm == "assign_ct" and params.get("codelist"):
                env.codelist(str(params["codelist"]))
            if app.algorithm == "hardcode" and "design" in params:
                env.design_value(str(params["design"]))
            if app.algorithm == "concat":
                for part in params["columns"]:
                    if isinstance(part, dict) and "design" in part:
                        env.design_value(str(part["design"]))
            if app.algorithm == "derive" and params.get("precision_from"):
                env.design_value(str(params["precision_from"]))
            if app.algorithm == "lookup":
                name = str(params["dataset"])
                if name.startswith("design."):
                    env.dataset(name)
                elif name not in known_datasets:
                    raise KeyError(f"lookup dataset '{name}' is not available here (known: "
                                   f"{', '.join(sorted(known_datasets))}, or design.<list>; a domain must be mapped first)")
        except ConfigError as exc:
            raise app.where.error(f"variable {app.variable}: {exc}") from None
        except KeyError as exc:
            raise app.where.error(f"variable {app.variable}: {exc.args[0]}") from None


def _show_columns(frame: pd.DataFrame, limit: int = 30) -> str:
    names = [c for c in frame.columns if not c.startswith("_")]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _raw_record_json(frame: pd.DataFrame) -> pd.Series:
    columns = [c for c in frame.columns if not c.startswith("_")]
    if frame.empty:
        return pd.Series([], dtype=object)
    return frame[columns].apply(lambda r: json.dumps(dict(r), ensure_ascii=False, sort_keys=True), axis=1)


def quarantine_rows(domain: str, frame: pd.DataFrame, column: pd.Series | str, value: pd.Series | str,
                     reason: pd.Series | str) -> pd.DataFrame:
    """Quarantine rows (one per raw row) from lineage columns, the culprit column/value and the reason.

    The reason is prefixed with ``<file> row <n>:`` and its category kept for the ledger; the raw
    record (``record``) is attached later from the file as read.

    >>> rows = pd.DataFrame({"_file": ["site_1/vs.csv"], "_row": [3], "_site": ["1"], "_subject": ["7"]})
    >>> quarantine_rows("VS", rows, "date", "31.02.2020", pd.Series(["impossible date '31.02.2020'"]))[
    ...     ["file", "row", "column", "category", "reason"]].values.tolist()
    [['site_1/vs.csv', 3, 'date', 'impossible date', "site_1/vs.csv row 3: impossible date '31.02.2020'"]]
    """
    if frame.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    out = pd.DataFrame({
        "domain": domain, "file": frame["_file"].values, "row": frame["_row"].values.astype("int64"),
        "site": frame["_site"].values, "subject": frame["_subject"].values,
        "column": column.values if isinstance(column, pd.Series) else column,
        "value": value.values if isinstance(value, pd.Series) else value,
        "reason": reason.values if isinstance(reason, pd.Series) else reason,
    })
    out["category"] = out["reason"].map(reason_category)
    out["record"] = None
    out["reason"] = (out["file"] + " row " + out["row"].astype(str) + ": " + out["reason"].astype(str))
    return out[QUARANTINE_COLUMNS]


def apply_transpose(frame: pd.DataFrame, transpose: TransposeSpec, unread: Collection[str] = ()
                    ) -> tuple[pd.DataFrame, pd.Series]:
    """Wide to long: one record per item whose cell is non-empty (or every item with ``keep_empty``).

    Returns the long frame (raw columns kept, item ``set`` values and ``value_to`` added) and a
    boolean series over the wide rows that produced no record at all. ``unread`` names raw columns
    that no variable reads: they stay out of the long frame, which repeats every column it keeps per item.

    >>> from pipeline.sdtm.mapping.spec import TransposeSpec, Where
    >>> spec = TransposeSpec(({"column": "HT", "set": {"VSTESTCD": "HEIGHT"}}, {"column": "WT", "set": {"VSTESTCD": "WEIGHT"}}),
    ...                      "_value", False, Where(Path("vs.yaml"), 3))
    >>> long, empty = apply_transpose(pd.DataFrame({"HT": ["170", ""], "WT": ["70", ""]}), spec)
    >>> long[["VSTESTCD", "_value"]].values.tolist(), empty.tolist()
    ([['HEIGHT', '170'], ['WEIGHT', '70']], [False, True])
    """
    columns = [item["column"] for item in transpose.items]
    values = frame[columns].astype(object).where(frame[columns].notna(), "").astype(str).to_numpy()
    n_rows, n_items = values.shape
    row_idx = np.repeat(np.arange(n_rows), n_items)
    item_idx = np.tile(np.arange(n_items), n_rows)
    flat = values.reshape(-1)
    if not transpose.keep_empty:
        keep = np.char.strip(flat.astype(str)) != "" if flat.size else np.zeros(0, dtype=bool)
        row_idx, item_idx, flat = row_idx[keep], item_idx[keep], flat[keep]
    left_out = set(unread)
    long = frame[[c for c in frame.columns if c not in left_out]].iloc[row_idx].reset_index(drop=True)
    long[transpose.value_to] = flat
    long["_item"] = item_idx
    long["_item_column"] = np.array(columns, dtype=object)[item_idx] if n_items else []
    keys = list(dict.fromkeys(k for item in transpose.items for k in (item.get("set") or {})))
    for key in keys:
        out = np.full(len(long), None, dtype=object)
        for number, item in enumerate(transpose.items):
            value = (item.get("set") or {}).get(key)
            rows = item_idx == number
            if not rows.any():
                continue
            if isinstance(value, dict):
                out[rows] = frame[value["column"]].to_numpy()[row_idx[rows]]
            else:
                out[rows] = value
        long[key] = out
    long["_wide_index"] = frame.index.to_numpy()[row_idx]
    produced = pd.Series(np.isin(np.arange(n_rows), row_idx), index=frame.index)
    return long, ~produced


def map_rows(frame: pd.DataFrame, variables: dict[str, tuple[Application, ...]], env: MappingEnv,
             batch: Batch = Batch()) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply every variable's algorithm applications to ``frame``.

    Returns ``(out, quarantine_reasons, flag_reasons)``; the reason frames have one row per
    problem: index of the record, variable, column, raw value, reason.

    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> mapping = load_mapping(Path("x.yaml"), text="domain: AE\\nsources: []\\nvariables:\\n"
    ...     "  AETERM: {assign: term}\\n  AESTDTC: {iso8601: {column: start, formats: ['%d.%m.%Y']}}\\n")
    >>> out, problems, flags = map_rows(pd.DataFrame({"term": ["Rash", "Fever"], "start": ["01.02.2020", "31.02.2020"]}),
    ...                                 mapping.variables, MappingEnv())
    >>> out.values.tolist(), problems["reason"].tolist()
    ([['Rash', '2020-02-01'], ['Fever', None]], ["impossible date '31.02.2020' (day 31 does not exist in 2020-02) in column start"])
    """
    out: dict[str, pd.Series] = {}
    columns = Columns(frame, out, batch)
    problems: list[pd.DataFrame] = []
    flags: list[pd.DataFrame] = []
    last_readers = _names_by_last_reader(variables)
    for position, (variable, applications) in enumerate(variables.items()):
        current = pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)
        for app in applications:
            mask = evaluate_condition(app.condition, columns) if app.condition is not None else None
            try:
                result = REGISTRY[app.algorithm].function(columns, app.params, env)
            except (KeyError, ValueError, TypeError) as exc:
                raise app.where.error(f"variable {variable}: {app.algorithm} failed: {exc}") from None
            values = result.values
            if mask is not None:
                if values.dtype != object:
                    current = current.astype(object)
                current = current.where(~mask, values.astype(object) if values.dtype == object else values)
            else:
                current = values
            if result.reason is not None:
                reason = result.reason if mask is None else result.reason.where(mask, None)
                bad = reason.notna()
                if bad.any():
                    referenced = REGISTRY[app.algorithm].referenced_columns(app.params)
                    col = referenced[0] if referenced else variable
                    raw_value = columns.text(col)[bad] if columns.has(col) else ""
                    table = pd.DataFrame({"variable": variable, "column": col, "value": raw_value,
                                          "reason": reason[bad].astype(str)}, index=reason.index[bad])
                    (flags if app.on_error == "flag" else problems).append(table)
        out[variable] = current
        columns.forget(variable)
        for name in last_readers.get(position, ()):  # no later variable reads it: its text need not stay
            columns.forget(name)
    empty = pd.DataFrame(columns=["variable", "column", "value", "reason"])
    # copy=False: the variables become the frame's columns as they are, not copied into one block
    return (pd.DataFrame(out, index=frame.index, copy=False),
            *(pd.concat(found) if found else empty for found in (problems, flags)))


def _names_by_last_reader(variables: dict[str, tuple[Application, ...]]) -> dict[int, list[str]]:
    """Per variable position, the names (raw columns or variables) that no later variable reads.

    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> mapping = load_mapping(Path("x.yaml"), text="domain: AE\\nsources: []\\nvariables:\\n"
    ...     "  AETERM: {assign: term}\\n  AEDECOD: {assign: term}\\n  AESTDTC: {iso8601: start}\\n")
    >>> _names_by_last_reader(mapping.variables)
    {1: ['term'], 2: ['start']}
    """
    last: dict[str, int] = {}
    for position, applications in enumerate(variables.values()):
        for app in applications:
            for name in REGISTRY[app.algorithm].referenced_columns(app.params) + condition_columns(app.condition):
                last[name] = position
    by_position: dict[int, list[str]] = {}
    for name, position in last.items():
        by_position.setdefault(position, []).append(name)
    return by_position


def blank_or_missing(values: pd.Series) -> np.ndarray:
    """Which values are missing or text of spaces only; each distinct value is looked at once.

    >>> blank_or_missing(pd.Series(["a", " ", None, float("nan"), 0.0, ""])).tolist()
    [False, True, True, True, False, True]
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    blank = np.array([str(u).strip() == "" for u in uniques] + [True], dtype=bool)
    return blank[codes]  # code -1 (missing) takes the last, True


def from_raw_rows(records: pd.DataFrame, raw_rows: pd.DataFrame) -> np.ndarray:
    """Which ``records`` come from a raw row (``_file``, ``_row``) of ``raw_rows``."""
    keys = pd.MultiIndex.from_frame(records[["_file", "_row"]])
    return keys.isin(pd.MultiIndex.from_frame(raw_rows[["_file", "_row"]]))


def _first_problem_per_row(problems: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """One problem per raw row (the first, in variable order), with the count of others in the reason."""
    if problems.empty:
        return problems.assign(_file=[], _row=[])
    joined = problems.join(keys)
    counts = joined.groupby(["_file", "_row"])["reason"].transform("size")
    first = ~joined.duplicated(subset=["_file", "_row"], keep="first")
    result = joined[first].copy()
    extra = counts[first] - 1
    result["reason"] = result["reason"].where(extra == 0, result["reason"] + " (and " + extra.astype(str) + " more)")
    return result


def _prepare_work(mapping: DomainMapping, ingested: IngestedFile) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Per-file steps before the variables: source filter, exact duplicates, transpose."""
    source, frame, domain = ingested.source, ingested.frame, mapping.domain
    quarantine: list[pd.DataFrame] = []
    if source.filter is not None:
        condition = source.filter.get("condition", source.filter) if isinstance(source.filter, dict) else source.filter
        label = source.filter.get("reason", "row excluded by the source filter") if isinstance(source.filter, dict) else ""
        keep = evaluate_condition(condition, Columns(frame))
        quarantine.append(quarantine_rows(domain, frame[~keep], "", "", f"excluded by filter: {label}"))
        frame = frame[keep]
    if mapping.duplicates == "quarantine" and len(frame):
        data_columns = [c for c in frame.columns if not c.startswith("_")]
        duplicated = frame.duplicated(subset=data_columns, keep="first")
        if duplicated.any():
            first_row = frame.groupby(data_columns, sort=False, dropna=False)["_row"].transform("first")
            reason = "exact duplicate of row " + first_row[duplicated].astype(str)
            quarantine.append(quarantine_rows(domain, frame[duplicated], "", "", reason))
            frame = frame[~duplicated]
    transpose = source.transpose or mapping.transpose
    work = frame
    if transpose is not None:
        read = {name[4:] if name.startswith("raw.") else name for app in mapping_applications(mapping)
                for name in REGISTRY[app.algorithm].referenced_columns(app.params) + condition_columns(app.condition)}
        # the item columns' values move to value_to: one that no variable of any site reads is not repeated per record
        unread = [item["column"] for item in transpose.items if item["column"] not in read]
        work, no_record = apply_transpose(frame, transpose, unread)
        if no_record.any():
            columns = ",".join(i["column"] for i in transpose.items[:3]) + ",..."
            quarantine.append(quarantine_rows(domain, frame[no_record], columns, "",
                                              "empty record (no value in any transposed column)"))
    return work, quarantine


def map_file(mapping: DomainMapping, ingested: IngestedFile | list[IngestedFile], env: MappingEnv
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Map one ingested file, or a batch of files sharing the same variables; returns
    ``(records, quarantine, flags)`` (records keep lineage columns).

    Per-file steps (filter, duplicates, transpose) run file by file; the variables run once over the
    batch, with each row's site date dialect (:class:`~pipeline.sdtm.mapping.algorithms.Batch`) so a
    batch may mix date dialects.

    See :func:`map_domain` for an example.
    """
    items = ingested if isinstance(ingested, list) else [ingested]
    domain = mapping.domain
    quarantine: list[pd.DataFrame] = []
    works, dialects = [], []
    for item in items:
        work, q = _prepare_work(mapping, item)
        quarantine.extend(q)
        works.append(work)
        dialects.append(DateDialect(tuple(item.source.date_formats) or ("iso8601",), dict(item.source.month_names),
                                    item.source.time_precision))
    batch = Batch(tuple(dialects), np.repeat(np.arange(len(works)), [len(w) for w in works]))
    # a column one file of the batch lacks is missing (NaN) in its rows: algorithms read columns as text
    # (Columns.text: '' for missing), so no fill over the whole batch is needed
    work = pd.concat(works, ignore_index=True) if len(works) > 1 else works[0].reset_index(drop=True)
    del works
    variables = _effective_variables(mapping, items[0].source)
    transposes = [t for t in (i.source.transpose or mapping.transpose for i in items) if t is not None]
    if transposes:
        set_keys = [k for t in transposes for item in t.items for k in (item.get("set") or {})]
        auto = [k for k in dict.fromkeys(set_keys) if re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", k) and k not in variables]
        if auto:
            extra = {k: (Application(k, "assign", {"column": f"raw.{k}"}, None, "quarantine", transposes[0].where),) for k in auto}
            variables = {**extra, **variables}
    out, problems, flags = map_rows(work, variables, env, batch)
    out = pd.concat([out, work[LINEAGE_COLUMNS]], axis=1)
    for variable in [v for v in mapping.required if v in out.columns]:  # required variables (keys) missing
        missing = blank_or_missing(out[variable])
        explained = out.index.isin(problems.index[problems["variable"] == variable])  # e.g. an impossible date
        missing &= ~explained
        if missing.any():
            problems = pd.concat([problems, pd.DataFrame({"variable": variable, "column": variable, "value": "",
                                                          "reason": f"missing key {variable}"}, index=out.index[missing])])
    if not problems.empty:
        first = _first_problem_per_row(problems, work[["_file", "_row"]])
        hit = work.loc[first.index]
        quarantine.append(quarantine_rows(domain, hit, first["column"], first["value"], first["reason"]))
        out = out[~from_raw_rows(out, first)]  # every record of a quarantined raw row
    flag_rows = pd.DataFrame(columns=QUARANTINE_COLUMNS)
    if not flags.empty:
        joined = flags.join(work[LINEAGE_COLUMNS])
        joined = joined[from_raw_rows(joined, out)]
        flag_rows = quarantine_rows(domain, work.loc[joined.index], joined["column"], joined["value"], joined["reason"])
    return out.reset_index(drop=True), _stack(quarantine), flag_rows


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty quarantine (or flag) frames stacked, or an empty one."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=QUARANTINE_COLUMNS)


def _attach_raw_records(quarantine: pd.DataFrame, ingested: list[IngestedFile], drop_fields: set[str] | None = None
                       ) -> pd.DataFrame:
    """Fill the ``record`` column with the raw row as read (JSON), leaving out personal fields
    (study.yaml ``privacy.drop_raw_fields``, on the raw or the canonical column name, any case)."""
    if quarantine.empty:
        return quarantine
    out = quarantine.copy()
    drop = {str(f).lower() for f in (drop_fields or ())}
    items = {item.relative: item for item in ingested if item.original is not None}
    records = pd.Series(np.full(len(out), None, dtype=object), index=out.index)
    for file, group in out.groupby("file", sort=False):
        item = items.get(file)
        if item is None:
            continue
        hidden = [c for c in item.original.columns
                  if c.lower() in drop or str(item.source.rename.get(c, c)).lower() in drop]
        # row n is at label n - 1: the file as read, or a dask subject slice of it keeping its labels
        rows = item.original.loc[group["row"].to_numpy() - 1].drop(columns=hidden)
        records.loc[group.index] = _raw_record_json(rows).values
    out["record"] = records
    return out


def merge_records(domain: str, data: pd.DataFrame, extra: pd.DataFrame, by: tuple[str, ...],
                  where: Where) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join a merge source's mapped rows onto the domain's records by key.

    Rows whose key has no record, or appears twice, are returned for the quarantine.

    >>> data = pd.DataFrame({"USUBJID": ["A", "B"], "SEX": ["F", "M"], "_file": "dm.csv", "_row": [1, 2]})
    >>> extra = pd.DataFrame({"USUBJID": ["A", "C"], "ARMCD": ["X", "Y"], "_file": "rand.csv", "_row": [1, 2],
    ...                       "_site": "1", "_subject": ["1", "3"]})
    >>> merged, rejected = merge_records("DM", data, extra, ("USUBJID",), Where(Path("dm.yaml"), 5))
    >>> merged[["USUBJID", "ARMCD"]].values.tolist(), rejected["reason"].tolist()
    ([['A', 'X'], ['B', None]], ["rand.csv row 2: no DM record with USUBJID='C' to merge into"])
    """
    missing = [k for k in by if k not in extra.columns or k not in data.columns]
    if missing:
        raise where.error(f"merge key(s) {', '.join(missing)} must be variables of both the merge source and {domain}")
    values = [c for c in extra.columns if c not in by and not c.startswith("_")]
    # an empty frame's row-wise agg gives a frame, not a series (a merge source export with no rows)
    key_text = extra[list(by)].astype(str).agg("|".join, axis=1) if len(extra) else \
        pd.Series([], index=extra.index, dtype=object)
    known = set(data[list(by)].astype(str).agg("|".join, axis=1)) if len(data) else set()
    duplicated = key_text.duplicated(keep="first")
    unmatched = ~key_text.isin(known)
    reasons = pd.Series([None] * len(extra), index=extra.index, dtype=object)
    shown = extra[list(by)].astype(str).apply(lambda r: ", ".join(f"{k}='{v}'" for k, v in r.items()), axis=1) \
        if len(extra) else pd.Series([], dtype=object)
    reasons[duplicated] = "duplicate key " + shown[duplicated] + " in the merge source"
    reasons[unmatched] = f"no {domain} record with " + shown[unmatched] + " to merge into"
    bad = reasons.notna()
    rejected = quarantine_rows(domain, extra[bad], ",".join(by), key_text[bad], reasons[bad])
    good = extra[~bad][list(by) + values]
    merged = data.drop(columns=[c for c in values if c in data.columns]).merge(good, on=list(by), how="left")
    for column in values:
        merged[column] = merged[column].astype(object).where(merged[column].notna(), None)
        if column in data.columns:  # keep the primary value where the merge source has none
            merged[column] = merged[column].where(merged[column].notna(), data[column].values)
    merged.attrs["merged_rows"] = extra[~bad][["_file", "_row"]]
    return merged, rejected


def map_domain(mapping: DomainMapping, ingested: list[IngestedFile], env: MappingEnv) -> DomainResult:
    """Map every ingested file of a domain; merge sources join onto the records; count rows per file.

    >>> from pipeline.sdtm.mapping.examples import example_env
    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> mapping = load_mapping(Path("ae.yaml"), text="domain: AE\\nsources: [{form: ae, files: x}]\\nrequired: [AETERM]\\n"
    ...                                               "variables:\\n  AETERM: {assign: term}\\n")
    >>> frame = pd.DataFrame({"term": ["Rash", ""], "_file": "a.csv", "_row": [1, 2], "_site": "1", "_subject": "7"})
    >>> item = IngestedFile("a.csv", "1", frame, mapping.sources[0], ReaderOptions(), 2, {}, None, "ae")
    >>> result = map_domain(mapping, [item], example_env())
    >>> result.data["AETERM"].tolist(), result.quarantine["reason"].tolist()
    (['Rash'], ['a.csv row 2: missing key AETERM'])
    >>> count_rows(result)["a.csv"]["rows_quarantined"]
    1
    """
    records, quarantine, flags = [], [], []
    merge_outputs: dict[str, list[pd.DataFrame]] = {}
    merge_specs: dict[str, SourceSpec] = {}
    batches: dict[str, list[IngestedFile]] = {}
    for item in ingested:  # files whose site changes the variables or the filter are mapped on their own
        batches.setdefault(item.batch or item.relative, []).append(item)
    for key in sorted(batches):
        batch = batches[key]
        out, q, f = map_file(mapping, batch, env)
        source = batch[0].source
        if source.merge:
            merge_outputs.setdefault(source.form, []).append(out)
            merge_specs[source.form] = source
        else:
            records.append(out)
        quarantine.append(q)
        flags.append(f)
    data = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=list(mapping.variables) + LINEAGE_COLUMNS)
    merged_rows = []
    for form, outputs in merge_outputs.items():
        extra = pd.concat(outputs, ignore_index=True)
        data, rejected = merge_records(mapping.domain, data, extra, merge_specs[form].merge, merge_specs[form].where)
        merged_rows.append(data.attrs.pop("merged_rows"))
        quarantine.append(rejected)
    private = set(env.design_value("privacy.drop_raw_fields", default=[]) or [])
    result = DomainResult(domain=mapping.domain, data=data,
                          quarantine=_attach_raw_records(_stack(quarantine), ingested, private),
                          flags=_attach_raw_records(_stack(flags), ingested, private))
    result.counts = {item.relative: {"rows_read": item.rows_read} for item in ingested}
    result.merged = pd.concat(merged_rows, ignore_index=True) if merged_rows else pd.DataFrame(columns=["_file", "_row"])
    return result


def count_rows(result: DomainResult) -> dict[str, dict[str, Any]]:
    """Per raw file: rows mapped, records written, rows quarantined by category.

    See :func:`map_domain` for an example.
    """
    data = result.data[["_file", "_row"]] if not result.data.empty else pd.DataFrame(columns=["_file", "_row"])
    merged = result.merged[["_file", "_row"]]
    records = data.groupby("_file").size()
    merged_records = merged.groupby("_file").size()
    mapped = pd.concat([data, merged]).drop_duplicates().groupby("_file").size()
    q = result.quarantine
    q_rows = q[["file", "row"]].drop_duplicates().groupby("file").size() if not q.empty else pd.Series(dtype=int)
    q_reason = q.groupby(["file", "category"]).size() if not q.empty else pd.Series(dtype=int)
    f = result.flags
    flagged = f[["file", "row"]].drop_duplicates().groupby("file").size() if not f.empty else pd.Series(dtype=int)
    f_reason = f.groupby(["file", "category"]).size() if not f.empty else pd.Series(dtype=int)
    counts: dict[str, dict[str, Any]] = {}
    for file, info in result.counts.items():
        reasons = q_reason.loc[file] if file in q_rows.index else pd.Series(dtype=int)
        counts[file] = {
            "rows_read": int(info["rows_read"]),
            "rows_mapped": int(mapped.get(file, 0)),
            "records": int(merged_records.get(file, 0) or records.get(file, 0)),
            "rows_quarantined": int(q_rows.get(file, 0)),
            "quarantined_by_reason": {str(k): int(v) for k, v in reasons.sort_index().items()},
            "rows_flagged": int(flagged.get(file, 0)),
            "flagged_by_reason": {str(k): int(v) for k, v in
                                  (f_reason.loc[file] if file in flagged.index else pd.Series(dtype=int)).sort_index().items()},
        }
    return counts


def check_ledger(ledger: dict[str, Any]) -> list[str]:
    """Every (file, domain) pair where rows read != rows mapped + rows quarantined.

    >>> check_ledger({"files": {"a.csv": {"rows_read": 3, "domains": {"AE": {"rows_mapped": 2, "rows_quarantined": 1}}}}})
    []
    >>> check_ledger({"files": {"a.csv": {"rows_read": 3, "domains": {"AE": {"rows_mapped": 1, "rows_quarantined": 1}}}}})
    ['a.csv -> AE: 3 rows read but 1 mapped + 1 quarantined']
    """
    problems = []
    for file, info in sorted(ledger.get("files", {}).items()):
        for domain, counts in sorted(info.get("domains", {}).items()):
            if info["rows_read"] != counts["rows_mapped"] + counts["rows_quarantined"]:
                problems.append(f"{file} -> {domain}: {info['rows_read']} rows read but {counts['rows_mapped']} mapped "
                                f"+ {counts['rows_quarantined']} quarantined")
    return problems


def check_quarantine_gate(ledger: dict[str, Any], quarantine: pd.DataFrame, max_share: float = 0.05,
                          min_rows: int = 5) -> list[str]:
    """Files and domains that lost too many rows: a sign of a wrong mapping, not of a few bad values.

    A file fails when more than ``max_share`` of its rows are quarantined and at least ``min_rows``
    of them (so one bad row in a nine-row file is a query, not a broken export); a domain fails when
    more than ``max_share`` of all its rows are quarantined, or when it reads rows and writes no record.
    Each problem names the file, the leading reason and its first row, column and value.

    >>> ledger = {"files": {"s1/ds.csv": {"rows_read": 10, "domains": {"DS": {"rows_quarantined": 6,
    ...           "quarantined_by_reason": {"impossible date": 6}}}}}, "totals": {"records": {"DS": 4}}}
    >>> q = pd.DataFrame({"domain": ["DS"], "file": ["s1/ds.csv"], "row": [2], "column": ["DSSTDTC"],
    ...                   "value": ["31/02/2020"], "reason": ["impossible date '31/02/2020'"]})
    >>> check_quarantine_gate(ledger, q)[0]
    "s1/ds.csv -> DS: 6 of 10 rows quarantined (60.0%, over the 5.0% limit), mostly impossible date (6); first: row 2, column DSSTDTC, value '31/02/2020'"
    """
    problems = []
    read_by_domain: dict[str, int] = {}
    quarantined_by_domain: dict[str, int] = {}
    failed_domains: set[str] = set()
    for file, info in sorted(ledger.get("files", {}).items()):
        rows_read = int(info.get("rows_read", 0))
        for domain, counts in sorted(info.get("domains", {}).items()):
            lost = int(counts.get("rows_quarantined", 0))
            read_by_domain[domain] = read_by_domain.get(domain, 0) + rows_read
            quarantined_by_domain[domain] = quarantined_by_domain.get(domain, 0) + lost
            if rows_read and lost / rows_read > max_share and lost >= min_rows:
                failed_domains.add(domain)
                reasons = counts.get("quarantined_by_reason") or {}
                leading = max(sorted(reasons), key=lambda r: reasons[r]) if reasons else "unknown"
                problems.append(f"{file} -> {domain}: {lost} of {rows_read} rows quarantined ({lost / rows_read:.1%}, "
                                f"over the {max_share:.1%} limit), mostly {leading} ({reasons.get(leading, lost)})"
                                + _first_quarantined(quarantine, file, domain))
    records = ledger.get("totals", {}).get("records", {})
    for domain, rows_read in sorted(read_by_domain.items()):
        lost = quarantined_by_domain[domain]
        if rows_read and not records.get(domain):
            problems.append(f"{domain}: {rows_read} raw rows read and no record written")
        elif rows_read and lost / rows_read > max_share and domain not in failed_domains:
            problems.append(f"{domain}: {lost} of {rows_read} rows quarantined over all files ({lost / rows_read:.1%}, "
                            f"over the {max_share:.1%} limit)")
    return problems


def quarantine_gate_error(lost: list[str], raw_dir: Path | str) -> InputError:
    """The error that stops a run the quarantine gate failed: the first problem, how many more, the fix."""
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    return InputError(f"quarantine gate: {lost[0]}{more} (raw folder {raw_dir}); fix the mapping or the export, "
                      "or set quarantine_gate in study.yaml")


def _first_quarantined(quarantine: pd.DataFrame, file: str, domain: str) -> str:
    rows = quarantine[(quarantine["file"] == file) & (quarantine["domain"] == domain)] if len(quarantine) else quarantine
    if not len(rows):
        return ""
    first = rows.sort_values("row", kind="mergesort").iloc[0]
    column = f", column {first['column']}, value {first['value']!r}" if first["column"] else ""
    return f"; first: row {first['row']}{column}"
