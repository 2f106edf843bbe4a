"""Trial design domains TS, TA, TE, TV, TI from study.yaml (+ trial_design.yaml), and subject elements SE
(``build_se``, the input of ``derive_var_epoch``).

Study facts come only from the two YAML files; this module holds the algorithms and the standard
knowledge of which CDISC codelist (or format) a TS parameter's value follows.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.dates import format_iso_date, iso_date
from pipeline.sdtm.derive_helpers import blank_to_na, check_frame, check_variable_name
from pipeline.sdtm.derive_var_dy import derive_var_dy
from pipeline.sdtm.derive_var_seq import derive_var_seq
from pipeline.sdtm.supp import nulls_as_none, split_long_text
from pipeline.standards.tables import load_ts_parameters
from pipeline.standards.terminology import Codelist, codelist_from_ct, load_terminology

TS_COLUMNS = ["STUDYID", "DOMAIN", "TSSEQ", "TSGRPID", "TSPARMCD", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER"]
# TS parameters taken as they are from study.yaml's ``study`` section (parameter -> key)
TS_FROM_STUDY = {"TITLE": "title", "SPONSOR": "sponsor", "TPHASE": "phase", "TBLIND": "blinding", "TCNTRL": "control",
                 "SSTDTC": "start_date", "SENDTC": "completion_date", "PLANSUB": "planned_subjects"}
TS_SPEC_KEYS = ("tsvalcd", "tsvcdref", "tsvcdver", "tsparm", "null_flavor", "tsgrpid")  # optional keys of ts_parameters
SE_COLUMNS = ["STUDYID", "DOMAIN", "USUBJID", "SESEQ", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC",
              "SESTDY", "SEENDY"]
SE_ANCHORS = ("consent", "first_dose", "treatment_end", "end_of_study")
MAX_TEXT = 200


def build_trial_design(
    design: dict[str, Any],
    trial_design: dict[str, Any] | None = None,
    ct: pd.DataFrame | None = None,
    dm: pd.DataFrame | None = None,
    standards_dir: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Build the trial design domains TS, TA, TE, TV and TI of one study.

    Args:
        design: parsed ``specs/<study>/study.yaml`` (``ctx.design``).
        trial_design: parsed ``specs/<study>/trial_design.yaml`` (``ctx.spec("trial_design")``):
            arm element order, TE rules, extra TS parameters, eligibility criteria.
        dm: built DM, if available: ACTSUB then counts subjects assigned to a study arm;
            otherwise ACTSUB is the sum of ``arms[].n``.

    >>> from pipeline.common.study import StudyContext
    >>> ctx = StudyContext.create("iscalimab-ln")
    >>> domains = build_trial_design(ctx.design, ctx.spec("trial_design"))
    >>> sorted(domains), len(domains["TA"]), len(domains["TV"])
    (['TA', 'TE', 'TI', 'TS', 'TV'], 6, 13)
    >>> ts = domains["TS"].set_index("TSPARMCD")
    >>> ts.loc["TPHASE", ["TSVAL", "TSVALCD", "TSVCDREF"]].tolist()
    ['PHASE II TRIAL', 'C15601', 'CDISC CT']
    """
    if not isinstance(design, dict) or not isinstance(design.get("study"), dict):
        raise ConfigError("study.yaml: expected a mapping with a 'study' section")
    trial_design = trial_design or {}
    if not isinstance(trial_design, dict):
        raise ConfigError("trial_design.yaml: expected a mapping at the top level")
    ct = load_terminology() if ct is None else ct
    return {
        "TS": build_ts(design, trial_design, ct, dm, standards_dir),
        "TA": build_ta(design, trial_design),
        "TE": build_te(design, trial_design),
        "TV": build_tv(design),
        "TI": build_ti(design, trial_design),
    }


def _studyid(design: dict[str, Any]) -> str:
    studyid = design.get("study", {}).get("studyid")
    if not studyid:
        raise ConfigError("study.yaml: study.studyid is missing")
    return str(studyid)


