"""Cross-dataset conformance rules: one :class:`Rule` each, whose ``check(data: ValidationData)`` returns findings.

Importing it registers every rule (:mod:`.conformance_core` and the catalogue too) in :data:`CONFORMANCE_RULES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from pipeline.common.dates import compute_study_day, to_date
from pipeline.validate.conformance_base import (  # noqa: F401 (re-exported)
    CONFORMANCE_RULES, TRIAL_DESIGN, ValidationData, _repeated, _row_findings, cite, conformance_rule, picked_messages,
    register_rules,
)
from pipeline.validate.findings import concat_findings, empty_findings
from pipeline.validate.frames import column_dates, display_text, distinct_rows, is_in, per_distinct
from pipeline.validate.rules import CORE_CATALOGUE, Rule


# --- the rules ------------------------------------------------------------------------------------
def _values_outside_reference(rule: Rule, data: ValidationData, variable: str, reference: str,
                              skip: set[str]) -> Iterator[pd.DataFrame]:
    """One finding per non-null ``variable`` of an SDTM dataset (domains in ``skip`` aside) whose value
    is not among ``reference``.``variable``; nothing when the reference dataset or column is absent."""
    ref = data.first(reference)
    if ref is None or variable not in ref.columns:
        return
    known = set(ref[variable].dropna())
    for name, frame in data.sdtm_with(variable).items():
        if data.domain_of(name) in skip:
            continue
        outside = frame[variable].notna() & ~is_in(frame[variable], known)
        yield _row_findings(rule, name, frame, outside, variable, frame[variable],
                            picked_messages(rule, frame[variable]))


register_rules(_values_outside_reference, [
    ("CG0029", "Subject exists in DM", "Every USUBJID of every SDTM dataset (except trial design) is a subject of DM.",
     "USUBJID {value} is not in DM", "error", cite("CG0029", "CORE-000201"),
     {"variable": "USUBJID", "reference": "DM", "skip": {"DM"} | TRIAL_DESIGN}),
    ("CG0009", "EPOCH is a trial epoch", "Every EPOCH value of a subject-level dataset is one of TA.EPOCH.",
     "EPOCH {value} is not in TA.EPOCH", "error", cite("CG0009", "CORE-000271"),
     {"variable": "EPOCH", "reference": "TA", "skip": set(TRIAL_DESIGN)}),
    ("CG0294", "Planned arm is a trial arm", "DM.ARM (when populated) is one of TA.ARM.",
     "ARM {value} is not in TA.ARM", "error", cite("CG0294", "CORE-000156"),
     {"variable": "ARM", "reference": "TA", "skip": set(TRIAL_DESIGN)}),
])


def _dm_versus_ex(rule: Rule, data: ValidationData, dm_var: str, pick: str) -> pd.DataFrame:
    dm, ex = data.first("DM"), data.first("EX")
    if dm is None or ex is None or dm_var not in dm.columns or "EXSTDTC" not in ex.columns:
        return empty_findings()
    columns = ["EXSTDTC"] + (["EXENDTC"] if pick == "last" and "EXENDTC" in ex.columns else [])
    stacked = ex.melt(id_vars=["USUBJID"], value_vars=columns, value_name="DTC").dropna(subset=["DTC"])
    stacked["DTC"] = stacked["DTC"].astype(str)
    grouped = stacked.groupby("USUBJID")["DTC"]
    reference = grouped.min() if pick == "first" else grouped.max()
    expected = dm["USUBJID"].map(reference)
    actual = dm[dm_var].astype("string")
    treated = dm["USUBJID"].isin(reference.index)
    mismatch = treated & (actual.fillna("") != expected.astype("string").fillna(""))
    values = actual.fillna("").astype(str)
    messages = (f"{dm_var} " + values + f" differs from the {pick} EX date " + expected.astype("string").fillna("")
                ).astype(object)
    return _row_findings(rule, "DM", dm, mismatch, dm_var, values, messages)


register_rules(_dm_versus_ex, [  # text comparison of ISO 8601 values
    ("CG0148", "RFXSTDTC is the first exposure",
     "For subjects with EX records, DM.RFXSTDTC equals the earliest EX.EXSTDTC.",
     "RFXSTDTC differs from the first EXSTDTC", "error", cite("CG0148", "CORE-000239"),
     {"dm_var": "RFXSTDTC", "pick": "first"}),
    ("CG0147", "RFXENDTC is the last exposure",
     "For subjects with EX records, DM.RFXENDTC equals the latest EX.EXSTDTC or EX.EXENDTC.",
     "RFXENDTC differs from the last EX date", "error", cite("CG0147", "CORE-000238"),
     {"dm_var": "RFXENDTC", "pick": "last"}),
])


@conformance_rule(
    "ISL-0101", "Adverse event does not start after death",
    "AESTDTC (complete date) is on or before DM.DTHDTC for subjects who died.",
    "AESTDTC {value} is after the death date {death}", "error")
def check_ae_start_not_after_death(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    dm = data.first("DM")
    if dm is None or "DTHDTC" not in dm.columns:
        return
    death = pd.Series(column_dates(dm["DTHDTC"]).to_numpy(), index=dm["USUBJID"]).dropna()
    death = death[~death.index.duplicated()]
    for name, frame in data.sdtm_with("AESTDTC").items():
        death_date = per_distinct(frame["USUBJID"], lambda subjects: subjects.map(death))
        start = column_dates(frame["AESTDTC"])
        late = start.notna() & death_date.notna() & (start > death_date)
        messages = picked_messages(rule, frame["AESTDTC"], death=death_date.dt.strftime("%Y-%m-%d"))
        yield _row_findings(rule, name, frame, late, "AESTDTC", frame["AESTDTC"], messages)


STUDY_DAY_PAIRS = [
    # (date suffix, day suffix, rule when miscalculated, rule when populated from a partial date)
    ("DTC", "DY", "CG0006", "CG0007"),
    ("STDTC", "STDY", "CG0220", "CG0221"),
    ("ENDTC", "ENDY", "CG0222", "CG0223"),
]


def _study_day_check(rule: Rule, data: ValidationData, date_suffix: str, day_suffix: str,
                     partial: bool) -> Iterator[pd.DataFrame]:
    dm = data.first("DM")
    if dm is None or "RFSTDTC" not in dm.columns:
        return
    reference = pd.Series(column_dates(dm["RFSTDTC"]).to_numpy(), index=dm["USUBJID"])
    reference = reference[~reference.index.duplicated()]
    for name, frame in data.sdtm_with("USUBJID", f"--{date_suffix}", f"--{day_suffix}").items():
        domain = data.domain_of(name)
        dtc, dy = f"{domain}{date_suffix}", f"{domain}{day_suffix}"
        ref = per_distinct(frame["USUBJID"], lambda subjects: subjects.map(reference))
        date = column_dates(frame[dtc])
        actual = pd.to_numeric(frame[dy], errors="coerce")
        if partial:
            bad = actual.notna() & (date.isna() | ref.isna())
            messages = f"{dy} is populated although {dtc} or RFSTDTC is not a complete date"
        else:
            expected = compute_study_day(date, ref)
            bad = actual.notna() & expected.notna() & (actual != expected)
            if not bad.any():  # messages only for the records reported: most datasets have none
                continue
            messages = pd.Series(None, index=frame.index, dtype=object)
            messages[bad] = (f"{dy} " + actual[bad].astype("string") + " should be "
                             + expected[bad].astype("Int64").astype("string") + f" from {dtc} "
                             + frame.loc[bad, dtc].astype("string").fillna("")).astype(object)
        yield _row_findings(rule, name, frame, bad, dy, actual, messages)


register_rules(_study_day_check, [
    (rule_id, title, description, title, "error", f"CDISC SDTM conformance rule {rule_id} ({CORE_CATALOGUE})",
     {"date_suffix": date_suffix, "day_suffix": day_suffix, "partial": partial})
    for date_suffix, day_suffix, calc_id, partial_id in STUDY_DAY_PAIRS
    for rule_id, partial, title, description in (
        (calc_id, False, f"--{day_suffix} follows the study day algorithm",
         f"--{day_suffix} = --{date_suffix} - RFSTDTC (+1 on or after RFSTDTC); never 0."),
        (partial_id, True, f"--{day_suffix} populated only from complete dates",
         f"--{day_suffix} is null when --{date_suffix} or DM.RFSTDTC is not a complete date."))
])


@conformance_rule(
    "ISL-0102", "EPOCH consistent with the subject's elements",
    "The EPOCH of a record is the EPOCH of an SE element whose [SESTDTC, SEENDTC] contains the record's "
    "date (--STDTC for events and interventions, --DTC for findings); records on an element boundary may take "
    "either epoch.",
    "EPOCH {value} does not match the subject's element on {date}", "warning")
def check_epoch_matches_se(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    se = data.first("SE")
    if se is None or not {"USUBJID", "EPOCH", "SESTDTC"} <= set(se.columns):
        return
    elements = pd.DataFrame({
        "USUBJID": se["USUBJID"].to_numpy(),
        "SE_EPOCH": se["EPOCH"].to_numpy(),
        "START": column_dates(se["SESTDTC"]).to_numpy(),
        "END": column_dates(se["SEENDTC"]).to_numpy() if "SEENDTC" in se.columns else pd.NaT,
    }).dropna(subset=["START"])
    with_elements = set(elements["USUBJID"])
    for name, frame in data.sdtm_with("USUBJID", "EPOCH").items():
        domain = data.domain_of(name)
        if domain in TRIAL_DESIGN | {"SE", "DM", "SV"}:
            continue
        date_var = next((v for v in (f"{domain}STDTC", f"{domain}DTC") if v in frame.columns), None)
        if date_var is None:
            continue
        # records of a subject with the same epoch and date agree: each distinct (subject, epoch, date) is checked once
        dates = column_dates(frame[date_var])
        kept = (dates.notna() & frame["EPOCH"].notna() & frame["USUBJID"].notna()).to_numpy(dtype=bool)
        kept &= is_in(frame["USUBJID"], with_elements).to_numpy(dtype=bool)
        if not kept.any():
            continue
        records = pd.DataFrame({"USUBJID": frame["USUBJID"][kept], "EPOCH": frame["EPOCH"][kept],
                                "DATE": dates[kept]})
        first, combination = distinct_rows(records, ["USUBJID", "EPOCH", "DATE"])
        distinct = pd.DataFrame({"KEY": np.arange(len(first)), "USUBJID": records["USUBJID"].to_numpy()[first],
                                 "EPOCH": records["EPOCH"].to_numpy()[first],
                                 "DATE": records["DATE"].to_numpy()[first]})
        pairs = distinct.merge(elements, on="USUBJID", how="inner")
        inside = (pairs["DATE"] >= pairs["START"]) & (pairs["END"].isna() | (pairs["DATE"] <= pairs["END"]))
        pairs = pairs[inside]
        if pairs.empty:
            continue  # no element covers the date: not an EPOCH mismatch
        pairs = pairs.assign(MATCH=pairs["EPOCH"] == pairs["SE_EPOCH"])
        matched = pairs.groupby("KEY")["MATCH"].any()
        bad_keys = np.zeros(len(first), dtype=bool)
        bad_keys[matched.index[~matched.to_numpy()]] = True
        mask = np.zeros(len(frame), dtype=bool)
        mask[np.flatnonzero(kept)] = bad_keys[combination]
        messages = picked_messages(rule, frame["EPOCH"], date=frame[date_var])
        yield _row_findings(rule, name, frame, pd.Series(mask, index=frame.index), "EPOCH", frame["EPOCH"], messages)


@conformance_rule(
    "FB3209", "Start on or before end",
    "--STDTC is on or before --ENDTC (compared on complete dates; on the same date, on times when both have one).",
    "{start} {start_value} is after {end} {value}", "error", cite("FB3209", "CORE-000718", "FDA Business Rule"))
def check_start_not_after_end(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm_with("--STDTC", "--ENDTC").items():
        domain = data.domain_of(name)
        start_var, end_var = f"{domain}STDTC", f"{domain}ENDTC"
        first, combination = distinct_rows(frame, [start_var, end_var])   # each distinct (start, end) once
        pairs = frame[[start_var, end_var]].iloc[first]
        start_text = pairs[start_var].astype("string")
        end_text = pairs[end_var].astype("string")
        start, end = to_date(pairs[start_var]), to_date(pairs[end_var])
        later_day = start.notna() & end.notna() & (start > end)
        both_times = (start_text.str.len() >= 16).fillna(False) & (end_text.str.len() >= 16).fillna(False)
        same_day_later = (start == end) & both_times & (start_text.str.slice(0, 19) > end_text.str.slice(0, 19)).fillna(False)
        bad = (later_day | same_day_later).fillna(False).to_numpy(dtype=bool)[combination]
        messages = picked_messages(rule, frame[end_var], start=start_var, start_value=frame[start_var], end=end_var)
        yield _row_findings(rule, name, frame, pd.Series(bad, index=frame.index), end_var, frame[end_var], messages)


def _one_to_one_findings(rule: Rule, name: str, frame: pd.DataFrame, code: str, text: str) -> pd.DataFrame:
    """One finding per (code, text) pair that breaks a one-to-one relationship, at its first record."""
    first, combination = distinct_rows(frame, [code, text])   # each distinct (code, text) pair once
    distinct = frame[[code, text]].iloc[first]
    pairs = distinct.dropna()
    if pairs.empty:
        return empty_findings()
    code_text, text_text = display_text(distinct[code]), display_text(distinct[text])
    unique = pd.DataFrame({"c": display_text(pairs[code]), "t": display_text(pairs[text])}).drop_duplicates()
    offending = unique[unique["c"].duplicated(keep=False) | unique["t"].duplicated(keep=False)]
    if offending.empty:
        return empty_findings()
    key = code_text + "\x00" + text_text
    hit = key.isin(set(offending["c"] + "\x00" + offending["t"])).fillna(False) & distinct[code].notna() \
        & distinct[text].notna()
    reported = np.zeros(len(frame), dtype=bool)   # the first record of each offending pair
    reported[first[(hit & ~key.duplicated()).to_numpy(dtype=bool)]] = True

    def messages(picked: np.ndarray) -> pd.Series:
        return (f"{code} " + display_text(frame[code][picked]) + f" / {text} " + display_text(frame[text][picked])
                + " breaks the one-to-one relationship").astype(object)
    return _row_findings(rule, name, frame, pd.Series(reported, index=frame.index), text, frame[text], messages)


def _code_text_one_to_one(rule: Rule, data: ValidationData, code: str, text: str) -> Iterator[pd.DataFrame]:
    """:func:`_one_to_one_findings` on every SDTM dataset having ``code`` and ``text`` (``--``: the domain)."""
    for name, frame in data.sdtm_with(code, text).items():
        domain = data.domain_of(name)
        yield _one_to_one_findings(rule, name, frame, code.replace("--", domain), text.replace("--", domain))


register_rules(_code_text_one_to_one, [
    ("FB0919", "VISIT and VISITNUM one-to-one",
     "Within a dataset each VISITNUM has one VISIT and each VISIT one VISITNUM.",
     "VISITNUM / VISIT breaks the one-to-one relationship", "warning",
     cite("FB0919 / CDISC CG0035", "CORE-000361", "FDA Business Rule"), {"code": "VISITNUM", "text": "VISIT"}),
    ("FB0901", "--TESTCD and --TEST one-to-one",
     "Within a findings dataset each --TESTCD has one --TEST and each --TEST one --TESTCD.",
     "--TESTCD / --TEST breaks the one-to-one relationship", "warning",
     cite("FB0901", "CORE-000303", "FDA Business Rule"), {"code": "--TESTCD", "text": "--TEST"}),
])


@conformance_rule(
    "FB0902", "ARMCD and ARM one-to-one",
    "In DM each ARMCD has one ARM and each ARM one ARMCD (same for ACTARMCD/ACTARM, FB0903).",
    "ARMCD / ARM breaks the one-to-one relationship", "error",
    f"FDA Business Rules FB0902 / FB0903 (CORE-000318 / CORE-000791; {CORE_CATALOGUE})")
def check_arm_one_to_one(rule: Rule, data: ValidationData) -> pd.DataFrame:
    dm = data.first("DM")
    if dm is None:
        return empty_findings()
    return concat_findings([_one_to_one_findings(rule, "DM", dm, code, text)
                    for code, text in (("ARMCD", "ARM"), ("ACTARMCD", "ACTARM")) if {code, text} <= set(dm.columns)])


@conformance_rule(
    "CG0034", "VISITNUM is a visit of the subject in SV",
    "A VISITNUM of a subject-level record is one of that subject's SV.VISITNUM (SDTMIG: every visit "
    "used in a domain is in SV).",
    "VISITNUM {value} is not in SV for the subject", "warning", cite("CG0034", "CORE-000168") + "; checked per subject")
def check_visitnum_in_sv(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    sv = data.first("SV")
    if sv is None or not {"USUBJID", "VISITNUM"} <= set(sv.columns):
        return
    known = set(sv["USUBJID"].astype(str) + "|" + display_text(pd.to_numeric(sv["VISITNUM"], errors="coerce")).astype(str))
    for name, frame in data.sdtm_with("USUBJID", "VISITNUM").items():
        if data.domain_of(name) in TRIAL_DESIGN | {"SV"}:
            continue
        first, combination = distinct_rows(frame, ["USUBJID", "VISITNUM"])   # each distinct subject visit once
        distinct = frame[["USUBJID", "VISITNUM"]].iloc[first]
        key = distinct["USUBJID"].astype("string") + "|" + display_text(pd.to_numeric(distinct["VISITNUM"],
                                                                                      errors="coerce"))
        bad = distinct["VISITNUM"].notna() & distinct["USUBJID"].notna() & ~is_in(key, known).fillna(True)
        visitnum = display_text(pd.to_numeric(frame["VISITNUM"], errors="coerce"))
        bad_records = pd.Series(bad.fillna(False).to_numpy(dtype=bool)[combination], index=frame.index)
        yield _row_findings(rule, name, frame, bad_records, "VISITNUM", visitnum, picked_messages(rule, visitnum))


@conformance_rule(
    "CG0435", "Death date and death flag agree",
    "DM.DTHDTC populated requires DTHFL = Y (CG0435); DTHFL = Y requires DTHDTC (FB0610).",
    "{problem}", "error", f"CDISC CG0435 / FDA Business Rule FB0610 (CORE-000007 / CORE-000705; {CORE_CATALOGUE})")
def check_death_flag(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    dm = data.first("DM")
    if dm is None or not {"DTHDTC", "DTHFL"} <= set(dm.columns):
        return
    no_flag = dm["DTHDTC"].notna() & (dm["DTHFL"] != "Y").fillna(True)
    no_date = (dm["DTHFL"] == "Y").fillna(False) & dm["DTHDTC"].isna()
    yield _row_findings(rule, "DM", dm, no_flag, "DTHFL", dm["DTHFL"], "DTHDTC is populated but DTHFL is not Y")
    yield _row_findings(rule, "DM", dm, no_date, "DTHDTC", dm["DTHDTC"], "DTHFL is Y but DTHDTC is null")


@conformance_rule(
    "CG0134", "Fatal adverse event means a death flag",
    "A subject with an AE whose AEOUT is FATAL has DM.DTHFL = Y.",
    "AEOUT FATAL but DM.DTHFL is not Y", "error",
    f"CDISC CG0134 / FDA Business Rule FB0603 (CORE-000254; {CORE_CATALOGUE})")
def check_fatal_ae_has_death_flag(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    dm = data.first("DM")
    if dm is None or "DTHFL" not in dm.columns:
        return
    dead = set(dm.loc[(dm["DTHFL"] == "Y").fillna(False), "USUBJID"])
    for name, frame in data.sdtm_with("AEOUT", "USUBJID").items():
        bad = (frame["AEOUT"] == "FATAL").fillna(False) & ~is_in(frame["USUBJID"], dead)
        yield _row_findings(rule, name, frame, bad, "AEOUT", frame["AEOUT"], rule.message)


@conformance_rule(
    "CG0207", "Subject elements are contiguous",
    "SEENDTC of an element equals SESTDTC of the subject's next element.",
    "SEENDTC {value} differs from the next element's SESTDTC {next}", "warning", cite("CG0207", "CORE-000352"))
def check_elements_contiguous(rule: Rule, data: ValidationData) -> pd.DataFrame:
    se = data.first("SE")
    if se is None or not {"USUBJID", "SESTDTC", "SEENDTC"} <= set(se.columns):
        return empty_findings()
    order = ["USUBJID"] + (["TAETORD"] if "TAETORD" in se.columns else []) + ["SESTDTC"]
    ordered = se.sort_values(order, kind="mergesort")
    next_start = ordered.groupby("USUBJID")["SESTDTC"].shift(-1)
    gap = next_start.notna() & (ordered["SEENDTC"].astype("string") != next_start.astype("string")).fillna(True)
    mask = pd.Series(False, index=se.index)
    mask.loc[gap[gap].index] = True
    next_by_row = pd.Series(pd.NA, index=se.index, dtype="string")
    next_by_row.loc[next_start.index] = next_start.astype("string")
    return _row_findings(rule, "SE", se, mask, "SEENDTC", se["SEENDTC"],
                         rule.format_messages(se["SEENDTC"], next=next_by_row))


@conformance_rule(
    "ISL-0110", "Instrument total equals the sum of its item scores",
    "For each instrument of the study (study.yaml instruments, specs/standards/instruments/), the total "
    "score record (--STRESN of the total test code) equals the sum of the item scores of the same subject, "
    "visit and date; assessments with a missing item are skipped (total missing if any item missing).",
    "{testcd} {value} differs from the sum of the item scores {expected}", "error")
def check_instrument_totals(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name_instrument, instrument in sorted(data.instruments.items()):
        items = [str(i["testcd"]) for i in instrument.get("items", []) if "testcd" in i]
        total = str((instrument.get("total") or {}).get("testcd", ""))
        if not items or not total:
            continue
        for name, frame in data.sdtm_with("USUBJID", "--TESTCD", "--STRESN").items():
            domain = data.domain_of(name)
            testcd, result = f"{domain}TESTCD", f"{domain}STRESN"
            if not frame[testcd].isin([total]).any():
                continue
            by = ["USUBJID"] + [c for c in ("VISITNUM", f"{domain}DTC") if c in frame.columns]
            first, combination = distinct_rows(frame, by)   # the assessment key text once per distinct combination
            distinct = frame[by].iloc[first]
            distinct_keys = display_text(distinct[by[0]])
            for column in by[1:]:
                distinct_keys = distinct_keys + "|" + display_text(distinct[column])
            keys = pd.Series(pd.factorize(distinct_keys)[0][combination], index=frame.index)   # one code per key text
            scores = pd.to_numeric(frame[result], errors="coerce")
            is_item = frame[testcd].isin(items)
            item_frame = pd.DataFrame({"key": keys[is_item], "score": scores[is_item]})
            summed = item_frame.groupby("key")["score"].agg(["sum", "count"])
            complete = summed[summed["count"] == len(items)]["sum"]
            is_total = (frame[testcd] == total).fillna(False)
            expected = keys.map(complete)
            bad = is_total & expected.notna() & scores.notna() & ~np.isclose(scores.fillna(0), expected.fillna(0))
            messages = picked_messages(rule, display_text(scores), testcd=total, expected=display_text(expected))
            yield _row_findings(rule, name, frame, bad, result, display_text(scores), messages)


def _findings_columns(data: ValidationData, *suffixes: str) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """Findings-style datasets having ``--<suffix>`` columns, with the resolved column names."""
    out = {}
    for name, frame in data.sdtm_with(*(f"--{s}" for s in suffixes)).items():
        domain = data.domain_of(name)
        if domain in TRIAL_DESIGN:
            continue
        out[name] = (frame, [f"{domain}{s}" for s in suffixes])
    return out


def _findings_records(rule: Rule, data: ValidationData, suffixes: tuple[str, ...],
                      fails: Callable[[pd.DataFrame, list[str], str], pd.Series]) -> Iterator[pd.DataFrame]:
    """Records where ``fails(frame, columns, domain)`` holds, reported on the first of the ``--<suffix>`` columns."""
    for name, (frame, columns) in _findings_columns(data, *suffixes).items():
        bad = fails(frame, columns, data.domain_of(name))
        yield _row_findings(rule, name, frame, bad, columns[0], frame[columns[0]],
                            rule.format_message(variable=columns[0]))


def _orres_unexplained(frame: pd.DataFrame, columns: list[str], domain: str) -> pd.Series:
    none = pd.Series(None, index=frame.index, dtype=object)
    derived = (frame.get(f"{domain}DRVFL", none) == "Y").fillna(False)
    return frame[columns[0]].isna() & frame.get(f"{domain}STAT", none).isna() & ~derived


register_rules(_findings_records, [
    ("CG0569", "Baseline record has a standard result", "A record with --LOBXFL = Y has a populated --STRESC.",
     "{variable} = Y but --STRESC is null", "error", cite("CG0569 / FDA Business Rule FB2602", "CORE-000105", "CDISC"),
     {"suffixes": ("LOBXFL", "STRESC"), "fails": lambda f, c, _: (f[c[0]] == "Y").fillna(False) & f[c[1]].isna()}),
    ("CG0426", "Standard unit only with a standard result", "When --STRESU is populated, --STRESC is populated too.",
     "{variable} is populated but --STRESC is null", "error", cite("CG0426", "CORE-000133"),
     {"suffixes": ("STRESU", "STRESC"), "fails": lambda f, c, _: f[c[0]].notna() & f[c[1]].isna()}),
    ("CG0348", "Result present unless not done or derived",
     "--ORRES is populated unless --STAT is populated (not done) or the record is derived (--DRVFL = Y).",
     "{variable} is null but neither --STAT nor --DRVFL = Y explains it", "error", cite("CG0348", "CORE-000200"),
     {"suffixes": ("ORRES",), "fails": _orres_unexplained}),
])


@conformance_rule(
    "ISL-0111", "One standard unit per test",
    "Within a findings dataset each --TESTCD (and --SPEC when present) has a single --STRESU.",
    "{testcd} {test} has several standard units: {units}", "warning")
def check_one_standard_unit_per_test(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, (frame, (testcd, stresu)) in _findings_columns(data, "TESTCD", "STRESU").items():
        domain = data.domain_of(name)
        by = [testcd] + ([f"{domain}SPEC"] if f"{domain}SPEC" in frame.columns else [])
        units = frame[by + [stresu]].dropna(subset=[stresu])
        if units.empty:
            continue
        counts = units.drop_duplicates().groupby(by, dropna=False)[stresu].agg(lambda u: sorted(map(str, u)))
        several = counts[counts.map(len) > 1]
        if several.empty:
            continue
        key = display_text(frame[by[0]])
        for column in by[1:]:
            key = key + "|" + display_text(frame[column])
        index_keys = [("|".join(map(str, k)) if isinstance(k, tuple) else str(k)) for k in several.index]
        text = {k: ", ".join(v) for k, v in zip(index_keys, several.tolist())}
        hit = key.isin(set(text)) & frame[stresu].notna()
        first = hit & ~(key + "\x00" + display_text(frame[stresu])).duplicated()
        messages = (key + " has several standard units: " + key.map(text).fillna("")).astype(object)
        yield _row_findings(rule, name, frame, first, stresu, frame[stresu], messages)


@conformance_rule(
    "ISL-0112", "At most one last-observation-before-exposure record per test",
    "Per subject and test (and --CAT, --SPEC when present) at most one record has --LOBXFL = Y.",
    "{variable} = Y on more than one record of the subject's test", "error")
def check_one_lobxfl_per_test(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, (frame, (flag, testcd)) in _findings_columns(data, "LOBXFL", "TESTCD").items():
        domain = data.domain_of(name)
        by = ["USUBJID", testcd] + [c for c in (f"{domain}CAT", f"{domain}SPEC") if c in frame.columns]
        yield _row_findings(rule, name, frame, _repeated(frame, frame[flag] == "Y", by), flag, frame[flag],
                            rule.format_message(variable=flag))


@conformance_rule(
    "CG0371", "Supplemental and related records point at a parent record",
    "When IDVAR is populated, IDVARVAL equals the value of IDVAR on a record of the same subject in RDOMAIN.",
    "{rdomain}.{idvar} = {value} of USUBJID {usubjid} does not exist", "error", cite("CG0371", "CORE-000206"))
def check_parent_record_exists(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.sdtm_with("RDOMAIN", "IDVAR", "IDVARVAL", "USUBJID").items():
        rows = frame["IDVAR"].notna() & frame["IDVARVAL"].notna() & frame["USUBJID"].notna()
        if not rows.any():
            continue
        exists = pd.Series(True, index=frame.index)
        for (rdomain, idvar), group in frame[rows].groupby(["RDOMAIN", "IDVAR"], sort=True):
            parent = data.first(str(rdomain))
            wanted = group["USUBJID"].astype(str) + "|" + group["IDVARVAL"].astype(str).str.strip()
            if parent is None or idvar not in parent.columns:
                exists[group.index] = False
                continue
            have = set(parent["USUBJID"].astype(str) + "|" + display_text(parent[idvar]).astype(str))
            exists[group.index] = wanted.isin(have).to_numpy()
        bad = rows & ~exists
        messages = rule.format_messages(frame["IDVARVAL"], rdomain=frame["RDOMAIN"], idvar=frame["IDVAR"],
                                        usubjid=frame["USUBJID"])
        yield _row_findings(rule, name, frame, bad, "IDVARVAL", frame["IDVARVAL"], messages)


# --- ADaM traceability ----------------------------------------------------------------------------
@conformance_rule(
    "ISL-0106", "ADaM subject traces to SDTM",
    "Every ADSL subject is in DM, and every subject of another ADaM dataset is in ADSL.",
    "USUBJID {value} is not in {parent}", "error")
def check_adam_subjects_trace(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    dm = data.first("DM")
    adsl = data.adam.get("ADSL")
    for name, frame in data.adam.items():
        if "USUBJID" not in frame.columns:
            continue
        parent_name, parent = ("DM", dm) if name == "ADSL" else ("ADSL", adsl)
        if parent is None or "USUBJID" not in parent.columns:
            continue
        orphan = frame["USUBJID"].notna() & ~is_in(frame["USUBJID"], set(parent["USUBJID"].dropna()))
        yield _row_findings(rule, name, frame, orphan, "USUBJID", frame["USUBJID"],
                            rule.format_messages(frame["USUBJID"], parent=parent_name))


def _adsl_versus_dm(rule: Rule, data: ValidationData, pairs: list[tuple[str, str]],
                    as_dates: bool) -> Iterator[pd.DataFrame]:
    adsl, dm = data.adam.get("ADSL"), data.first("DM")
    if adsl is None or dm is None or "USUBJID" not in adsl.columns:
        return
    dm_unique = dm.drop_duplicates("USUBJID").set_index("USUBJID")
    for adam_var, dm_var in pairs:
        if adam_var not in adsl.columns or dm_var not in dm_unique.columns:
            continue
        source = adsl["USUBJID"].map(dm_unique[dm_var])
        in_dm = adsl["USUBJID"].isin(dm_unique.index)
        if as_dates:
            left, right = to_date(adsl[adam_var]), to_date(source)
            differ = in_dm & (left.isna() != right.isna()) | (left.notna() & right.notna() & (left != right))
            shown = left.dt.strftime("%Y-%m-%d").fillna("")
        elif pd.api.types.is_numeric_dtype(adsl[adam_var].dtype):
            shown = display_text(adsl[adam_var])
            differ = in_dm & ~np.isclose(pd.to_numeric(adsl[adam_var], errors="coerce").fillna(-1e300),
                                         pd.to_numeric(source, errors="coerce").fillna(-1e300))
        else:
            shown = display_text(adsl[adam_var])
            differ = in_dm & (shown != display_text(source))
        messages = (f"ADSL.{adam_var} " + shown.astype(str) + f" does not trace to DM.{dm_var} "
                    + display_text(source).astype(str)).astype(object)
        yield _row_findings(rule, "ADSL", adsl, differ.fillna(False), adam_var, shown, messages)


ADSL_FROM_DM = ["SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ETHNIC", "ARM", "ACTARM", "COUNTRY"]
register_rules(_adsl_versus_dm, [
    ("ISL-0103", "ADSL treatment dates trace to DM",
     "ADSL.TRTSDT is the date of DM.RFXSTDTC and ADSL.TRTEDT the date of DM.RFXENDTC.",
     "ADSL treatment date does not trace to DM", "error", "",
     {"pairs": [("TRTSDT", "RFXSTDTC"), ("TRTEDT", "RFXENDTC")], "as_dates": True}),
    ("ISL-0107", "ADSL demographics trace to DM",
     f"ADSL copies of DM variables ({', '.join(ADSL_FROM_DM)}) equal DM.",
     "ADSL value does not trace to DM", "error", "", {"pairs": [(n, n) for n in ADSL_FROM_DM], "as_dates": False}),
])


@conformance_rule(
    "ISL-0104", "ADAE records trace to AE",
    "Every ADAE record is an AE record (USUBJID, AESEQ) and every AE record of an ADSL subject is in ADAE.",
    "{problem}", "error")
def check_adae_traces_to_ae(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    adae, ae, adsl = data.adam.get("ADAE"), data.first("AE"), data.adam.get("ADSL")
    if adae is None or ae is None or not {"USUBJID", "AESEQ"} <= set(adae.columns) or "AESEQ" not in ae.columns:
        return
    def keys(frame: pd.DataFrame) -> pd.Series:
        return frame["USUBJID"].astype("string") + "|" + pd.to_numeric(frame["AESEQ"], errors="coerce").astype("Int64").astype("string")
    adae_keys, ae_keys = keys(adae), keys(ae)
    extra = ~is_in(adae_keys, set(ae_keys.dropna())).fillna(False)
    yield _row_findings(rule, "ADAE", adae, extra, "AESEQ", adae["AESEQ"],
                        ("ADAE record USUBJID|AESEQ " + adae_keys.fillna("") + " is not in AE").astype(object))
    in_scope = is_in(ae["USUBJID"], set(adsl["USUBJID"])) if adsl is not None and "USUBJID" in adsl.columns \
        else pd.Series(True, index=ae.index)
    missing = in_scope & ~is_in(ae_keys, set(adae_keys.dropna())).fillna(False)
    yield _row_findings(rule, "AE", ae, missing, "AESEQ", ae["AESEQ"],
                        ("AE record USUBJID|AESEQ " + ae_keys.fillna("") + " is not in ADAE").astype(object))


def _bds(data: ValidationData, *columns: str) -> dict[str, pd.DataFrame]:
    return {n: f for n, f in data.adam.items() if {"USUBJID", "PARAMCD", *columns} <= set(f.columns)}


def _at_most_one_flag(rule: Rule, data: ValidationData, flag: str, extra: tuple[str, ...]) -> Iterator[pd.DataFrame]:
    for name, frame in _bds(data, flag).items():
        by = ["USUBJID", "PARAMCD"] + [c for c in extra if c in frame.columns]
        yield _row_findings(rule, name, frame, _repeated(frame, frame[flag] == "Y", by), flag, frame[flag],
                            rule.format_message(variable=flag, by=", ".join(by)))


register_rules(_at_most_one_flag, [
    ("ISL-0113", "One baseline record per subject and parameter",
     "In a BDS dataset at most one record per USUBJID, PARAMCD (and BASETYPE) has ABLFL = Y.",
     "ABLFL = Y on more than one record of ({by})", "error", "", {"flag": "ABLFL", "extra": ("BASETYPE",)}),
    ("ISL-0115", "One analysis record per subject, parameter and analysis visit",
     "In a BDS dataset at most one record per USUBJID, PARAMCD, AVISITN (and BASETYPE) has ANL01FL = Y.",
     "ANL01FL = Y on more than one record of ({by})", "error", "",
     {"flag": "ANL01FL", "extra": ("AVISITN", "BASETYPE")}),
])


@conformance_rule(
    "ISL-0114", "Change from baseline is AVAL - BASE",
    "In a BDS dataset CHG equals AVAL - BASE wherever all three are populated.",
    "CHG {value} differs from AVAL - BASE", "error")
def check_chg(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in _bds(data, "AVAL", "BASE", "CHG").items():
        aval, base, chg = (pd.to_numeric(frame[c], errors="coerce") for c in ("AVAL", "BASE", "CHG"))
        both = aval.notna() & base.notna() & chg.notna()
        bad = both & ~np.isclose((aval - base).fillna(0), chg.fillna(0), rtol=1e-9, atol=1e-9)
        def messages(picked: np.ndarray, aval: pd.Series = aval, base: pd.Series = base,
                     chg: pd.Series = chg) -> pd.Series:
            return ("CHG " + display_text(chg[picked]) + " differs from AVAL - BASE = "
                    + display_text((aval - base)[picked])).astype(object)
        yield _row_findings(rule, name, frame, bad, "CHG", lambda picked, chg=chg: display_text(chg[picked]), messages)


@conformance_rule(
    "ISL-0116", "Analysis relative days are never 0",
    "ADY, ASTDY and AENDY follow the no-day-0 convention of study days.",
    "{variable} is 0", "error")
def check_no_analysis_day_zero(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    for name, frame in data.adam.items():
        for day in ("ADY", "ASTDY", "AENDY"):
            if day in frame.columns:
                values = pd.to_numeric(frame[day], errors="coerce")
                yield _row_findings(rule, name, frame, (values == 0).fillna(False), day,
                                    lambda picked, values=values: display_text(values[picked]),
                                    rule.format_message(variable=day))


POPULATION_FLAGS = ("RANDFL", "ITTFL", "FASFL", "SAFFL", "PPROTFL", "COMPLFL", "ENRLFL")


@conformance_rule(
    "ISL-0108", "Population flags are Y or N",
    f"ADSL subject-level population flags ({', '.join(POPULATION_FLAGS)}) are Y or N, never null.",
    "{variable} value '{value}' is not Y or N", "error")
def check_population_flags(rule: Rule, data: ValidationData) -> Iterator[pd.DataFrame]:
    adsl = data.adam.get("ADSL")
    if adsl is None:
        return
    for flag in POPULATION_FLAGS:
        if flag in adsl.columns:
            bad = ~adsl[flag].isin(["Y", "N"]).fillna(False)
            yield _row_findings(rule, "ADSL", adsl, bad, flag, adsl[flag],
                                rule.format_messages(adsl[flag], variable=flag))


RULE_STATUS_COLUMNS = ["id", "status", "reason", "datasets", "findings"]


def run_conformance_rules_with_status(data: ValidationData, rules: dict[str, Rule] | None = None
                                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the rules; return their findings and one status row per rule: ``ran``, ``skipped`` (with why: the
    domain or variable it needs is absent; a coded rule that found nothing and none of what it looked up) or
    ``failed`` (with the error; the other rules still run).

    >>> dm = pd.DataFrame({"USUBJID": ["S-1"], "DOMAIN": ["DM"], "AGE": [-3]})
    >>> ae = pd.DataFrame({"USUBJID": ["S-1", "S-9"], "DOMAIN": ["AE", "AE"]})
    >>> f, status = run_conformance_rules_with_status(ValidationData({"DM": dm, "AE": ae}, {}))
    >>> f.loc[f["rule_id"] == "CG0029", ["rule_id", "dataset", "usubjid", "record"]].values.tolist()
    [['CG0029', 'AE', 'S-9', 2]]
    >>> status.set_index("id").loc[["FB4001", "CG0218"], ["status", "findings"]].values.tolist()
    [['ran', 1], ['skipped', 0]]
    """
    from pipeline.validate.catalogue import Outcome

    chosen = rules if rules is not None else CONFORMANCE_RULES
    parts, rows = [], []
    for rule_id, rule in sorted(chosen.items()):
        data.lookups = []
        outcome = Outcome()
        try:
            found = rule.check(data, outcome) if rule.kind else rule.check(data)
        except Exception as exc:  # a broken rule is reported in rules.csv, the others still run
            rows.append({"id": rule_id, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                         "datasets": "", "findings": 0})
            continue
        parts.append(found)
        if rule.kind:
            checked = sorted(set(outcome.checked))
            status = "ran" if checked else "skipped"
            reason = outcome.reason()
        else:
            checked = sorted(set(found["dataset"].dropna())) if len(found) else []
            looked = data.lookups
            status = "ran" if len(found) or not looked or any(hit for _, hit in looked) else "skipped"
            reason = "" if status == "ran" else "; ".join(dict.fromkeys(what for what, _ in looked))
        rows.append({"id": rule_id, "status": status, "reason": reason, "datasets": " ".join(checked),
                     "findings": int(len(found))})
    data.lookups = []
    return concat_findings(parts), pd.DataFrame(rows, columns=RULE_STATUS_COLUMNS)


# the rules CDISC CORE runs on SDTM (registered into CONFORMANCE_RULES on import; core imports the base only)
from pipeline.validate import conformance_core  # noqa: E402,F401
# the catalogue rules (specs/standards/conformance-rules.yaml), registered the same way
from pipeline.validate.catalogue import catalogue_rules, read_catalogue  # noqa: E402

CATALOGUE_RULES: dict[str, Rule] = catalogue_rules(read_catalogue())
_clash = sorted(set(CATALOGUE_RULES) & set(CONFORMANCE_RULES))
if _clash:
    raise ValueError(f"specs/standards/conformance-rules.yaml: ids {', '.join(_clash)} are coded rules already")
_coded_core = {c for r in CONFORMANCE_RULES.values() for c in re.findall(r"CORE-\d{6}", r.citation)}
_twice = sorted(r.id for r in CATALOGUE_RULES.values() if set(re.findall(r"CORE-\d{6}", r.citation)) & _coded_core)
if _twice:  # one home per rule: a CORE rule is either coded or in the catalogue
    raise ValueError(f"specs/standards/conformance-rules.yaml: {', '.join(_twice)} repeat a coded rule's CORE id")
CONFORMANCE_RULES.update(CATALOGUE_RULES)
