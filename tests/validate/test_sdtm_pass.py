"""The adam pass reuses the SDTM pass's results of the checks that read SDTM only, when made from the same inputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

import pipeline.validate.stage as stage
from pipeline.common.staging import staged_run, write_marker
from pipeline.common.study import StudyContext
from pipeline.validate.conformance import CONFORMANCE_RULES, conformance_rule
from pipeline.validate.findings import make_findings
from pipeline.validate.sdtm_pass import SAVED_DIR

from .conftest import clean_sdtm, write_sdtm

OUTPUT_FILES = ("findings.parquet", "findings.csv", "rules.csv", "summary.json")


def adsl() -> pd.DataFrame:
    """TINY01-999 is not in DM (ISL-0106) and TINY01-001's SEX differs from DM (ISL-0107): rules reading both."""
    return pd.DataFrame({"STUDYID": ["TINY01"] * 2, "USUBJID": ["TINY01-001", "TINY01-999"], "SEX": ["M", "F"]})


def validate(root: Path, outputs: Path, validate_pass: str) -> pd.DataFrame:
    """One ``validate --pass`` in a managed outputs folder (the stages it needs marked complete)."""
    ctx = StudyContext.create("tiny", outputs=outputs, root=root, gx_docs=False, validate_pass=validate_pass)
    write_marker(outputs, "sdtm", [outputs / "sdtm"])
    if validate_pass == "adam":
        write_marker(outputs, "adam", [outputs / "adam"])
    with staged_run(ctx, "validate") as staged:
        stage.run(staged, raise_on_gate=False)
    return pd.read_parquet(outputs / "validation" / "findings.parquet")


def study(root: Path, outputs: Path) -> Path:
    write_sdtm(StudyContext.create("tiny", outputs=outputs, root=root), clean_sdtm())
    (outputs / "adam").mkdir()
    adsl().to_parquet(outputs / "adam" / "adsl.parquet", index=False)
    return outputs


def saved_rules(outputs: Path) -> set[str]:
    return set(json.loads((outputs / "validation" / SAVED_DIR / "manifest.json").read_text())["rules"])