def _fold(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _ts_from_design(design: dict[str, Any], dm: pd.DataFrame | None) -> list[dict[str, Any]]:
    study = design["study"]
    arms = design.get("arms") or []
    rows: list[dict[str, Any]] = []

    def add(code: str, value: Any, **extra: Any) -> None:
        if value is not None and value != "":
            rows.append({"tsparmcd": code, "value": _fold(value), **extra})

    for code, key in TS_FROM_STUDY.items():
        add(code, study.get(key))
    for key, registry in (("registry_id", "ClinicalTrials.gov"), ("eudract", "EudraCT")):
        if study.get(key):
            add("REGID", study[key], tsvalcd=study[key], tsvcdref=registry)
    if arms:
        add("NARMS", len(arms))
        ratios = [arm.get("ratio") for arm in arms]
        if len(arms) > 1 and all(isinstance(r, (int, float)) and r > 0 for r in ratios):
            add("RANDOM", "Y")
            add("RANDQT", f"{ratios[0] / sum(ratios):.2f}")
        add("ACTSUB", _actual_subjects(arms, dm))
    age = (design.get("eligibility") or {}).get("age")
    if isinstance(age, list) and len(age) == 2:
        add("AGEMIN", f"P{age[0]}Y")
        add("AGEMAX", f"P{age[1]}Y")
    countries = sorted({str(site["country"]) for site in design.get("sites") or [] if site.get("country")})
    for country in countries:
        add("FCNTRY", country, tsvalcd=country, tsvcdref="ISO 3166-1 alpha-3")
    add("ROUTE", (design.get("dosing") or {}).get("route"))
    return rows


def _actual_subjects(arms: list[dict[str, Any]], dm: pd.DataFrame | None) -> int | None:
    if dm is not None:
        check_frame(dm, "dm", ["USUBJID", "ARMCD"])
        codes = {str(arm.get("armcd")) for arm in arms}
        return int(dm.loc[dm["ARMCD"].isin(codes), "USUBJID"].nunique())
    counts = [arm.get("n") for arm in arms]
    return int(sum(counts)) if all(isinstance(n, int) for n in counts) else None


def _ts_from_spec(trial_design: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for position, entry in enumerate(trial_design.get("ts_parameters") or []):
        where = f"trial_design.yaml ts_parameters[{position}]"
        if not isinstance(entry, dict) or not entry.get("tsparmcd"):
            raise ConfigError(f"{where}: each entry needs tsparmcd and values")
        values = entry.get("values", [entry.get("value")])
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list")
        rows += [{"tsparmcd": str(entry["tsparmcd"]), "value": None if value is None else _fold(value),
                  **{key: entry.get(key) for key in TS_SPEC_KEYS}}
                 for value in values]
    return rows


def _codelist(ct: pd.DataFrame, name: str) -> Codelist | None:
    return codelist_from_ct(ct, name) if name in set(ct["codelist"]) else None


def build_ts(design: dict[str, Any], trial_design: dict[str, Any] | None, ct: pd.DataFrame,
             dm: pd.DataFrame | None = None, standards_dir: str | Path | None = None) -> pd.DataFrame:
    """TS: one row per parameter value; TSPARM, TSVALCD, TSVCDREF and TSVCDVER from the CT subset.

    Parameters from ``trial_design.yaml`` replace derived ones of the same TSPARMCD. A value in a
    non-extensible codelist must be a term (else ConfigError); a sponsor value in an extensible
    codelist keeps TSVALCD null. Values over 200 characters continue in TSVAL1, TSVAL2 ... .
    A missing value gets TSVALNF (``null_flavor``, default ``NA``). Sorted by TSPARMCD, TSSEQ.
    A value's codelist or format (TSVCDREF) comes from ``specs/standards/ts-parameters.tsv``.
    TSVCDVER (CT version) comes from ``ct.attrs["version"]`` (set by ``load_terminology``), else
    ``trial_design.yaml ct_version``, else the date in the newest ``specs/standards/ct-subset-*.tsv``.

    >>> design = {"study": {"studyid": "X1", "phase": "PHASE II TRIAL", "start_date": "2018-09-12"}}
    >>> build_ts(design, {}, load_terminology())[["TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALCD", "TSVCDREF"]]
       TSSEQ TSPARMCD                      TSPARM           TSVAL TSVALCD  TSVCDREF
    0      1   SSTDTC            Study Start Date      2018-09-12    None  ISO 8601
    1      1   TPHASE  Trial Phase Classification  PHASE II TRIAL  C15601  CDISC CT
    """
    studyid = _studyid(design)
    derived = _ts_from_design(design, dm)
    extra = _ts_from_spec(trial_design or {})
    overridden = {row["tsparmcd"] for row in extra}
    rows = [row for row in derived if row["tsparmcd"] not in overridden] + extra
    version = ct.attrs.get("version") or (trial_design or {}).get("ct_version") or load_terminology().attrs["version"]
    parm_codes, parm_names = _codelist(ct, "TSPARMCD"), _codelist(ct, "TSPARM")
    parm_by_code = {code: name for name, code in reversed(parm_names.term_codes.items())} if parm_names else {}
    value_kinds = load_ts_parameters(standards_dir)
    records = []
    for row in rows:
        code = row["tsparmcd"]
        check_variable_name(code, f"TS parameter {code!r} (TSPARMCD)")
        tsparm = row.get("tsparm") or (parm_by_code.get(parm_codes.term_codes.get(code, "")) if parm_codes else None)
        if not tsparm:
            raise ConfigError(f"TS parameter {code}: not in the TSPARMCD codelist of the CT subset; give tsparm in trial_design.yaml")
        value = row.get("value")
        tsvalcd, tsvcdref, tsvcdver = row.get("tsvalcd"), row.get("tsvcdref"), row.get("tsvcdver")
        codelist = value_kinds["value_codelist"].get(code)
        terms = _codelist(ct, codelist) if value is not None and tsvalcd is None and codelist else None
        if terms is not None:
            term = terms.lookup.get(value.upper())
            if term is None and not terms.extensible:
                raise ConfigError(f"TS parameter {code}: {value!r} is not in non-extensible codelist {codelist} "
                                  f"({', '.join(sorted(terms.terms))})")
            if term is not None:
                value, tsvalcd, tsvcdref, tsvcdver = term, terms.term_codes[term], "CDISC CT", version
        if value is not None and tsvcdref is None and value_kinds["value_format"].get(code):
            tsvcdref = value_kinds["value_format"][code]
        records.append({"TSPARMCD": code, "TSPARM": tsparm, "TSVAL": value, "TSVALCD": tsvalcd, "TSVCDREF": tsvcdref,
                        "TSVALNF": None if value is not None else (row.get("null_flavor") or "NA"),
                        "TSVCDVER": tsvcdver, "TSGRPID": row.get("tsgrpid")})
    ts = pd.DataFrame.from_records(records)
    ts["TSSEQ"] = ts.groupby("TSPARMCD", sort=False).cumcount() + 1
    ts = ts.sort_values(["TSPARMCD", "TSSEQ"], kind="mergesort").reset_index(drop=True)
    ts["STUDYID"], ts["DOMAIN"] = studyid, "TS"
    ts = ts[TS_COLUMNS]
    pieces = split_long_text(ts["TSVAL"], MAX_TEXT)
    ts["TSVAL"] = pieces[0]
    position = ts.columns.get_loc("TSVAL")
    for piece in range(1, pieces.shape[1]):
        ts.insert(position + piece, f"TSVAL{piece}", pieces[piece])
    ts["TSSEQ"] = ts["TSSEQ"].astype("int64")
    return nulls_as_none(ts, exclude=("TSSEQ",))


def _elements(design: dict[str, Any]) -> dict[str, dict[str, Any]]:
    elements = design.get("elements")
    if not isinstance(elements, list) or not elements:
        raise ConfigError("study.yaml: 'elements' must list {etcd, element, epoch, start_rule, end_rule}")
    table = {}
    for position, element in enumerate(elements):
        missing = [k for k in ("etcd", "element", "epoch") if not isinstance(element, dict) or not element.get(k)]
        if missing:
            raise ConfigError(f"study.yaml: elements[{position}] lacks {', '.join(missing)}")
        table[str(element["etcd"])] = element
    epochs = design.get("epochs")
    if epochs:
        unknown = sorted({str(e["epoch"]) for e in table.values()} - set(map(str, epochs)))
        if unknown:
            raise ConfigError(f"study.yaml: element epoch(s) {', '.join(unknown)} not listed in 'epochs'")
    return table


def default_arm_paths(design: dict[str, Any]) -> dict[str, Any]:
    """Arm element order and SE anchors inferred from study.yaml when trial_design.yaml does not give them.

    Inference: an element whose ``element`` text equals an arm's ``arm`` belongs to that arm (its
    treatment element); every other element is shared. Each arm runs through the shared elements
    before its treatment element, the treatment element, then the shared elements after it, in
    study.yaml order. Anchors: before = consent -> first dose, treatment = first dose -> treatment end,
    after = treatment end -> end of study. Raises ConfigError when an arm has no (or several)
    treatment elements, or more than one shared element before or after it.

    >>> design = {"arms": [{"armcd": "A", "arm": "Drug"}, {"armcd": "P", "arm": "Placebo"}],
    ...           "elements": [{"etcd": "SCRN", "element": "Screening", "epoch": "SCREENING"},
    ...                        {"etcd": "D", "element": "Drug", "epoch": "TREATMENT"},
    ...                        {"etcd": "P", "element": "Placebo", "epoch": "TREATMENT"},
    ...                        {"etcd": "FU", "element": "Follow-up", "epoch": "FOLLOW-UP"}]}
    >>> paths = default_arm_paths(design)
    >>> paths["arm_elements"], paths["element_anchors"]["FU"]
    ({'A': ['SCRN', 'D', 'FU'], 'P': ['SCRN', 'P', 'FU']}, {'start': 'treatment_end', 'end': 'end_of_study'})
    """
    elements = list(_elements(design).values())
    arms = design.get("arms") or []
    arm_names = {str(arm.get("arm")) for arm in arms}
    shared = [str(e["etcd"]) for e in elements if str(e["element"]) not in arm_names]
    arm_elements: dict[str, list[str]] = {}
    anchors: dict[str, dict[str, str]] = {}
    for arm in arms:
        own = [position for position, e in enumerate(elements) if str(e["element"]) == str(arm.get("arm"))]
        if len(own) != 1:
            raise ConfigError(f"study.yaml: cannot infer the treatment element of arm {arm.get('armcd')} (no element "
                              "named like the arm); give arm_elements and element_anchors in trial_design.yaml")
        before = [str(e["etcd"]) for e in elements[: own[0]] if str(e["etcd"]) in shared]
        after = [str(e["etcd"]) for e in elements[own[0] + 1 :] if str(e["etcd"]) in shared]
        if len(before) > 1 or len(after) > 1:
            raise ConfigError(f"study.yaml: arm {arm.get('armcd')} has several elements before or after treatment; "
                              "give arm_elements and element_anchors in trial_design.yaml")
        etcd = str(elements[own[0]]["etcd"])
        arm_elements[str(arm.get("armcd"))] = [*before, etcd, *after]
        anchors.update({e: {"start": "consent", "end": "first_dose"} for e in before})
        anchors[etcd] = {"start": "first_dose", "end": "treatment_end"}
        anchors.update({e: {"start": "treatment_end", "end": "end_of_study"} for e in after})
    return {"arm_elements": arm_elements, "element_anchors": anchors}


def build_ta(design: dict[str, Any], trial_design: dict[str, Any]) -> pd.DataFrame:
    """TA: one row per arm and planned element, in the order of ``trial_design.yaml arm_elements``
    (inferred by ``default_arm_paths`` when absent).

    TABRANCH ``Randomized to <ARM>`` is set on ``branch_element`` (the element ending in randomisation).

    >>> design = {"study": {"studyid": "X1"}, "arms": [{"armcd": "A", "arm": "Drug"}, {"armcd": "P", "arm": "Placebo"}],
    ...           "elements": [{"etcd": "SCRN", "element": "Screening", "epoch": "SCREENING"},
    ...                        {"etcd": "TRT", "element": "Drug", "epoch": "TREATMENT"},
    ...                        {"etcd": "PBO", "element": "Placebo", "epoch": "TREATMENT"}]}
    >>> spec = {"arm_elements": {"A": ["SCRN", "TRT"], "P": ["SCRN", "PBO"]}, "branch_element": "SCRN"}
    >>> build_ta(design, spec)[["ARMCD", "TAETORD", "ETCD", "TABRANCH", "EPOCH"]]
      ARMCD  TAETORD  ETCD               TABRANCH      EPOCH
    0     A        1  SCRN     Randomized to Drug  SCREENING
    1     A        2   TRT                   None  TREATMENT
    2     P        1  SCRN  Randomized to Placebo  SCREENING
    3     P        2   PBO                   None  TREATMENT
    """
    studyid = _studyid(design)
    elements = _elements(design)
    arm_elements = trial_design.get("arm_elements")
    if arm_elements is None:
        arm_elements = default_arm_paths(design)["arm_elements"]
    if not isinstance(arm_elements, dict):
        raise ConfigError("trial_design.yaml: 'arm_elements' must map each ARMCD to its list of ETCD")
    branch = trial_design.get("branch_element")
    branch_text = trial_design.get("branch_text") or "Randomized to {arm}"
    rows = []
    for arm in design.get("arms") or []:
        armcd = str(arm.get("armcd"))
        order = arm_elements.get(armcd)
        if not isinstance(order, list) or not order:
            raise ConfigError(f"trial_design.yaml: arm_elements has no element list for arm {armcd}")
        for position, etcd in enumerate(order, start=1):
            if str(etcd) not in elements:
                raise ConfigError(f"trial_design.yaml: arm_elements.{armcd} names element {etcd!r} not in study.yaml elements")
            element = elements[str(etcd)]
            rows.append({
                "STUDYID": studyid, "DOMAIN": "TA", "ARMCD": armcd, "ARM": str(arm.get("arm")),
                "TAETORD": position, "ETCD": str(etcd), "ELEMENT": str(element["element"]),
                "TABRANCH": branch_text.format(arm=arm.get("arm")) if branch and str(etcd) == str(branch) and len(design.get("arms")) > 1 else None,
                "TATRANS": None, "EPOCH": str(element["epoch"]),
            })
    ta = pd.DataFrame.from_records(rows)
    ta["TAETORD"] = ta["TAETORD"].astype("int64")
    return nulls_as_none(ta, exclude=("TAETORD",))


def build_te(design: dict[str, Any], trial_design: dict[str, Any]) -> pd.DataFrame:
    """TE: one row per element; rules from ``trial_design.yaml elements`` (else study.yaml start/end rules).

    >>> design = {"study": {"studyid": "X1"}, "elements": [{"etcd": "SCRN", "element": "Screening",
    ...     "epoch": "SCREENING", "start_rule": "informed consent", "end_rule": "first dose"}]}
    >>> build_te(design, {})[["ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"]]
       ETCD    ELEMENT            TESTRL      TEENRL TEDUR
    0  SCRN  Screening  Informed consent  First dose  None
    """
    studyid = _studyid(design)
    texts = trial_design.get("elements") or {}
    rows = []
    for etcd, element in _elements(design).items():
        text = texts.get(etcd) or {}
        start = text.get("testrl") or element.get("start_rule")
        if not start:
            raise ConfigError(f"study.yaml: element {etcd} has no start_rule (TESTRL is required)")
        end = text.get("teenrl") or element.get("end_rule")
        tedur = text.get("tedur")
        if tedur and not re.match(r"^P(\d+[YMWD])+$|^P(\d+[YMWD])*T(\d+[HMS])+$", str(tedur)):
            raise ConfigError(f"trial_design.yaml: elements.{etcd}.tedur {tedur!r} is not an ISO 8601 duration")
        rows.append({
            "STUDYID": studyid, "DOMAIN": "TE", "ETCD": etcd, "ELEMENT": str(element["element"]),
            "TESTRL": _sentence(start), "TEENRL": _sentence(end) if end else None, "TEDUR": tedur,
        })
    return nulls_as_none(pd.DataFrame.from_records(rows))


def _sentence(text: str) -> str:
    text = _fold(text)
    return text[:1].upper() + text[1:]


def build_tv(design: dict[str, Any]) -> pd.DataFrame:
    """TV: one row per planned visit (same schedule in every arm, so ARMCD is null).

    >>> design = {"study": {"studyid": "X1"}, "visits": [{"visitnum": 5, "visit": "WEEK 4", "day": 29, "window": [27, 31]}]}
    >>> tv = build_tv(design)
    >>> tv[["VISITNUM", "VISIT", "VISITDY"]]
       VISITNUM   VISIT  VISITDY
    0       5.0  WEEK 4       29
    >>> tv.loc[0, "TVSTRL"], tv.loc[0, "TVENRL"]
    ('Study day 29 (window: days 27 to 31)', 'Study day 31 (end of visit window)')
    """
    studyid = _studyid(design)
    visits = design.get("visits")
    if not isinstance(visits, list) or not visits:
        raise ConfigError("study.yaml: 'visits' must list {visitnum, visit, day, window}")
    rows = []
    for position, visit in enumerate(visits):
        if not isinstance(visit, dict) or visit.get("visitnum") is None or not visit.get("visit"):
            raise ConfigError(f"study.yaml: visits[{position}] needs visitnum and visit")
        day = visit.get("day")
        window = visit.get("window")
        start = f"Study day {day}" if day is not None else f"Visit {visit['visit']}"
        if isinstance(window, list) and len(window) == 2 and window[0] != window[1]:
            start += f" (window: days {window[0]} to {window[1]})"
        end = f"Study day {window[1]} (end of visit window)" if isinstance(window, list) and len(window) == 2 else None
        rows.append({
            "STUDYID": studyid, "DOMAIN": "TV", "VISITNUM": float(visit["visitnum"]), "VISIT": str(visit["visit"]),
            "VISITDY": day, "ARMCD": None, "ARM": None, "TVSTRL": start, "TVENRL": end,
        })
    tv = pd.DataFrame.from_records(rows).sort_values("VISITNUM", kind="mergesort").reset_index(drop=True)
    for column in ("VISITNUM", "VISIT"):
        if tv[column].duplicated().any():
            raise ConfigError(f"study.yaml: visits repeat {column} {tv.loc[tv[column].duplicated(), column].iloc[0]!r}")
    tv["VISITDY"] = pd.array(tv["VISITDY"], dtype="Int64")
    return nulls_as_none(tv, exclude=("VISITNUM", "VISITDY"))


def build_ti(design: dict[str, Any], trial_design: dict[str, Any]) -> pd.DataFrame:
    """TI: one row per inclusion and exclusion criterion of ``trial_design.yaml eligibility``.

    >>> spec = {"eligibility": {"protocol_version": "2", "inclusion_criteria": [{"ietestcd": "INCL01", "ietest": "Aged 18 to 75"}]}}
    >>> build_ti({"study": {"studyid": "X1"}}, spec)[["IETESTCD", "IETEST", "IECAT", "TIVERS"]]
      IETESTCD         IETEST      IECAT TIVERS
    0   INCL01  Aged 18 to 75  INCLUSION      2
    """
    studyid = _studyid(design)
    eligibility = trial_design.get("eligibility") or {}
    version = eligibility.get("protocol_version")
    rows = []
    for key, category in (("inclusion_criteria", "INCLUSION"), ("exclusion_criteria", "EXCLUSION")):
        for position, criterion in enumerate(eligibility.get(key) or []):
            where = f"trial_design.yaml eligibility.{key}[{position}]"
            if not isinstance(criterion, dict):
                raise ConfigError(f"{where}: expected {{ietestcd, ietest}}")
            code = check_variable_name(criterion.get("ietestcd"), f"{where}.ietestcd")
            text = criterion.get("ietest")
            if not isinstance(text, str) or not text.strip() or len(text.encode("utf-8")) > MAX_TEXT:
                raise ConfigError(f"{where}: ietest must be text of 1 to {MAX_TEXT} bytes")
            rows.append({
                "STUDYID": studyid, "DOMAIN": "TI", "IETESTCD": code, "IETEST": _fold(text), "IECAT": category,
                "IESCAT": criterion.get("iescat"), "TIRL": criterion.get("tirl"),
                "TIVERS": None if version is None else str(version),
            })
    columns = ["STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT", "IESCAT", "TIRL", "TIVERS"]
    ti = pd.DataFrame.from_records(rows, columns=columns)
    if ti["IETESTCD"].duplicated().any():
        raise ConfigError(f"trial_design.yaml: IETESTCD {ti.loc[ti['IETESTCD'].duplicated(), 'IETESTCD'].iloc[0]} repeated")
    return nulls_as_none(ti)


def build_se(
    dm: pd.DataFrame,
    ex: pd.DataFrame | None,
    ds: pd.DataFrame | None,
    design: dict[str, Any],
    trial_design: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """SE (subject elements): each subject's elements with start and end dates.

    Anchors per subject: ``consent`` = DM.RFICDTC; ``first_dose`` = DM.RFXSTDTC (else earliest
    EXSTDTC); ``treatment_end`` = date of last dose (DM.RFXENDTC, else latest EX date) +
    ``study.yaml treatment_epoch_tail_days``, capped at end of study; ``end_of_study`` =
    DM.RFPENDTC (else latest DSSTDTC). ``trial_design.yaml element_anchors`` (or, when the file
    gives neither that nor ``arm_elements``, ``default_arm_paths(design)``) says which anchors open
    and close each element; the element order comes from ``arm_elements`` of the subject's ACTARMCD
    (a dosed subject without a single actual arm, e.g. unplanned treatment, follows the planned ARMCD).
    Subjects without an actual arm (screen failures, never dosed) get only the elements opened by
    consent, closed at end of study (a one-day screening is kept). Elements that would be empty
    (end before start, or zero length next to other elements, e.g. follow-up when the treatment
    epoch runs to the end of study) are dropped; the subject's last element ends at end of study. SESEQ, SESTDY and SEENDY are added.

    >>> design = {"study": {"studyid": "X1"}, "treatment_epoch_tail_days": 28,
    ...   "elements": [{"etcd": "SCRN", "element": "Screening", "epoch": "SCREENING"},
    ...                {"etcd": "TRT", "element": "Drug", "epoch": "TREATMENT"},
    ...                {"etcd": "FU", "element": "Follow-up", "epoch": "FOLLOW-UP"}]}
    >>> spec = {"arm_elements": {"A": ["SCRN", "TRT", "FU"]},
    ...   "element_anchors": {"SCRN": {"start": "consent", "end": "first_dose"},
    ...                       "TRT": {"start": "first_dose", "end": "treatment_end"},
    ...                       "FU": {"start": "treatment_end", "end": "end_of_study"}}}
    >>> dm = pd.DataFrame({"STUDYID": "X1", "USUBJID": ["S1", "S2"], "ACTARMCD": ["A", "SCRNFAIL"],
    ...   "RFSTDTC": ["2019-01-10T09:00", None], "RFICDTC": ["2018-12-20", "2019-01-05"],
    ...   "RFXSTDTC": ["2019-01-10T09:00", None], "RFXENDTC": ["2019-05-30T10:00", None],
    ...   "RFPENDTC": ["2019-12-01", "2019-01-20"]})
    >>> build_se(dm, None, None, design, spec)[["USUBJID", "SESEQ", "ETCD", "EPOCH", "SESTDTC", "SEENDTC", "SESTDY"]]
      USUBJID  SESEQ  ETCD      EPOCH           SESTDTC           SEENDTC  SESTDY
    0      S1      1  SCRN  SCREENING        2018-12-20  2019-01-10T09:00     -21
    1      S1      2   TRT  TREATMENT  2019-01-10T09:00        2019-06-27       1
    2      S1      3    FU  FOLLOW-UP        2019-06-27        2019-12-01     169
    3      S2      1  SCRN  SCREENING        2019-01-05        2019-01-20    <NA>
    """
    trial_design = trial_design or {}
    check_frame(dm, "dm", ["STUDYID", "USUBJID", "ACTARMCD", "RFICDTC"])
    elements = _elements(design)
    arm_elements = trial_design.get("arm_elements")
    anchors_spec = trial_design.get("element_anchors")
    if arm_elements is None and anchors_spec is None:
        inferred = default_arm_paths(design)
        arm_elements, anchors_spec = inferred["arm_elements"], inferred["element_anchors"]
    if not isinstance(arm_elements, dict) or not isinstance(anchors_spec, dict):
        raise ConfigError("trial_design.yaml: build_se needs 'arm_elements' and 'element_anchors'")
    for etcd, anchor in anchors_spec.items():
        if not isinstance(anchor, dict) or anchor.get("start") not in SE_ANCHORS or anchor.get("end") not in SE_ANCHORS:
            raise ConfigError(f"trial_design.yaml: element_anchors.{etcd} needs start and end among {', '.join(SE_ANCHORS)}")
    tail = design.get("treatment_epoch_tail_days", 0)
    if not isinstance(tail, int) or tail < 0:
        raise ConfigError(f"study.yaml: treatment_epoch_tail_days {tail!r} must be a whole number of days >= 0")

    subjects = dm.reset_index(drop=True)
    anchors = pd.DataFrame({"USUBJID": subjects["USUBJID"], "consent": blank_to_na(subjects["RFICDTC"])})
    anchors["first_dose"] = _subject_value(subjects, "RFXSTDTC", ex, "EXSTDTC", "first")
    last_dose = _subject_value(subjects, "RFXENDTC", ex, "EXENDTC" if ex is not None and "EXENDTC" in ex.columns else "EXSTDTC", "last")
    anchors["end_of_study"] = _subject_value(subjects, "RFPENDTC", ds, "DSSTDTC", "last")
    tail_end = iso_date(last_dose) + pd.Timedelta(days=tail)
    end_date = iso_date(anchors["end_of_study"])
    capped = tail_end.notna() & end_date.notna() & (tail_end >= end_date)
    anchors["treatment_end"] = format_iso_date(tail_end).where(~capped, anchors["end_of_study"])

    plan = pd.DataFrame.from_records([{"ACTARMCD": str(armcd), "ETCD": str(etcd), "TAETORD": order}
                                      for armcd, etcds in arm_elements.items()
                                      for order, etcd in enumerate(etcds, start=1)])
    unknown = sorted(set(plan["ETCD"]) - set(elements) | set(plan["ETCD"]) - set(anchors_spec))
    if unknown:
        raise ConfigError(f"trial_design.yaml: element(s) {', '.join(unknown)} lack a study.yaml element or an element_anchors entry")
    plan["start"] = plan["ETCD"].map(lambda e: anchors_spec[e]["start"])
    plan["end"] = plan["ETCD"].map(lambda e: anchors_spec[e]["end"])
    arm = blank_to_na(subjects["ACTARMCD"])
    if "ARMCD" in subjects.columns:  # dosed but no single actual arm (unplanned treatment): planned arm's path
        dosed_unplanned = ~arm.isin(plan["ACTARMCD"]) & anchors["first_dose"].notna() & subjects["ARMCD"].isin(plan["ACTARMCD"])
        arm = arm.where(~dosed_unplanned, subjects["ARMCD"])
    treated = arm.isin(plan["ACTARMCD"])
    untreated_plan = plan[plan["start"] == "consent"].drop_duplicates("ETCD").assign(ACTARMCD=None)
    ids = subjects[["STUDYID", "USUBJID"]]
    rows = pd.concat([ids[treated].assign(ACTARMCD=arm[treated]).merge(plan, on="ACTARMCD", how="inner"),
                      ids[~treated].merge(untreated_plan.drop(columns="ACTARMCD"), how="cross")], ignore_index=True)
    long = anchors.melt(id_vars="USUBJID", var_name="anchor", value_name="DTC")
    rows = rows.merge(long.rename(columns={"anchor": "start", "DTC": "SESTDTC"}), on=["USUBJID", "start"], how="left")
    rows = rows.merge(long.rename(columns={"anchor": "end", "DTC": "SEENDTC"}), on=["USUBJID", "end"], how="left")
    rows = rows[blank_to_na(rows["SESTDTC"]).notna()]
    rows = rows.sort_values(["USUBJID", "TAETORD"], kind="mergesort")
    is_last = ~rows["USUBJID"].duplicated(keep="last")
    eos = rows["USUBJID"].map(anchors.set_index("USUBJID")["end_of_study"])
    rows["SEENDTC"] = rows["SEENDTC"].where(rows["SEENDTC"].notna() | ~is_last, eos)
    start, end = iso_date(rows["SESTDTC"]), iso_date(rows["SEENDTC"])
    backwards = start.notna() & end.notna() & (end < start)
    zero_length = (rows["SESTDTC"] == rows["SEENDTC"]) & (rows.groupby("USUBJID")["ETCD"].transform("size") > 1)
    rows = rows[~(backwards | zero_length).to_numpy()]
    if rows.empty:
        return pd.DataFrame(columns=SE_COLUMNS)
    rows["ELEMENT"] = rows["ETCD"].map(lambda e: str(elements[e]["element"]))
    rows["EPOCH"] = rows["ETCD"].map(lambda e: str(elements[e]["epoch"]))
    rows["DOMAIN"] = "SE"
    se = rows[["STUDYID", "DOMAIN", "USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC"]]
    se = derive_var_seq(se, "SE", order=["SESTDTC", "TAETORD"])
    if "RFSTDTC" in dm.columns:
        se = derive_var_dy(se, dm, "SESTDTC", "SESTDY")
        se = derive_var_dy(se, dm, "SEENDTC", "SEENDY")
    se = se[[c for c in SE_COLUMNS if c in se.columns]].reset_index(drop=True)
    se["TAETORD"] = se["TAETORD"].astype("int64")
    return nulls_as_none(se, exclude=("SESEQ", "TAETORD", "SESTDY", "SEENDY"))


def _subject_value(subjects: pd.DataFrame, dm_var: str, source: pd.DataFrame | None, source_var: str, which: str) -> pd.Series:
    """DM value when present, else the earliest/latest complete date of ``source`` per subject."""
    from_dm = blank_to_na(subjects[dm_var]) if dm_var in subjects.columns else pd.Series(None, index=subjects.index, dtype=object)
    if source is None or source_var not in source.columns:
        return from_dm
    check_frame(source, "source", ["USUBJID", source_var])
    dates = source[["USUBJID", source_var]].assign(_d=iso_date(source[source_var])).dropna(subset=["_d"])
    dates = dates.sort_values(["USUBJID", "_d"], kind="mergesort").drop_duplicates("USUBJID", keep="first" if which == "first" else "last")
    fallback = subjects["USUBJID"].map(dates.set_index("USUBJID")[source_var])
    return from_dm.where(from_dm.notna(), fallback).astype("object")
