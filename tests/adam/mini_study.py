"""A hand-made SDTM of four subjects for end-to-end checks of specs/iscalimab-ln/adam.yaml.

Study days are relative to a first dose on 2024-01-10 (Day 1) for every dosed subject.

- 101-0001 iscalimab: UPCR 2.0 -> 0.4 at Week 24, eGFR 80 -> 75: complete renal response.
- 101-0002 iscalimab: UPCR 3.0 -> 1.0; rituximab on Day 100: rescue, no response.
- 501-0001 placebo: UPCR at Week 4 only (leaves the study): not evaluable; LOCF rows Weeks 8-24.
- 101-0003 screen failure: not in ADaM.
"""

from __future__ import annotations

import pandas as pd

STUDYID = "CFZ533X2202"
DAY1 = pd.Timestamp("2024-01-10")
S1, S2, S3, SF = (f"{STUDYID}-101-0001", f"{STUDYID}-101-0002", f"{STUDYID}-501-0001", f"{STUDYID}-101-0003")
INFUSION_DAYS = [1, 15, 29, 57, 85, 113, 141]


def day(n: int) -> str:
    """ISO date of study day n (no day 0)."""
    return (DAY1 + pd.Timedelta(days=n - 1 if n > 0 else n)).strftime("%Y-%m-%d")


def _seq(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "STUDYID", STUDYID)
    frame[f"{prefix}SEQ"] = frame.groupby("USUBJID").cumcount() + 1.0
    return frame


