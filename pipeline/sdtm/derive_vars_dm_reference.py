"""derive_vars_dm_reference: DM reference dates, death, arms and age from DM, EX, DS and study.yaml."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.common.logs import get_logger
from pipeline.common.dates import iso_date, iso_date_bounds, iso_time
from pipeline.sdtm.derive_helpers import blank_to_na, check_choice, check_frame, first_rows
from pipeline.sdtm.supp import nulls_as_none

log = get_logger("sdtm.dm")

ARM_NULL_STYLES = ("codes", "armnrs")
RFSTDTC_SOURCES = ("first_dose", "randomisation", "consent")
RFENDTC_SOURCES = ("last_dose", "end_of_participation", "disposition")
# Variables this step derives; a value the mapping already gives wins (it is collected data)
MAPPED_WINS = ("RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL",
               "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD")


def derive_vars_dm_reference(
    dm: pd.DataFrame,
    ex: pd.DataFrame,
    ds: pd.DataFrame,
    design: dict[str, Any],
    dataset_add: pd.DataFrame | None = None,
    consent_decod: str = "INFORMED CONSENT OBTAINED",
    randomized_decod: str = "RANDOMIZED",
    screen_failure_decod: str = "SCREEN FAILURE",
    death_decod: str = "DEATH",
    rfendtc_from: str = "last_dose",
    arm_null: str = "codes",
    rfstdtc_from: str = "first_dose",
) -> pd.DataFrame:
    """Add RFSTDTC, RFENDTC, RFXSTDTC, RFXENDTC, RFICDTC, RFPENDTC, DTHFL, DTHDTC, ARM/ARMCD, ACTARM/ACTARMCD, ARMNRS, ACTARMUD, AGE, AGEU.

    Rules (dates stay ISO 8601 text exactly as collected; comparisons use date and time). A value the
    mapping already gives for one of these variables (collected data) is kept; only missing values are
    derived, and the log says how many of each were kept.
    - RFXSTDTC / RFXENDTC: earliest EXSTDTC / latest EXENDTC (EXSTDTC when EXENDTC is missing)
      over EX records with a complete date (records with ``EXOCCUR = N`` are ignored).
    - RFSTDTC and RFENDTC: as ``rfstdtc_from`` / ``rfendtc_from`` choose (table in
      docs/mapping-language.md, section 6); a randomised subject never dosed gets the randomisation
      date (with ``first_dose``) and RFPENDTC; both null for screen failures and subjects not assigned.
    - RFICDTC: DM.RFICDTC when collected there, else the earliest DS ``consent_decod`` date.
    - RFPENDTC: the latest date known for the subject (DS, EX, consent, death and ``dataset_add``
      with columns USUBJID, DTC, e.g. SV or lab dates).
    - DTHDTC: DM.DTHDTC when present, else the DS ``death_decod`` date; DTHFL ``Y`` when a death is known.
    - ARMCD (planned, from randomisation, already in DM) must be an arm of ``design["arms"]``; ARM
      comes from there. Subjects without ARMCD are screen failures when DS has ``screen_failure_decod``,
      else not assigned: ``arm_null="codes"`` sets ``design["screen_failure"]`` / ``design["not_assigned"]``
      codes in ARMCD and ACTARMCD (SDTMIG 3.2 habit), ``"armnrs"`` leaves arms null and sets ARMNRS
      (SDTMIG 3.4 habit).
    - ACTARMCD from the treatments in EX: an EX record belongs to the arm whose ``extrt`` equals
      EXTRT and, where arms of one drug differ by dose, whose ``exdose`` equals EXDOSE (a low and a
      high dose arm). One arm -> that arm; several arms -> null with ARMNRS ``UNPLANNED TREATMENT``
      and ACTARMUD naming them; assigned but never dosed -> null with ARMNRS ``ASSIGNED, NOT TREATED``.
    - AGE in completed years at informed consent from BRTHDTC (complete birth date; with a partial
      birth date only when every possible birthday gives the same age); a collected DM.AGE is kept.
      AGEU ``YEARS`` where AGE is known.

    Raises InputError naming the rows for an unknown ARMCD or EXTRT, or several DM records per subject.

    >>> design = {"arms": [{"armcd": "A", "arm": "Drug 10 mg", "extrt": "DRUG"},
    ...                    {"armcd": "P", "arm": "Placebo", "extrt": "PLACEBO"}],
    ...           "screen_failure": {"armcd": "SCRNFAIL", "arm": "Screen Failure"},
    ...           "not_assigned": {"armcd": "NOTASSGN", "arm": "Not Assigned"}}
    >>> dm = pd.DataFrame({"STUDYID": "X", "USUBJID": ["S1", "S2"], "ARMCD": ["A", None],
    ...                    "BRTHDTC": ["1980-06-15", "1990-01-01"]})
    >>> ex = pd.DataFrame({"USUBJID": ["S1", "S1"], "EXTRT": ["DRUG", "DRUG"],
    ...                    "EXSTDTC": ["2019-01-10T09:00", "2019-01-24T09:10"]})
    >>> ds = pd.DataFrame({"USUBJID": ["S1", "S1", "S2", "S2"],
    ...     "DSDECOD": ["INFORMED CONSENT OBTAINED", "COMPLETED", "INFORMED CONSENT OBTAINED", "SCREEN FAILURE"],
    ...     "DSSTDTC": ["2018-12-20", "2019-06-30", "2019-02-01", "2019-02-15"]})
    >>> out = derive_vars_dm_reference(dm, ex, ds, design)
    >>> out[["USUBJID", "RFSTDTC", "RFENDTC", "RFICDTC", "RFPENDTC"]]
      USUBJID           RFSTDTC           RFENDTC     RFICDTC    RFPENDTC
    0      S1  2019-01-10T09:00  2019-01-24T09:10  2018-12-20  2019-06-30
    1      S2              None              None  2019-02-01  2019-02-15
    >>> out[["USUBJID", "ARMCD", "ACTARMCD", "ACTARM", "AGE", "AGEU"]]
      USUBJID     ARMCD  ACTARMCD          ACTARM  AGE   AGEU
    0      S1         A         A      Drug 10 mg   38  YEARS
    1      S2  SCRNFAIL  SCRNFAIL  Screen Failure   29  YEARS
    """
    check_choice(arm_null, "arm_null", ARM_NULL_STYLES)
    check_choice(rfendtc_from, "rfendtc_from", RFENDTC_SOURCES)
    check_choice(rfstdtc_from, "rfstdtc_from", RFSTDTC_SOURCES)
    check_frame(dm, "dm", ["USUBJID", "ARMCD"])
    check_frame(ex, "ex", ["USUBJID", "EXTRT", "EXSTDTC"])
    check_frame(ds, "ds", ["USUBJID", "DSDECOD", "DSSTDTC"])
    duplicated = dm.duplicated("USUBJID", keep=False)
    if duplicated.any():
        raise InputError(f"dataset dm: more than one record per subject ({first_rows(duplicated, dm, ['USUBJID'])})")
    arms = _arms(design)

    subjects = dm[["USUBJID"]].reset_index(drop=True)
    exposures = _exposures(ex)
    first_dose = _extreme(exposures, "EXSTDTC", "first")
    last_dose = _extreme(exposures.assign(_end=_coalesce(exposures, "EXENDTC", "EXSTDTC")), "_end", "last")
    decod = blank_to_na(ds["DSDECOD"]).str.upper()
    consent = _extreme(ds[decod == consent_decod.upper()], "DSSTDTC", "first")
    randomised = _extreme(ds[decod == randomized_decod.upper()], "DSSTDTC", "first")
    death = _extreme(ds[decod == death_decod.upper()], "DSSTDTC", "first")
    disposition = _extreme(ds[decod.notna() & ~decod.isin([consent_decod.upper(), randomized_decod.upper()])],
                           "DSSTDTC", "last")
    screen_failed = set(ds.loc[decod == screen_failure_decod.upper(), "USUBJID"])

    out = dm.copy().reset_index(drop=True)
    rfxstdtc = _lookup(subjects, first_dose)
    rfxendtc = _lookup(subjects, last_dose)
    rficdtc = _collected_or(out, "RFICDTC", _lookup(subjects, consent))
    dthdtc = _collected_or(out, "DTHDTC", _lookup(subjects, death))
    dthfl = pd.Series(np.where(dthdtc.notna() | subjects["USUBJID"].isin(death["USUBJID"]), "Y", None), dtype=object)

    known = subjects.assign(_consent=rficdtc, _death=dthdtc)
    all_dates = [frame[["USUBJID", column]].rename(columns={column: "DTC"}) for frame, column in (
        (ds, "DSSTDTC"), (exposures, "EXSTDTC"), (known, "_consent"), (known, "_death"), (exposures, "EXENDTC"))
        if column in frame.columns]
    if dataset_add is not None:
        check_frame(dataset_add, "dataset_add", ["USUBJID", "DTC"])
        all_dates.append(dataset_add[["USUBJID", "DTC"]])
    rfpendtc = _lookup(subjects, _extreme(pd.concat(all_dates, ignore_index=True), "DTC", "last"))

    planned = _planned_arms(out, arms, design, screen_failed, arm_null)
    is_assigned = planned["ARMCD"].isin(arms["armcd"]).to_numpy()
    randomisation = _lookup(subjects, randomised).where(is_assigned)
    rfstdtc = {"first_dose": rfxstdtc.where(rfxstdtc.notna(), randomisation), "randomisation": randomisation,
               "consent": rficdtc.where(is_assigned)}[rfstdtc_from]
    rfendtc = {"last_dose": rfxendtc, "end_of_participation": rfpendtc.where(is_assigned),
               "disposition": _lookup(subjects, disposition).where(is_assigned)}[rfendtc_from]
    rfendtc = rfendtc.where(rfendtc.notna(), rfpendtc.where(is_assigned & rfxstdtc.isna()))
    actual = _actual_arms(subjects, exposures, arms, planned, is_assigned)

    out["RFSTDTC"] = rfstdtc.where(is_assigned | rfxstdtc.notna(), None)
    out["RFENDTC"] = rfendtc.where(is_assigned | rfxstdtc.notna(), None)
    out["RFXSTDTC"], out["RFXENDTC"] = rfxstdtc, rfxendtc
    out["RFICDTC"], out["RFPENDTC"] = rficdtc, rfpendtc
    out["DTHDTC"], out["DTHFL"] = dthdtc, dthfl
    for column in ("ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD"):
        out[column] = actual[column].to_numpy()
    _keep_mapped(out, dm.reset_index(drop=True), dict(zip(arms["armcd"], arms["arm"])))
    age = _age(out, rficdtc)
    out["AGE"] = age
    out["AGEU"] = pd.Series(np.where(age.notna(), "YEARS", None), dtype=object)
    for column in ("RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC"):
        out[column] = out[column].astype("object").where(out[column].notna(), None)
    out.index = dm.index
    reasons = pd.Series(out["ARMNRS"]).value_counts().to_dict()
    special = pd.Series(planned["_special"]).value_counts().to_dict()
    log.info("DM reference: %d subject(s), %d dosed, %d death(s); %s",
             len(out), int(rfxstdtc.notna().sum()), int((dthfl == "Y").sum()),
             ", ".join(f"{k.lower()} {v}" for k, v in sorted({**special, **reasons}.items())) or "no screen failures")
    return out


def _arms(design: dict[str, Any]) -> pd.DataFrame:
    arms = design.get("arms") if isinstance(design, dict) else None
    if not arms or not isinstance(arms, list):
        raise ConfigError("study.yaml: 'arms' must be a non-empty list of {armcd, arm, extrt}")
    rows = []
    for position, arm in enumerate(arms):
        missing = [key for key in ("armcd", "arm", "extrt") if not isinstance(arm, dict) or not arm.get(key)]
        if missing:
            raise ConfigError(f"study.yaml: arms[{position}] lacks {', '.join(missing)}")
        dose = arm.get("exdose")
        if dose is not None and (isinstance(dose, bool) or not isinstance(dose, (int, float))):
            raise ConfigError(f"study.yaml: arms[{position}].exdose must be a number (the EXDOSE of that arm), got {dose!r}")
        rows.append({"armcd": str(arm["armcd"]), "arm": str(arm["arm"]), "extrt": str(arm["extrt"]).strip().upper(),
                     "exdose": None if dose is None else float(dose)})
    table = pd.DataFrame(rows)
    if table["armcd"].duplicated().any():
        raise ConfigError(f"study.yaml: arms share the same armcd ({', '.join(table.loc[table['armcd'].duplicated(), 'armcd'])})")
    shared = table["extrt"].duplicated(keep=False)
    if shared.any():
        clash = table[shared]
        if clash["exdose"].isna().any() or clash.duplicated(["extrt", "exdose"]).any():
            raise ConfigError(f"study.yaml: arms {', '.join(clash['armcd'])} share extrt {clash['extrt'].iloc[0]}: "
                              "give each a different exdose so EX tells them apart")
    return table


def _special_arm(design: dict[str, Any], key: str) -> tuple[str, str]:
    spec = design.get(key)
    if not isinstance(spec, dict) or not spec.get("armcd") or not spec.get("arm"):
        raise ConfigError(f"study.yaml: '{key}' must give armcd and arm (e.g. {{armcd: SCRNFAIL, arm: Screen Failure}})")
    return str(spec["armcd"]), str(spec["arm"])


def _exposures(ex: pd.DataFrame) -> pd.DataFrame:
    columns = ["USUBJID", "EXTRT", "EXSTDTC", *[c for c in ("EXENDTC", "EXDOSE") if c in ex.columns]]
    keep = pd.Series(True, index=ex.index)
    if "EXOCCUR" in ex.columns:
        keep &= blank_to_na(ex["EXOCCUR"]).fillna("Y").str.upper() != "N"
    exposures = ex.loc[keep, columns].copy()
    return exposures[iso_date(exposures["EXSTDTC"]).notna()]


def _coalesce(frame: pd.DataFrame, first: str, second: str) -> pd.Series:
    if first not in frame.columns:
        return frame[second]
    preferred = frame[first].where(iso_date(frame[first]).notna())
    return preferred.where(preferred.notna(), frame[second])


def _extreme(frame: pd.DataFrame, dtc_var: str, which: str) -> pd.DataFrame:
    """Per subject, the original text of the earliest ('first') or latest ('last') complete date/time."""
    dates = frame[["USUBJID", dtc_var]].rename(columns={dtc_var: "DTC"})
    dates = dates.assign(_d=iso_date(dates["DTC"]), _t=iso_time(dates["DTC"]).fillna(pd.Timedelta(0)))
    dates = dates[dates["_d"].notna()]
    dates = dates.assign(_precision=dates["DTC"].astype(str).str.len())
    dates = dates.sort_values(["USUBJID", "_d", "_t", "_precision"], kind="mergesort")
    return dates.drop_duplicates("USUBJID", keep="first" if which == "first" else "last")[["USUBJID", "DTC"]]


def _collected_or(dm: pd.DataFrame, column: str, derived: pd.Series) -> pd.Series:
    """DM's ``column`` where collected, else ``derived``."""
    if column not in dm.columns:
        return derived
    collected = blank_to_na(dm[column])
    return collected.where(collected.notna(), derived)


