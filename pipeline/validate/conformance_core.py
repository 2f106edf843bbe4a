"""Conformance rules that CDISC CORE runs on SDTM, implemented here so a user does not need CORE.

A rule reports what the CORE rule of the same id reports, record for record (``record`` is CORE's
``row``); dataset-level rules report one finding per dataset. Agreement with CORE: ``docs/conformance.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import pandas as pd

from pipeline.common.dates import iso_date
from pipeline.common.sdtm_model import place_model_timing
from pipeline.standards.tables import load_standard_variables
from pipeline.validate.catalogue import dataset_class, truncated_le
from pipeline.validate.conformance_base import (
    TRIAL_DESIGN, ValidationData, _dataset_finding, _domain_records, _row_findings, cite, conformance_rule,
    picked_messages, register_rules,
)
from pipeline.validate.findings import concat_findings, empty_findings
from pipeline.validate.frames import display_text, per_distinct
from pipeline.validate.rules import Rule

NUMBER = r"^-?(\d+(\.\d+)?)$|^-?\.\d+$"   # CORE's "continuous measurement" pattern (CG0181/CG0183)
SERIOUSNESS = ["AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE"]
ETHNIC_COLLECTED = ["HISPANIC OR LATINO", "NOT HISPANIC OR LATINO"]
TS_INTERVENTIONAL = ["INTMODEL", "INTTYPE", "PCLAS"]


@lru_cache(maxsize=1)
def ig_variable_order() -> dict[str, list[str]]:
    """SDTMIG 3.4 variables of each domain in the order of its domain table."""
    table = load_standard_variables()
    table = table[table["source_file"].str.startswith("sdtmig")].sort_values(["domain", "order"], kind="mergesort")
    return {d: list(g["variable"]) for d, g in table.groupby("domain", sort=False)}


def _class_of(data: ValidationData, name: str) -> str:
    return dataset_class(name, data.domain_of(name))


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text, null and blank as NA (worked out once per distinct value)."""
    def stripped(distinct: pd.Series) -> pd.Series:
        text = distinct.astype("string").str.strip()
        return text.mask(text == "")
    return per_distinct(values, stripped)


# --- DM -------------------------------------------------------------------------------------------
@conformance_rule(
    "CG0150", "SUBJID unique within the study",
    "In DM, SUBJID identifies one subject of the study: no two records share a SUBJID.",
    "SUBJID {value} is not unique within the study", "error", cite("CG0150", "CORE-000186"))
def check_subjid_unique(rule: Rule, data: ValidationData) -> pd.DataFrame:
    """One finding per dataset (as CORE reports it) naming a repeated SUBJID."""
    dm = data.first("DM")
    if dm is None or "SUBJID" not in dm.columns:
        return empty_findings()
    repeated = dm["SUBJID"].dropna()
    repeated = repeated[repeated.duplicated(keep=False)]
    if repeated.empty:
        return empty_findings()
    first = str(repeated.iloc[0])
    return _dataset_finding(rule, "DM", "SUBJID", first, rule.format_message(value=first))


# --- study day variables present ----------------------------------------------------------------
STUDY_DAY_PRESENT = [
    # (rule, CORE id, kind, date suffix, day suffix, classes (None = all), needs a populated complete date)
    ("FB3201", "CORE-000321", "DTC", "DY", None, False),
    ("FB1601", "CORE-000793", "DTC", "DY", None, True),
    ("FB3202", "CORE-000328", "STDTC", "STDY", {"INTERVENTIONS", "EVENTS", "FINDINGS", "FINDINGS ABOUT", "SPECIAL PURPOSE"}, False),
    ("FB3203", "CORE-000776", "ENDTC", "ENDY", {"INTERVENTIONS", "EVENTS", "FINDINGS", "FINDINGS ABOUT", "SPECIAL PURPOSE"}, False),
]