def mini_sdtm() -> dict[str, pd.DataFrame]:
    dm = pd.DataFrame({
        "USUBJID": [S1, S2, S3, SF], "SUBJID": ["0001", "0002", "0001", "0003"],
        "SITEID": ["101", "101", "501", "101"], "COUNTRY": ["DEU", "DEU", "JPN", "DEU"],
        "AGE": [30.0, 45.0, 39.0, 50.0], "AGEU": ["YEARS"] * 4, "SEX": ["F", "F", "M", "F"],
        "RACE": ["WHITE", "WHITE", "ASIAN", "WHITE"], "ETHNIC": ["NOT HISPANIC OR LATINO"] * 4,
        "ARMCD": ["ISCAL10", "ISCAL10", "PBO", "SCRNFAIL"], "ARM": ["Iscalimab 10 mg/kg"] * 2 + ["Placebo", "Screen Failure"],
        "ACTARMCD": ["ISCAL10", "ISCAL10", "PBO", "SCRNFAIL"], "ACTARM": ["Iscalimab 10 mg/kg"] * 2 + ["Placebo", "Screen Failure"],
        "DTHDTC": [None] * 4, "DTHFL": [None] * 4,
    })
    dm.insert(0, "STUDYID", STUDYID)
    ex_rows = [(S1, d, 650.0) for d in INFUSION_DAYS] + [(S2, d, 700.0) for d in INFUSION_DAYS[:5]] + \
              [(S3, d, 0.0) for d in INFUSION_DAYS[:3]]
    ex = _seq(pd.DataFrame({"USUBJID": [r[0] for r in ex_rows],
                            "EXTRT": ["PLACEBO" if r[2] == 0 else "ISCALIMAB" for r in ex_rows],
                            "EXDOSE": [r[2] for r in ex_rows], "EXDOSU": "mg",
                            "EXSTDTC": [f"{day(r[1])}T09:00" for r in ex_rows],
                            "EXENDTC": [f"{day(r[1])}T10:00" for r in ex_rows]}), "EX")
    ds = _seq(pd.DataFrame([
        (S1, "PROTOCOL MILESTONE", None, "RANDOMIZED", day(-2)),
        (S1, "DISPOSITION EVENT", "STUDY TREATMENT", "COMPLETED", day(141)),
        (S1, "DISPOSITION EVENT", "STUDY PARTICIPATION", "COMPLETED", day(337)),
        (S2, "PROTOCOL MILESTONE", None, "RANDOMIZED", day(-2)),
        (S2, "DISPOSITION EVENT", "STUDY TREATMENT", "ADVERSE EVENT", day(85)),
        (S3, "PROTOCOL MILESTONE", None, "RANDOMIZED", day(-3)),
        (S3, "DISPOSITION EVENT", "STUDY TREATMENT", "WITHDRAWAL BY SUBJECT", day(29)),
        (S3, "DISPOSITION EVENT", "STUDY PARTICIPATION", "WITHDRAWAL BY SUBJECT", day(60)),
        (SF, "DISPOSITION EVENT", None, "SCREEN FAILURE", day(-20)),
    ], columns=["USUBJID", "DSCAT", "DSSCAT", "DSDECOD", "DSSTDTC"]), "DS")
    vs = _seq(pd.DataFrame([
        (S1, "HEIGHT", 165.0, day(-21), "SCREENING"), (S1, "WEIGHT", 64.0, day(-21), "SCREENING"),
        (S1, "WEIGHT", 65.0, day(-2), "BASELINE"), (S1, "WEIGHT", 65.4, day(1), "DAY 1"),
        (S1, "WEIGHT", 66.0, day(29), "WEEK 4"),
        (S2, "HEIGHT", 170.0, day(-20), "SCREENING"), (S2, "WEIGHT", 70.0, day(-2), "BASELINE"),
        (S3, "HEIGHT", 175.0, day(-20), "SCREENING"), (S3, "WEIGHT", 80.0, day(-3), "BASELINE"),
    ], columns=["USUBJID", "VSTESTCD", "VSSTRESN", "VSDTC", "VISIT"]), "VS")
    lab = []
    for subject, upcr, egfr in [
        (S1, {-21: 2.2, -2: 2.0, 29: 1.2, 57: 0.9, 169: 0.4, 170: 0.45}, {-2: 80.0, 169: 75.0}),
        (S2, {-2: 3.0, 29: 2.0, 166: 1.1, 172: 1.0}, {-2: 70.0, 169: 50.0}),
        (S3, {-3: 1.5, 29: 1.2}, {-3: 90.0, 29: 88.0}),
    ]:
        lab += [(subject, "PROTCRT", "URINE", v, d) for d, v in upcr.items()]
        lab += [(subject, "GFREI", "SERUM", v, d) for d, v in egfr.items()]
    lab += [(S1, "ALT", "SERUM", 20.0, -2), (SF, "PROTCRT", "URINE", 0.3, -20),
            (S1, "DDNAIGAB", "SERUM", 45.0, -2), (S1, "DDNAIGAB", "SERUM", None, 169)]
    lb = _seq(pd.DataFrame({"USUBJID": [r[0] for r in lab], "LBTESTCD": [r[1] for r in lab],
                            "LBSPEC": [r[2] for r in lab], "LBSTRESN": [r[3] for r in lab],
                            "LBDTC": [f"{day(r[4])}T08:00" for r in lab], "VISITNUM": 99.0, "VISIT": "X"}), "LB")
    lb["LBSTRESC"] = lb["LBSTRESN"].map(lambda v: "<10" if pd.isna(v) else f"{v:g}")
    # SELENA-SLEDAI: all 24 items; S1 scores 12 at baseline and 4 at Week 24; S3 misses one item at Week 4
    items = [f"SSLD01{i:02d}" for i in range(1, 25)]
    rs_rows = []
    for subject, visit_day, score_items in [(S1, -2, {"SSLD0111": 4, "SSLD0113": 4, "SSLD0120": 2, "SSLD0121": 2}),
                                            (S1, 169, {"SSLD0113": 4}),
                                            (S3, -3, {"SSLD0113": 4}),
                                            (S3, 29, {"SSLD0113": 4})]:
        for item in items:
            value = float(score_items.get(item, 0))
            if subject == S3 and visit_day == 29 and item == "SSLD0101":
                value = None
            rs_rows.append((subject, item, value, day(visit_day)))
        rs_rows.append((subject, "SSLD0125", float(sum(score_items.values())), day(visit_day)))
    rs = _seq(pd.DataFrame({"USUBJID": [r[0] for r in rs_rows], "RSCAT": "SELENA-SLEDAI",
                            "RSTESTCD": [r[1] for r in rs_rows], "RSSTRESN": [r[2] for r in rs_rows],
                            "RSDTC": [r[3] for r in rs_rows], "VISITNUM": 1.0, "VISIT": "V"}), "RS")
    cm = _seq(pd.DataFrame({"USUBJID": [S1, S2, S2], "CMDECOD": ["PREDNISONE", "RITUXIMAB", "CYCLOPHOSPHAMIDE"],
                            "CMSTDTC": ["2019-05", day(100), "2025-01"]}), "CM")
    ae = _seq(pd.DataFrame([
        (S1, "Headache", "NERVOUS SYSTEM DISORDERS", day(1), day(2), "N", "DOSE NOT CHANGED", "MILD"),
        (S1, "Nausea", "GASTROINTESTINAL DISORDERS", day(-1), day(3), "N", "NOT APPLICABLE", "MILD"),
        (S1, "Pneumonia", "INFECTIONS AND INFESTATIONS", day(40), day(50), "Y", "DRUG INTERRUPTED", "SEVERE"),
        (S1, "Headache", "NERVOUS SYSTEM DISORDERS", "2024-01", None, "N", "DOSE NOT CHANGED", None),
        (S2, "Herpes zoster", "INFECTIONS AND INFESTATIONS", day(80), day(95), "Y", "DRUG WITHDRAWN", "MODERATE"),
        (S2, "Cough", "RESPIRATORY, THORACIC AND MEDIASTINAL DISORDERS", day(85 + 344), None, "N", "NOT APPLICABLE", "MILD"),
        (SF, "Cough", "RESPIRATORY, THORACIC AND MEDIASTINAL DISORDERS", day(-20), None, "N", "NOT APPLICABLE", "MILD"),
    ], columns=["USUBJID", "AEDECOD", "AEBODSYS", "AESTDTC", "AEENDTC", "AESER", "AEACN", "AESEV"]), "AE")
    ae["AETERM"] = ae["AEDECOD"]
    ae["AEREL"] = "NOT RELATED"
    ae["AEOUT"] = "RECOVERED/RESOLVED"
    ae["DOMAIN"] = "AE"
    sv = _seq(pd.DataFrame({"USUBJID": [S1, S2, S1], "VISIT": ["WEEK 24", "WEEK 24", "BASELINE"],
                            "SVSTDTC": [day(169), day(169), day(-2)]}), "SV")
    suppmh = pd.DataFrame({"STUDYID": STUDYID, "RDOMAIN": "MH", "USUBJID": [S1, S3], "IDVAR": "MHSEQ",
                           "IDVARVAL": ["2", "1"], "QNAM": "MHBXCLS", "QVAL": ["IV", "III+V"]})
    return {"dm": dm, "ex": ex, "ds": ds, "vs": vs, "lb": lb, "rs": rs, "cm": cm, "ae": ae, "sv": sv,
            "suppmh": suppmh}