def _lookup(subjects: pd.DataFrame, values: pd.DataFrame) -> pd.Series:
    merged = subjects.merge(values, on="USUBJID", how="left")["DTC"]
    return merged.astype("object").where(merged.notna(), None)


def _planned_arms(out, arms, design, screen_failed, arm_null) -> pd.DataFrame:
    scrn_cd, scrn_arm = _special_arm(design, "screen_failure")
    notass_cd, notass_arm = _special_arm(design, "not_assigned")
    armcd = blank_to_na(out["ARMCD"])
    known = armcd.isna() | armcd.isin([*arms["armcd"], scrn_cd, notass_cd])
    if not known.all():
        raise InputError(f"dataset dm: ARMCD not an arm of study.yaml ({', '.join(arms['armcd'])}): "
                         + first_rows(~known, out, ["USUBJID", "ARMCD"]))
    failed = out["USUBJID"].isin(screen_failed)
    armcd = armcd.where(armcd.notna() | ~failed, scrn_cd)
    armcd = armcd.where(armcd.notna(), notass_cd)
    arm_names = dict(zip(arms["armcd"], arms["arm"])) | {scrn_cd: scrn_arm, notass_cd: notass_arm}
    reason = armcd.map({scrn_cd: "SCREEN FAILURE", notass_cd: "NOT ASSIGNED"})
    planned = pd.DataFrame({"ARMCD": armcd, "ARM": armcd.map(arm_names), "_special": reason})
    if arm_null == "armnrs":
        planned.loc[reason.notna(), ["ARMCD", "ARM"]] = None
    return planned


