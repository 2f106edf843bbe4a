"""The default study end to end: ledger, keys, study days, defects, published counts, privacy, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def outputs(sdtm_built):
    return sdtm_built.outputs_dir


@pytest.fixture(scope="module")
def sdtm(outputs) -> dict[str, pd.DataFrame]:
    return {p.stem.upper(): pd.read_parquet(p) for p in sorted((outputs / "sdtm").glob("*.parquet"))}


@pytest.fixture(scope="module")
def defects(sdtm_built) -> pd.DataFrame:
    frame = pd.read_csv(sdtm_built.truth_dir / "defects.csv", dtype=str, keep_default_na=False)
    return frame.assign(row=frame["row"].astype(int))


def test_ledger_balances_for_every_raw_file(outputs, sdtm_built):
    ledger = json.loads((outputs / "ledger.json").read_text())
    assert ledger["balanced"] is True
    assert ledger["unconsumed_files"] == []
    manifest = json.loads((sdtm_built.truth_dir / "manifest.json").read_text())
    assert set(ledger["files"]) == set(manifest["files"])
    for file, entry in ledger["files"].items():
        assert entry["rows_read"] == manifest["files"][file]["rows"], file
        for domain, counts in entry["domains"].items():
            assert entry["rows_read"] == counts["rows_mapped"] + counts["rows_quarantined"], (file, domain)


def test_file_manifest_lists_every_input_with_hash(outputs, sdtm_built):
    manifest = json.loads((outputs / "ingest" / "manifest.json").read_text())["files"]
    truth = json.loads((sdtm_built.truth_dir / "manifest.json").read_text())["files"]
    assert {m["path"]: m["sha256"] for m in manifest} == {k: v["sha256"] for k, v in truth.items()}


def test_seq_is_unique_per_subject(sdtm):
    for domain, data in sdtm.items():
        seq = f"{domain}SEQ"
        if seq in data.columns and "USUBJID" in data.columns:
            assert data[seq].notna().all(), domain
            assert not data.duplicated(["USUBJID", seq]).any(), domain


def test_study_day_is_never_zero(sdtm):
    checked = 0
    for domain, data in sdtm.items():
        for column in [c for c in data.columns if c.endswith("DY") and c != "VISITDY"]:
            values = data[column].dropna()
            assert (values != 0).all(), (domain, column)
            checked += len(values)
    assert checked > 10_000


def test_lineage_has_one_row_per_record(outputs, sdtm):
    for path in sorted((outputs / "lineage").glob("*.parquet")):
        lineage = pd.read_parquet(path)
        data = sdtm[path.stem.upper()]
        assert len(lineage) == len(data), path.stem
        assert lineage["SOURCE_FILE"].notna().all() and (lineage["SOURCE_ROW"] >= 1).all()
        if f"{path.stem.upper()}SEQ" in data.columns:
            assert lineage[["USUBJID", "SEQ"]].values.tolist() == data[["USUBJID", f"{path.stem.upper()}SEQ"]].values.tolist()


def test_each_injected_defect_is_quarantined_or_kept_visible(outputs, defects):
    quarantine = pd.concat([pd.read_parquet(p) for p in (outputs / "quarantine").glob("*.parquet")])
    lineage = pd.concat([pd.read_parquet(p) for p in (outputs / "lineage").glob("*.parquet")])
    quarantined = set(zip(quarantine["file"], quarantine["row"]))
    mapped = set(zip(lineage["SOURCE_FILE"], lineage["SOURCE_ROW"]))
    assert len(defects) > 0
    for defect in defects.itertuples():
        key = (defect.file, defect.row)
        if defect.expected_handling == "quarantine":
            assert key in quarantined and key not in mapped, defect
        else:
            assert key in mapped and key not in quarantined, defect


def test_flagged_defects_keep_the_injected_value(sdtm, defects, outputs):
    lineage = pd.read_parquet(outputs / "lineage" / "ae.parquet")
    ae = sdtm["AE"].assign(_file=lineage["SOURCE_FILE"].values, _row=lineage["SOURCE_ROW"].values).set_index(["_file", "_row"])
    for defect in defects[defects["defect_class"] == "ae_end_before_start"].itertuples():
        record = ae.loc[(defect.file, defect.row)]
        assert record["AEENDTC"] < record["AESTDTC"]
    unknown = defects[(defects["defect_class"] == "unknown_code") & (defects["file"].str.endswith(("ae.csv", "ae.xlsx", "ae.xpt")))]
    for defect in unknown.itertuples():
        assert ae.loc[(defect.file, defect.row), "AESEV"] == defect.injected_value
    lb_lineage = pd.read_parquet(outputs / "lineage" / "lb.parquet")
    lb = sdtm["LB"].assign(_file=lb_lineage["SOURCE_FILE"].values, _row=lb_lineage["SOURCE_ROW"].values)
    lb = lb[lb["LBDRVFL"].isna()].set_index(["_file", "_row"])
    for defect in defects[defects["defect_class"].isin(["out_of_range_lab", "unit_mismatch"])].itertuples():
        assert float(lb.loc[(defect.file, defect.row), "LBORRES"]) == float(defect.injected_value.replace(",", "."))
    dm_lineage = pd.read_parquet(outputs / "lineage" / "dm.parquet")
    dm = sdtm["DM"].assign(_file=dm_lineage["SOURCE_FILE"].values, _row=dm_lineage["SOURCE_ROW"].values)
    dm = dm.set_index(["_file", "_row"])
    unknown_sex = defects[(defects["defect_class"] == "unknown_code") & (defects["column"].str.lower() == "sex")]
    for defect in unknown_sex.itertuples():
        assert dm.loc[(defect.file, defect.row), "SEX"] == defect.injected_value
    rs_lineage = pd.read_parquet(outputs / "lineage" / "rs.parquet")
    rs = sdtm["RS"].assign(_file=rs_lineage["SOURCE_FILE"].values, _row=rs_lineage["SOURCE_ROW"].values)
    totals = rs[rs["RSTESTCD"] == "SSLD0125"].set_index(["_file", "_row"])
    for defect in defects[defects["defect_class"] == "sledai_total_mismatch"].itertuples():
        assert float(totals.loc[(defect.file, defect.row), "RSORRES"]) == float(defect.injected_value)


def test_published_counts_reconcile(sdtm):
    dm, ae = sdtm["DM"], sdtm["AE"]
    assert dm["ARMCD"].value_counts().to_dict() == {"ISCAL10": 39, "PBO": 18}
    assert dm["ARMNRS"].value_counts().to_dict() == {"SCREEN FAILURE": 14}
    arm = dm.set_index("USUBJID")["ARMCD"]
    ae = ae.assign(ARMCD=ae["USUBJID"].map(arm))
    serious = ae[ae["AESER"] == "Y"]
    assert serious.groupby("ARMCD")["USUBJID"].nunique().to_dict() == {"ISCAL10": 6, "PBO": 3}
    assert serious.groupby("ARMCD").size().to_dict() == {"ISCAL10": 7, "PBO": 4}
    withdrawn = ae[ae["AEACN"] == "DRUG WITHDRAWN"]
    assert withdrawn.groupby("ARMCD")["USUBJID"].nunique().to_dict() == {"ISCAL10": 3, "PBO": 1}


def test_upcr_is_present_for_every_week24_sample_in_mg_per_mg(sdtm):
    lb = sdtm["LB"]
    upcr = lb[(lb["LBTESTCD"] == "PROTCRT") & (lb["VISIT"] == "WEEK 24")]
    assert set(upcr["LBSTRESU"]) == {"g/g"}
    assert upcr["USUBJID"].nunique() == 55 and upcr["LBSTRESN"].notna().all()
    derived = lb[(lb["LBTESTCD"] == "PROTCRT") & (lb["LBDRVFL"] == "Y")]
    reported = lb[(lb["LBTESTCD"] == "PROTCRT") & lb["LBDRVFL"].isna()]
    assert len(derived) > 0 and len(reported) > 0
    assert not lb.duplicated(["USUBJID", "LBTESTCD", "LBSPEC", "VISITNUM"]).any()


def test_sledai_has_24_items_and_a_total_per_assessment(sdtm, defects):
    rs = sdtm["RS"]
    per_visit = rs.groupby(["USUBJID", "VISITNUM"])["RSTESTCD"].nunique()
    assert set(per_visit) == {25}
    assert set(rs["RSEVLINT"]) == {"-P10D"} and set(rs["RSEVAL"]) == {"INVESTIGATOR"}
    items = rs[rs["RSTESTCD"] != "SSLD0125"]
    assert set(items["RSORRES"]) == {"PRESENT", "ABSENT"}
    total = rs[rs["RSTESTCD"] == "SSLD0125"].set_index(["USUBJID", "VISITNUM"])["RSSTRESN"]
    mismatched = set(defects.loc[defects["defect_class"] == "sledai_total_mismatch", "usubjid"])
    agree = items.groupby(["USUBJID", "VISITNUM"])["RSSTRESN"].sum() == total.loc[per_visit.index]
    assert agree[~agree.index.get_level_values("USUBJID").isin(mismatched)].all()  # collected totals kept as is


def test_partial_dates_keep_precision_and_privacy_holds(sdtm):
    assert sdtm["MH"]["MHSTDTC"].dropna().str.len().min() in (4, 7)
    assert set(sdtm["DM"]["BRTHDTC"].str.len()) == {4}
    for data in sdtm.values():
        assert not {"INITIALS", "initials", "BRTHDAT"} & set(data.columns)


def test_egfr_carries_the_formula(sdtm):
    lb = sdtm["LB"]
    assert set(lb.loc[lb["LBTESTCD"] == "GFREI", "LBANMETH"]) == {"CKD-EPI CREATININE FORMULA"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "1000"}  # rich wraps at the terminal width otherwise
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env)


def test_unreadable_raw_file_exits_2_with_one_line(tmp_path):
    raw = tmp_path / "raw" / "site_101"
    raw.mkdir(parents=True)
    (raw / "dm.csv").write_bytes(b"subject_no;birth_date\n0001;01.01.1990;extra\n")
    result = run_cli("sdtm", "--raw", str(tmp_path / "raw"), "--outputs", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "site_101/dm.csv: row 1: 3 fields where the header has 2" in errors[0]


def test_missing_raw_dir_exits_2(tmp_path):
    result = run_cli("sdtm", "--raw", str(tmp_path / "nowhere"), "--outputs", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "raw directory not found" in result.stderr and "Traceback" not in result.stderr


def test_raw_dir_without_any_export_exits_2_naming_the_folder(tmp_path):
    (tmp_path / "raw" / "unrelated").mkdir(parents=True)
    result = run_cli("sdtm", "--raw", str(tmp_path / "raw"), "--outputs", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{tmp_path / 'raw'}: no raw export matches any mapping source" in result.stderr
    assert "Traceback" not in result.stderr


def test_rerun_gives_byte_identical_outputs(sdtm_built, tmp_path):
    from pipeline.common.study import StudyContext
    from pipeline.sdtm.stage import run

    again = StudyContext.create(sdtm_built.study, raw=sdtm_built.raw_dir, outputs=tmp_path / "again")
    run(again)
    first = sdtm_built.outputs_dir
    files = [p.relative_to(first) for folder in ("sdtm", "lineage", "quarantine", "ingest")
             for p in sorted((first / folder).rglob("*")) if p.is_file()] + [first / "ledger.json"]
    files = [Path(f).relative_to(first) if Path(f).is_absolute() else Path(f) for f in files]
    assert len(files) > 30
    for relative in files:
        assert (first / relative).read_bytes() == (tmp_path / "again" / relative).read_bytes(), relative


def test_quarantine_records_carry_no_personal_fields(outputs):
    frames = [pd.read_parquet(p) for p in sorted((outputs / "quarantine").rglob("*.parquet"))]
    records = [json.loads(r) for frame in frames for r in frame["record"].dropna()]
    assert records
    assert not [r for r in records if {k.lower() for k in r} & {"initials", "first_name", "last_name"}]


# --- unscheduled and missed visits, protocol deviations ----------------------------------------------------------


@pytest.fixture(scope="module")
def truth_subjects(sdtm_built) -> pd.DataFrame:
    return pd.read_csv(sdtm_built.truth_dir / "subjects.csv", dtype=str, keep_default_na=False)


def test_unscheduled_visits_are_numbered_after_the_previous_planned_visit_in_sv(sdtm):
    sv = sdtm["SV"]
    unscheduled = sv[sv["VISIT"].str.startswith("UNSCHEDULED")]
    assert len(unscheduled) >= 15
    assert ((unscheduled["VISITNUM"] * 100).round() % 100 == 1).all()          # x.01 (one per planned visit)
    assert (unscheduled["VISIT"] == "UNSCHEDULED " + unscheduled["VISITNUM"].map("{:.2f}".format)).all()
    assert unscheduled["SVPRESP"].isna().all() and unscheduled["VISITDY"].isna().all()
    # --OCCUR only on pre-specified visits (SDTMIG 3.4 4.5.7; CG0654 / CORE-000038)
    assert unscheduled["SVOCCUR"].isna().all() and unscheduled["SVUPDES"].notna().all()
    assert "Repeat safety laboratory" in set(unscheduled["SVUPDES"])                 # English-writing sites
    # the planned visit just before (same subject, VISITNUM = floor) took place before the unscheduled date
    planned = sv[sv["SVPRESP"] == "Y"].set_index(["USUBJID", "VISITNUM"])["SVSTDTC"]
    keys = list(zip(unscheduled["USUBJID"], np.floor(unscheduled["VISITNUM"])))
    previous = pd.Series([planned.get(k) for k in keys], index=unscheduled.index)
    dated = previous.notna() & unscheduled["SVSTDTC"].notna()
    assert dated.sum() >= 15
    assert (previous[dated] < unscheduled.loc[dated, "SVSTDTC"]).all()


def test_lb_and_vs_unscheduled_records_share_the_sv_visit_number(sdtm):
    sv = sdtm["SV"]
    sv_visits = set(zip(sv["USUBJID"], sv["VISITNUM"].round(2), sv["SVSTDTC"]))
    for domain, dtc in (("LB", "LBDTC"), ("VS", "VSDTC")):
        data = sdtm[domain]
        unscheduled = data[data["VISIT"].str.startswith("UNSCHEDULED", na=False)]
        assert len(unscheduled) > 0, domain
        keys = set(zip(unscheduled["USUBJID"], unscheduled["VISITNUM"].round(2), unscheduled[dtc].str[:10]))
        assert keys <= sv_visits, (domain, sorted(keys - sv_visits)[:3])
    lb = sdtm["LB"]
    tests = set(lb.loc[lb["VISIT"].str.startswith("UNSCHEDULED", na=False), "LBTESTCD"])
    assert tests == {"CREAT", "PROT", "PROTCRT", "PLAT", "WBC"}      # repeat safety labs; UPCR derived from PROT/CREAT


def test_missed_visits_are_in_sv_as_not_done_without_dates(sdtm, truth_subjects):
    sv = sdtm["SV"]
    not_done = sv[sv["SVOCCUR"] == "N"]
    missed = truth_subjects[truth_subjects["missed_visit"] != ""]
    assert sorted(zip(not_done["USUBJID"], not_done["VISIT"])) == sorted(zip(missed["usubjid"], missed["missed_visit"]))
    assert not_done["SVSTDTC"].isna().all() and not_done["EPOCH"].isna().all()
    assert (not_done["SVPRESP"] == "Y").all() and not_done["SVREASOC"].notna().all()
    assert sv.loc[sv["SVOCCUR"] == "Y", "SVREASOC"].isna().all()
    for usubjid, visit in zip(not_done["USUBJID"], not_done["VISIT"]):
        for domain in ("LB", "VS", "RS"):
            data = sdtm[domain]
            assert data[(data["USUBJID"] == usubjid) & (data["VISIT"] == visit)].empty, (domain, usubjid, visit)


def test_dv_holds_every_deviation_with_major_minor_category(sdtm, truth_subjects, outputs):
    dv = sdtm["DV"]
    assert list(dv.columns[:4]) == ["STUDYID", "DOMAIN", "USUBJID", "DVSEQ"]
    assert set(dv["DVCAT"]) == {"MAJOR", "MINOR"}
    assert dv["DVTERM"].notna().all() and dv["DVSTDTC"].notna().all() and dv["DVSTDY"].notna().all()
    assert not dv.duplicated(["USUBJID", "DVSEQ"]).any()
    major = sorted(dv.loc[dv["DVCAT"] == "MAJOR", "USUBJID"].unique())
    assert major == sorted(truth_subjects.loc[truth_subjects["major_deviation"] == "Y", "usubjid"])
    assert set(dv["DVSCAT"]) <= {"ELIGIBILITY", "PROHIBITED MEDICATION", "STUDY TREATMENT", "VISIT SCHEDULE",
                                 "STUDY PROCEDURES", "INFORMED CONSENT"}
    ledger = json.loads((outputs / "ledger.json").read_text())
    dv_files = [f for f in ledger["files"] if f.split("/")[-1].startswith("dv.")]
    assert len(dv_files) == 7
    assert sum(ledger["files"][f]["domains"]["DV"]["rows_mapped"] for f in dv_files) == len(dv)
