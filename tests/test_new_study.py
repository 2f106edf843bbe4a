"""docs/new-study.md followed on a study the pipeline has never seen: tests/data/studies/drugx-edc.

An EDC export (one folder per site; Title Case display values; ISO, "12 Mar 2024" and US month-first
dates; wide vital signs with lb/in/F at the US site; two doses of one drug and placebo) is copied to a
fresh project folder and run through sdtm, validate, adam, validate and tables with ``--project``,
from a working directory outside the repository, exactly as the guide tells a new user to.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / "data" / "studies" / "drugx-edc"
STUDY = "drugx-edc"


def run_cli(project: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args, "--project", str(project), "--study", STUDY],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The fixture copied to a new project folder, with every stage of the guide run once."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    cwd = tmp_path_factory.mktemp("elsewhere")
    steps = [("specs-check",), ("sdtm", "--raw", str(root / "raw")), ("validate",), ("adam",), ("validate",), ("tables",)]
    for step in steps:
        done = run_cli(root, *step, cwd=cwd)
        assert done.returncode == 0, f"{step}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return root


def outputs(project: Path) -> Path:
    return project / "outputs" / STUDY


def sdtm(project: Path, domain: str) -> pd.DataFrame:
    return pd.read_parquet(outputs(project) / "sdtm" / f"{domain}.parquet")


def raw_rows(form: str) -> int:
    total = 0
    for path in sorted((FIXTURE / "raw").glob(f"site_*/{form}.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            total += sum(1 for _ in csv.DictReader(handle))
    return total


def test_actual_arm_comes_from_the_dose_received(project):
    dm = sdtm(project, "dm").set_index("SUBJID")
    # 01-004 was randomised to 50 mg and dispensed 100 mg: planned and actual arms differ
    assert dm.loc["01-004", ["ARMCD", "ACTARMCD", "ACTARM"]].tolist() == ["DX50", "DX100", "DRUGX 100 mg"]
    assert dm.loc["01-001", ["ARMCD", "ACTARMCD"]].tolist() == ["DX50", "DX50"]
    assert dm.loc["01-002", ["ARMCD", "ACTARMCD"]].tolist() == ["DX100", "DX100"]
    assert dm.loc["01-003", ["ARMCD", "ACTARMCD"]].tolist() == ["PBO", "PBO"]
    # the screen failure has no arm and says why (arm_null: armnrs)
    assert dm.loc["02-005", "ARMNRS"] == "SCREEN FAILURE" and pd.isna(dm.loc["02-005", "ARMCD"])
    assert dm["ACTARMCD"].value_counts().to_dict() == {"DX100": 6, "PBO": 5, "DX50": 4}


def test_title_case_display_values_become_ct_terms(project):
    dm = sdtm(project, "dm").set_index("SUBJID")
    assert dm.loc["02-001", ["SEX", "ETHNIC", "RACE"]].tolist() == ["M", "HISPANIC OR LATINO", "WHITE"]
    assert set(dm["SEX"]) == {"F", "M"}
    assert set(dm["ETHNIC"]) == {"HISPANIC OR LATINO", "NOT HISPANIC OR LATINO"}
    assert set(dm["RACE"]) == {"WHITE", "ASIAN", "BLACK OR AFRICAN AMERICAN"}
    ae = sdtm(project, "ae")
    assert set(ae["AESER"]) == {"Y", "N"} and set(ae["AESEV"]) <= {"MILD", "MODERATE", "SEVERE"}


def test_dates_of_all_three_site_formats(project):
    dm = sdtm(project, "dm").set_index("SUBJID")
    # site 01 writes 2024-02-25, site 02 '25 Feb 2024' (%d %b %Y), site 03 '01/20/2024' (%m/%d/%Y)
    assert dm.loc["02-001", "RFICDTC"] == "2024-02-19"            # raw '19 Feb 2024'
    assert dm.loc["03-002", "RFICDTC"] == "2024-01-20"            # raw '01/20/2024'
    assert dm.loc["01-001", "RFICDTC"] == "2024-01-31"            # raw '2024-01-31'
    vs = sdtm(project, "vs")
    one = vs[(vs["USUBJID"] == "DRX-201-03-001") & (vs["VISIT"] == "WEEK 4")]
    assert set(one["VSDTC"]) == {"2024-03-13"}                    # raw '03/13/2024'
    assert dm.loc["03-002", "RFSTDTC"] == "2024-01-27"            # first dose, raw '01/27/2024'


def test_wide_imperial_vitals_in_standard_units(project):
    vs = sdtm(project, "vs")
    weight = vs[(vs["USUBJID"] == "DRX-201-03-002") & (vs["VISIT"] == "SCREENING") & (vs["VSTESTCD"] == "WEIGHT")]
    assert weight[["VSORRES", "VSORRESU", "VSSTRESN", "VSSTRESU"]].values.tolist() == [["154", "LB", 69.85, "kg"]]
    screening = vs[(vs["USUBJID"] == "DRX-201-03-002") & (vs["VISIT"] == "SCREENING")].set_index("VSTESTCD")
    assert screening.loc["HEIGHT", ["VSORRES", "VSORRESU", "VSSTRESN", "VSSTRESU"]].tolist() == ["67", "in", 170.2, "cm"]
    assert screening.loc["TEMP", ["VSORRES", "VSORRESU", "VSSTRESN", "VSSTRESU"]].tolist() == ["97.5", "F", 36.4, "C"]
    # one record per test and visit: six tests at screening (height only there), five afterwards
    assert sorted(screening.index) == ["DIABP", "HEIGHT", "PULSE", "SYSBP", "TEMP", "WEIGHT"]
    assert set(vs["VSSTRESU"]) == {"mmHg", "beats/min", "kg", "cm", "C"}


def test_records_are_raw_rows_minus_the_quarantine(project):
    ledger = json.loads((outputs(project) / "ledger.json").read_text())
    assert ledger["balanced"] is True
    quarantine = pd.read_parquet(outputs(project) / "quarantine" / "vs.parquet")
    assert quarantine[["file", "row", "category", "value"]].values.tolist() == [
        ["site_01/vs.csv", 16, "impossible date", "2024-02-30"]]
    for domain, form in [("dm", "dm"), ("ae", "ae"), ("ex", "ex")]:
        assert len(sdtm(project, domain)) == raw_rows(form)
    assert len(sdtm(project, "ds")) == raw_rows("ds") + raw_rows("dm")         # consent milestone from the dm form
    vs = sdtm(project, "vs")
    wide_rows_mapped = vs[["USUBJID", "VISITNUM"]].drop_duplicates().shape[0]
    assert wide_rows_mapped == raw_rows("vs") - 1
    assert ledger["totals"]["records"]["VS"] == len(vs)


def test_validation_gate_passes_with_the_expected_warnings(project):
    findings = pd.read_parquet(outputs(project) / "validation" / "findings.parquet")
    assert not (findings["severity"] == "error").any()
    # serious events without a seriousness criterion: the EDC form does not collect them
    serious = findings[findings["rule_id"] == "CG0042"]
    assert len(serious) == (sdtm(project, "ae")["AESER"] == "Y").sum() == 5


def test_tables_by_planned_and_actual_arm(project):
    ard = pd.read_parquet(outputs(project) / "ard" / "t_demog.parquet")
    sex = ard[(ard["row_id"] == "SEX=F") & (ard["stat"] == "n")].set_index("group")["value"]
    assert sex.to_dict() == {"DRUGX 50 mg": 3, "DRUGX 100 mg": 2, "Placebo": 5, "Total": 10}
    ae = pd.read_parquet(outputs(project) / "ard" / "t_ae_overview.parquet")
    big_n = ae[(ae["row_id"] == "any_ae") & (ae["stat"] == "N")].set_index("group")["value"]
    assert big_n.to_dict() == {"DRUGX 50 mg": 4, "DRUGX 100 mg": 6, "Placebo": 5, "Total": 15}   # actual arms
    text = (outputs(project) / "tlf" / "t_demog.txt").read_text()
    assert "Summary of demographic and baseline characteristics" in text and "(N=15)" in text
