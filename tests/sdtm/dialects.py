"""Write the same hand-made raw records in several site dialects (test helper, independent of the simulator).

A record set is a dict ``form -> list of dicts`` keyed by canonical (snake) column names with values
in the CDISC code style, ISO dates and metric units. :func:`write_site` renders it the way one site
of docs/raw-exports.md would: file format, delimiter, decimal mark, encoding, column names, date
format, code style, subject number, visit style, units.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

FORMS: dict[str, dict[str, list[str]]] = {
    # canonical -> [title, sas, camel]
    "dm": {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "initials": ["Initials", "INITIALS", "Initials"],
           "birth_date": ["Date of Birth", "BRTHDAT", "DateOfBirth"], "sex": ["Sex", "SEX", "Sex"],
           "race": ["Race", "RACE", "Race"], "ethnicity": ["Ethnicity", "ETHNIC", "Ethnicity"],
           "consent_date": ["Informed Consent Date", "ICDAT", "InformedConsentDate"]},
    "rand": {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "rand_date": ["Randomization Date", "RANDDAT", "RandomizationDate"],
             "rand_no": ["Randomization No", "RANDNO", "RandomizationNumber"], "treatment_code": ["Treatment Code", "TRTCODE", "TreatmentCode"]},
    "ae": {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "ae_no": ["AE No", "AESPID", "AENumber"],
           "ae_term": ["Adverse Event", "AETERM", "AdverseEventTerm"], "start_date": ["Start Date", "AESTDAT", "StartDate"],
           "end_date": ["End Date", "AEENDAT", "EndDate"], "ongoing": ["Ongoing", "AEONGO", "Ongoing"],
           "serious": ["Serious", "AESER", "Serious"], "severity": ["Severity", "AESEV", "Severity"],
           "hospitalized": ["Hospitalization", "AESHOSP", "Hospitalization"],
           "life_threatening": ["Life Threatening", "AESLIFE", "LifeThreatening"],
           "medically_important": ["Medically Important Event", "AESMIE", "MedicallyImportant"],
           "relationship": ["Relationship to Study Drug", "AEREL", "Causality"],
           "action_taken": ["Action Taken with Study Drug", "AEACN", "ActionTaken"], "outcome": ["Outcome", "AEOUT", "Outcome"],
           "llt_name": ["Lowest Level Term", "AELLT", "LowestLevelTerm"], "llt_code": ["LLT Code", "AELLTCD", "LLTCode"],
           "preferred_term": ["Preferred Term", "AEDECOD", "PreferredTerm"], "pt_code": ["PT Code", "AEPTCD", "PTCode"],
           "system_organ_class": ["System Organ Class", "AEBODSYS", "SystemOrganClass"], "soc_code": ["SOC Code", "AESOCCD", "SOCCode"]},
    "vs": {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "visit": ["Visit", "VISIT", "VisitName"],
           "vs_date": ["Assessment Date", "VSDAT", "AssessmentDate"], "height": ["Height", "HEIGHT", "Height"],
           "height_unit": ["Height Unit", "HEIGHTU", "HeightUnit"], "weight": ["Weight", "WEIGHT", "Weight"],
           "weight_unit": ["Weight Unit", "WEIGHTU", "WeightUnit"], "systolic_bp": ["Systolic BP", "SYSBP", "SystolicBP"],
           "diastolic_bp": ["Diastolic BP", "DIABP", "DiastolicBP"], "bp_unit": ["BP Unit", "BPU", "BPUnit"],
           "pulse": ["Pulse", "PULSE", "Pulse"], "temperature": ["Temperature", "TEMP", "Temperature"],
           "temperature_unit": ["Temperature Unit", "TEMPU", "TemperatureUnit"]},
    "lab": {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "visit": ["Visit", "VISIT", "VisitName"],
            "collection_date": ["Collection Date", "LBDAT", "CollectionDate"], "collection_time": ["Collection Time", "LBTIM", "CollectionTime"],
            "specimen": ["Specimen", "SPEC", "Specimen"], "test_name": ["Test", "LBTEST", "TestName"], "result": ["Result", "LBORRES", "Result"],
            "unit": ["Unit", "LBORRESU", "Unit"], "ref_low": ["Normal Range Low", "LBORNRLO", "RefRangeLow"],
            "ref_high": ["Normal Range High", "LBORNRHI", "RefRangeHigh"]},
}
FORMS["ex"] = {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "visit": ["Visit", "VISIT", "VisitName"],
               "infusion_date": ["Infusion Date", "EXSTDAT", "InfusionDate"], "start_time": ["Start Time", "EXSTTIM", "StartTime"],
               "end_time": ["End Time", "EXENTIM", "EndTime"], "weight_kg": ["Dosing Weight (kg)", "EXWTKG", "DosingWeightKg"],
               "dose_mg": ["Dose (mg)", "EXDOSE", "DoseMg"], "interrupted": ["Infusion Interrupted", "EXINTRP", "Interrupted"]}
SLEDAI_ITEMS = [str(item["test"]).split("-", 1)[1] for item in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "specs/standards/instruments/selena-sledai.yaml").read_text())["items"]]
FORMS["sledai"] = {"subject_no": ["Subject No", "SUBJNO", "SubjectNumber"], "visit": ["Visit", "VISIT", "VisitName"],
                   "assessment_date": ["Assessment Date", "SLEDAT", "AssessmentDate"]}
for number, name in enumerate(SLEDAI_ITEMS, start=1):
    words = re.split(r"[^0-9A-Za-z]+", name)
    FORMS["sledai"]["_".join(w.lower() for w in words if w)] = [name, f"SLED{number:02d}", "".join(w[:1].upper() + w[1:] for w in words if w)]
FORMS["sledai"]["total_score"] = ["Total Score", "SLETOT", "TotalScore"]
STYLE_INDEX = {"title": 0, "sas": 1, "camel": 2}
CODES = {
    "numeric": {"interrupted": {"Y": "1", "N": "0"}, "sex": {"M": "1", "F": "2"}, "race": {"WHITE": "1", "ASIAN": "3"},
                "ethnicity": {"HISPANIC OR LATINO": "1", "NOT HISPANIC OR LATINO": "2"},
                "ongoing": {"Y": "1", "N": "0"}, "serious": {"Y": "1", "N": "0"},
                **{c: {"Y": "1", "N": "0"} for c in ("hospitalized", "life_threatening", "medically_important")},
                "severity": {"MILD": "1", "MODERATE": "2", "SEVERE": "3"}, "relationship": {"NOT RELATED": "0", "RELATED": "1"},
                "action_taken": {"DOSE NOT CHANGED": "1", "DRUG WITHDRAWN": "3", "NOT APPLICABLE": "9"},
                "outcome": {"RECOVERED/RESOLVED": "1", "RECOVERING/RESOLVING": "2"}},
    "title": {"interrupted": {"Y": "Yes", "N": "No"}, "sex": {"M": "Male", "F": "Female"}, "race": {"WHITE": "White", "ASIAN": "Asian"},
              "ethnicity": {"HISPANIC OR LATINO": "Hispanic or Latino", "NOT HISPANIC OR LATINO": "Not Hispanic or Latino"},
              "ongoing": {"Y": "Yes", "N": "No"}, "serious": {"Y": "Yes", "N": "No"},
              **{c: {"Y": "Yes", "N": "No"} for c in ("hospitalized", "life_threatening", "medically_important")},
              "severity": {"MILD": "Mild", "MODERATE": "Moderate", "SEVERE": "Severe"},
              "relationship": {"NOT RELATED": "Not suspected", "RELATED": "Suspected"},
              "action_taken": {"DOSE NOT CHANGED": "None", "DRUG WITHDRAWN": "Permanently discontinued", "NOT APPLICABLE": "Not applicable"},
              "outcome": {"RECOVERED/RESOLVED": "Recovered", "RECOVERING/RESOLVING": "Recovering"}},
    "cdisc": {},
}
DATE_FORMATS = {"DD.MM.YYYY": "%d.%m.%Y", "DD/MM/YYYY": "%d/%m/%Y", "DD-MON-YYYY": "%d-%b-%Y",
                "MM-DD-YYYY": "%m-%d-%Y", "YYYY-MM-DD": "%Y-%m-%d", "YYYY/MM/DD": "%Y/%m/%d"}
DATE_COLUMNS = {"birth_date", "consent_date", "rand_date", "start_date", "end_date", "vs_date", "collection_date",
                "infusion_date", "assessment_date"}
NUMERIC_COLUMNS = {"height", "weight", "systolic_bp", "diastolic_bp", "pulse", "temperature", "result", "ref_low", "ref_high"}
TYPED_NUMBERS = {"height", "weight", "systolic_bp", "diastolic_bp", "pulse", "temperature", "weight_kg", "dose_mg",
                 "total_score"}
VISITNUM = {"SCREENING": 1, "BASELINE": 2, "DAY 1": 3, "WEEK 2": 4, "WEEK 4": 5, "WEEK 24": 10}
PRESENCE = {"101": ("1", "0"), "102": ("Yes", "No"), "201": ("PRESENT", "ABSENT"), "301": ("Y", "N"),
            "401": ("1", "0"), "402": ("Y", "N"), "501": ("PRESENT", "ABSENT")}
# test key -> names per naming profile, unit profile (unit, factor from canonical, decimals)
LAB_NAMES = {"en": {"UPROT": "Urine protein", "UCREAT": "Urine creatinine", "CREAT": "Creatinine", "C3": "Complement C3"},
             "de": {"UPROT": "Eiweiß i.U.", "UCREAT": "Kreatinin i.U.", "CREAT": "Kreatinin i.S.", "C3": "Komplement C3"},
             "codes": {"UPROT": "UPROT", "UCREAT": "UCREA", "CREAT": "CREA", "C3": "C3C"}}
SPECIMENS = {"en": {"URINE": "Urine", "SERUM": "Serum"}, "de": {"URINE": "Urin", "SERUM": "Serum"},
             "codes": {"URINE": "URINE", "SERUM": "SERUM"}}
LAB_UNITS = {"conventional": {"UPROT": ("mg/dL", 1, 1), "UCREAT": ("mg/dL", 1, 1), "CREAT": ("mg/dL", 1, 2), "C3": ("mg/dL", 100, 0)},
             "si_de": {"UPROT": ("g/L", 0.01, 3), "UCREAT": ("mmol/L", 1 / 11.312, 2), "CREAT": ("µmol/L", 88.42, 0), "C3": ("g/L", 1, 2)}}

DIALECTS: dict[str, dict[str, Any]] = {
    "101": {"format": "csv", "delimiter": ";", "decimal": ",", "encoding": "latin-1", "date": "DD.MM.YYYY",
            "columns": "snake", "codes": "numeric", "subject": "{n:04d}", "visit": "upper", "lab": "si_de", "names": "de",
            "vs_units": "metric", "presence": ("1", "0")},
    "102": {"format": "xlsx", "date": "DD/MM/YYYY", "columns": "title", "codes": "title", "subject": "{n}",
            "visit": "title", "lab": "conventional", "names": "en", "vs_units": "metric", "presence": ("Yes", "No")},
    "401": {"format": "xpt", "date": "MM-DD-YYYY", "columns": "sas", "codes": "numeric", "subject": "{n}", "visit": "code",
            "treatment": "trtn", "presence": ("1", "0"), "seconds": True,
            "lab": "conventional", "names": "codes", "vs_units": "metric"},
    "402": {"format": "csv", "delimiter": ",", "decimal": ".", "encoding": "utf-8", "date": "YYYY-MM-DD",
            "columns": "title", "codes": "cdisc", "subject": "{n:04d}", "visit": "title", "lab": "conventional",
            "names": "en", "vs_units": "imperial", "presence": ("Y", "N")},
    "201": {"format": "csv", "delimiter": ";", "decimal": ",", "encoding": "latin-1", "date": "DD/MM/YYYY",
            "columns": "camel", "codes": "cdisc", "subject": "{site}-{n:04d}", "visit": "code", "lab": "si_de",
            "names": "de", "vs_units": "metric", "presence": ("PRESENT", "ABSENT")},
    "301": {"format": "csv", "delimiter": ",", "decimal": ".", "encoding": "utf-8", "date": "DD-MON-YYYY",
            "columns": "snake", "codes": "title", "subject": "{n:03d}", "visit": "upper", "lab": "conventional",
            "names": "en", "vs_units": "metric", "presence": ("Y", "N")},
    "501": {"format": "csv", "delimiter": ",", "decimal": ".", "encoding": "utf-8-sig", "date": "YYYY/MM/DD",
            "columns": "camel", "codes": "cdisc", "subject": "{n:04d}", "visit": "upper", "lab": "conventional",
            "names": "codes", "vs_units": "metric", "presence": ("PRESENT", "ABSENT")},
}


def _format_date(value: str, pattern: str) -> str:
    if not value:
        return ""
    fmt = DATE_FORMATS[pattern]
    if len(value) == 7:  # partial YYYY-MM: unknown day, written with the pattern's own shape
        if pattern == "YYYY-MM-DD":
            return value
        return dt.date(int(value[:4]), int(value[5:7]), 1).strftime(fmt.replace("%d", "UN")).upper()
    return dt.date.fromisoformat(value).strftime(fmt).upper()


def _number(value: Any, decimals: int) -> float:
    return round(float(value), decimals)


def render(form: str, rows: list[dict[str, Any]], site: str, dialect: dict[str, Any]) -> pd.DataFrame:
    """Rows of one form in the site's dialect (still canonical column order; names in the site's style)."""
    out = []
    for row in rows:
        new = dict(row)
        n = int(row["subject_no"])
        new["subject_no"] = dialect["subject"].format(n=n, site=site)
        for column, codes in CODES[dialect["codes"]].items():
            if column in new and new[column] in codes:
                new[column] = codes[new[column]]
        for column in DATE_COLUMNS & set(new):
            new[column] = _format_date(new[column], dialect["date"])
        if form == "sledai":
            present, absent = dialect.get("presence", ("PRESENT", "ABSENT"))
            for column in list(new):
                if new[column] in ("PRESENT", "ABSENT") and column not in ("subject_no", "visit"):
                    new[column] = present if new[column] == "PRESENT" else absent
        if form == "ex" and dialect.get("seconds"):
            for column in ("start_time", "end_time"):
                new[column] = new[column] + ":00"
        if form == "rand" and dialect.get("treatment") == "trtn":
            new["treatment_code"] = {"ISCAL10": "1", "PBO": "2"}[new["treatment_code"]]
        if "visit" in new:
            if dialect["visit"] == "title":
                new["visit"] = new["visit"].title()
            elif dialect["visit"] == "code":
                new["visit"] = f"V{VISITNUM[new['visit']]}"
        if form == "vs" and dialect["vs_units"] == "imperial":
            if new.get("height"):
                new["height"], new["height_unit"] = round(float(new["height"]) / 2.54, 1), "in"
            new["weight"], new["weight_unit"] = round(float(new["weight"]) * 2.204623, 1), "LB"
            new["temperature"], new["temperature_unit"] = round(float(new["temperature"]) * 1.8 + 32, 1), "F"
        if form == "lab":
            key = new.pop("key")
            unit, factor, decimals = LAB_UNITS[dialect["lab"]][key]
            new["test_name"] = LAB_NAMES[dialect["names"]][key]
            new["specimen"] = SPECIMENS[dialect["names"]][new["specimen"]]
            new["unit"] = unit
            for column in ("result", "ref_low", "ref_high"):
                new[column] = f"{_number(float(new[column]) * factor, decimals):.{decimals}f}"
        out.append(new)
    frame = pd.DataFrame(out, columns=list(FORMS[form]))
    return frame


def write_site(raw_dir: Path, site: str, records: dict[str, list[dict[str, Any]]], dialect: dict[str, Any] | None = None) -> None:
    """Write every form of ``records`` for one site under ``raw_dir/site_<site>/``."""
    import openpyxl
    import pyreadstat

    dialect = dialect or DIALECTS[site]
    folder = Path(raw_dir) / f"site_{site}"
    folder.mkdir(parents=True, exist_ok=True)
    for form, rows in records.items():
        frame = render(form, rows, site, dialect)
        if dialect["columns"] != "snake":
            index = STYLE_INDEX[dialect["columns"]]
            frame.columns = [FORMS[form][c][index] for c in frame.columns]
        if dialect["format"] == "csv":
            text = frame.copy()
            for column in text.columns:
                text[column] = text[column].map(lambda v: "" if v is None or v == "" else
                                                (f"{v:g}" if isinstance(v, float) else str(v)))
                if dialect.get("decimal", ".") == ",":
                    text[column] = text[column].str.replace(r"^(-?\d+)\.(\d+)$", r"\1,\2", regex=True)
            data = text.to_csv(index=False, sep=dialect.get("delimiter", ","), lineterminator="\n")
            (folder / f"{form}.csv").write_bytes(data.encode(dialect.get("encoding", "utf-8")))
        elif dialect["format"] == "xlsx":
            book = openpyxl.Workbook()
            sheet = book.active
            sheet.title = "Export"
            sheet.append(list(frame.columns))
            canonical = list(FORMS[form])
            for values in frame.itertuples(index=False):
                row = []
                for name, value in zip(canonical, values):
                    if name in TYPED_NUMBERS and value not in ("", None):
                        row.append(float(value))
                    else:
                        row.append("" if value is None else str(value))
                sheet.append(row)
            book.save(folder / f"{form}.xlsx")
        else:
            canonical = list(FORMS[form])
            typed = frame.copy()
            for name, column in zip(canonical, frame.columns):
                if name in TYPED_NUMBERS:
                    typed[column] = pd.to_numeric(typed[column].replace("", None), errors="coerce").astype(float)
                else:
                    typed[column] = typed[column].map(lambda v: "" if v is None else str(v))
            pyreadstat.write_xport(typed, str(folder / f"{form}.xpt"), table_name=form.upper()[:8], file_format_version=5)
