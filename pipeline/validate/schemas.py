"""Pandera schemas generated at run time from the dataset/variable metadata (never hand-written; the checks:
``pipeline/validate/README.md``), validated lazily, their failure cases turned into findings."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from pipeline.validate.findings import concat_findings, make_findings
from pipeline.validate.frames import (  # noqa: F401 (re-exported)
    TEXT_DTYPE, as_text, display_text, duplicated_records, is_in, per_distinct, prepare_dataset,
)
from pipeline.validate.iso8601 import compute_iso8601_datetime_valid, compute_iso8601_duration_valid
from pipeline.standards.study import MAX_CHAR_LENGTH, DatasetSpec
from pipeline.standards.terminology import Codelist
from pipeline.validate.rules import SCHEMA_RULES, Rule

NUMBER_PATTERN = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
SUBJECT_LEVEL_KEY_RULES = {"DM": "SD0083", "ADSL": "ISL-0105"}
FORMAT_CHECKS = {   # a Char variable's format: its rule and the check of its values
    "iso8601": ("ISL-0004", compute_iso8601_datetime_valid),
    "iso8601_duration": ("ISL-0005", compute_iso8601_duration_valid),
    "iso3166_alpha3": ("ISL-0009", lambda s: as_text(s).str.fullmatch(r"[A-Z]{3}").fillna(True).astype(bool)),
}


@dataclass(frozen=True)
class CheckInfo:
    """What a generated pandera check means, to turn its failures into findings."""

    rule: Rule
    variable: str | None
    params: dict[str, Any]
    value_of: Callable[[pd.DataFrame, pd.Index], pd.Series] | None = None


def _is_character(values: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return True
    if values.dtype != object:
        return bool(values.isna().all())
    kind = pd.api.types.infer_dtype(values, skipna=True)
    return kind in ("string", "empty")


def _is_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values.dtype):
        return False
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    if values.dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        return kind in ("empty", "integer", "floating", "mixed-integer-float", "decimal", "date", "datetime")
    return False


def _fits_length(values: pd.Series, limit: int) -> pd.Series:
    """True where a text value has at most ``limit`` characters (non-text columns: see CG0012)."""
    if not _is_character(values):
        return pd.Series(True, index=values.index)
    if values.dtype == TEXT_DTYPE:   # Arrow counts characters as len() does: no value too long in most columns
        import pyarrow.compute as pc

        longest = pc.max(pc.utf8_length(values.array._pa_array)).as_py()
        if longest is None or longest <= limit:
            return pd.Series(True, index=values.index)
    return per_distinct(values, lambda distinct: (as_text(distinct).str.len() <= limit).fillna(True).astype(bool))


def _allowed_terms(row: Any, codelists: dict[str, Codelist]) -> tuple[frozenset[str], bool, str] | None:
    """Allowed values, whether extensible, codelist label; None when no checkable codelist."""
    if not row.codelist:
        return None
    names = str(row.codelist).split("|")
    known = [codelists[n] for n in names if n in codelists]
    if len(known) != len(names):
        return None  # codelist missing from the CT subset: reported by specs-check, not checkable here
    terms = frozenset().union(*(c.terms for c in known))
    extensible = all(c.extensible for c in known)
    if row.subset:
        terms = frozenset(str(row.subset).split(";"))
        extensible = False
    return terms, extensible, "/".join(names) + (f" ({row.subset.replace(';', ', ')})" if row.subset else "")


def build_dataset_schema(
    spec: DatasetSpec, variables: pd.DataFrame, codelists: dict[str, Codelist], present: list[str],
    strict: bool = True,
) -> tuple[pa.DataFrameSchema, dict[str, CheckInfo]]:
    """The pandera schema of one dataset from its metadata rows; ``present`` are the data's columns.

    >>> from pipeline.standards.study import DatasetSpec
    >>> meta = pd.DataFrame([{"variable": "USUBJID", "type": "Char", "core": "Req", "length": 20,
    ...     "codelist": None, "subset": None, "format": None}])
    >>> spec = DatasetSpec("XX", "XX", "XX", "", "", "", ("USUBJID",), False)
    >>> schema, info = build_dataset_schema(spec, meta, {}, ["USUBJID"])
    >>> sorted(schema.columns), sorted(info)
    (['USUBJID'], ['CG0012:USUBJID', 'ISL-0001:USUBJID'])
    """
    info: dict[str, CheckInfo] = {}
    columns: dict[str, pa.Column] = {}
    present_set = set(present)
    required_cores = ("Req",) if spec.is_adam else ("Req", "Exp")
    for row in variables.itertuples(index=False):
        checks = _variable_checks(row, codelists, info) if row.variable in present_set else []
        columns[row.variable] = pa.Column(dtype=None, checks=checks, nullable=row.core != "Req",
                                          required=row.core in required_cores, name=row.variable)
    schema = pa.DataFrameSchema(columns=columns, strict=strict, coerce=False, name=spec.name)
    return schema, info


def _register(info: dict[str, CheckInfo], rule_id: str, variable: str | None, **params: Any) -> str:
    name = f"{rule_id}:{variable or ''}"
    info[name] = CheckInfo(SCHEMA_RULES[rule_id], variable, params, params.pop("value_of", None))
    return name


def _variable_checks(row: Any, codelists: dict[str, Codelist], info: dict[str, CheckInfo]) -> list[pa.Check]:
    var = row.variable
    checks: list[pa.Check] = []
    if row.type == "Char":   # every check passes null itself (ignore_na would copy the column once per check)
        name = _register(info, "CG0012", var, type="Char")
        checks.append(pa.Check(_is_character, name=name, element_wise=False, ignore_na=False))
        limit = int(min(row.length if pd.notna(row.length) else MAX_CHAR_LENGTH, MAX_CHAR_LENGTH))
        name = _register(info, "ISL-0001", var, length=limit)
        checks.append(pa.Check(lambda s, limit=limit: _fits_length(s, limit), name=name, ignore_na=False))
        allowed = _allowed_terms(row, codelists)
        if allowed is not None:
            terms, extensible, label = allowed
            rule_id = "ISL-0003" if extensible else "ISL-0002"
            name = _register(info, rule_id, var, codelist=label)
            checks.append(pa.Check(lambda s, terms=terms: (is_in(as_text(s), terms) | s.isna()).astype(bool),
                                   name=name, ignore_na=False))
        if row.format in FORMAT_CHECKS:
            rule_id, valid = FORMAT_CHECKS[row.format]
            checks.append(pa.Check(valid, name=_register(info, rule_id, var), ignore_na=False))
    elif row.type == "Num":
        name = _register(info, "CG0012", var, type="Num")
        checks.append(pa.Check(_is_numeric, name=name, element_wise=False, ignore_na=False))
    return checks


RecordCheck = tuple[str, Callable[[pd.DataFrame], pd.Series], str]


def _looks_numeric(text: pd.Series) -> pd.Series:
    return text.str.match(NUMBER_PATTERN).fillna(False).astype(bool)


def _number_or_missing(text: pd.Series) -> pd.Series:
    """The number a text states, missing where it states none.

    >>> _number_or_missing(pd.Series([" 1.5", "<5", None], dtype=TEXT_DTYPE)).tolist()
    [1.5, <NA>, <NA>]
    """
    return pd.to_numeric(text.where(_looks_numeric(text)), errors="coerce")


def _row_checks(spec: DatasetSpec, present: set[str], info: dict[str, CheckInfo]) -> list[RecordCheck]:
    """Checks that need several columns of a record: (reported variable, frame -> ok mask, check name)."""
    checks: list[RecordCheck] = []
    keys = [k for k in spec.keys if k]
    if keys and set(keys) <= present:
        rule_id = SUBJECT_LEVEL_KEY_RULES.get(spec.name, "ISL-0006") if tuple(keys) == ("STUDYID", "USUBJID") \
            else "ISL-0006"
        target = "USUBJID" if rule_id != "ISL-0006" else keys[-1]

        def key_text(frame: pd.DataFrame, index: pd.Index, keys: list[str] = keys) -> pd.Series:
            part = frame.loc[index, keys]
            text = display_text(part[keys[0]])
            for key in keys[1:]:
                text = text + ", " + display_text(part[key])
            return text

        name = _register(info, rule_id, target, keys=", ".join(keys),
                         value_of=None if rule_id != "ISL-0006" else key_text)
        checks.append((target, lambda d, keys=keys: ~duplicated_records(d, keys), name))
    seq = f"{spec.domain}SEQ"
    if not spec.is_adam and seq in present and "USUBJID" in present:
        name = _register(info, "CG0028", seq)
        checks.append((seq, lambda d, seq=seq: ~duplicated_records(d, ["USUBJID", seq]), name))
    stresc, stresn = f"{spec.domain}STRESC", f"{spec.domain}STRESN"
    if not spec.is_adam and {stresc, stresn} <= present:
        def looks_numeric(d: pd.DataFrame) -> pd.Series:   # once per distinct result (results repeat)
            return per_distinct(as_text(d[stresc]), _looks_numeric)

        def stresn_equals_stresc(d: pd.DataFrame) -> pd.Series:
            number = per_distinct(as_text(d[stresc]), _number_or_missing)
            stored = pd.to_numeric(d[stresn], errors="coerce")
            close = np.isclose(number.fillna(0).astype(float), stored.fillna(0).astype(float), rtol=1e-9, atol=1e-12)
            return ~(number.notna() & stored.notna() & ~close)

        stresc_value = (lambda frame, index, c=stresc: frame.loc[index, c])
        checks.append((stresn, lambda d: ~(looks_numeric(d) & d[stresn].isna()),   # present when numeric
                       _register(info, "FB3101", stresn, value_of=stresc_value)))
        checks.append((stresn, lambda d: ~(d[stresc].notna() & ~looks_numeric(d) & d[stresn].notna()),  # null on text
                       _register(info, "FB3103", stresn, value_of=stresc_value)))
        checks.append((stresn, stresn_equals_stresc, _register(info, "ISL-0007", stresn, other_var=stresc)))
    return checks


def build_record_schema(spec: DatasetSpec, frame: pd.DataFrame) -> tuple[pa.DataFrameSchema, dict[str, CheckInfo]]:
    """The multi-column (record-level) checks of a dataset as a pandera schema built for ``frame``.

    Each check reads several columns of the record (keys, --SEQ, --STRESC/--STRESN) and is attached
    to the variable it reports on, so pandera returns one failure case per failing record (a wide
    DataFrame check would return one per column and reshape slowly).

    >>> from pipeline.standards.study import DatasetSpec
    >>> spec = DatasetSpec("AE", "AE", "AE", "", "", "", ("STUDYID", "USUBJID", "AEDECOD"), False)
    >>> ae = pd.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["A", "A"], "AEDECOD": ["X", "X"], "AESEQ": [1, 1]})
    >>> schema, info = build_record_schema(spec, ae)
    >>> sorted(schema.columns), sorted(info)
    (['AEDECOD', 'AESEQ'], ['CG0028:AESEQ', 'ISL-0006:AEDECOD'])
    """
    info: dict[str, CheckInfo] = {}
    checks = _row_checks(spec, set(frame.columns), info)
    by_target: dict[str, list[pa.Check]] = {}
    for target, check_fn, name in checks:
        by_target.setdefault(target, []).append(
            pa.Check(lambda s, fn=check_fn: fn(frame).reindex(s.index).fillna(True).astype(bool), name=name,
                     ignore_na=False))
    columns = {t: pa.Column(dtype=None, checks=c, nullable=True, required=True, name=t) for t, c in by_target.items()}
    schema = pa.DataFrameSchema(columns=columns, strict=False, coerce=False, name=f"{spec.name} records")
    return schema, info


def validate_dataset(
    dataset: pd.DataFrame, spec: DatasetSpec, variables: pd.DataFrame, codelists: dict[str, Codelist],
    dataset_name: str | None = None, prepared: bool = False, strict: bool = True,
) -> pd.DataFrame:
    """Run the generated schema lazily on one dataset and return findings (empty when clean).

    ``prepared``: the frame already went through :func:`prepare_dataset` (saves a copy);
    ``strict``: report columns the metadata does not describe (ISL-0008).

    >>> from pipeline.standards.study import DatasetSpec
    >>> meta = pd.DataFrame([{"variable": "USUBJID", "type": "Char", "core": "Req", "length": 20,
    ...     "codelist": None, "subset": None, "format": None}])
    >>> spec = DatasetSpec("DM", "DM", "DM", "", "", "", ("USUBJID",), False)
    >>> f = validate_dataset(pd.DataFrame({"USUBJID": ["S-1", None]}), spec, meta, {})
    >>> f[["rule_id", "variable", "record"]].values.tolist()
    [['CG0014', 'USUBJID', 2]]
    """
    frame = dataset if prepared else prepare_dataset(dataset)
    name = dataset_name or spec.name
    schema, info = build_dataset_schema(spec, variables, codelists, list(frame.columns), strict=strict)
    record_schema, record_info = build_record_schema(spec, frame)
    parts = []
    for current, current_info in ((schema, info), (record_schema, record_info)):
        if not current.columns:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                current.validate(frame, lazy=True)
        except SchemaErrors as errors:
            parts.append(failure_cases_to_findings(errors.failure_cases, frame, name, spec, variables, current_info))
    return concat_findings(parts)


def failure_cases_to_findings(
    failure_cases: pd.DataFrame, frame: pd.DataFrame, dataset: str, spec: DatasetSpec,
    variables: pd.DataFrame, info: dict[str, CheckInfo],
) -> pd.DataFrame:
    """Turn pandera ``SchemaErrors.failure_cases`` into findings rows (one per record and check)."""
    cores = dict(zip(variables["variable"], variables["core"]))
    usubjid = frame["USUBJID"] if "USUBJID" in frame.columns else None
    parts: list[pd.DataFrame] = []
    fc = failure_cases.copy()
    fc["check"] = fc["check"].astype(str)
    for check, group in fc.groupby("check", sort=True):
        if check in ("column_in_dataframe", "column_in_schema"):   # a variable missing / one the spec lacks
            for column in sorted(group["failure_case"].astype(str).unique()):
                required = "CG0014" if cores.get(column, "Req") == "Req" else "CG0016"
                rule = SCHEMA_RULES["ISL-0008" if check == "column_in_schema" else "ISL-0011" if spec.is_adam
                                    else required]
                message = rule.format_message(variable=column, problem="is not in the dataset")
                parts.append(make_findings(rule.id, rule.severity, dataset, message, "pandera", variable=column))
            continue
        if check == "not_nullable":
            rule = SCHEMA_RULES["ISL-0011"] if spec.is_adam else SCHEMA_RULES["CG0014"]
            for column, rows in group.groupby("column", sort=True):
                index = pd.Index(pd.to_numeric(rows["index"]).astype("int64").unique())
                parts.append(_rows_findings(rule, dataset, str(column), index, usubjid, None,
                                            rule.format_message(variable=column, problem="is null")))
            continue
        meta = info.get(check)
        if meta is None:  # a pandera-internal check we did not generate
            continue
        rule, variable = meta.rule, meta.variable
        with_index = group[group["index"].notna()]
        if with_index.empty:  # column-level (scalar) check, e.g. the type check
            dtype = str(frame[variable].dtype) if variable in frame.columns else "nothing"
            parts.append(make_findings(rule.id, rule.severity, dataset,
                                       rule.format_message(variable=variable, dtype=dtype, **meta.params),
                                       "pandera", variable=variable))
            continue
        index = pd.Index(pd.to_numeric(with_index["index"]).astype("int64").unique()).sort_values()
        if meta.value_of is not None:
            values = meta.value_of(frame, index)
        else:
            values = frame.loc[index, variable] if variable in frame.columns else pd.Series(None, index=index)
        if rule.id == "ISL-0003":  # extensible codelist: one finding per distinct value, not per record
            parts.append(_value_findings(rule, dataset, variable, index, usubjid, values, meta.params))
            continue
        messages = _messages(rule, variable, values, frame, index, meta.params)
        parts.append(_rows_findings(rule, dataset, variable, index, usubjid, values, messages))
    return concat_findings(parts)


def _messages(rule: Rule, variable: str | None, values: pd.Series, frame: pd.DataFrame, index: pd.Index,
              params: dict[str, Any]) -> list[str]:
    if rule.id == "ISL-0001":
        lengths = values.astype("string").str.len()
        return [rule.format_message(variable=variable, actual=n, **params) for n in lengths]
    texts = display_text(values)
    if rule.id == "ISL-0007":
        other = display_text(frame.loc[index, params["other_var"]])
        return [rule.format_message(variable=variable, value=v, other=o) for v, o in zip(texts, other)]
    return rule.format_messages(texts.reset_index(drop=True), variable=variable, **params).tolist()


def _value_findings(rule: Rule, dataset: str, variable: str | None, index: pd.Index, usubjid: pd.Series | None,
                    values: pd.Series, params: dict[str, Any]) -> pd.DataFrame:
    """One finding per distinct value: record and subject of its first occurrence, count in the message."""
    table = pd.DataFrame({"value": values.astype("string").to_numpy(), "record": (index + 1).to_numpy()})
    if usubjid is not None:
        table["usubjid"] = usubjid.loc[index].to_numpy()
    first = table.groupby("value", sort=True, dropna=False).agg(
        record=("record", "min"), n=("record", "size"),
        **({"usubjid": ("usubjid", "first")} if usubjid is not None else {}))
    first = first.reset_index()
    base = rule.format_messages(first["value"], variable=variable, **params)
    messages = base + " (" + first["n"].astype(str) + " record(s); first shown)"
    return make_findings(
        rule.id, rule.severity, dataset, messages.tolist(), "pandera", variable=variable,
        usubjid=first["usubjid"].tolist() if usubjid is not None else None,
        record=first["record"].tolist(), value=first["value"].tolist(),
    )


def _rows_findings(rule: Rule, dataset: str, variable: str | None, index: pd.Index, usubjid: pd.Series | None,
                   values: pd.Series | None, message: str | list[str]) -> pd.DataFrame:
    subjects = usubjid.loc[index].tolist() if usubjid is not None else None
    return make_findings(
        rule.id, rule.severity, dataset, message if isinstance(message, list) else [message] * len(index),
        "pandera", variable=variable, usubjid=subjects, record=(index + 1).tolist(),
        value=values.tolist() if values is not None else None,
    )