def _actual_arms(subjects, exposures, arms, planned, is_assigned) -> pd.DataFrame:
    treatment = blank_to_na(exposures["EXTRT"]).str.upper()
    unknown = treatment.notna() & ~treatment.isin(arms["extrt"])
    if unknown.any():
        raise InputError(f"dataset ex: EXTRT not a treatment of study.yaml arms ({', '.join(arms['extrt'])}): "
                         + first_rows(unknown, exposures, ["USUBJID", "EXTRT"]))
    armcd = _arm_of_exposure(exposures, treatment, arms)
    received = pd.DataFrame({"USUBJID": exposures["USUBJID"], "armcd": armcd})
    received = received.dropna().drop_duplicates().sort_values(["USUBJID", "armcd"])
    per_subject = received.groupby("USUBJID")["armcd"].agg(lambda codes: "+".join(codes))
    count = received.groupby("USUBJID")["armcd"].nunique()
    codes = subjects["USUBJID"].map(per_subject)
    n_arms = subjects["USUBJID"].map(count).fillna(0).to_numpy()
    arm_names = dict(zip(arms["armcd"], arms["arm"]))

    actual = pd.DataFrame({"ARMCD": planned["ARMCD"].to_numpy(), "ARM": planned["ARM"].to_numpy()}, dtype=object)
    special = planned["_special"].notna().to_numpy()
    single = n_arms == 1
    actual["ACTARMCD"] = np.where(single, codes, np.where(special, planned["ARMCD"], None))
    actual["ACTARM"] = np.where(single, codes.map(arm_names), np.where(special, planned["ARM"], None))
    reason = np.where(n_arms > 1, "UNPLANNED TREATMENT",
                      np.where((n_arms == 0) & is_assigned, "ASSIGNED, NOT TREATED", None))
    actual["ARMNRS"] = np.where(pd.isna(actual["ARMCD"]) & special, planned["_special"], reason)
    unplanned = codes.map(lambda value: " + ".join(arm_names[c] for c in value.split("+")), na_action="ignore")
    actual["ACTARMUD"] = np.where(n_arms > 1, unplanned, None)
    return nulls_as_none(actual)


