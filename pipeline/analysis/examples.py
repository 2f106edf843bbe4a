"""A tiny, hand-checkable ADaM study and shell for examples, doctests and golden-file tests.

Eight subjects, two arms (``Active`` 5, ``Placebo`` 3); subject S05 is outside the full analysis
set. Numbers are chosen so every statistic can be checked by hand.

>>> adam = example_adam()
>>> sorted(adam)
['adae', 'adlb', 'adrs', 'adsl', 'adsledai']
>>> adam["adsl"]["TRT01P"].value_counts().to_dict()
{'Active': 5, 'Placebo': 3}
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pipeline.analysis.shell import Shell, load_shell

EXAMPLE_DESIGN = {
    "arms": [
        {"armcd": "ACT", "arm": "Active", "trt": "Active", "trtn": 1},
        {"armcd": "PBO", "arm": "Placebo", "trt": "Placebo", "trtn": 2},
    ]
}


def _week24(paramcd: str, base: list, chg: list) -> pd.DataFrame:
    """One Week 24 analysis record of ``paramcd`` per subject of the full analysis set (S05 is not)."""
    return pd.DataFrame({"USUBJID": ["S01", "S02", "S03", "S04", "S06", "S07", "S08"], "PARAMCD": paramcd,
                         "AVISIT": "WEEK 24", "ANL01FL": "Y", "BASE": base, "CHG": chg})


def example_adam() -> dict[str, pd.DataFrame]:
    """ADSL, ADLB (LUPCR), ADSLEDAI, ADRS (CRR) and ADAE of the example study."""
    ids = [f"S0{i}" for i in range(1, 9)]
    trt = ["Active"] * 5 + ["Placebo"] * 3
    adsl = pd.DataFrame({
        "USUBJID": ids,
        "TRT01P": trt,
        "TRT01PN": [1] * 5 + [2] * 3,
        "TRT01A": trt,
        "FASFL": ["Y", "Y", "Y", "Y", "N", "Y", "Y", "Y"],
        "SAFFL": ["Y"] * 8,
        "AGE": [30, 40, 50, 60, 70, 35, 45, 67],
        "AGEGR1": ["<65", "<65", "<65", "<65", ">=65", "<65", "<65", ">=65"],
        "AGEGR1N": [1, 1, 1, 1, 2, 1, 1, 2],
        "SEX": ["F", "F", "M", "F", "M", "F", "M", "F"],
        "RACE": ["WHITE", "ASIAN", "WHITE", "WHITE", "ASIAN", "WHITE", None, "WHITE"],
        "WEIGHTBL": [60.0, 70.5, 80.0, 65.25, 90.0, 55.0, 75.0, 72.0],
        "HEIGHTBL": [165.0, 170.0, 180.0, 160.0, 175.0, 158.0, 182.0, 166.0],
        "BMIBL": [22.0, 24.4, 24.7, 25.5, 29.4, 22.0, 22.6, 26.1],
        "ETHNIC": ["NOT HISPANIC OR LATINO"] * 7 + ["HISPANIC OR LATINO"],
        "REGION1": ["EUROPE", "EUROPE", "ASIA", "NORTH AMERICA", "EUROPE", "ASIA", "EUROPE", "EUROPE"],
        "BXCLASS": ["III", "IV", "IV", "III", "IV", "IV", "III", "IV"],
        "BUPCR": [2.0, 1.0, 2.0, 1.0, 3.1, 2.0, 1.0, 1.5],
        "BEGFR": [95.5, 80.0, 60.25, 101.0, 75.0, 88.0, 70.0, 92.5],
        "BSLEDAI": [10.0, 8.0, 10.0, 8.0, 12.0, 10.0, 8.0, 9.0],
        "DTHFL": [None, None, None, "Y", None, None, None, None],
        "EOSDT": pd.to_datetime(["2020-06-30", "2020-07-01", "2020-06-15", "2020-04-09", "2020-07-02",
                                 "2020-06-20", "2020-06-25", "2020-05-31"]),
    })
    # log ratios: Active -1, -1, -1, -1 (GMR exp(-1)); Placebo -0.5 x 3; equal baselines per arm.
    base = [math.log(2.0), math.log(1.0), math.log(2.0), math.log(1.0), None,
            math.log(2.0), math.log(1.0), math.log(1.5)]
    chg_active = [-1.2, -0.8, -1.1, -0.9]
    chg_placebo = [-0.6, -0.4, -0.5]
    adlb = _week24("LUPCR", [base[0], base[1], base[2], base[3], base[5], base[6], base[7]], chg_active + chg_placebo)
    adlb = adlb.assign(DTYPE=None)
    # an unused visit and a carried-forward (LOCF) record: both must be filtered out
    adlb = pd.concat([adlb, adlb.assign(AVISIT="WEEK 12", CHG=0.0),
                      adlb.iloc[[0]].assign(USUBJID="S05", DTYPE="LOCF", CHG=5.0)], ignore_index=True)
    # an implausible value (plausibility rule): ANL01FL = N with its reason, never analysed
    adlb = pd.concat([adlb, adlb.iloc[[0]].assign(AVISIT="WEEK 8", ANL01FL="N", CHG=6.5,
                                                  ANL01RSN="UPCR outside 0-20 g/g")], ignore_index=True)
    adlb = adlb.assign(PARAMN=2, ASEQ=range(1, len(adlb) + 1), SRCSEQ=range(1, len(adlb) + 1),
                       ADT=pd.Timestamp("2020-06-01"), AVAL=adlb["BASE"] + adlb["CHG"])
    adsledai = _week24("SSLD01TS", [10.0, 8.0, 10.0, 8.0, 10.0, 8.0, 9.0], [-4.0, -2.0, -3.0, -3.0, -1.0, -1.0, -1.0])
    adrs = pd.DataFrame({
        "USUBJID": ["S01", "S02", "S03", "S06", "S07", "S08"],
        "PARAMCD": "CRR",
        "AVISIT": "WEEK 24",
        "AVALC": ["Y", "N", "N", "N", "N", "N"],
        "ANL01FL": "Y",
    })
    # a non-evaluable subject (no Week 24 UPCR): a non-responder outside the denominator
    adrs = pd.concat([adrs, pd.DataFrame({"USUBJID": ["S04"], "PARAMCD": "CRR", "AVISIT": "WEEK 24",
                                          "AVALC": ["N"], "ANL01FL": [None]})], ignore_index=True)
    adae = pd.DataFrame({
        "USUBJID": ["S01", "S01", "S02", "S03", "S04", "S05", "S06", "S06", "S07"],
        "AESEQ": [1, 2, 1, 1, 1, 1, 1, 2, 1],
        "TRTEMFL": ["Y", "Y", "Y", "Y", "Y", "Y", "Y", "Y", None],
        "TRTEMW24": ["Y", "Y", "Y", "Y", "Y", "Y", "Y", "Y", None],   # every emergent event starts by Day 169
        "TRTEMONT": ["Y", "Y", "Y", "Y", "Y", "Y", "Y", "Y", None],
        "AEBODSYS": ["Infections and infestations", "Infections and infestations", "Nervous system disorders",
                     "Infections and infestations", "Nervous system disorders", "Cardiac disorders",
                     "Infections and infestations", "Nervous system disorders", "Nervous system disorders"],
        "AEDECOD": ["Nasopharyngitis", "Pneumonia", "Headache", "Nasopharyngitis", "Headache",
                    "Palpitations", "Pneumonia", "Headache", "Dizziness"],
        "AESER": ["N", "Y", "N", "N", "Y", "N", "Y", "N", "Y"],
        "AEACN": ["DOSE NOT CHANGED", "DRUG WITHDRAWN", "DOSE NOT CHANGED", "DOSE NOT CHANGED",
                  "DRUG WITHDRAWN", "DOSE NOT CHANGED", "DOSE NOT CHANGED", "DOSE NOT CHANGED", "NOT APPLICABLE"],
        "AESEV": ["MILD", "SEVERE", "MILD", "MODERATE", "SEVERE", "MILD", "MODERATE", "MILD", "MILD"],
        "ASEV": ["MILD", "SEVERE", "MILD", "MODERATE", "SEVERE", "MILD", "MODERATE", "MILD", "MILD"],
        "ASEVQFL": [None] * 9,
        "AREL": ["NOT RELATED", "RELATED", "NOT RELATED", "NOT RELATED", "RELATED", "NOT RELATED", "RELATED",
                 "NOT RELATED", "NOT RELATED"],
        "AGE": [34, 34, 51, 28, 45, 62, 40, 40, 55],
        "SEX": ["F", "F", "M", "F", "F", "F", "M", "M", "F"],
        "ASTDT": pd.to_datetime(["2020-01-05", "2020-02-09", "2020-01-12", "2020-01-30", "2020-04-09", "2020-01-08",
                                 "2020-01-20", "2020-01-22", "2019-12-29"]),
        "AENDT": pd.to_datetime(["2020-01-09", "2020-02-24", "2020-01-13", None, "2020-04-09", "2020-01-10",
                                 "2020-02-04", "2020-01-25", "2019-12-31"]),
        "AEOUT": ["RECOVERED/RESOLVED", "RECOVERED/RESOLVED", "RECOVERED/RESOLVED", "RECOVERED/RESOLVED", "FATAL",
                  "RECOVERED/RESOLVED", "RECOVERING/RESOLVING", "RECOVERED/RESOLVED", "RECOVERED/RESOLVED"],
        "ASTDY": [5, 40, 12, 30, 100, 8, 20, 22, -3],
        "AENDY": [9, 55, 13, None, 100, 10, 35, 25, -1],
    })
    return {"adsl": adsl, "adlb": adlb, "adsledai": adsledai, "adrs": adrs, "adae": adae}


def example_shell(path: str | Path | None = None) -> Shell:
    """The study shell ``specs/iscalimab-ln/tlf.yaml`` (or ``path``) used with the example data.

    >>> list(example_shell().outputs)
    ['table1', 'table2', 'table2_study', 't_upcr_mmrm', 't_teae_soc_pt', 't_demog', 'l_sae', 'l_anlexcl']
    """
    from pipeline.common.study import PROJECT_ROOT

    path = Path(path) if path else PROJECT_ROOT / "specs" / "iscalimab-ln" / "tlf.yaml"
    return load_shell(path.parent, path.name)


def example_output_data(output_id: str = "table2"):
    """The :class:`~pipeline.analysis.methods.OutputData` of one example output (for method examples).

    >>> data = example_output_data("table2")
    >>> data.groups, data.total_label, data.big_n().tolist()
    (['Active', 'Placebo'], 'Total', [5, 3, 8])
    """
    from pipeline.analysis.stage import output_data

    adam = example_adam()
    return output_data(example_shell(), output_id, EXAMPLE_DESIGN, adam.__getitem__)
