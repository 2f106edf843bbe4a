"""Dataset and variable metadata for the submission package.

A variable's label is the first found of the ADaM spec, the study spec (``datasets.yaml`` resolved by
:mod:`pipeline.standards.study`), the standard tables, the parquet field metadata, the same name in another
domain, the label most domains give the ``--`` suffix and the name; ``label_source`` says which. Types come
from the data (the metadata type only for an all-null column), lengths are the maximum byte length found.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.standards import tables
from pipeline.standards.study import load_adam_variables, load_study_metadata  # noqa: F401 (re-exported for submit.stage)
from pipeline.standards.tables import ADAM_CLASSES, load_standard_origins
from pipeline.standards.terminology import CT_COLUMNS
from pipeline.common.vector import as_text, byte_lengths, factorize, is_all_missing
from pipeline.submit.methods import PREDECESSOR_TEXT

VARIABLE_COLUMNS = [
    "dataset", "variable", "order", "label", "label_source", "kind", "length", "display_format",
    "define_type", "json_type", "json_target_type", "codelist", "value_format", "origin", "origin_source",
    "predecessor", "method", "key_sequence", "mandatory", "role", "significant_digits", "declared_type",
]

_FORMAT_OF_KIND = {"date": "DATE9.", "datetime": "DATETIME20.", "time": "TIME8."}   # SAS display formats
_ISO_DURATION = re.compile(r"^-?P")
SPONSOR_CODELIST = "SPONSOR"


def installed_version(name: str = "cdisc-pipeline", missing: str = "0.0.0") -> str:
    """The installed version of a distribution (default: this project; ``missing`` when not installed).

    >>> installed_version().count(".") >= 2, installed_version("no-such-distribution", "not installed")
    (True, 'not installed')
    """
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return missing

ADAM_CLASS_NAMES = {**ADAM_CLASSES, **{name: name for name in ADAM_CLASSES.values()}, "OTHER": "ADAM OTHER",
                    "ADAM OTHER": "ADAM OTHER"}
DICTIONARIES = {"MedDRA": "MEDDRA", "WHODrug": "WHODRUG", "LOINC": "LOINC"}  # define.xml name -> code


def dictionary_code(name: object) -> str:
    """The code of a coding dictionary named in a spec (any case, spaces or hyphens), else "".

    >>> dictionary_code("WHO-Drug"), dictionary_code("MedDRA 26.1")
    ('WHODRUG', '')
    """
    code = str(name).upper().replace(" ", "").replace("-", "")
    return code if code in DICTIONARIES.values() else ""


@dataclass(frozen=True)
class DatasetMeta:
    """Dataset-level metadata of one dataset to package."""

    name: str
    label: str
    standard: str  # "SDTM" or "ADaM"
    dataset_class: str
    structure: str
    keys: tuple[str, ...]
    subclass: str = ""
    label_source: str = "standard"

    @property
    def purpose(self) -> str:
        return "Tabulation" if self.standard == "SDTM" else "Analysis"

    @property
    def file_name(self) -> str:
        return f"{self.name.lower()}.xpt"


# --- standards and study specs ---------------------------------------------------------------

def load_standard_variables(standards_dir: str | Path | None = None) -> pd.DataFrame:
    """The standard variable tables (:func:`pipeline.standards.tables.load_standard_variables`) with
    ``codelist`` the short CT name (``NY`` from ``NY (Y or null)``; ``NCOMPLT/PROTMLST`` when several),
    ``SPONSOR`` for a sponsor-defined list, empty when the column names a format or dictionary
    (kept in ``value_format``: ``ISO 8601``, ``MedDRA`` ...).

    >>> std = load_standard_variables().set_index(["domain", "variable"])
    >>> std.loc[[("DM", "SEX"), ("AE", "AESTDTC"), ("DS", "DSDECOD"), ("AE", "AESER")], ["codelist", "value_format"]].values.tolist()
    [['SEX', ''], ['', 'ISO 8601'], ['NCOMPLT/PROTMLST/OTHEVENT', ''], ['NY', '']]
    """
    table = tables.load_standard_variables(standards_dir)
    table = table.sort_values("source_file", kind="stable", ignore_index=True)  # ADaMIG rows first, as always
    table["domain"] = table["domain"].str.strip().str.upper()
    table["variable"] = table["variable"].str.strip().str.upper()
    raw = table["codelist_or_format"].fillna("").str.strip()
    references = raw.map(tables.parse_codelist_reference)
    # a SAS display format (DATE9.) has always become a "codelist" of observed values; kept so define.xml
    # stays byte-identical until that is fixed on purpose
    sas_format = references.map(lambda ref: ref.format if ref.format not in (None, *tables.FORMATS.values()) else "")
    table["codelist"] = references.map(lambda ref: "/".join(ref.codelists)).where(sas_format == "",
                                                                                  sas_format.str.rstrip("."))
    table["codelist"] = table["codelist"].where(~raw.str.startswith("sponsor"), SPONSOR_CODELIST)
    # formats, dictionaries and "sponsor ..."/"depends on ..." notes; SAS display formats live in the data
    is_format = references.map(lambda ref: bool(ref.dictionary) or ref.format in tables.FORMATS.values()
                                           or ref == tables.CodelistReference())
    table["value_format"] = raw.where(is_format, "")
    return table[["domain", "variable", "order", "label", "type", "core", "codelist",
                  "value_format", "source_file"]]


def iter_rows(frame: pd.DataFrame) -> Iterator[tuple]:
    """``frame.itertuples(index=False)`` without its fixed cost per call (a new row type, a Series per column):
    the row type is made once per set of column names and each column is read as one list. Same rows, same values.

    >>> frame = pd.DataFrame({"variable": ["AGE", "SEX"], "length": [8, 1]})
    >>> list(iter_rows(frame)) == list(frame.itertuples(index=False))
    True
    """
    row_type = _row_type(tuple(frame.columns))
    return map(row_type._make, zip(*(column.tolist() for _, column in frame.items())))


@lru_cache(maxsize=256)
def _row_type(columns: tuple) -> type:
    return collections.namedtuple("Pandas", columns, rename=True)   # as pandas names it


# --- types from data -------------------------------------------------------------------------

_TEMPORAL_TYPES = (((dt.datetime, pd.Timestamp), "datetime"), (dt.date, "date"), (dt.time, "time"))   # datetime first


def compute_variable_kind(values: pd.Series) -> str:
    """The physical kind of a column: ``char``, ``integer``, ``float``, ``date``, ``datetime``, ``time``.

    >>> import datetime as dt
    >>> [compute_variable_kind(pd.Series(v)) for v in (["a"], [1.0, 2.0], [1.5], [dt.date(2020, 1, 2)])]
    ['char', 'integer', 'float', 'date']
    """
    if pd.api.types.is_bool_dtype(values):
        return "char"
    if pd.api.types.is_datetime64_any_dtype(values):
        valid = pd.array(values)   # the stamps without a pandas index: no index to gather
        valid = valid[~valid.isna()]
        if len(valid) and (valid.normalize() != valid).any():
            return "datetime"
        return "date" if len(valid) else "datetime"
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        numbers = numbers[~np.isnan(numbers)]
        if len(numbers) and np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)) \
                and np.all(np.abs(numbers) < 2**53):
            return "integer"
        return "float"
    _, uniques = factorize(values)   # distinct values in order of appearance, missing left out
    first = uniques[0] if len(uniques) else None
    return next((kind for types, kind in _TEMPORAL_TYPES if isinstance(first, types)), "char")


SPEC_TYPE_KINDS = {"text": "char", "char": "char", "string": "char", "integer": "integer", "float": "float",
                   "double": "float", "date": "date", "datetime": "datetime", "time": "time"}
TEMPORAL_KINDS = ("date", "datetime", "time")


def resolve_variable_kind(variable: str, values: pd.Series, spec_type: str = "", declared: str = "",
                          dictionary_code: bool = False) -> str:
    """The kind a variable is written as: the data's kind, refined by the ADaM ``spec_type`` and the
    ``declared`` ``Num``/``Char``. A temporal spec kind holds when the data are temporal or all missing
    (an empty date stays a date, never a number); an all-missing column takes its kind from the specs
    (a dictionary code is an integer), else from a temporal column's name suffix (``DT``, ``DTM``, ``TM``).

    >>> empty = pd.Series(pd.to_datetime([None, None]))
    >>> resolve_variable_kind("DTHDT", empty, "date", "Num"), resolve_variable_kind("DTHDT", empty, "", "Num")
    ('date', 'date')
    >>> resolve_variable_kind("AEHLTCD", pd.Series([None, None], dtype=float), "", "Num", dictionary_code=True)
    'integer'
    >>> resolve_variable_kind("TRTSDTM", pd.Series(pd.to_datetime(["2020-01-01"])), "datetime")
    'datetime'
    """
    kind = compute_variable_kind(values)
    spec_kind = SPEC_TYPE_KINDS.get(str(spec_type or "").strip().lower(), "")
    temporal_data = pd.api.types.is_datetime64_any_dtype(values) or kind in TEMPORAL_KINDS
    if is_all_missing(values):
        if spec_kind:
            return spec_kind
        if temporal_data:
            return next((k for suffix, k in (("DTM", "datetime"), ("TM", "time"), ("DT", "date"))
                         if variable.endswith(suffix)), kind)
        return {"Num": "integer" if dictionary_code else "float", "Char": "char"}.get(declared, kind)
    if spec_kind in TEMPORAL_KINDS and temporal_data:
        return spec_kind
    if kind in ("date", "datetime") and variable.endswith("DTM"):
        return "datetime"
    return kind


_COMPLETE = {"date": r"\d{4}-\d{2}-\d{2}", "datetime": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?"}


def _iso_types(values: pd.Series) -> tuple[str, str]:
    """(Define-XML, Dataset-JSON) data types of an ISO 8601 text column. Define-XML: ``date``,
    ``datetime`` or ``durationDatetime``; Dataset-JSON: ``date``/``datetime`` only when every value
    is complete, else ``string`` (partial dates such as ``2019-04`` are not valid JSON dates).

    >>> _iso_types(pd.Series(["2019-04-01", None])), _iso_types(pd.Series(["2019-04"])), _iso_types(pd.Series(["P2D"]))
    (('date', 'date'), ('date', 'string'), ('durationDatetime', 'string'))
    """
    valid = pd.Series(factorize(values)[1], dtype=object).astype(str)   # distinct values stand for all
    valid = valid[valid != ""]
    if len(valid) and valid.str.match(_ISO_DURATION).all():
        return "durationDatetime", "string"
    define_type = "datetime" if valid.str.contains("T", regex=False).any() else "date"
    complete = len(valid) and valid.str.fullmatch(_COMPLETE[define_type]).all()
    return define_type, define_type if complete else "string"


def compute_char_length(values: pd.Series) -> int:
    """Maximum length in bytes (UTF-8) of a text column; 1 when every value is missing.

    >>> compute_char_length(pd.Series(["ab", None, "abcd"]))
    4
    >>> compute_char_length(pd.Series([None, None]))
    1
    """
    _, uniques = factorize(values)   # every distinct value occurs, so the longest distinct text is the longest text
    return max(int(byte_lengths(as_text(pd.Series(uniques, dtype=object))).max(initial=0)), 1)


# --- dataset-level metadata ------------------------------------------------------------------

def build_dataset_meta(name: str, columns: list[str], study_specs: dict[str, dict[str, Any]],
                       standard_datasets: dict[str, dict[str, dict[str, Any]]],
                       stored_label: str | None = None) -> DatasetMeta:
    """Dataset metadata from the study spec, the standard table, the stored label, in that order.

    Keys keep only the columns present; when none are known, STUDYID, USUBJID and --SEQ/ASEQ.

    >>> meta = build_dataset_meta("suppae", ["STUDYID", "RDOMAIN", "USUBJID", "QNAM"], {},
    ...                           tables.submission_datasets())
    >>> meta.label, meta.keys, meta.dataset_class
    ('Supplemental Qualifiers for AE', ('STUDYID', 'RDOMAIN', 'USUBJID', 'QNAM'), 'RELATIONSHIP')
    """
    upper = name.upper()
    standard = "ADaM" if upper.startswith("AD") else "SDTM"
    table = standard_datasets.get("adam" if standard == "ADaM" else "sdtm", {})
    generic, stem = ("SUPP--", upper[4:]) if upper.startswith("SUPP") else ("AD--", upper[2:])
    base: dict[str, Any] = {}
    label_source = "standard"
    if upper in table:
        base = dict(table[upper])
    elif standard == "SDTM" and not upper.startswith("SUPP") and upper[:2] in table:  # split domain: LBCH -> LB
        base = dict(table[upper[:2]])
        base["label"] = stored_label or f"{base.get('label', upper[:2])} ({upper})"
        label_source = "parquet" if stored_label else "fallback"
    elif generic in table:   # SUPPAE from SUPP--, ADXX from AD-- (an ADaM label that says nothing)
        base = {k: (v.replace("--", stem) if isinstance(v, str) else v) for k, v in table[generic].items()}
        label_source = "fallback" if standard == "ADaM" else label_source
    spec = study_specs.get(upper, {})
    if spec.get("label"):
        label_source = "study spec"
    elif stored_label and (label_source == "fallback" or not base.get("label")):
        label_source = "parquet"
        base["label"] = stored_label
    merged = {**base, **{k: v for k, v in spec.items() if v not in (None, "")}}
    keys = tuple(k.upper() for k in merged.get("keys") or [] if k.upper() in columns)
    if not keys:
        keys = tuple(k for k in ("STUDYID", "USUBJID", f"{upper}SEQ", "ASEQ") if k in columns)
    dataset_class = str(merged.get("class") or ("BASIC DATA STRUCTURE" if standard == "ADaM" else "")).upper()
    if standard == "ADaM":
        dataset_class = ADAM_CLASS_NAMES.get(dataset_class, dataset_class)
    return DatasetMeta(upper, str(merged.get("label") or upper), standard, dataset_class,
                       str(merged.get("structure") or ""), keys, subclass=str(merged.get("subclass") or ""),
                       label_source=label_source if merged.get("label") else "fallback")


# --- variable-level metadata -----------------------------------------------------------------

def _generic_name(variable: str, prefix: str) -> str | None:
    """``--TESTCD`` for ``LBTESTCD`` in a domain of prefix ``LB``; None outside the prefix."""
    return "--" + variable[len(prefix):] if prefix and variable.startswith(prefix) else None


def build_variable_meta(meta: DatasetMeta, dataset: pd.DataFrame, standard_variables: pd.DataFrame,
                        study_variables: pd.DataFrame, stored_labels: dict[str, str],
                        standard_origins: dict[str, dict[str, Any]],
                        adam_methods: dict[tuple[str, str], str] | None = None,
                        sdtm_sources: dict[str, set[str]] | None = None,
                        adam_labels: dict[str, str] | None = None,
                        adam_types: dict[str, str] | None = None) -> pd.DataFrame:
    """One metadata row per column of ``dataset`` (see ``VARIABLE_COLUMNS``).

    ``sdtm_sources`` (SDTM dataset -> its columns) makes ADaM variables copied from SDTM predecessors
    (``DM.SEX``); ``adam_types`` are the ADaM spec types (see :func:`resolve_variable_kind`).

    >>> meta = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "", ("STUDYID", "USUBJID"))
    >>> std = pd.DataFrame({"domain": ["DM"], "variable": ["SEX"], "order": ["1"], "label": ["Sex"],
    ...                     "type": ["Char"], "core": ["Req"], "codelist": ["SEX"], "value_format": [""]})
    >>> frame = pd.DataFrame({"STUDYID": ["S1"], "USUBJID": ["S1-01"], "SEX": ["F"], "AGE": [34.0]})
    >>> out = build_variable_meta(meta, frame, std, pd.DataFrame(), {"AGE": "Age"}, load_standard_origins()["sdtm"])
    >>> out[["variable", "label", "label_source", "kind", "length", "codelist", "key_sequence"]].values.tolist()
    [['STUDYID', 'STUDYID', 'fallback', 'char', 2, '', 1], ['USUBJID', 'USUBJID', 'fallback', 'char', 5, '', 2], ['SEX', 'Sex', 'standard', 'char', 1, 'SEX', <NA>], ['AGE', 'Age', 'parquet', 'integer', 2, '', <NA>]]
    """
    adam_methods, sdtm_sources, adam_labels, adam_types = (
        given or {} for given in (adam_methods, sdtm_sources, adam_labels, adam_types))
    roles = load_standard_origins().get("roles", {}) if meta.standard == "SDTM" else {}
    name = meta.name
    prefix = name[:2] if meta.standard == "SDTM" and not name.startswith("SUPP") else ""
    std_domain = "SUPPQUAL" if name.startswith("SUPP") else name
    if meta.standard == "ADaM":
        std_domain = {long: short for short, long in ADAM_CLASSES.items()}.get(meta.dataset_class, name)
    elif len(name) > 2 and not name.startswith("SUPP") and len(standard_variables) \
            and not (standard_variables["domain"] == name).any():
        std_domain = prefix = name[:2]  # split domain (LBCH) uses its parent's variables
    generic_labels = compute_generic_labels(standard_variables) if prefix else {}
    exact = standard_variables[standard_variables["domain"] == std_domain].drop_duplicates("variable").set_index("variable") \
        if len(standard_variables) else pd.DataFrame()
    anywhere = standard_variables.drop_duplicates("variable").set_index("variable") if len(standard_variables) else pd.DataFrame()
    spec_rows = study_variables[study_variables["dataset"] == name].drop_duplicates("variable").set_index("variable") \
        if len(study_variables) and "dataset" in study_variables.columns else pd.DataFrame()

    def spec_value(variable: str, key: str) -> Any:
        value = spec_rows.at[variable, key] if variable in spec_rows.index and key in spec_rows.columns else None
        return None if value is None or pd.isna(value) or str(value) == "" else value

    rows = []
    for position, variable in enumerate(dataset.columns, start=1):
        values = dataset[variable]
        std_row = exact.loc[variable] if variable in exact.index else (
            anywhere.loc[variable] if variable in anywhere.index else pd.Series(dtype=object))
        labels = ((adam_labels.get(variable), "adam spec"), (spec_value(variable, "label"), "study spec"),
                  (exact.at[variable, "label"] if variable in exact.index else None, "standard"),
                  (stored_labels.get(variable), "parquet"),
                  (anywhere.at[variable, "label"] if variable in anywhere.index else None, "standard (other domain)"),
                  (generic_labels.get(variable[len(prefix):]) if prefix and variable.startswith(prefix) else None,
                   "standard (generic --)"))   # first match wins
        label, label_source = next(((str(text), source) for text, source in labels if text), (variable, "fallback"))
        declared = _DECLARED_TYPES.get(str(spec_value(variable, "type") or std_row.get("type", "")).strip().lower(), "")
        if variable in spec_rows.index:  # the study table, resolved against the standard, is authoritative
            codelist, value_format = spec_value(variable, "codelist") or "", spec_value(variable, "value_format") or ""
        else:
            codelist, value_format = std_row.get("codelist", "") or "", std_row.get("value_format", "")
        core = spec_value(variable, "core") or std_row.get("core", "")
        std_format = str(std_row.get("value_format", ""))
        coded = variable.endswith("CD") and any(dictionary_code(f) for f in (value_format, std_format) if f)
        kind = resolve_variable_kind(variable, values, adam_types.get(variable, ""), declared, coded)
        if kind == "char" and not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            values = values.astype(object)
        if kind == "char":
            length = compute_char_length(values)
            is_iso = str(value_format).lower().replace(" ", "").startswith("iso8601")
            define_type, json_type = _iso_types(values) if is_iso else ("text", "string")
            json_target, display_format = None, ""
        elif kind in ("integer", "float"):
            length, decimals = compute_numeric_length_and_decimals(values)
            define_type, json_type, json_target, display_format = kind, kind, None, ""
        else:
            length, define_type, json_type = 8, "integer", kind
            json_target, display_format = "integer", _FORMAT_OF_KIND[kind]
        origin_spec = standard_origins[variable] if variable in standard_origins \
            else standard_origins.get(_generic_name(variable, prefix), {})
        origin = spec_value(variable, "origin") or origin_spec.get("origin")
        origin_source, predecessor = origin_spec.get("source", ""), ""
        method = adam_methods.get((name, variable)) or adam_methods.get(("*", variable)) \
            or str(origin_spec.get("method", "")).replace("--", prefix or "--")
        if meta.standard == "ADaM":
            source_domain = _predecessor_domain(name, variable, sdtm_sources)
            copied_from = f"{source_domain}.{variable}" if source_domain else ""
            if not origin and PREDECESSOR_TEXT.fullmatch(method):
                origin, predecessor, method = "Predecessor", method, ""
            elif not origin:
                origin, predecessor = ("Predecessor", copied_from) if copied_from and not method else ("Derived", "")
            elif origin == "Predecessor":
                predecessor = copied_from
        if not origin:
            origin = "Collected"
            origin_source = origin_source or ("Vendor" if name == "LB" else "Investigator")
        if origin == "Collected" and not origin_source:
            origin_source = "Investigator"
        if origin == "Derived" and not method:
            method = f"Derived by the pipeline; see the {meta.standard} specification of {name}.{variable}."
        key_sequence = meta.keys.index(variable) + 1 if variable in meta.keys else None
        mandatory = "Yes" if (str(core).startswith("Req") or key_sequence or str(core) == "Yes") else "No"
        rows.append({
            "dataset": name, "variable": variable, "order": position, "label": label,
            "label_source": label_source, "kind": kind, "length": int(length),
            "display_format": display_format, "define_type": define_type, "json_type": json_type,
            "json_target_type": json_target, "codelist": str(codelist).upper() if codelist else "",
            "value_format": str(value_format or ""),
            "origin": str(origin), "origin_source": str(origin_source or ""), "predecessor": str(predecessor),
            "method": str(method or "") if origin == "Derived" else "", "key_sequence": key_sequence,
            "mandatory": mandatory,
            "role": compute_sdtm_role(name, variable, roles) if roles else "",
            "significant_digits": decimals if kind == "float" else None,
            "declared_type": declared,
        })
    table = pd.DataFrame(rows, columns=VARIABLE_COLUMNS)
    return table.astype({"key_sequence": "Int64", "significant_digits": "Int64", "order": "int64", "length": "int64"})


_DECLARED_TYPES = {**dict.fromkeys(("num", "n", "integer", "float", "double", "numeric"), "Num"),
                   **dict.fromkeys(("date", "datetime", "time"), "Num"),
                   **dict.fromkeys(("char", "c", "text", "string", "character"), "Char")}


def compute_generic_labels(standard_variables: pd.DataFrame) -> dict[str, str]:
    """Labels of ``--`` variables shared by domains: suffix -> the most common label.

    Only suffixes whose label is the same in most domains are kept (``SEQ`` -> ``Sequence Number``).

    >>> std = pd.DataFrame({"domain": ["AE", "LB", "VS", "LB"], "variable": ["AESEQ", "LBSEQ", "VSSEQ", "LBTEST"],
    ...                     "label": ["Sequence Number"] * 3 + ["Lab Test or Examination Name"]})
    >>> compute_generic_labels(std)
    {'SEQ': 'Sequence Number'}
    """
    if not len(standard_variables):
        return {}
    table = standard_variables[(standard_variables["domain"].str.len() == 2)
                               & (standard_variables["variable"].str[:2] == standard_variables["domain"])]
    table = table.assign(suffix=table["variable"].str[2:])
    counts = table.groupby(["suffix", "label"]).size().reset_index(name="n")
    totals = counts.groupby("suffix")["n"].transform("sum")
    best = counts[(counts["n"] >= 2) & (counts["n"] * 2 > totals)].sort_values(["suffix", "n"], ascending=[True, False])
    return dict(zip(best.drop_duplicates("suffix")["suffix"], best.drop_duplicates("suffix")["label"]))


def compute_sdtm_role(dataset: str, variable: str, roles: dict[str, list[str]]) -> str:
    """SDTM role of a variable from the role table (exact name, ``NAME@DATASET``, then ``--`` suffix).

    >>> roles = load_standard_origins()["roles"]
    >>> [compute_sdtm_role("LB", v, roles) for v in ("USUBJID", "LBTESTCD", "LBORRES", "LBDTC", "LBFAST")]
    ['Identifier', 'Topic', 'Result Qualifier', 'Timing', 'Record Qualifier']
    >>> compute_sdtm_role("SV", "VISITNUM", roles), compute_sdtm_role("SUPPAE", "QVAL", roles)
    ('Topic', 'Result Qualifier')
    """
    prefix = "" if dataset.startswith("SUPP") else dataset[:2]
    keys = (f"{variable}@{dataset}", variable, _generic_name(variable, prefix))
    return next((role for key in keys if key for role, names in roles.items() if key in names), "Record Qualifier")


def _predecessor_domain(dataset: str, variable: str, sdtm_sources: dict[str, set[str]]) -> str:
    """The SDTM dataset a variable was copied from: DM for ADSL, XX for ADXX, else any holding it."""
    preferred = ["DM"] if dataset == "ADSL" else ["ADSL", dataset[2:]]
    preferred += ["DM"] + sorted(k for k in sdtm_sources if k != "ADSL")
    return next((domain for domain in preferred if variable in sdtm_sources.get(domain, set())), "")


def compute_decimals(values: pd.Series) -> int | None:
    """Fewest decimals (0-15) that represent every value, tolerating binary noise (4.1 not 4.0999...).

    >>> compute_decimals(pd.Series([1.0, 2.25, None])), compute_decimals(pd.Series([0.1 + 0.2])), compute_decimals(pd.Series([3.0]))
    (2, 1, None)
    """
    return _decimals_of(_finite_numbers(values))


def compute_numeric_length(values: pd.Series) -> int:
    """Define-XML length of a numeric column: digits before the point, sign, point and decimals.

    >>> compute_numeric_length(pd.Series([12.5, -3.25])), compute_numeric_length(pd.Series([1.0, 120.0])), compute_numeric_length(pd.Series([None]))
    (6, 3, 8)
    """
    return compute_numeric_length_and_decimals(values)[0]


def compute_numeric_length_and_decimals(values: pd.Series) -> tuple[int, int | None]:
    """(:func:`compute_numeric_length`, :func:`compute_decimals`) of a numeric column, its numbers read once.

    >>> compute_numeric_length_and_decimals(pd.Series([12.5, -3.25, None]))
    (6, 2)
    """
    numbers = _finite_numbers(values)
    if not len(numbers):
        return 8, None
    integer_digits = len(str(int(np.abs(numbers).max()))) + int((numbers < 0).any())
    decimals = _decimals_of(numbers)
    return max(1, integer_digits + (decimals + 1 if decimals else 0)), decimals


def _finite_numbers(values: pd.Series) -> np.ndarray:
    """The finite numbers of a column (missing and infinite values left out), without a pandas index."""
    numbers = pd.to_numeric(values, errors="coerce")
    if isinstance(numbers.dtype, np.dtype) and numbers.dtype.kind in "fiu":   # no missing value but NaN
        array = np.asarray(numbers)
        return array[np.isfinite(array)] if array.dtype.kind == "f" else array
    numbers = numbers.dropna()
    return numbers[np.isfinite(numbers)].to_numpy()


def _decimals_of(numbers: np.ndarray) -> int | None:
    """:func:`compute_decimals` of finite numbers; whole numbers need no decimals (no search)."""
    numbers = numbers.astype("float64", copy=False)
    if not len(numbers) or np.array_equal(numbers, np.round(numbers)):
        return None
    numbers = pd.unique(numbers)   # each distinct number tried once
    tolerance = 1e-9 * np.maximum(1.0, np.abs(numbers))
    for decimals in range(16):
        if np.all(np.abs(numbers - np.round(numbers, decimals)) <= tolerance):
            return decimals or None
    return 15


# --- the study's resolved metadata (pipeline.standards.study) --------------------------------

@dataclass(frozen=True)
class StudySpecs:
    """What the study spec says: dataset specs, variable table, sponsor codelists, dictionary versions."""

    datasets: dict[str, dict[str, Any]]
    variables: pd.DataFrame
    codelists: pd.DataFrame  # CT layout (codelist_code, codelist, ..., submission_value)
    dictionaries: dict[str, str]


def load_study_specs(specs_dir: str | Path, standards_dir: str | Path) -> StudySpecs:
    """The study's dataset/variable metadata as resolved by :mod:`pipeline.standards.study`.

    A broken spec raises its :class:`ConfigError` (file and line); no ``datasets.yaml``: everything empty.

    >>> from pipeline.common.study import StudyContext
    >>> ctx = StudyContext.create("iscalimab-ln")
    >>> specs = load_study_specs(ctx.specs_dir, ctx.standards_dir)
    >>> specs.datasets["DM"]["keys"], specs.dictionaries["MEDDRA"] != ""
    (['STUDYID', 'USUBJID'], True)
    """
    specs_dir, standards_dir = Path(specs_dir), Path(standards_dir)
    path = specs_dir / "datasets.yaml"
    if not path.exists():
        return StudySpecs({}, pd.DataFrame(columns=["dataset", "variable"]), pd.DataFrame(columns=CT_COLUMNS), {})
    resolved = load_study_metadata(specs_dir, standards_dir)
    datasets = {name: {"label": d.label, "class": d.class_, "structure": d.structure, "keys": list(d.keys)}
                for name, d in resolved.datasets.items()}
    table = resolved.variables
    variables = pd.DataFrame({
        "dataset": table["dataset"].astype(str).str.upper(), "variable": table["variable"].astype(str).str.upper(),
        "label": table["label"], "core": table["core"],
        "codelist": table["codelist"].map(lambda v: str(v).replace("|", "/") if isinstance(v, str) and v else None),
        "value_format": table["dictionary"].fillna(table["format"]), "type": table["type"], "origin": table["origin"],
    })
    declared = (resolved.spec or {}).get("codelists") or {}
    rows = []
    for name, codelist in sorted((n, c) for n, c in resolved.codelists.items() if c.sponsor_defined):
        title = str(declared[name].get("name") or name) if isinstance(declared.get(name), dict) else name
        rows += [{"codelist_code": codelist.code or "", "codelist": name, "codelist_name": title,
                  "extensible": "Yes" if codelist.extensible else "No", "term_code": "",
                  "submission_value": term, "synonyms": "", "nci_preferred_term": ""}
                 for term in sorted(codelist.terms)]
    codelists = pd.DataFrame(rows, columns=CT_COLUMNS)
    dictionaries = {dictionary_code(name) or str(name).upper(): str(version)
                    for name, version in ((resolved.spec or {}).get("dictionaries") or {}).items()}
    return StudySpecs(datasets, variables, codelists, dictionaries)