def _study_day_present(rule: Rule, data: ValidationData, date_suffix: str, day_suffix: str,
                       classes: set[str] | None, populated: bool) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm.items():
        domain = data.domain_of(name)
        if domain in TRIAL_DESIGN or (classes is not None and _class_of(data, name) not in classes):
            continue
        dtc, dy = f"{domain}{date_suffix}", f"{domain}{day_suffix}"
        if dtc not in frame.columns or dy in frame.columns:
            continue
        dates = _text(frame[dtc]).dropna()
        if populated:
            dates = dates[iso_date(dates).notna()]
        if dates.empty and populated:
            continue
        first = dates.iloc[0] if len(dates) else None
        yield _dataset_finding(rule, name, dy, first, rule.format_message(dy=dy, dtc=dtc))


register_rules(_study_day_present, [
    (rule_id, f"--{day_suffix} present with --{date_suffix}",
     f"When --{date_suffix} is {'populated with a complete date' if populated else 'in the dataset'}, the study day "
     f"--{day_suffix} is a variable of the dataset too.",
     "{dy} is not in the dataset although {dtc} is", "warning", cite(rule_id, core_id, "FDA Business Rule"),
     {"date_suffix": date_suffix, "day_suffix": day_suffix, "classes": classes, "populated": populated})
    for rule_id, core_id, date_suffix, day_suffix, classes, populated in STUDY_DAY_PRESENT
])


# --- timing ---------------------------------------------------------------------------------------
@conformance_rule(
    "FB2201", "EPOCH populated on subject-level observations",
    "Every record of an interventions, events or findings dataset (MH aside) has EPOCH.",
    "EPOCH is missing", "warning", cite("FB2201", "CORE-000701", "FDA Business Rule"))
