"""Define-XML 2.1 (with ARM 1.0 for ADaM) for one standard of the submission package, built with lxml:
standards, datasets, variables, codelists (``nci:ExtCodeID`` aliases, ``def:ExtendedValue`` for
sponsor terms), dictionaries, methods and value-level metadata (docs/submission-package.md).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from pipeline.common.text import value_text
from pipeline.common.vector import factorize
from pipeline.submit.datasetjson import item_group_oid, item_oid
from pipeline.standards.tables import IG_VERSIONS
from pipeline.standards.terminology import CT_COLUMNS
from pipeline.submit.metadata import (DICTIONARIES, SPONSOR_CODELIST, DatasetMeta, compute_char_length,
                                      compute_decimals, compute_numeric_length, compute_variable_kind, iter_rows)

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_VERSION = "2.1.0"
MAX_VALUE_LEVEL_CODES = 300

# Code variables whose codelist takes its decode from a companion variable of the same dataset.
DECODE_SUFFIXES = ("TESTCD", "PARAMCD", "ARMCD")  # LBTESTCD -> LBTEST, ACTARMCD -> ACTARM, TSPARMCD -> TSPARM
DECODE_NAMES = {"ETCD": "ELEMENT", "QNAM": "QLABEL"}
_DICTIONARY_NAMES = {code: name for name, code in DICTIONARIES.items()}
VALUE_LEVEL_COLUMNS = ["dataset", "variable", "by_variable", "by_value", "kind", "length", "significant_digits",
                       "label"]
CODELIST_COLUMNS = ["codelist_oid", "name", "data_type", "codelist_code", "extensible", "coded_value",
                    "decode", "term_code", "extended", "order", "publishing_set"]
STYLESHEET_FILE = Path(__file__).resolve().parent / "define.xsl"
STYLESHEET_NAME = "define.xsl"
_PREFIXES = {"def": DEF_NS, "xlink": XLINK_NS, "xml": XML_NS, "arm": ARM_NS}


def _q(name: str) -> str:
    """The lxml name of ``def:leaf`` or ``def_leaf`` (no prefix: ODM)."""
    prefix, _, local = name.replace("_", ":", 1).rpartition(":")
    return f"{{{_PREFIXES.get(prefix, ODM_NS)}}}{local}"


def _attributes(**attributes: Any) -> dict[str, str]:
    """Attributes as text, ``def_Structure`` for ``def:Structure``; None and empty values are left out."""
    return {_q(k) if "_" in k else k: str(v) for k, v in attributes.items() if v is not None and str(v) != ""}


def _add(parent: etree._Element, tag: str, text: str | None = None, **attributes: Any) -> etree._Element:
    """Child ``tag`` (``def:leaf``; no prefix: ODM) of ``parent`` with :func:`_attributes` and ``text``."""
    element = etree.SubElement(parent, _q(tag), _attributes(**attributes))
    if text is not None:
        element.text = text
    return element


# --- codelists -------------------------------------------------------------------------------

def _decode_companion(variable: str) -> str | None:
    """The variable holding the decode of a code variable (``LBTESTCD`` -> ``LBTEST``), or None.

    >>> _decode_companion("ACTARMCD"), _decode_companion("QNAM"), _decode_companion("AESEV")
    ('ACTARM', 'QLABEL', None)
    """
    if variable.endswith(DECODE_SUFFIXES):
        return variable[:-2]
    return DECODE_NAMES.get(variable)


def assign_codelist_oids(variable_meta: pd.DataFrame, ct: pd.DataFrame) -> pd.DataFrame:
    """Add ``codelist_oid`` (CodeList to reference) and ``dictionary`` (ExternalCodeList) per variable.

    CT codelists are shared (``CL.NY``); test codes, parameters and sponsor lists are per dataset
    (``CL.LB.LBTESTCD``); ADaM ``*FL`` flags without a codelist use NY.

    >>> vm = pd.DataFrame({"dataset": ["AE", "AE", "LB", "ADSL"], "variable": ["AESER", "AEDECOD", "LBTESTCD", "SAFFL"],
    ...                    "codelist": ["NY", "", "LBTESTCD", ""], "value_format": ["", "MedDRA", "", ""], "kind": ["char"] * 4})
    >>> ct = pd.DataFrame({"codelist": ["NY", "LBTESTCD"]})
    >>> assign_codelist_oids(vm, ct)[["codelist_oid", "dictionary"]].values.tolist()
    [['CL.NY', ''], ['CL.MEDDRA', 'MEDDRA'], ['CL.LB.LBTESTCD', ''], ['CL.NY', '']]
    """
    known = set(ct["codelist"])
    oids, dictionaries = [], []
    for row in iter_rows(variable_meta):
        codelist = str(row.codelist or "")
        dictionary = next((code for prefix, code in DICTIONARIES.items() if str(row.value_format).startswith(prefix)), "")
        if dictionary:
            oids.append(f"CL.{dictionary}")
        elif _decode_companion(row.variable) or codelist == SPONSOR_CODELIST or (codelist and "/" not in codelist
                                                                                 and codelist not in known):
            oids.append(f"CL.{row.dataset}.{row.variable}")
        elif codelist:
            oids.append(f"CL.{codelist.replace('/', '.')}")
        else:
            oids.append("CL.NY" if row.dataset.startswith("AD") and row.variable.endswith("FL") and row.kind == "char" else "")
        dictionaries.append(dictionary)
    return variable_meta.assign(codelist_oid=oids, dictionary=dictionaries)


def build_codelists(variable_meta: pd.DataFrame, datasets: dict[str, pd.DataFrame], ct: pd.DataFrame) -> pd.DataFrame:
    """One row per codelist term actually used (see ``CODELIST_COLUMNS``).

    Values come from the data; CT terms get their C-code; a value missing from an extensible CT
    codelist is flagged ``extended``; a codelist whose variables hold no values lists all CT terms.

    >>> vm = pd.DataFrame({"dataset": ["DM"], "variable": ["SEX"], "codelist": ["SEX"], "codelist_oid": ["CL.SEX"], "kind": ["char"]})
    >>> ct = pd.DataFrame({"codelist_code": ["C66731"] * 2, "codelist": ["SEX"] * 2, "codelist_name": ["Sex"] * 2,
    ...                    "extensible": ["No"] * 2, "term_code": ["C16576", "C20197"], "submission_value": ["F", "M"],
    ...                    "synonyms": ["", ""], "nci_preferred_term": ["Female", "Male"]})
    >>> build_codelists(vm, {"DM": pd.DataFrame({"SEX": ["M", "M", None]})}, ct)[["coded_value", "term_code", "extended"]].values.tolist()
    [['M', 'C20197', False]]
    """
    used = variable_meta[(variable_meta["codelist_oid"] != "")
                         & (variable_meta.get("dictionary", pd.Series("", index=variable_meta.index)).fillna("") == "")]
    ct_by_name = {name: group for name, group in ct.groupby("codelist", sort=False)}
    frames = []
    for oid, group in used.groupby("codelist_oid", sort=True):
        values: list[pd.DataFrame] = []
        for row in iter_rows(group):
            frame = datasets.get(row.dataset)
            if frame is None or row.variable not in frame.columns:
                continue
            companion = _decode_companion(row.variable)
            columns = [row.variable] + ([companion] if companion and companion in frame.columns else [])
            pairs = frame[columns].dropna(subset=[row.variable]).drop_duplicates(subset=[row.variable])
            pairs = pairs.rename(columns={row.variable: "coded_value"})
            pairs["decode"] = pairs[companion].astype(str) if len(columns) > 1 else ""
            values.append(pairs[["coded_value", "decode"]])
        data_values = pd.concat(values, ignore_index=True) if values else pd.DataFrame(columns=["coded_value", "decode"])
        data_values["coded_value"] = data_values["coded_value"].map(value_text)
        data_values = data_values[data_values["coded_value"] != ""].drop_duplicates("coded_value")
        names = [n for n in str(group["codelist"].iloc[0] or "").split("/") if n in ct_by_name]
        terms = pd.concat([ct_by_name[n] for n in names], ignore_index=True) if names else pd.DataFrame(columns=CT_COLUMNS)
        if oid == "CL.NY" and "NY" in ct_by_name and not names:
            names, terms = ["NY"], ct_by_name["NY"]
        terms = terms.drop_duplicates("submission_value")
        if data_values.empty and not terms.empty:
            data_values = pd.DataFrame({"coded_value": terms["submission_value"], "decode": ""})
        if data_values.empty:
            continue
        merged = data_values.merge(terms.reindex(columns=["submission_value", "term_code", "sponsor_term"]), how="left",
                                   left_on="coded_value", right_on="submission_value")
        ct_order = {v: i for i, v in enumerate(terms["submission_value"])}
        merged["order_key"] = merged["coded_value"].map(ct_order).fillna(len(ct_order))
        merged = merged.sort_values(["order_key", "coded_value"], kind="stable").reset_index(drop=True)
        extensible = bool(len(terms)) and (terms["extensible"].iloc[0] == "Yes")
        has_code = len(names) == 1 and bool(str(terms["codelist_code"].iloc[0]))
        numeric = group["kind"].isin(["integer", "float"]).all()
        frames.append(pd.DataFrame({
            "codelist_oid": oid,
            "name": _codelist_name(oid, group, terms),
            "data_type": ("integer" if group["kind"].eq("integer").all() else "float") if numeric else "text",
            "codelist_code": terms["codelist_code"].iloc[0] if len(names) == 1 else "",
            "extensible": "Yes" if extensible else ("No" if len(terms) else ""),
            "coded_value": merged["coded_value"],
            "decode": merged["decode"].fillna(""),
            "term_code": merged["term_code"].fillna(""),
            "extended": (((merged["submission_value"].isna())
                          | (merged["sponsor_term"].eq(True) & has_code))
                         & bool(len(terms))).to_numpy(),
            "order": range(1, len(merged) + 1),
            "publishing_set": (str(terms["publishing_set"].iloc[0]) if "publishing_set" in terms and len(terms)
                               and str(terms["publishing_set"].iloc[0]) else "SDTM"),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CODELIST_COLUMNS)


def select_codelist_rows(dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of ``dataset`` that :func:`build_codelists` reads: the first record of each distinct
    value of every variable with a ``codelist_oid`` (and no dictionary), with its decode companion, in order.

    :func:`build_codelists` keeps the first record of each value, so it finds the same pairs in this small frame
    as in the whole dataset, which can then be released while the other datasets are packaged.

    >>> frame = pd.DataFrame({"LBTESTCD": ["ALB", "ALB", "GLUC", None], "LBTEST": ["Albumin", "x", "Glucose", "y"],
    ...                       "LBORRES": ["1", "2", "3", "4"]})
    >>> vm = pd.DataFrame({"variable": ["LBTESTCD", "LBTEST", "LBORRES"], "codelist_oid": ["CL.LB.LBTESTCD", "", ""],
    ...                    "dictionary": ["", "", ""]})
    >>> select_codelist_rows(frame, vm).values.tolist()
    [['ALB', 'Albumin'], ['GLUC', 'Glucose']]
    """
    dictionaries = variable_meta.get("dictionary", pd.Series("", index=variable_meta.index)).fillna("")
    coded = [v for v, oid, dictionary in zip(variable_meta["variable"], variable_meta["codelist_oid"], dictionaries)
             if oid != "" and dictionary == "" and v in dataset.columns]
    companions = [_decode_companion(v) for v in coded]
    columns = list(dict.fromkeys(coded + [c for c in companions if c and c in dataset.columns]))
    first_rows = np.zeros(len(dataset), dtype=bool)
    for variable in coded:
        codes, _ = factorize(dataset[variable])
        # codes number the values in order of appearance: a value's first record is where the running maximum grows
        first_rows |= np.diff(np.maximum.accumulate(codes), prepend=-1) > 0
    return dataset[columns].iloc[first_rows.nonzero()[0]]