def _arm_of_exposure(exposures: pd.DataFrame, treatment: pd.Series, arms: pd.DataFrame) -> pd.Series:
    """The arm code of each EX record: by treatment, and by dose where arms of one drug differ by dose."""
    by_treatment = arms.drop_duplicates("extrt", keep=False)
    armcd = treatment.map(dict(zip(by_treatment["extrt"], by_treatment["armcd"])))
    by_dose = arms[arms["extrt"].duplicated(keep=False)]
    if not by_dose.empty:
        if "EXDOSE" not in exposures.columns:
            raise InputError(f"dataset ex: arms {', '.join(by_dose['armcd'])} differ by dose only, and EX has no EXDOSE")
        dose = pd.to_numeric(exposures["EXDOSE"], errors="coerce")
        for arm in by_dose.itertuples():
            armcd = armcd.where(~((treatment == arm.extrt) & np.isclose(dose, arm.exdose)), arm.armcd)
        unmatched = treatment.isin(by_dose["extrt"]) & armcd.isna() & dose.notna()
        if unmatched.any():
            doses = ", ".join(f"{a.armcd}={a.exdose:g}" for a in by_dose.itertuples())
            raise InputError(f"dataset ex: EXDOSE matches no arm's exdose ({doses}): "
                             + first_rows(unmatched, exposures, ["USUBJID", "EXTRT", "EXDOSE"]))
    return armcd