def check_epoch_populated(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm.items():
        domain = data.domain_of(name)
        if _class_of(data, name) not in {"INTERVENTIONS", "EVENTS", "FINDINGS"} or domain in {"MH", "DD", "PP"}:
            continue
        if "EPOCH" not in frame.columns:
            yield _dataset_finding(rule, name, "EPOCH", None, "EPOCH is not in the dataset")
            continue
        missing = _text(frame["EPOCH"]).isna()
        yield _row_findings(rule, name, frame, missing, "EPOCH", frame["EPOCH"], rule.message)


@conformance_rule(
    "FB3207", "Start study day not after end study day",
    "In interventions, events and special-purpose datasets, --STDY is not greater than --ENDY.",
    "{stdy} {start} is greater than {endy} {value}", "warning", cite("FB3207", "CORE-000708", "FDA Business Rule"))
def check_stdy_not_after_endy(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm_with("--STDY", "--ENDY").items():
        if _class_of(data, name) not in {"INTERVENTIONS", "EVENTS", "SPECIAL PURPOSE"}:
            continue
        domain = data.domain_of(name)
        stdy, endy = f"{domain}STDY", f"{domain}ENDY"
        start, end = pd.to_numeric(frame[stdy], errors="coerce"), pd.to_numeric(frame[endy], errors="coerce")
        bad = (start > end).fillna(False)
        messages = picked_messages(rule, display_text(end), stdy=stdy, start=display_text(start), endy=endy)
        yield _row_findings(rule, name, frame, bad, endy, display_text(end), messages)


@conformance_rule(
    "CG0218", "SV EPOCH matches the subject's element on the visit date",
    "For an SV record and an SE element of the subject with SESTDTC <= SVSTDTC <= SEENDTC (compared at the "
    "precision both dates have, as CORE does), SV.EPOCH equals SE.EPOCH. A visit on a transition day lies in two "
    "elements and is reported for the one whose epoch it does not take.",
    "EPOCH {value} differs from the epoch {epoch} of the element starting {start}", "warning",
    cite("CG0218", "CORE-000097"))
def check_sv_epoch_matches_se(rule: Rule, data: ValidationData) -> pd.DataFrame:
    sv, se = data.first("SV"), data.first("SE")
    need_sv, need_se = {"USUBJID", "EPOCH", "SVSTDTC"}, {"USUBJID", "EPOCH", "SESTDTC", "SEENDTC"}
    if sv is None or se is None or not need_sv <= set(sv.columns) or not need_se <= set(se.columns):
        return empty_findings()
    visits = pd.DataFrame({"ROW": np.arange(len(sv)), "USUBJID": sv["USUBJID"].to_numpy(),
                           "EPOCH": sv["EPOCH"].to_numpy(), "SVSTDTC": sv["SVSTDTC"].to_numpy()})
    elements = se[["USUBJID", "EPOCH", "SESTDTC", "SEENDTC"]].rename(columns={"EPOCH": "SE_EPOCH"})
    pairs = visits.merge(elements, on="USUBJID", how="inner")
    inside = truncated_le(pairs["SESTDTC"], pairs["SVSTDTC"]) & truncated_le(pairs["SVSTDTC"], pairs["SEENDTC"])
    differ = pairs["EPOCH"].astype("string").fillna("") != pairs["SE_EPOCH"].astype("string").fillna("")
    hits = pairs[(inside & differ).to_numpy()].drop_duplicates("ROW")
    if hits.empty:
        return empty_findings()
    mask = pd.Series(False, index=sv.index)
    mask.iloc[hits["ROW"].to_numpy()] = True
    text = {int(r): f"EPOCH {e} differs from the epoch {s} of the element starting {d}"
            for r, e, s, d in zip(hits["ROW"], hits["EPOCH"], hits["SE_EPOCH"], hits["SESTDTC"])}
    messages = pd.Series([text.get(i, "") for i in range(len(sv))], index=sv.index, dtype=object)
    return _row_findings(rule, "SV", sv, mask, "EPOCH", sv["EPOCH"], messages)


# --- DM, SV, DS, AE, LB ---------------------------------------------------------------------------
def _serious_without_criterion(ae: pd.DataFrame) -> pd.Series:
    any_criterion = pd.Series(False, index=ae.index)
    for column in (c for c in SERIOUSNESS if c in ae.columns):
        any_criterion |= (ae[column] == "Y").fillna(False)
    return (ae["AESER"] != "N").fillna(True) & ~any_criterion


register_rules(_domain_records, [
    ("FB5701", "Collected ethnicity mapped to a collected value",
     "When ETHNIC is populated it is HISPANIC OR LATINO or NOT HISPANIC OR LATINO (FDA expects the two "
     "collected categories; NOT REPORTED or UNKNOWN needs a reviewer's explanation).",
     "ETHNIC '{value}' is not HISPANIC OR LATINO or NOT HISPANIC OR LATINO", "warning",
     cite("FB5701", "CORE-000726", "FDA Business Rule"),
     {"domain": "DM", "needs": {"ETHNIC"}, "variable": "ETHNIC",
      "fails": lambda dm: _text(dm["ETHNIC"]).notna() & ~_text(dm["ETHNIC"]).isin(ETHNIC_COLLECTED)}),
    ("CG0654", "SVOCCUR only on pre-specified visits",
     "When SVOCCUR is populated, SVPRESP is Y (--OCCUR is used only for pre-specified events: SDTMIG 3.4 4.5.7).",
     "SVOCCUR is '{value}' but SVPRESP is not Y", "warning", cite("CG0654", "CORE-000038"),
     {"domain": "SV", "needs": {"SVOCCUR"}, "variable": "SVPRESP", "shown": "SVOCCUR",
      "fails": lambda sv: _text(sv["SVOCCUR"]).notna()
      & ((_text(sv["SVPRESP"]) != "Y").fillna(True) if "SVPRESP" in sv.columns else True)}),
    ("CG0536", "One disposition event per subject, DSSCAT and EPOCH",
     "A DSCAT = DISPOSITION EVENT record shares its USUBJID, DSSCAT and EPOCH with no other DS record.",
     "more than one DS record for USUBJID, DSSCAT '{value}' and EPOCH {epoch}", "warning",
     cite("CG0536", "CORE-000213"),
     {"domain": "DS", "needs": {"USUBJID", "DSCAT", "DSSCAT", "EPOCH"}, "variable": "DSSCAT",
      "fields": {"epoch": "EPOCH"},
      "fails": lambda ds: ds[["USUBJID", "DSSCAT", "EPOCH"]].astype("string").fillna("\x00").duplicated(keep=False)
      & (ds["DSCAT"] == "DISPOSITION EVENT").fillna(False)}),
    ("CG0042", "Serious adverse event has a seriousness criterion",
     "When AESER is not N, at least one of AESCAN, AESCONG, AESDISAB, AESDTH, AESHOSP, AESLIFE, AESOD, AESMIE is Y.",
     "AESER is '{value}' but no seriousness criterion is Y", "warning", cite("CG0042", "CORE-000266"),
     {"domain": "AE", "needs": {"AESER"}, "variable": "AESER", "fails": _serious_without_criterion}),
])


def _ranges_on_text(rule: Rule, data: ValidationData, range_var: str) -> pd.DataFrame:
    """A reference range on a result that is not a number (e.g. '<10', 'NEGATIVE')."""
    lb = data.first("LB")
    if lb is None or not {"LBORRES", range_var} <= set(lb.columns):
        return empty_findings()
    def text_result(results: pd.Series) -> pd.Series:   # a result that is not a number
        result = _text(results)
        return result.notna() & ~result.str.match(NUMBER).fillna(False).astype(bool)

    bad = per_distinct(lb["LBORRES"], text_result) & _text(lb[range_var]).notna()

    def messages(picked: np.ndarray) -> pd.Series:
        return ("LBORRES '" + _text(lb["LBORRES"][picked]).fillna("")
                + f"' is not a continuous result but {range_var} is populated").astype(object)
    return _row_findings(rule, "LB", lb, bad.fillna(False), range_var, lb[range_var], messages)


register_rules(_ranges_on_text, [
    (rule_id, f"{kind} reference range only on continuous results",
     f"{variable} is null when LBORRES is populated but not a number (e.g. '<10', 'NEGATIVE').",
     f"LBORRES is not a continuous result but {variable} is populated", "warning", cite(rule_id, core_id),
     {"range_var": variable})
    for rule_id, core_id, kind, variable in (("CG0181", "CORE-000289", "Original", "LBORNRHI"),
                                             ("CG0183", "CORE-000299", "Standard", "LBSTNRHI"))
])


# --- TS ------------------------------------------------------------------------------------------
def _ts_value_code(rule: Rule, data: ValidationData, need_ref: bool) -> pd.DataFrame:
    """TSVAL and TSVALCD one-to-one over the records that have both (and TSVCDREF when ``need_ref``):
    one finding per record whose TSVAL or TSVALCD maps to several values, as CORE reports it."""
    ts = data.first("TS")
    if ts is None or not {"TSVAL", "TSVALCD"} <= set(ts.columns) or (need_ref and "TSVCDREF" not in ts.columns):
        return empty_findings()
    value, code = _text(ts["TSVAL"]), _text(ts["TSVALCD"])
    codes_per_value = pd.DataFrame({"v": value, "c": code.fillna("\x00")}).dropna(subset=["v"]).drop_duplicates()
    values_per_code = pd.DataFrame({"v": value.fillna("\x00"), "c": code}).dropna(subset=["c"]).drop_duplicates()
    many_codes = set(codes_per_value.loc[codes_per_value["v"].duplicated(keep=False), "v"])
    many_values = set(values_per_code.loc[values_per_code["c"].duplicated(keep=False), "c"])
    scope = value.notna() & code.notna()
    if need_ref:
        scope &= _text(ts["TSVCDREF"]).notna()
    bad = scope & (value.isin(many_codes) | code.isin(many_values))
    messages = ("TSVAL '" + value.fillna("") + "' / TSVALCD '" + code.fillna("") + "' is not one-to-one").astype(object)
    return _row_findings(rule, "TS", ts, bad.fillna(False), "TSVALCD", ts["TSVALCD"], messages)


register_rules(_ts_value_code, [
    ("CG0265", "TSVAL and TSVALCD one-to-one",
     "When TSVAL and TSVALCD are populated, each TSVAL has one TSVALCD and each TSVALCD one TSVAL.",
     "TSVAL / TSVALCD is not one-to-one", "warning", cite("CG0265", "CORE-000152"), {"need_ref": False}),
    ("FB0904", "TSVALCD and TSVAL one-to-one (coded values)",
     "Where TSVCDREF names the code's dictionary, TSVALCD and TSVAL have a one-to-one relationship.",
     "TSVALCD / TSVAL is not one-to-one", "warning", cite("FB0904", "CORE-000728", "FDA Business Rule"),
     {"need_ref": True}),
])


@conformance_rule(
    "FB1111", "Interventional study describes its intervention",
    "When TS has STYPE = INTERVENTIONAL, TSPARMCD INTMODEL, INTTYPE and PCLAS are present with TSVAL populated.",
    "TS parameter {value} is missing or has no TSVAL in an interventional study", "warning",
    cite("FB1111", "CORE-000741 (which spells the parameter PCLASS)", "FDA Business Rule"))
def check_ts_interventional(rule: Rule, data: ValidationData) -> pd.DataFrame:
    ts = data.first("TS")
    if ts is None or not {"TSPARMCD", "TSVAL"} <= set(ts.columns):
        return empty_findings()
    interventional = ((ts["TSPARMCD"] == "STYPE") & (ts["TSVAL"] == "INTERVENTIONAL")).fillna(False).any()
    if not interventional:
        return empty_findings()
    have = set(ts.loc[_text(ts["TSVAL"]).notna(), "TSPARMCD"].dropna())
    missing = [p for p in TS_INTERVENTIONAL if p not in have]
    return concat_findings([_dataset_finding(rule, "TS", "TSPARMCD", p, rule.format_message(value=p)) for p in missing])


# --- variable order -------------------------------------------------------------------------------
def expected_order(domain: str, columns: list[str]) -> list[str] | None:
    """The SDTMIG order of a domain's variables; SDTM model timing variables the domain table leaves out
    (VISITNUM in EX, MHSTDY in MH) go after the last listed timing variable that precedes them in the model
    (or before the first that follows). None for a domain the IG does not describe.

    >>> order = expected_order("EX", ["STUDYID", "EXSEQ", "EPOCH", "VISIT", "VISITNUM"])
    >>> [v for v in order if v in ("VISITNUM", "VISIT", "EPOCH", "EXSTDTC")]
    ['VISITNUM', 'VISIT', 'EPOCH', 'EXSTDTC']
    >>> [v for v in expected_order("MH", ["MHSTDY"]) if v in ("MHDY", "MHSTDY", "MHENRF")]
    ['MHDY', 'MHSTDY', 'MHENRF']
    """
    table = ig_variable_order().get("SUPPQUAL" if domain.startswith("SUPP") else domain)
    if table is None:
        return None
    return place_model_timing(list(table), columns, domain)


@conformance_rule(
    "CG0330", "Variables in the standard order",
    "The dataset's variables that the SDTMIG domain table lists follow its order (timing variables the table "
    "leaves out in SDTM model order); sponsor variables may follow.",
    "variables are not in the SDTMIG order: {value}", "warning", cite("CG0330", "CORE-000852"))
def check_variable_order(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm.items():
        columns = list(frame.columns)
        order = expected_order(data.domain_of(name), columns)
        if order is None:
            continue
        listed = [c for c in columns if c in order]
        wanted = [c for c in order if c in listed]
        if listed != wanted:
            first = next(i for i, (a, b) in enumerate(zip(listed, wanted)) if a != b)
            shown = f"{listed[first]} where {wanted[first]} is expected"
            yield _dataset_finding(rule, name, listed[first], shown, rule.format_message(value=shown))

