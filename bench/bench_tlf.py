"""Speed of analysis (ARD) and rendering on a synthetic study far larger than the flagship.

Run: ``.venv/bin/python bench/bench_tlf.py`` (or ``make bench``). Prints seconds per step.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.analysis.ard import write_ard
from pipeline.analysis.examples import EXAMPLE_DESIGN, example_shell
from pipeline.analysis.stage import build_output_ard
from pipeline.tlf.stage import render_output

SUBJECTS = 3000
AES_PER_SUBJECT = 15
SOCS, PTS_PER_SOC = 26, 12


def synthetic_adam(seed: int = 20240601) -> dict[str, pd.DataFrame]:
    """ADSL, ADLB, ADSLEDAI, ADRS and ADAE with SUBJECTS subjects (vectorised, deterministic)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:05d}" for i in range(SUBJECTS)])
    arm = np.where(rng.random(SUBJECTS) < 2 / 3, "Active", "Placebo")
    age = rng.integers(18, 76, SUBJECTS)
    adsl = pd.DataFrame({
        "USUBJID": ids, "TRT01P": arm, "TRT01A": arm, "FASFL": "Y", "SAFFL": "Y", "AGE": age,
        "AGEGR1": np.where(age < 65, "<65", ">=65"), "AGEGR1N": np.where(age < 65, 1, 2),
        "SEX": rng.choice(["F", "M"], SUBJECTS), "RACE": rng.choice(["WHITE", "ASIAN", "BLACK OR AFRICAN AMERICAN"], SUBJECTS),
        "ETHNIC": rng.choice(["HISPANIC OR LATINO", "NOT HISPANIC OR LATINO"], SUBJECTS),
        "WEIGHTBL": rng.normal(70, 12, SUBJECTS).round(1), "HEIGHTBL": rng.normal(168, 9, SUBJECTS).round(1),
        "BMIBL": rng.normal(25, 4, SUBJECTS).round(1), "DTHFL": np.where(rng.random(SUBJECTS) < 0.01, "Y", None),
        "REGION1": rng.choice(["EUROPE", "ASIA", "NORTH AMERICA"], SUBJECTS), "BXCLASS": rng.choice(["III", "IV"], SUBJECTS),
        "BUPCR": rng.lognormal(0.5, 0.5, SUBJECTS).round(2), "BEGFR": rng.normal(85, 20, SUBJECTS).round(1),
        "BSLEDAI": rng.integers(4, 20, SUBJECTS).astype(float),
    })
    base = np.log(rng.lognormal(0.5, 0.5, SUBJECTS))
    effect = np.where(arm == "Active", -1.0, -0.45)
    adlb = pd.DataFrame({"USUBJID": ids, "PARAMCD": "LUPCR", "AVISIT": "WEEK 24", "ANL01FL": "Y", "DTYPE": None, "BASE": base,
                         "CHG": effect + rng.normal(0, 0.6, SUBJECTS)})
    adsledai = pd.DataFrame({"USUBJID": ids, "PARAMCD": "SSLD01TS", "AVISIT": "WEEK 24", "ANL01FL": "Y",
                             "BASE": rng.integers(4, 20, SUBJECTS).astype(float),
                             "CHG": rng.integers(-8, 3, SUBJECTS).astype(float)})
    adrs = pd.DataFrame({"USUBJID": ids, "PARAMCD": "CRR", "AVISIT": "WEEK 24",
                         "AVALC": np.where(rng.random(SUBJECTS) < 0.1, "Y", "N"), "ANL01FL": "Y"})
    n_ae = SUBJECTS * AES_PER_SUBJECT
    soc = rng.integers(0, SOCS, n_ae)
    pt = rng.integers(0, PTS_PER_SOC, n_ae)
    adae = pd.DataFrame({
        "USUBJID": rng.choice(ids, n_ae), "AESEQ": np.arange(n_ae) + 1, "TRTEMFL": np.where(rng.random(n_ae) < 0.95, "Y", None),
        "AEBODSYS": np.char.add("System organ class ", soc.astype(str)),
        "AEDECOD": np.char.add(np.char.add("Preferred term ", soc.astype(str)), np.char.add("-", pt.astype(str))),
        "AESER": np.where(rng.random(n_ae) < 0.003, "Y", "N"),
        "AEACN": np.where(rng.random(n_ae) < 0.02, "DRUG WITHDRAWN", "DOSE NOT CHANGED"),
        "AESEV": rng.choice(["MILD", "MODERATE", "SEVERE"], n_ae), "ASEV": rng.choice(["MILD", "MODERATE", "SEVERE"], n_ae),
        "AEOUT": rng.choice(["RECOVERED/RESOLVED", "FATAL"], n_ae, p=[0.999, 0.001]),
        "ASTDY": rng.integers(1, 300, n_ae), "AENDY": rng.integers(1, 330, n_ae),
    })
    return {"adsl": adsl, "adlb": adlb, "adsledai": adsledai, "adrs": adrs, "adae": adae}


def main() -> int:
    adam = synthetic_adam()
    shell = example_shell()
    print(f"synthetic study: {SUBJECTS} subjects, {len(adam['adae'])} adverse events")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        total_start = time.perf_counter()
        for output_id in shell.outputs:
            start = time.perf_counter()
            ard = build_output_ard(shell, output_id, EXAMPLE_DESIGN, adam.__getitem__)
            write_ard(ard, root / "ard", output_id)
            analysed = time.perf_counter()
            render_output(shell, output_id, root / "ard", root / "tlf")
            rendered = time.perf_counter()
            pages = (root / "tlf" / f"{output_id}.txt").read_text().count("\f") + 1
            print(f"{output_id:15s} ARD {len(ard):7d} rows {analysed - start:6.2f} s   "
                  f"render html/rtf/txt {rendered - analysed:6.2f} s   {pages:4d} txt pages")
        print(f"total {time.perf_counter() - total_start:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
