"""Stage ``submission``: package SDTM and ADaM as XPT v5, Dataset-JSON v1.1 and define.xml 2.1.

Reads every ``sdtm/*.parquet`` and ``adam/*.parquet`` of the study. The files written, the ASCII
rule of XPT text and where the creation stamps come from (never the wall clock, so reruns are
byte-identical) are described in docs/submission-package.md.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.common.errors import ConfigError, InputError, PipelineError
from pipeline.common.io import (sha256_file, sha256_files, write_bytes_atomic, write_chunks_atomic, write_csv_atomic,
                                write_json_atomic, write_text_atomic)
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext
from pipeline.common.vector import forget_columns, remember_factorization
from pipeline.submit.arm import build_result_displays
from pipeline.submit.ascii import (CHECK_NO_ASCII, CHECK_NON_ASCII, TextConversion, convert_ascii_text,
                                   derive_vars_ascii, load_text_conversion)
from pipeline.submit.csdrg import write_csdrg
from pipeline.submit.datasetjson import (DATASET_JSON_VERSION, build_dataset_json, iter_dataset_json_bytes,
                                         iter_dataset_json_rows, validate_dataset_json)
from pipeline.submit.define import (DEFINE_VERSION, IG_VERSIONS, STYLESHEET_FILE, STYLESHEET_NAME, VALUE_LEVEL_COLUMNS,
                                    DefineContext, assign_codelist_oids, build_codelists, build_define_xml,
                                    build_value_level_meta, check_define_references, render_define_html,
                                    select_codelist_rows, validate_define_xml)
from pipeline.submit.methods import build_adam_methods, combine_methods
from pipeline.submit.prefetch import iter_ahead
from pipeline.common.dates import iso_date
from pipeline.standards.tables import load_standard_origins, submission_datasets
from pipeline.standards.terminology import CT_COLUMNS, load_terminology
from pipeline.submit.metadata import (DatasetMeta, StudySpecs, build_dataset_meta, build_variable_meta,
                                      compute_char_length, iter_rows, load_adam_variables, load_standard_variables,
                                      load_study_specs, installed_version)
from pipeline.submit.xpt import (ISSUE_COLUMNS, MAX_LABEL, check_xpt_limits, check_xpt_read_back, format_xpt_timestamp,
                                 issue_row, prepare_xpt_dataset, write_xpt)

log = get_logger("submit")

DEFAULT_CREATION_DATETIME = "2000-01-01T00:00:00"
STANDARD_FOLDERS = {"SDTM": "sdtm", "ADaM": "adam"}
CHECK_COLUMNS = ISSUE_COLUMNS + ["standard"]
STAGE_SCHEMA_ROWS = 25   # rows per dataset checked by jsonschema; every row is typed by construction


def compute_data_cut(sdtm_dir: Path) -> tuple[str, str] | None:
    """(ISO date, where it came from) of the data cut: the latest end of participation (DM.RFPENDTC),
    else the latest disposition date (DS.DSSTDTC); None without either.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"RFPENDTC": ["2022-09-03", "2021-01", None, "2022-08-30T10:00"]}).to_parquet(folder / "dm.parquet")
    >>> compute_data_cut(folder)
    ('2022-09-03', 'latest DM.RFPENDTC')
    >>> compute_data_cut(Path(tempfile.mkdtemp())) is None
    True
    """
    for domain, variable in (("dm", "RFPENDTC"), ("ds", "DSSTDTC")):
        try:
            column = pq.read_table(Path(sdtm_dir) / f"{domain}.parquet", columns=[variable]).column(0).to_pandas()
        except Exception:  # no such file or column (a damaged file: the packaging step says so)
            continue
        dates = iso_date(column.dropna().astype(str)).dropna()
        if len(dates):
            return dates.max().strftime("%Y-%m-%d"), f"latest {domain.upper()}.{variable}"
    return None


def resolve_creation_datetime(ctx: StudyContext) -> tuple[str, str]:
    """(ISO datetime, where it came from) for every creation stamp of the package, in the order of
    docs/submission-package.md ("Dates of the package"); :data:`DEFAULT_CREATION_DATETIME` without data.

    >>> import tempfile
    >>> ctx = StudyContext.create("iscalimab-ln", outputs=Path(tempfile.mkdtemp()))
    >>> "SOURCE_DATE_EPOCH" in os.environ or resolve_creation_datetime(ctx) == (DEFAULT_CREATION_DATETIME, "default constant")
    True
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            moment = dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).replace(tzinfo=None)
        except ValueError:
            raise ConfigError(f"environment variable SOURCE_DATE_EPOCH={epoch!r}: expected whole seconds since 1970") from None
        return moment.strftime("%Y-%m-%dT%H:%M:%S"), "SOURCE_DATE_EPOCH"
    submission = ctx.spec("submission") if (ctx.specs_dir / "submission.yaml").exists() else None
    in_design = ctx.design.get("submission") if isinstance(ctx.design, dict) else None
    for spec, path, source in ((submission, ctx.specs_dir / "submission.yaml", "submission.yaml creation_datetime"),
                               (in_design, ctx.specs_dir / "study.yaml", "study.yaml submission.creation_datetime")):
        configured = spec.get("creation_datetime") if isinstance(spec, dict) else None
        if configured:
            try:
                moment = dt.datetime.fromisoformat(str(configured))
            except ValueError:
                raise ConfigError(f"{path}: creation_datetime {configured!r} is not an ISO 8601 datetime") from None
            return moment.strftime("%Y-%m-%dT%H:%M:%S"), source
    cut = compute_data_cut(ctx.sdtm_dir)
    if cut:
        return f"{cut[0]}T23:59:59", f"data cut ({cut[1]})"
    return DEFAULT_CREATION_DATETIME, "default constant"