def _keep_mapped(out: pd.DataFrame, mapped: pd.DataFrame, arm_names: dict[str, str]) -> None:
    """Where the mapping gave a value of a derived variable, it wins over the derivation (in place)."""
    kept = {}
    for column in MAPPED_WINS:
        if column not in mapped.columns:
            continue
        given = blank_to_na(mapped[column].astype(object))
        if given.notna().any():
            kept[column] = int(given.notna().sum())
            out[column] = given.where(given.notna(), out[column]).astype(object)
    if "ACTARMCD" in kept:  # a collected actual arm names its arm; the derived reasons no longer apply
        collected = blank_to_na(mapped["ACTARMCD"].astype(object)).notna()
        if "ACTARM" not in kept:
            out["ACTARM"] = out["ACTARM"].where(~collected, out["ACTARMCD"].map(arm_names)).astype(object)
        for column in ("ARMNRS", "ACTARMUD"):
            if column not in kept:
                out[column] = out[column].where(~collected, None).astype(object)
    if kept:
        log.info("DM reference: mapped values kept over the derivation: %s",
                 ", ".join(f"{column} {count}" for column, count in kept.items()))


def _age(out: pd.DataFrame, rficdtc: pd.Series) -> pd.Series:
    collected = pd.to_numeric(out["AGE"], errors="coerce") if "AGE" in out.columns else pd.Series(np.nan, index=out.index)
    if "BRTHDTC" not in out.columns:
        return collected.astype("Int64")
    birth_lo, birth_hi = iso_date_bounds(out["BRTHDTC"])
    at = iso_date(rficdtc)
    young, old = completed_years(birth_hi, at), completed_years(birth_lo, at)
    derived = young.where(young == old)
    return collected.where(collected.notna(), derived).astype("Int64")


def completed_years(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years from ``birth`` to ``at`` (datetime series; null where either is missing)."""
    years = at.dt.year - birth.dt.year
    before_birthday = (at.dt.month < birth.dt.month) | ((at.dt.month == birth.dt.month) & (at.dt.day < birth.dt.day))
    return (years - before_birthday.astype(int)).where(birth.notna() & at.notna())