def test_rule_reading_sdtm_and_adam_runs_again_and_outputs_match_a_full_run(tiny_root: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = study(tiny_root, tmp_path / "reused")
    validate(tiny_root, outputs, "sdtm")
    saved = saved_rules(outputs)
    assert "CG0029" in saved and "FB3209" in saved              # read SDTM only
    assert not {"ISL-0106", "ISL-0107", "ISL-0104"} & saved     # read ADaM (and DM/AE): run again
    ran_schemas, ran_rules = [], []
    real_schemas, real_rules = stage.validate_schemas, stage.run_conformance_rules_with_status
    monkeypatch.setattr(stage, "validate_schemas", lambda datasets, *a, **k: ran_schemas.extend(datasets)
                        or real_schemas(datasets, *a, **k))
    monkeypatch.setattr(stage, "run_conformance_rules_with_status", lambda data, rules: ran_rules.extend(rules)
                        or real_rules(data, rules))
    findings = validate(tiny_root, outputs, "adam")
    assert ran_schemas == ["ADSL"]
    assert {"ISL-0106", "ISL-0107", "ISL-0104"} <= set(ran_rules) and not saved & set(ran_rules)
    got = findings[["rule_id", "dataset", "variable", "usubjid"]].values.tolist()
    assert ["ISL-0106", "ADSL", "USUBJID", "TINY01-999"] in got
    assert ["ISL-0107", "ADSL", "SEX", "TINY01-001"] in got
    monkeypatch.undo()
    full = study(tiny_root, tmp_path / "full")                   # the same study validated without saved results
    validate(tiny_root, full, "adam")
    for name in OUTPUT_FILES:
        assert (outputs / "validation" / name).read_bytes() == (full / "validation" / name).read_bytes(), name
    marker = json.loads((outputs / ".done" / "validate-adam.json").read_text())
    assert "validation/findings.parquet" in marker["files"] and not [f for f in marker["files"] if SAVED_DIR in f]


def test_changed_sdtm_file_invalidates_the_saved_results(tiny_root: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    outputs = study(tiny_root, tmp_path / "out")
    assert validate(tiny_root, outputs, "sdtm").query("rule_id == 'ISL-0002'").empty
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AESEV"] = "VERY BAD"
    write_sdtm(StudyContext.create("tiny", outputs=outputs, root=tiny_root), sdtm)
    with caplog.at_level(logging.INFO, logger="pipeline.validate"):
        findings = validate(tiny_root, outputs, "adam")
    assert "not reused (sdtm AE changed)" in caplog.text
    assert findings.query("rule_id == 'ISL-0002'")[["dataset", "value"]].values.tolist() == [["AE", "VERY BAD"]]


def test_damaged_saved_results_are_not_used(tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outputs = study(tiny_root, tmp_path / "out")
    validate(tiny_root, outputs, "sdtm")
    (outputs / "validation" / SAVED_DIR / "conformance.parquet").write_bytes(b"not parquet")
    full = study(tiny_root, tmp_path / "full")
    with caplog.at_level(logging.INFO, logger="pipeline.validate"):
        validate(tiny_root, outputs, "adam")
    validate(tiny_root, full, "adam")
    assert "conformance.parquet differs from the manifest" in caplog.text
    assert (outputs / "validation" / "findings.parquet").read_bytes() == \
        (full / "validation" / "findings.parquet").read_bytes()


def test_a_new_rule_reading_adam_is_classified_by_what_it_reads(tiny_root: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.validate.conformance_base.CONFORMANCE_RULES", dict(CONFORMANCE_RULES))
    from pipeline.validate import conformance_base

    @conformance_rule("ISL-9998", "ADSL subjects counted", "d", "{value} ADSL subjects", "notice")
    def count_adsl(rule, data):   # reads DM and, when DM has subjects, ADSL
        dm = data.first("DM")
        if dm is None or dm.empty:
            return make_findings(rule.id, "notice", "DM", "no DM", "conformance").iloc[:0]
        return make_findings(rule.id, "notice", "ADSL", f"{len(data.adam.get('ADSL', []))} ADSL subjects",
                             "conformance")

    monkeypatch.setattr(stage, "CONFORMANCE_RULES", conformance_base.CONFORMANCE_RULES)
    outputs = study(tiny_root, tmp_path / "out")
    sdtm_pass = validate(tiny_root, outputs, "sdtm")
    assert sdtm_pass.query("rule_id == 'ISL-9998'")["message"].tolist() == ["0 ADSL subjects"]
    assert "ISL-9998" not in saved_rules(outputs)
    findings = validate(tiny_root, outputs, "adam")
    assert findings.query("rule_id == 'ISL-9998'")["message"].tolist() == ["2 ADSL subjects"]


def test_lazy_sdtm_reads_only_the_datasets_a_check_asks_for(tmp_path: Path) -> None:
    """The adam pass reads an SDTM dataset on first access; first() reads its domain's parts, in file order."""
    from pipeline.validate.conformance_base import ValidationData

    files = {}
    for name, values in {"AE": ["a"], "DM": ["TINY01-001", "  "], "LBCH": ["x"], "LBHE": ["y", "z"]}.items():
        files[name] = tmp_path / f"{name.lower()}.parquet"
        pd.DataFrame({"DOMAIN": [name[:2]] * len(values), "VAL": values}).to_parquet(files[name])
    lazy = stage.LazyPreparedDatasets(files)
    data = ValidationData(lazy, {}, {"AE": "AE", "DM": "DM", "LBCH": "LB", "LBHE": "LB"})
    assert data.first("DM")["VAL"].isna().tolist() == [False, True]
    assert lazy.loaded() == ["DM"]
    assert data.first("LB")["VAL"].tolist() == ["x", "y", "z"]
    assert lazy.loaded() == ["DM", "LBCH", "LBHE"]
    assert (len(lazy), "AE" in lazy, lazy.records()) == (4, True, 6)
