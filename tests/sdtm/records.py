"""One hand-made subject (canonical values) used by the dialect tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

SUBJECT = {
    "dm": [{"subject_no": "12", "initials": "ABC", "birth_date": "1985-06-20", "sex": "F", "race": "WHITE",
            "ethnicity": "NOT HISPANIC OR LATINO", "consent_date": "2019-03-01"}],
    "rand": [{"subject_no": "12", "rand_date": "2019-03-25", "rand_no": "1001", "treatment_code": "ISCAL10"}],
    "ae": [
        {"subject_no": "12", "ae_no": "1", "ae_term": "Headache", "start_date": "2019-04-02", "end_date": "2019-04-05",
         "ongoing": "N", "serious": "N", "hospitalized": "", "life_threatening": "", "medically_important": "",
         "severity": "MILD", "relationship": "NOT RELATED",
         "action_taken": "DOSE NOT CHANGED", "outcome": "RECOVERED/RESOLVED", "llt_name": "Headache",
         "llt_code": "10019211", "preferred_term": "Headache", "pt_code": "10019211",
         "system_organ_class": "Nervous system disorders", "soc_code": "10029205"},
        {"subject_no": "12", "ae_no": "2", "ae_term": "Shingles", "start_date": "2019-05", "end_date": "",
         "ongoing": "Y", "serious": "Y", "hospitalized": "Y", "life_threatening": "N", "medically_important": "N",
         "severity": "SEVERE", "relationship": "RELATED",
         "action_taken": "DRUG WITHDRAWN", "outcome": "RECOVERING/RESOLVING", "llt_name": "Herpes zoster",
         "llt_code": "10019974", "preferred_term": "Herpes zoster", "pt_code": "10019974",
         "system_organ_class": "Infections and infestations", "soc_code": "10021881"},
    ],
    "vs": [
        {"subject_no": "12", "visit": "SCREENING", "vs_date": "2019-03-01", "height": "165", "height_unit": "cm",
         "weight": "64.3", "weight_unit": "kg", "systolic_bp": "128", "diastolic_bp": "82", "bp_unit": "mmHg",
         "pulse": "72", "temperature": "36.6", "temperature_unit": "C"},
        {"subject_no": "12", "visit": "BASELINE", "vs_date": "2019-03-25", "height": "", "height_unit": "",
         "weight": "64.9", "weight_unit": "kg", "systolic_bp": "131", "diastolic_bp": "85", "bp_unit": "mmHg",
         "pulse": "70", "temperature": "36.9", "temperature_unit": "C"},
    ],
    "lab": [
        {"subject_no": "12", "visit": "BASELINE", "collection_date": "2019-03-25", "collection_time": "08:15",
         "specimen": "URINE", "key": "UPROT", "result": "180.5", "ref_low": "0", "ref_high": "15"},
        {"subject_no": "12", "visit": "BASELINE", "collection_date": "2019-03-25", "collection_time": "08:15",
         "specimen": "URINE", "key": "UCREAT", "result": "95.2", "ref_low": "20", "ref_high": "320"},
        {"subject_no": "12", "visit": "BASELINE", "collection_date": "2019-03-25", "collection_time": "08:15",
         "specimen": "SERUM", "key": "CREAT", "result": "0.93", "ref_low": "0.5", "ref_high": "1.1"},
        {"subject_no": "12", "visit": "BASELINE", "collection_date": "2019-03-25", "collection_time": "08:15",
         "specimen": "SERUM", "key": "C3", "result": "0.72", "ref_low": "0.9", "ref_high": "1.8"},
    ],
}


def _sledai(visit: str, date: str, present: set[int]) -> dict:
    from dialects import FORMS  # noqa: E402 (a sibling helper module)

    items = [c for c in FORMS["sledai"] if c not in ("subject_no", "visit", "assessment_date", "total_score")]
    weights = [8] * 8 + [4] * 6 + [2] * 7 + [1] * 3
    row = {"subject_no": "12", "visit": visit, "assessment_date": date}
    for number, column in enumerate(items, start=1):
        row[column] = "PRESENT" if number in present else "ABSENT"
    row["total_score"] = str(sum(weights[n - 1] for n in present))
    return row


SUBJECT["sledai"] = [_sledai("BASELINE", "2019-03-25", {11, 12, 13, 20, 21}),   # 4+4+4+2+2 = 16
                     _sledai("WEEK 24", "2019-09-10", {13, 20})]                  # 4+2 = 6
SUBJECT["ex"] = [
    {"subject_no": "12", "visit": "DAY 1", "infusion_date": "2019-03-26", "start_time": "09:00", "end_time": "10:02",
     "weight_kg": "64.9", "dose_mg": "649", "interrupted": "N"},
    {"subject_no": "12", "visit": "WEEK 2", "infusion_date": "2019-04-09", "start_time": "09:30", "end_time": "11:15",
     "weight_kg": "64.9", "dose_mg": "649", "interrupted": "Y"},
]