def read_dataset(path: Path) -> tuple[str, pd.DataFrame, dict[str, str], str | None]:
    """(name, frame, variable labels, dataset label) of one parquet dataset (pyarrow metadata ``label``).

    >>> import tempfile, pyarrow as pa
    >>> path = Path(tempfile.mkdtemp()) / "dm.parquet"
    >>> field = pa.field("AGE", pa.int64(), metadata={"label": "Age"})
    >>> pq.write_table(pa.table({"AGE": [40]}, schema=pa.schema([field], metadata={"label": "Demographics"})), path)
    >>> name, _, labels, label = read_dataset(path)
    >>> name, labels, label
    ('DM', {'AGE': 'Age'}, 'Demographics')
    """
    table = _read_parquet(pq.read_table, path)
    labels = {f.name.upper(): f.metadata[b"label"].decode("utf-8", "replace") for f in table.schema
              if (f.metadata or {}).get(b"label")}
    stored_label = (table.schema.metadata or {}).get(b"label", b"").decode("utf-8", "replace") or None
    return path.stem.upper(), table_to_frame(table), labels, stored_label


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()``, but the text columns stored as pandas ``string`` share one Python string per distinct
    value (pyarrow makes one per row for them): Arrow dictionary-encodes each such column, and only its distinct
    values become Python objects. The frame is equal, column types and index included.

    >>> text = pd.Series(["x", None, "x"], dtype="string")
    >>> table = pa.Table.from_pandas(pd.DataFrame({"A": text, "B": [1.0, 2.0, 3.0]}))
    >>> frame = table_to_frame(table)
    >>> frame.equals(table.to_pandas()), str(frame["A"].dtype), frame["A"].iloc[0] is frame["A"].iloc[2]
    (True, 'string', True)
    """
    metadata = table.schema.pandas_metadata or {}
    index_columns = {c for c in metadata.get("index_columns", []) if isinstance(c, str)}
    text = {c["name"] for c in metadata.get("columns", []) if c.get("numpy_type") == "string"
            and c.get("pandas_type") == "unicode"} - index_columns
    text = [name for name in table.column_names if name in text and pa.types.is_string(table.schema.field(name).type)]
    if not text or pd.StringDtype().storage != "python":
        return table.to_pandas()
    rest = table.drop_columns(text).to_pandas()
    columns = {}
    factorizations = {}
    for name in table.column_names:
        if name in index_columns:
            continue
        if name not in text:
            columns[name] = rest[name]
            continue
        encoded = pc.dictionary_encode(table.column(name).combine_chunks())
        distinct = np.array(encoded.dictionary.to_pylist() + [pd.NA], dtype=object)
        # Arrow numbers the distinct values in order of first appearance, as pd.factorize does (missing: -1)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
        columns[name] = pd.arrays.StringArray(distinct[codes])
        factorizations[name] = (codes, distinct[:-1])
    # built in column order without copying the columns (inserting, then reordering, copied every one)
    frame = pd.DataFrame(columns, index=rest.index, copy=False)
    for name, (codes, distinct) in factorizations.items():   # packaging factorises every text column: done here
        remember_factorization(frame[name], codes, distinct)
    return frame


def _checks_frame(rows: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [r for r in rows if len(r)]
    if not frames:
        return pd.DataFrame(columns=CHECK_COLUMNS)
    table = pd.concat(frames, ignore_index=True).reindex(columns=CHECK_COLUMNS, fill_value="")
    table["row"] = pd.to_numeric(table["row"], errors="coerce").astype("Int64")
    return table


@dataclass(frozen=True)
class MetadataSources:
    """Every metadata source of one standard, resolved once per run."""

    standard_variables: pd.DataFrame
    standard_datasets: dict
    origins: dict
    study_specs: dict
    study_variables: pd.DataFrame
    adam_variables: pd.DataFrame
    adam_methods: dict
    sdtm_columns: dict
    text_conversion: TextConversion


def _ascii_label(text: str, conversion: TextConversion, where: str) -> str:
    ascii_text, rule = convert_ascii_text(text, conversion)
    if ascii_text is None:
        raise ConfigError(f"{where}: label {text!r} has no ASCII spelling for XPT v5 ({rule}); "
                          f"give an ASCII label in the specs or a text_conversion entry")
    return ascii_text


def prepare_dataset(path: Path, sources: MetadataSources) -> tuple[DatasetMeta, pd.DataFrame, pd.DataFrame,
                                                                    list[pd.DataFrame], pd.DataFrame]:
    """One dataset ready to write: upper-case names, ASCII text, metadata, every check it raised, and
    the frame with the original UTF-8 text (for Dataset-JSON)."""
    checks: list[pd.DataFrame] = []
    name, frame, stored_labels, stored_label = read_dataset(path)
    lower = [c for c in frame.columns if c != c.upper()]
    if lower:
        checks.append(pd.DataFrame([issue_row(name, c, None, c, "variable name not upper case", "warning",
                                              "upper-cased") for c in lower]))
        frame = frame.rename(columns={c: c.upper() for c in lower})
    original_frame = frame
    conversion = sources.text_conversion
    frame, changes = derive_vars_ascii(frame, name, conversion)
    converted, blocked = changes[changes["replacement"].notna()], changes[changes["replacement"].isna()]
    checks.append(converted.assign(value=converted["original"] + " -> " + converted["replacement"],
                                   check=CHECK_NON_ASCII, severity="notice",
                                   action="XPT spelling by " + converted["rule"] + " (Dataset-JSON keeps the original)"))
    checks.append(blocked.assign(value=blocked["original"], check=CHECK_NO_ASCII, severity="error",
                                 action=f"add the value to text_conversion.values in {conversion.rule_file} ("
                                        + blocked["rule"] + ")"))
    meta = build_dataset_meta(name, list(frame.columns), sources.study_specs, sources.standard_datasets, stored_label)
    if not meta.label.isascii():
        meta = replace(meta, label=_ascii_label(meta.label, conversion, f"dataset {meta.name}"))
    adam_labels = sources.adam_variables[sources.adam_variables["dataset"] == meta.name]
    variables = build_variable_meta(meta, frame, sources.standard_variables, sources.study_variables,
                                    stored_labels, sources.origins, sources.adam_methods, sources.sdtm_columns,
                                    dict(zip(adam_labels["variable"], adam_labels["label"])),
                                    dict(zip(adam_labels["variable"], adam_labels["type"])))
    variables["label"] = [_ascii_label(text, conversion, f"{meta.name}.{variable}")
                          for text, variable in zip(variables["label"].astype(str), variables["variable"])]
    checks.append(pd.DataFrame([issue_row(meta.name, v, None, v, "no label in any metadata source", "warning",
                                          "variable name used as label")
                                for v in variables.loc[variables["label_source"] == "fallback", "variable"]]))
    if meta.label_source == "fallback":
        checks.append(pd.DataFrame([issue_row(meta.name, "", None, meta.label,
                                              "no dataset label in any metadata source", "warning",
                                              "generic label used")]))
    checks.append(check_xpt_limits(meta, frame, variables))
    checks.append(check_types_and_keys(meta, frame, variables))
    # one label everywhere: XPT, Dataset-JSON and define.xml carry the same (cut) text
    variables["label"] = variables["label"].str.slice(0, MAX_LABEL)
    meta = replace(meta, label=meta.label[:MAX_LABEL])
    return meta, frame, variables, checks, original_frame


def json_variable_meta(variables: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """The variable metadata of Dataset-JSON: as define.xml, but text lengths of the original UTF-8 values.

    >>> vm = pd.DataFrame({"variable": ["AETERM", "AESEQ"], "kind": ["char", "integer"], "length": [7, 8]})
    >>> json_variable_meta(vm, pd.DataFrame({"AETERM": ["\u8ca7\u8840", None], "AESEQ": [1.0, 2.0]}))["length"].tolist()
    [7, 8]
    >>> json_variable_meta(vm, pd.DataFrame({"AETERM": ["\u30eb\u30fc\u30d7\u30b9", None], "AESEQ": [1.0, 2.0]}))["length"].tolist()
    [12, 8]
    """
    return variables.assign(length=[max(int(length), compute_char_length(original[v])) if kind == "char" else length
                                    for v, kind, length in zip(variables["variable"], variables["kind"],
                                                               variables["length"])])


def write_dataset_files(out_dir: Path, standard: str, meta: DatasetMeta, frame: pd.DataFrame, variables: pd.DataFrame,
                        original: pd.DataFrame, stamp: str, created: str, define_context: DefineContext, as_of: str) -> None:
    """The XPT (read back and compared) and the Dataset-JSON (schema-checked) of one prepared dataset."""
    prepared = prepare_xpt_dataset(frame, variables)
    xpt_path = write_xpt(out_dir / meta.file_name, frame, meta, variables, stamp, prepared)
    problems = check_xpt_read_back(xpt_path, frame, meta, variables, prepared)
    del prepared
    if problems:
        raise PipelineError(f"{xpt_path}: read-back check failed: {problems[0]} ({len(problems)} difference(s))")
    json_meta = json_variable_meta(variables, original)
    # the schema sees the envelope and the first rows (jsonschema costs about 1 ms a row);
    # every row is then rendered column-wise, so all rows have the columns' width by construction
    obj = build_dataset_json(meta, original.iloc[:STAGE_SCHEMA_ROWS], json_meta, created, define_context.study_oid,
                             define_context.metadata_version_oid, as_of=as_of)
    problems = validate_dataset_json(obj)
    if problems:
        raise PipelineError(f"{out_dir / 'datasetjson' / (meta.name.lower() + '.json')}: not valid Dataset-JSON v1.1: "
                            f"{problems[0]}")
    obj["records"] = int(len(original))
    write_chunks_atomic(out_dir / "datasetjson" / f"{meta.name.lower()}.json",
                        iter_dataset_json_bytes(obj, iter_ahead(iter_dataset_json_rows(original, json_meta))))
    log.info("%s %s: %d records, %d variables", standard, meta.name, len(frame), frame.shape[1])


def package_standard(ctx: StudyContext, standard: str, source_dir: Path, created: str,
                     sdtm_columns: dict[str, set[str]], as_of: str = "",
                     specs: StudySpecs | None = None) -> tuple[list[dict], pd.DataFrame]:
    """Write the XPT, Dataset-JSON and define.xml of one standard; return (dataset summaries, checks).

    ``specs``: :func:`load_study_specs` of the study, when the caller has it (else loaded here).
    """
    files = sorted(source_dir.glob("*.parquet"))
    out_dir = ctx.submission_dir / STANDARD_FOLDERS[standard]
    stale_files = [out_dir / "define.xml", out_dir / "define.html", out_dir / "metadata.csv", out_dir / STYLESHEET_NAME]
    for stale in list(out_dir.glob("*.xpt")) + list((out_dir / "datasetjson").glob("*.json")) + stale_files:
        stale.unlink(missing_ok=True)
    if not files:
        log.info("%s: no parquet files under %s, nothing to package", standard, source_dir)
        return [], pd.DataFrame(columns=CHECK_COLUMNS)

    specs = specs or load_study_specs(ctx.specs_dir, ctx.standards_dir)
    adam_variables = load_adam_variables(ctx.specs_dir / "adam.yaml") if standard == "ADaM" else pd.DataFrame(
        columns=["dataset", "variable", "label", "method", "type"])
    written_methods = {k: v for k, v in zip(zip(adam_variables["dataset"], adam_variables["variable"]),
                                            adam_variables["method"]) if v}
    adam_methods = combine_methods(build_adam_methods(ctx.spec("adam") or {}, ctx.design), written_methods) \
        if standard == "ADaM" and (ctx.specs_dir / "adam.yaml").exists() else written_methods
    package = load_terminology(ctx.standards_dir, adam=True)
    ct_tables = [package[CT_COLUMNS].assign(publishing_set=package["source_file"].map(
                     lambda name: "ADaM" if name.startswith("adamct") else "SDTM")),
                 specs.codelists.assign(publishing_set="SDTM", sponsor_term=True)]
    ct = pd.concat([t for t in ct_tables if len(t)], ignore_index=True)
    stamp = format_xpt_timestamp(dt.datetime.fromisoformat(created))
    design = ctx.design.get("study", {}) if isinstance(ctx.design, dict) else {}
    studyid = str(design.get("studyid") or ctx.study)
    define_context = DefineContext(
        study_oid=f"STDY.{studyid}", study_name=studyid, study_description=" ".join(str(design.get("title") or studyid).split()),
        protocol_name=studyid, created=created, ct_version=package.attrs["version"], standard=standard,
        dictionary_versions=specs.dictionaries, source_system_version=installed_version(), as_of=as_of,
    )

    checks: list[pd.DataFrame] = []
    metas: list[DatasetMeta] = []
    shapes: dict[str, tuple[int, list[str]]] = {}   # records and columns of each dataset
    variable_tables: list[pd.DataFrame] = []
    codelist_frames: dict[str, pd.DataFrame] = {}
    value_tables: list[pd.DataFrame] = []
    sources = MetadataSources(load_standard_variables(ctx.standards_dir), submission_datasets(ctx.standards_dir),
                              load_standard_origins(ctx.standards_dir)[STANDARD_FOLDERS[standard]], specs.datasets,
                              specs.variables, adam_variables, adam_methods, sdtm_columns,
                              load_text_conversion(ctx.specs_dir))
    blocked = False
    for path in files:
        forget_columns()   # the kept factorisations describe one dataset: prepared and written in one go
        meta, frame, variables, dataset_checks, original = prepare_dataset(path, sources)
        checks.extend(dataset_checks)
        metas.append(meta)
        shapes[meta.name] = (len(frame), list(frame.columns))
        variable_tables.append(variables)
        blocked = blocked or any(len(c) and (c["severity"] == "error").any() for c in dataset_checks)
        if not blocked and frame.shape[1]:   # files land in the stage's staging folder: a later error discards them
            write_dataset_files(out_dir, standard, meta, frame, variables, original, stamp, created, define_context, as_of)
            # what define.xml needs of the data, so that the frames are released dataset by dataset
            codelist_frames[meta.name] = select_codelist_rows(frame, assign_codelist_oids(variables, ct))
            value_tables.append(build_value_level_meta(meta, frame, variables))
        del frame, original

    all_checks = _checks_frame(checks)
    errors = all_checks[all_checks["severity"] == "error"]
    if len(errors):
        write_csv_atomic(ctx.submission_dir / "checks.csv", all_checks.assign(standard=standard))
        first = errors.iloc[0]
        row_text = f", row {int(first['row'])}" if pd.notna(first["row"]) else ""
        if first["check"] == CHECK_NO_ASCII:
            row_text += f": value {first['value']!r}"
        raise PipelineError(
            f"{source_dir / (first['dataset'].lower() + '.parquet')}: {first['dataset']}.{first['variable'] or '-'}{row_text}: "
            f"{first['check']} ({len(errors)} blocking problem(s) in {standard}; fix: {first['action']})")
    for meta in metas:
        if not shapes[meta.name][1]:
            raise InputError(f"{source_dir / (meta.name.lower() + '.parquet')}: dataset has no columns")

    forget_columns()
    variable_meta = assign_codelist_oids(pd.concat(variable_tables, ignore_index=True), ct)
    tlf_spec = (ctx.spec("tlf") or {}) if standard == "ADaM" and (ctx.specs_dir / "tlf.yaml").exists() else {}
    checks.extend(write_define(out_dir, define_context, metas, shapes, codelist_frames, value_tables, variable_meta, ct,
                               tlf_spec))
    folder = out_dir.name
    summaries = [{"dataset": m.name, "standard": standard, "label": m.label, "records": int(shapes[m.name][0]),
                  "variables": len(shapes[m.name][1]), "keys": list(m.keys),
                  "xpt": f"{folder}/{m.file_name}", "dataset_json": f"{folder}/datasetjson/{m.name.lower()}.json",
                  "source": path.name, "source_sha256": sha256_file(path)}
                 for m, path in zip(metas, files)]
    return summaries, _checks_frame(checks).assign(standard=standard)


def write_define(out_dir: Path, context: DefineContext, metas: list[DatasetMeta],
                 shapes: dict[str, tuple[int, list[str]]], codelist_frames: dict[str, pd.DataFrame],
                 value_tables: list[pd.DataFrame], variable_meta: pd.DataFrame, ct: pd.DataFrame,
                 tlf_spec: dict) -> list[pd.DataFrame]:
    """Codelists, value-level metadata, ARM, then define.xml (schema-checked), define.html and metadata.csv.

    ``shapes``: (records, columns) of each dataset; ``codelist_frames``: :func:`select_codelist_rows` of each;
    ``value_tables``: :func:`build_value_level_meta` of each. Returns the checks raised on the way (values outside
    non-extensible codelists, broken references).
    """
    codelists = build_codelists(variable_meta, codelist_frames, ct)
    outside = codelists["extended"] & (codelists["extensible"] == "No")
    nonextensible = codelists[outside]
    checks = [pd.DataFrame({"dataset": "", "variable": nonextensible["codelist_oid"], "row": None,
                            "value": nonextensible["coded_value"], "check": "value not in non-extensible codelist",
                            "severity": "warning",
                            "action": "left out of the define.xml codelist (fix the data or the mapping)"})]
    codelists = codelists[~outside].copy()
    codelists["order"] = codelists.groupby("codelist_oid").cumcount() + 1
    emptied = set(nonextensible["codelist_oid"]) - set(codelists["codelist_oid"])
    # no allowed value left: the variable keeps no CodeListRef (the checks say why)
    variable_meta = variable_meta.assign(codelist_oid=variable_meta["codelist_oid"].mask(
        variable_meta["codelist_oid"].isin(emptied), ""))
    value_tables = [t for t in value_tables if len(t)]
    value_level = pd.concat(value_tables, ignore_index=True) if value_tables \
        else pd.DataFrame(columns=VALUE_LEVEL_COLUMNS)
    columns = {name: set(names) for name, (_, names) in shapes.items()}
    displays, arm_clauses = build_result_displays(tlf_spec, columns) if tlf_spec else ([], [])
    xml = build_define_xml(context, metas, variable_meta, codelists, value_level, displays, arm_clauses)
    problems = validate_define_xml(xml)
    if problems:
        raise PipelineError(f"{out_dir / 'define.xml'}: fails the Define-XML 2.1 schema: {problems[0]} "
                            f"({len(problems)} error(s))")
    broken = check_define_references(xml)
    if broken:
        log.warning("%s define.xml: %d broken or unused reference(s), first: %s", context.standard, len(broken), broken[0])
        checks.append(pd.DataFrame({"dataset": "", "variable": "", "row": None, "value": broken,
                                    "check": "define.xml reference", "severity": "warning",
                                    "action": "written; please report (the writer should never produce this)"}))
    write_bytes_atomic(out_dir / "define.xml", xml)
    if context.stylesheet:
        write_bytes_atomic(out_dir / context.stylesheet, STYLESHEET_FILE.read_bytes())
    write_text_atomic(out_dir / "define.html", render_define_html(context, metas, variable_meta, codelists,
                                                                  value_level, {m: n for m, (n, _) in shapes.items()}))
    write_csv_atomic(out_dir / "metadata.csv", variable_meta.drop(columns=["json_type", "json_target_type"]))
    log.info("%s define.xml: %d datasets, %d variables, %d codelists, %d value-level items (schema %s)", context.standard,
             len(metas), len(variable_meta), codelists["codelist_oid"].nunique() if len(codelists) else 0,
             len(value_level), "valid" if problems == [] else "not checked: odmlib XSD unavailable")
    return checks


def check_types_and_keys(meta: DatasetMeta, dataset: pd.DataFrame, variables: pd.DataFrame) -> pd.DataFrame:
    """Warnings for data types that differ from the metadata and records not unique by the keys.

    >>> meta = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "", ("USUBJID",))
    >>> vm = pd.DataFrame({"variable": ["USUBJID", "AGE"], "kind": ["char", "char"], "declared_type": ["Char", "Num"]})
    >>> check_types_and_keys(meta, pd.DataFrame({"USUBJID": ["1", "1"], "AGE": ["30", "41"]}), vm)[["variable", "check"]].values.tolist()
    [['AGE', 'type Char in the data, Num in the metadata'], ['USUBJID', 'records not unique by the keys']]
    """
    rows = []
    for row in iter_rows(variables):
        actual = "Char" if row.kind == "char" else "Num"
        if row.declared_type and actual != row.declared_type:
            rows.append(issue_row(meta.name, row.variable, None, actual, f"type {actual} in the data, "
                                  f"{row.declared_type} in the metadata", "warning", "written as found in the data"))
    keys = [k for k in meta.keys if k in dataset.columns]
    if keys and len(dataset):
        duplicated = dataset.duplicated(subset=keys, keep=False).to_numpy().nonzero()[0]
        if len(duplicated):
            rows.append(issue_row(meta.name, ", ".join(keys), int(duplicated[0]) + 1, f"{len(duplicated)} records",
                                  "records not unique by the keys", "warning",
                                  "keys declared as specified; review the key variables"))
    return pd.DataFrame(rows, columns=ISSUE_COLUMNS)


def _read_parquet(reader, path: Path):
    try:
        return reader(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: cannot read parquet ({exc.__class__.__name__}: {exc})") from None


def _column_names(path: Path) -> set[str]:
    return {c.upper() for c in _read_parquet(pq.read_schema, path).names}


def package_versions(ctx: StudyContext, specs: StudySpecs | None = None) -> dict[str, Any]:
    """Versions of the standards, file formats, dictionaries and writing tools of the package (``specs`` as for
    :func:`package_standard`).

    >>> versions = package_versions(StudyContext.create("iscalimab-ln"))
    >>> versions["define_xml"], versions["dataset_json"], versions["xpt"], versions["standards"]["SDTMIG"]
    ('2.1.0', '1.1.0', 'SAS transport version 5', '3.4')
    """
    specs = specs or load_study_specs(ctx.specs_dir, ctx.standards_dir)
    return {"pipeline": installed_version(), "define_xml": DEFINE_VERSION, "dataset_json": DATASET_JSON_VERSION,
            "xpt": "SAS transport version 5", "standards": dict(IG_VERSIONS.values()),
            "controlled_terminology": load_terminology(ctx.standards_dir).attrs["version"],
            "dictionaries": dict(sorted(specs.dictionaries.items())),
            "tools": {name: installed_version(name, "not installed")
                      for name in ("pyreadstat", "lxml", "pandas", "pyarrow")}}


def write_manifest(submission_dir: Path, header: dict[str, Any]) -> Path:
    """``manifest.json``: ``header`` (stamps, versions, datasets) and the SHA-256 and size of every file under
    ``submission_dir`` (itself excluded; docs/submission-package.md); ``make verify-submission`` re-checks it.

    >>> import tempfile, pathlib, json
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sdtm").mkdir(); _ = (folder / "sdtm" / "dm.xpt").write_bytes(b"x")
    >>> manifest = json.loads(write_manifest(folder, {"created": "2000-01-01T00:00:00"}).read_text())
    >>> manifest["files"][0]["path"], manifest["files"][0]["sha256"][:12]
    ('sdtm/dm.xpt', '2d711642b726')
    """
    paths = [path for path in sorted(p for p in submission_dir.rglob("*") if p.is_file())
             if path.relative_to(submission_dir).as_posix() != "manifest.json" and not path.name.startswith(".")]
    digests = sha256_files(paths)
    entries = [{"path": path.relative_to(submission_dir).as_posix(), "sha256": digest, "bytes": path.stat().st_size}
               for path, digest in zip(paths, digests)]
    return write_json_atomic(submission_dir / "manifest.json", {**header, "files": entries})


def run(ctx: StudyContext) -> None:
    """Package every SDTM and ADaM parquet dataset of the study for submission."""
    created, created_source = resolve_creation_datetime(ctx)
    cut = compute_data_cut(ctx.sdtm_dir)
    as_of = f"{cut[0]}T23:59:59" if cut else ""
    log.info("creation stamp %s (%s), data as of %s", created, created_source, as_of or "not known")
    sdtm_columns = {p.stem.upper(): _column_names(p) for p in sorted(ctx.sdtm_dir.glob("*.parquet"))}
    if (ctx.adam_dir / "adsl.parquet").exists():  # ADSL variables copied into other ADaM datasets
        sdtm_columns["ADSL"] = _column_names(ctx.adam_dir / "adsl.parquet")
    if not sdtm_columns and not list(ctx.adam_dir.glob("*.parquet")):
        raise InputError(f"{ctx.sdtm_dir} and {ctx.adam_dir}: no parquet datasets to package (run sdtm and adam first)")
    summaries: list[dict] = []
    checks: list[pd.DataFrame] = []
    specs = load_study_specs(ctx.specs_dir, ctx.standards_dir)   # once: both standards and the versions read it
    for standard, source_dir in (("SDTM", ctx.sdtm_dir), ("ADaM", ctx.adam_dir)):
        done, standard_checks = package_standard(ctx, standard, source_dir, created, sdtm_columns, as_of, specs)
        summaries.extend(done)
        checks.append(standard_checks)
    all_checks = _checks_frame(checks).sort_values(["standard", "dataset", "variable", "check", "row"], kind="stable",
                                        na_position="first")
    write_csv_atomic(ctx.submission_dir / "checks.csv", all_checks)
    header = {"created": created, "created_source": created_source, "as_of": as_of,
              "versions": package_versions(ctx, specs),
              "generator": f"cdisc-pipeline {installed_version()} submission stage", "datasets": summaries}
    write_csdrg(ctx, header, all_checks)   # the manifest lists the guide, so the guide is written first
    manifest = write_manifest(ctx.submission_dir, header)
    counts = all_checks["severity"].value_counts().to_dict() if len(all_checks) else {}
    log.info("submission package: %d datasets, checks %s, manifest %s", len(summaries), counts or "none", manifest)