def drop_empty_codelist_refs(variable_meta: pd.DataFrame, codelists: pd.DataFrame) -> pd.DataFrame:
    """Clear ``codelist_oid`` where neither a CodeList (no value in the data nor CT terms: a TV.ARMCD that is
    always empty) nor an ExternalCodeList ``CL.<dictionary>`` will be written, so no reference points at nothing.

    >>> vm = pd.DataFrame({"dataset": ["DM", "TV", "AE"], "variable": ["SEX", "ARMCD", "AEDECOD"],
    ...                    "codelist_oid": ["CL.SEX", "CL.TV.ARMCD", "CL.MEDDRA"], "dictionary": ["", "", "MEDDRA"]})
    >>> drop_empty_codelist_refs(vm, pd.DataFrame({"codelist_oid": ["CL.SEX"]}))["codelist_oid"].tolist()
    ['CL.SEX', '', 'CL.MEDDRA']
    """
    dictionaries = variable_meta.get("dictionary", pd.Series("", index=variable_meta.index)).fillna("")
    written = set(codelists["codelist_oid"]) | {f"CL.{d}" for d in dictionaries if d}
    oids = variable_meta["codelist_oid"].fillna("")
    return variable_meta.assign(codelist_oid=oids.where(oids.isin(written), ""))


def _codelist_name(oid: str, group: pd.DataFrame, terms: pd.DataFrame) -> str:
    if len(terms) and oid.count(".") == 1:
        return str(terms["codelist_name"].iloc[0])
    first = group.iloc[0]
    return f"{first['dataset']}.{first['variable']} values" if oid.count(".") == 2 else oid[3:]


# --- value-level metadata --------------------------------------------------------------------

def build_value_level_meta(meta: DatasetMeta, dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> pd.DataFrame:
    """Value-level rows (``VALUE_LEVEL_COLUMNS``): results of findings by ``--TESTCD``, ``TSVAL`` by ``TSPARMCD``,
    ``AVAL``/``AVALC`` by ``PARAMCD``, ``QVAL`` by ``QNAM``.

    >>> frame = pd.DataFrame({"LBTESTCD": ["ALB", "ALB", "GLUC"], "LBTEST": ["Albumin", "Albumin", "Glucose"],
    ...                       "LBSTRESN": [40.0, 41.0, 5.25]})
    >>> vm = pd.DataFrame({"variable": ["LBTESTCD", "LBTEST", "LBSTRESN"], "kind": ["char", "char", "float"], "label": ["a", "b", "c"]})
    >>> build_value_level_meta(DatasetMeta("LB", "Lab", "SDTM", "FINDINGS", "", ()), frame, vm)[["by_value", "kind", "significant_digits"]].values.tolist()
    [['ALB', 'integer', <NA>], ['GLUC', 'float', 2]]
    """
    prefix = meta.name[:2] if meta.standard == "SDTM" and not meta.name.startswith("SUPP") else meta.name
    layouts = ((f"{prefix}TESTCD", [f"{prefix}ORRES", f"{prefix}STRESC", f"{prefix}STRESN"], f"{prefix}TEST"),
               (f"{prefix}PARMCD", [f"{prefix}VAL"], f"{prefix}PARM"), ("PARAMCD", ["AVAL", "AVALC"], "PARAM"),
               ("QNAM", ["QVAL"], "QLABEL"))   # (by variable, result variables, label variable), first found
    by, targets, label_column = next(((by, [t for t in targets if t in dataset.columns], label)
                                      for by, targets, label in layouts if by in dataset.columns
                                      and any(t in dataset.columns for t in targets)), (None, [], None))
    if by is None:
        return pd.DataFrame(columns=VALUE_LEVEL_COLUMNS)
    codes = pd.Series(factorize(dataset[by])[1], dtype=object).astype(str)   # the distinct values, as text
    codes = sorted(codes[codes != ""].unique())[:MAX_VALUE_LEVEL_CODES]
    rows = []
    for target in targets:
        parent_kind = variable_meta.loc[variable_meta["variable"] == target, "kind"]
        parent_kind = parent_kind.iloc[0] if len(parent_kind) else "char"
        columns = [by, target] + ([label_column] if label_column in dataset.columns else [])
        subset = _first_distinct_rows(dataset, columns)
        for code, part in subset[subset[by].astype(str).isin(codes)].groupby(by, sort=True):
            values = part[target]
            if values.isna().all() or (parent_kind == "char" and values.fillna("").eq("").all()):
                continue
            kind = compute_variable_kind(values) if parent_kind != "char" else "char"
            label = str(part[label_column].dropna().iloc[0]) if label_column in part and part[label_column].notna().any() else str(code)
            rows.append({"dataset": meta.name, "variable": target, "by_variable": by, "by_value": str(code), "kind": kind,
                         "length": compute_char_length(values) if kind == "char" else compute_numeric_length(values),
                         "significant_digits": compute_decimals(values) if kind == "float" else None,
                         "label": label})
    return pd.DataFrame(rows, columns=VALUE_LEVEL_COLUMNS).astype({"significant_digits": "Int64"})


def _first_distinct_rows(dataset: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``dataset[columns]`` without repeated rows (the first of each kept, in order). What a group's metadata needs
    (its set of values, its first label) is unchanged, and the groups are small.

    >>> frame = pd.DataFrame({"PARAMCD": ["A", "A", "B", "A"], "AVAL": [1.0, 1.0, None, 2.0]})
    >>> _first_distinct_rows(frame, ["PARAMCD", "AVAL"]).index.tolist()
    [0, 2, 3]
    """
    key = np.zeros(len(dataset), dtype=np.int64)
    for column in columns:
        codes, uniques = factorize(dataset[column])
        key = _combine_codes(key, codes, len(uniques))
    return dataset[columns].iloc[(~pd.Series(key, copy=False).duplicated()).to_numpy().nonzero()[0]]


def _combine_codes(key: np.ndarray, codes: np.ndarray, count: int) -> np.ndarray:
    """One code per distinct (key, code) pair, codes from -1 (missing) to ``count - 1``; renumbered when the
    product would not fit in 64 bits."""
    if int(key.max(initial=0)) + 1 > (2 ** 62) // (count + 1):
        key = np.unique(key, return_inverse=True)[1].astype(np.int64).ravel()
    return key * (count + 1) + (np.asarray(codes, dtype=np.int64) + 1)


# --- the document ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DefineContext:
    """Study-level facts that go into the ODM header and GlobalVariables."""

    study_oid: str
    study_name: str
    study_description: str
    protocol_name: str
    created: str
    ct_version: str
    standard: str  # SDTM or ADaM
    originator: str = "cdisc-pipeline"
    source_system_version: str = "0.1.0"
    dictionary_versions: dict[str, str] = field(default_factory=dict)
    as_of: str = ""  # the data cut (ODM AsOfDateTime); empty: not stated
    stylesheet: str = STYLESHEET_NAME  # file beside define.xml named by the xml-stylesheet instruction; empty: none

    @property
    def metadata_version_oid(self) -> str:
        name, version = IG_VERSIONS[self.standard]
        return f"MDV.{self.study_name}.{name}.{version}"


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    element = _add(parent, tag)
    _add(element, "TranslatedText", text, xml_lang="en")
    return element


def build_define_xml(context: DefineContext, metas: list[DatasetMeta], variable_meta: pd.DataFrame,
                     codelists: pd.DataFrame, value_level: pd.DataFrame,
                     result_displays: list | None = None, arm_where_clauses: list | None = None) -> bytes:
    """Serialise one Define-XML 2.1 document (UTF-8 bytes, pretty-printed, deterministic).

    ``variable_meta`` needs ``codelist_oid`` and ``dictionary`` (see :func:`assign_codelist_oids`).

    >>> ctx = DefineContext("STDY.S1", "S1", "A study", "S1", "2023-06-29T00:00:00", "2025-03-28", "SDTM")
    >>> meta = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "One record per subject", ("USUBJID",))
    >>> vm = pd.DataFrame({"dataset": ["DM"], "variable": ["USUBJID"], "label": ["Unique Subject Identifier"], "kind": ["char"],
    ...     "length": [6], "define_type": ["text"], "display_format": [""], "significant_digits": [None], "origin": ["Derived"],
    ...     "origin_source": [""], "predecessor": [""], "method": ["STUDYID-SUBJID"], "key_sequence": [1], "mandatory": ["Yes"],
    ...     "role": [""], "codelist_oid": [""], "dictionary": [""], "order": [1]})
    >>> xml = build_define_xml(ctx, [meta], vm, pd.DataFrame(columns=CODELIST_COLUMNS), pd.DataFrame(columns=["dataset"]))
    >>> b'KeySequence="1"' in xml and b'<def:leaf ID="LF.DM" xlink:href="dm.xpt">' in xml
    True
    """
    ig_name, ig_version = IG_VERSIONS[context.standard]
    odm = etree.Element(_q("ODM"), _attributes(
        FileType="Snapshot", FileOID=f"{context.study_oid}.DEFINE.{context.standard}",
        CreationDateTime=context.created, AsOfDateTime=context.as_of, ODMVersion="1.3.2",
        Originator=context.originator, SourceSystem="cdisc-pipeline",
        SourceSystemVersion=context.source_system_version, def_Context="Submission",
    ), nsmap={**NSMAP, "arm": ARM_NS} if result_displays else NSMAP)
    study = _add(odm, "Study", OID=context.study_oid)
    global_vars = _add(study, "GlobalVariables")
    _add(global_vars, "StudyName", context.study_name)
    _add(global_vars, "StudyDescription", context.study_description)
    _add(global_vars, "ProtocolName", context.protocol_name)
    mdv = _add(study, "MetaDataVersion", OID=context.metadata_version_oid,
               Name=f"{context.study_name} {context.standard} Define-XML {DEFINE_VERSION}",
               Description=f"{context.study_name} {ig_name} {ig_version} metadata", def_DefineVersion=DEFINE_VERSION)

    standards = _add(mdv, "def:Standards")
    ig_oid = f"STD.{ig_name}.{ig_version}"
    _add(standards, "def:Standard", OID=ig_oid, Name=ig_name, Type="IG", Version=ig_version, Status="Final")
    with_adam_ct = len(codelists) and (codelists["publishing_set"] == "ADaM").any()
    ct_oids = {name: f"STD.CT.{name}.{context.ct_version}" for name in ("SDTM", "ADaM")[:2 if with_adam_ct else 1]}
    for publishing_set, oid in ct_oids.items():
        _add(standards, "def:Standard", OID=oid, Name="CDISC/NCI", Type="CT", PublishingSet=publishing_set,
             Version=context.ct_version, Status="Final")

    variable_meta = drop_empty_codelist_refs(variable_meta, codelists)
    vl_keys = set(zip(value_level["dataset"], value_level["variable"])) if len(value_level) else set()

    # value lists and where clauses
    where_clauses: list[tuple[str, str, str, str]] = []
    for (dataset_name, variable), group in value_level.groupby(["dataset", "variable"], sort=True) if len(value_level) else []:
        value_list = _add(mdv, "def:ValueListDef", OID=f"VL.{dataset_name}.{variable}")
        for order, row in enumerate(iter_rows(group), start=1):
            wc_oid = f"WC.{dataset_name}.{row.by_variable}.{row.by_value}"
            ref = _add(value_list, "ItemRef", ItemOID=f"{item_oid(dataset_name, variable)}.{row.by_value}",
                       OrderNumber=order, Mandatory="No")
            _add(ref, "def:WhereClauseRef", WhereClauseOID=wc_oid)
            where_clauses.append((wc_oid, dataset_name, row.by_variable, row.by_value))
    clause_specs = [(wc_oid, ((item_oid(dataset_name, by_variable), "EQ", (by_value,)),))
                    for wc_oid, dataset_name, by_variable, by_value in sorted(set(where_clauses))]
    clause_specs += [(c.oid, c.conditions) for c in (arm_where_clauses or [])]
    for wc_oid, conditions in clause_specs:
        clause = _add(mdv, "def:WhereClauseDef", OID=wc_oid)
        for condition_item, comparator, values in conditions:
            check = _add(clause, "RangeCheck", Comparator=comparator, SoftHard="Soft", def_ItemOID=condition_item)
            for value in values:
                _add(check, "CheckValue", value)

    # methods: one MethodDef per variable name when every dataset derives it the same way
    derived = variable_meta[(variable_meta["origin"] == "Derived") & (variable_meta["method"].fillna("") != "")]
    texts_per_variable = derived.groupby("variable")["method"].nunique()
    method_oids = {(row.dataset, row.variable): (f"MT.{row.variable}" if texts_per_variable[row.variable] == 1
                                                 else f"MT.{row.dataset}.{row.variable}")
                   for row in iter_rows(derived)}

    # datasets
    methods: list[tuple[str, str, str]] = []
    for meta in metas:
        group = variable_meta[variable_meta["dataset"] == meta.name].sort_values("order")
        one_per_subject = meta.structure.lower().rstrip(".") == "one record per subject"
        ig = _add(mdv, "ItemGroupDef", OID=item_group_oid(meta.name),
                  Domain=meta.name.removeprefix("SUPP") if meta.standard == "SDTM" else None, Name=meta.name,
                  Repeating="No" if one_per_subject or meta.name in ("DM", "ADSL") else "Yes",
                  IsReferenceData="Yes" if meta.dataset_class == "TRIAL DESIGN" else "No", SASDatasetName=meta.name,
                  Purpose=meta.purpose, def_Structure=meta.structure or "Not specified", def_StandardOID=ig_oid,
                  def_ArchiveLocationID=f"LF.{meta.name}")
        _text(ig, "Description", meta.label)
        for row in iter_rows(group):
            method_oid = method_oids.get((meta.name, row.variable))
            _add(ig, "ItemRef", ItemOID=item_oid(meta.name, row.variable), OrderNumber=int(row.order),
                 Mandatory=row.mandatory, KeySequence=None if pd.isna(row.key_sequence) else int(row.key_sequence),
                 MethodOID=method_oid, Role=row.role if meta.standard == "SDTM" else None)
            if method_oid:
                methods.append((method_oid, f"Algorithm for {method_oid[3:]}", row.method))   # VAR or DS.VAR
        if meta.dataset_class:
            klass = _add(ig, "def:Class", Name=meta.dataset_class)
            if meta.subclass:
                _add(klass, "def:SubClass", Name=meta.subclass)
        leaf = _add(ig, "def:leaf", ID=f"LF.{meta.name}", xlink_href=meta.file_name)
        _add(leaf, "def:title", meta.file_name)

    # variables
    for meta in metas:
        group = variable_meta[variable_meta["dataset"] == meta.name].sort_values("order")
        for row in iter_rows(group):
            has_value_list = (meta.name, row.variable) in vl_keys
            _item_def(mdv, item_oid(meta.name, row.variable), row._asdict(),
                      f"VL.{meta.name}.{row.variable}" if has_value_list else None)
        parents = group.set_index("variable")
        for row in iter_rows(value_level[value_level["dataset"] == meta.name]) if len(value_level) else []:
            parent = parents.loc[row.variable]
            _item_def(mdv, f"{item_oid(meta.name, row.variable)}.{row.by_value}", {
                **parent, **row._asdict(), "define_type": "text" if row.kind == "char" else row.kind,
                "display_format": "", "label": f"{parent['label']} ({row.label})"[:200], "codelist_oid": ""})

    # codelists
    for oid, group in codelists.groupby("codelist_oid", sort=True):
        first = group.iloc[0]
        codelist = _add(mdv, "CodeList", OID=oid, Name=first["name"], DataType=first["data_type"], def_StandardOID=(
            ct_oids.get(str(first["publishing_set"]), ct_oids["SDTM"]) if first["codelist_code"] else None))
        with_decode = group["decode"].ne("").any()
        for row in iter_rows(group):
            item = _add(codelist, "CodeListItem" if with_decode else "EnumeratedItem", CodedValue=row.coded_value,
                        OrderNumber=int(row.order), def_ExtendedValue="Yes" if row.extended else None)
            if with_decode:
                _text(item, "Decode", str(row.decode or row.coded_value))
            if row.term_code:
                _add(item, "Alias", Context="nci:ExtCodeID", Name=row.term_code)
        if first["codelist_code"]:
            _add(codelist, "Alias", Context="nci:ExtCodeID", Name=first["codelist_code"])
    for dictionary in sorted(set(variable_meta.get("dictionary", pd.Series(dtype=str))) - {""}):
        codelist = _add(mdv, "CodeList", OID=f"CL.{dictionary}", Name=dictionary, DataType="text")
        _add(codelist, "ExternalCodeList", Dictionary=_DICTIONARY_NAMES.get(dictionary, dictionary),
             Version=context.dictionary_versions.get(dictionary, "not specified"))

    for method_oid, name, text in sorted(set(methods)):
        _text(_add(mdv, "MethodDef", OID=method_oid, Name=name, Type="Computation"), "Description", text)

    if result_displays:
        _analysis_results(mdv, result_displays)
    if context.stylesheet:
        odm.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{context.stylesheet}"'))
    return etree.tostring(odm.getroottree(), xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _analysis_results(mdv: etree._Element, displays: list) -> None:
    """``arm:AnalysisResultDisplays`` (ARM 1.0) at the end of MetaDataVersion."""
    root = _add(mdv, "arm:AnalysisResultDisplays")
    for display in displays:
        element = _add(root, "arm:ResultDisplay", OID=display.oid, Name=display.name)
        _text(element, "Description", display.description)
        for result in display.results:
            node = _add(element, "arm:AnalysisResult", OID=result.oid, ParameterOID=result.parameter_oid,
                        AnalysisReason=result.reason, AnalysisPurpose=result.purpose)
            _text(node, "Description", result.description)
            datasets = _add(node, "arm:AnalysisDatasets")
            for dataset in result.datasets:
                element_dataset = _add(datasets, "arm:AnalysisDataset", ItemGroupOID=dataset["item_group_oid"])
                if dataset["where_oid"]:
                    _add(element_dataset, "def:WhereClauseRef", WhereClauseOID=dataset["where_oid"])
                for variable in dataset["variables"]:
                    _add(element_dataset, "arm:AnalysisVariable", ItemOID=variable)
            _text(_add(node, "arm:Documentation"), "Description", result.documentation)
            _add(_add(node, "arm:ProgrammingCode", Context="Python (cdisc-pipeline)"), "arm:Code", result.code)


def _item_def(mdv: etree._Element, oid: str, row: dict[str, Any], value_list_oid: str | None = None) -> None:
    """One ItemDef from a ``variable_meta`` row (a value-level item: the row with its parent's origin)."""
    define_type, kind, origin = row["define_type"], row["kind"], row["origin"]
    with_length = define_type in ("text", "integer", "float") or kind in ("integer", "float")
    digits = row["significant_digits"]
    item = _add(mdv, "ItemDef", OID=oid, Name=row["variable"], DataType=define_type,
                Length=max(int(row["length"]), 1) if with_length else None,
                SignificantDigits=int(digits) if define_type == "float" and not pd.isna(digits) else None,
                SASFieldName=row["variable"], def_DisplayFormat=row["display_format"])
    _text(item, "Description", str(row["label"]))
    if row["codelist_oid"]:
        _add(item, "CodeListRef", CodeListOID=row["codelist_oid"])
    if origin:
        source = (row["origin_source"] if origin in ("Collected", "Assigned", "Protocol") else "") \
            or ("Sponsor" if origin == "Assigned" else None)
        origin_element = _add(item, "def:Origin", Type=origin, Source=source)
        if origin == "Predecessor" and row["predecessor"]:
            _text(origin_element, "Description", row["predecessor"])
    if value_list_oid:
        _add(item, "def:ValueListRef", ValueListOID=value_list_oid)


@lru_cache(maxsize=2)
def _define_schema(with_arm: bool = False) -> etree.XMLSchema | None:
    """The Define-XML 2.1 XSD (with ARM 1.0, as odmlib pairs them) shipped with ``odmlib`` (a test dependency)."""
    spec = importlib.util.find_spec("odmlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    schemas = Path(list(spec.submodule_search_locations)[0]) / "schemas"
    path = schemas / "arm" / "1.0-define2.1" / "arm1-0-0.xsd" if with_arm else schemas / "define" / "2.1" / "define2-1-0.xsd"
    return etree.XMLSchema(etree.parse(str(path))) if path.exists() else None


def validate_define_xml(xml: bytes) -> list[str] | None:
    """XSD errors of a define.xml (empty list when valid), or None when the XSD is unavailable.

    >>> validate_define_xml(b"<ODM xmlns='http://www.cdisc.org/ns/odm/v1.3'/>")[0][:40]
    "line 1: Element '{http://www.cdisc.org/n"
    """
    document = etree.fromstring(xml)
    schema = _define_schema(ARM_NS in document.nsmap.values())
    if schema is None:
        return None
    if schema.validate(document):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


def render_define_html(context: DefineContext, metas: list[DatasetMeta], variable_meta: pd.DataFrame,
                       codelists: pd.DataFrame, value_level: pd.DataFrame, records: dict[str, int]) -> str:
    """A reviewer-friendly HTML rendering of the same metadata as define.xml (no stylesheet needed).

    >>> ctx = DefineContext("STDY.S1", "S1", "A <b> study", "S1", "2023-06-29T00:00:00", "2025-03-28", "SDTM")
    >>> meta = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "One record per subject", ("USUBJID",))
    >>> vm = pd.DataFrame({"dataset": ["DM"], "variable": ["USUBJID"], "label": ["Unique Subject Identifier"],
    ...     "define_type": ["text"], "length": [6], "display_format": [""], "codelist_oid": [""], "origin": ["Derived"],
    ...     "origin_source": [""], "predecessor": [""], "method": ["STUDYID-SUBJID"], "key_sequence": [1], "order": [1],
    ...     "dictionary": [""]})
    >>> html = render_define_html(ctx, [meta], vm, pd.DataFrame(columns=CODELIST_COLUMNS), pd.DataFrame(columns=["dataset"]), {"DM": 3})
    >>> "A &lt;b&gt; study" in html and '<a href="dm.xpt">dm.xpt</a>' in html
    True
    """
    ig_name, ig_version = IG_VERSIONS[context.standard]
    variable_meta = drop_empty_codelist_refs(variable_meta, codelists)
    value_sets = set(zip(value_level["dataset"], value_level["variable"])) if len(value_level) else set()
    variables: dict[str, list[dict[str, Any]]] = {}
    for meta in metas:
        group = variable_meta[variable_meta["dataset"] == meta.name].sort_values("order")
        variables[meta.name] = [{
            **r._asdict(), "value_list": (meta.name, r.variable) in value_sets,
            "key": "" if r.key_sequence is None or pd.isna(r.key_sequence) else int(r.key_sequence),
            "length": int(r.length) if r.define_type in ("text", "integer", "float") else "",
        } for r in iter_rows(group)]
    value_lists: dict[str, list[dict[str, Any]]] = {m.name: [] for m in metas}
    if len(value_level):
        for (dataset_name, variable), group in value_level.groupby(["dataset", "variable"], sort=True):
            value_lists.setdefault(dataset_name, []).append({
                "variable": variable, "by_variable": group["by_variable"].iloc[0],
                "items": [{**r._asdict(), "significant_digits": "" if pd.isna(r.significant_digits)
                           else int(r.significant_digits)} for r in iter_rows(group)]})
    codelist_views = [{"oid": oid, "name": group["name"].iloc[0], "code": group["codelist_code"].iloc[0],
                       "extensible": group["extensible"].iloc[0],
                       "items": group[["coded_value", "decode", "term_code", "extended"]].to_dict(orient="records")}
                      for oid, group in codelists.groupby("codelist_oid", sort=True)]
    dictionaries = sorted(set(variable_meta.get("dictionary", pd.Series(dtype=str)).fillna("")) - {""})
    return render_template(
        "define.html.j2",
        study_name=context.study_name, study_description=context.study_description, standard=context.standard,
        ig_name=ig_name, ig_version=ig_version, ct_version=context.ct_version, define_version=DEFINE_VERSION,
        datasets=metas, records=records, variables=variables, value_lists=value_lists, codelists=codelist_views,
        dictionaries=[(d, context.dictionary_versions.get(d, "not specified")) for d in dictionaries],
    )


def render_template(name: str, **context: Any) -> str:
    """A page from ``templates/`` (autoescaped, trailing newline kept): define.html and the cSDRG."""
    from jinja2 import Environment, FileSystemLoader

    environment = Environment(loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
                              autoescape=True, keep_trailing_newline=True)
    return environment.get_template(name).render(**context)


def check_define_references(xml: bytes) -> list[str]:
    """Broken or unused references in a define.xml (the XSD checks structure, not these links).

    Every reference must name a defined OID, every definition must be referenced, OIDs must be unique.

    >>> xml = (b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study><MetaDataVersion>'
    ...        b'<ItemGroupDef OID="IG.DM"><ItemRef ItemOID="IT.DM.X"/></ItemGroupDef>'
    ...        b'<ItemDef OID="IT.DM.Y"><CodeListRef CodeListOID="CL.NY"/></ItemDef></MetaDataVersion></Study></ODM>')
    >>> check_define_references(xml)
    ['ItemRef -> IT.DM.X: no such ItemDef', 'CodeListRef -> CL.NY: no such CodeList', 'ItemDef IT.DM.Y is never referenced']
    """
    tree = etree.fromstring(xml)
    ns = {"odm": ODM_NS, "def": DEF_NS, "arm": ARM_NS}
    problems: list[str] = []

    defined = {kind: [e.get("OID") for e in tree.iterfind(f".//{prefix}:{kind}", ns)] for prefix, kind in (
        ("odm", "ItemDef"), ("odm", "CodeList"), ("odm", "MethodDef"), ("def", "ValueListDef"),
        ("def", "WhereClauseDef"), ("odm", "ItemGroupDef"))}
    for kind, values in defined.items():
        problems.extend(f"{kind} OID {oid} defined more than once"
                        for oid, n in sorted(Counter(values).items()) if n > 1)
    known = {kind: set(values) for kind, values in defined.items()}
    references = [
        ("ItemRef", ".//odm:ItemRef", "ItemOID", "ItemDef"),
        ("CodeListRef", ".//odm:CodeListRef", "CodeListOID", "CodeList"),
        ("MethodOID", ".//odm:ItemRef[@MethodOID]", "MethodOID", "MethodDef"),
        ("ValueListRef", ".//def:ValueListRef", "ValueListOID", "ValueListDef"),
        ("WhereClauseRef", ".//def:WhereClauseRef", "WhereClauseOID", "WhereClauseDef"),
        ("RangeCheck", ".//def:WhereClauseDef/odm:RangeCheck", f"{{{DEF_NS}}}ItemOID", "ItemDef"),
        ("AnalysisDataset", ".//arm:AnalysisDataset", "ItemGroupOID", "ItemGroupDef"),
        ("AnalysisVariable", ".//arm:AnalysisVariable", "ItemOID", "ItemDef"),
        ("ParameterOID", ".//arm:AnalysisResult[@ParameterOID]", "ParameterOID", "ItemDef"),
    ]
    used: dict[str, set[str]] = {kind: set() for kind in defined}
    for label, path, attribute, kind in references:
        for element in tree.iterfind(path, ns):
            target = element.get(attribute)
            used[kind].add(target)
            if target not in known[kind]:
                problems.append(f"{label} -> {target}: no such {kind}")
    for kind in ("ItemDef", "CodeList", "MethodDef", "ValueListDef", "WhereClauseDef"):
        problems.extend(f"{kind} {oid} is never referenced" for oid in defined[kind] if oid not in used[kind])
    return problems
