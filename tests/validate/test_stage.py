"""The validate stage end to end on the tiny study, and the gate through the CLI (exit codes 0/1/2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.common.errors import ConfigError, GateFailed
from pipeline.common.staging import write_marker
from pipeline.common.study import StudyContext
from pipeline.validate.findings import FINDINGS_COLUMNS
from pipeline.validate.stage import run

from .conftest import clean_sdtm, write_sdtm

runner = CliRunner()


def test_clean_tiny_study_has_no_error_and_writes_contract_files(tiny_ctx: StudyContext) -> None:
    write_sdtm(tiny_ctx, clean_sdtm())
    findings = run(tiny_ctx)
    assert findings[findings["severity"] == "error"].empty
    written = pd.read_parquet(tiny_ctx.validation_dir / "findings.parquet")
    assert list(written.columns) == FINDINGS_COLUMNS
    assert (tiny_ctx.validation_dir / "findings.csv").exists()
    catalogue = pd.read_csv(tiny_ctx.validation_dir / "rules.csv")
    assert {"CG0029", "CG0014", "ISL-0201"} <= set(catalogue["id"])


def test_findings_from_all_sources_land_in_one_table(tiny_ctx: StudyContext) -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AESEV"] = "VERY BAD"          # pandera
    sdtm["AE"].loc[2, "USUBJID"] = "TINY01-999"      # conformance
    sdtm["DM"].loc[0, "AGE"] = 17.0                  # great_expectations (randomised subject under 18)
    write_sdtm(tiny_ctx, sdtm)
    findings = run(tiny_ctx, raise_on_gate=False)
    got = findings[["rule_id", "dataset", "variable", "usubjid", "record", "check_source"]].values.tolist()
    assert ["ISL-0002", "AE", "AESEV", "TINY01-001", 1, "pandera"] in got
    assert ["CG0029", "AE", "USUBJID", "TINY01-999", 3, "conformance"] in got
    assert ["ISL-0201", "DM", "AGE", "TINY01-001", 1, "great_expectations"] in got


def test_gate_raises_with_a_short_summary(tiny_ctx: StudyContext) -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AESEV"] = "VERY BAD"
    write_sdtm(tiny_ctx, sdtm)
    with pytest.raises(GateFailed, match="ISL-0002 AE x1"):
        run(tiny_ctx)
    assert (tiny_ctx.validation_dir / "findings.parquet").exists()  # written before the gate


def test_same_inputs_give_byte_identical_findings(tiny_root: Path, tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        ctx = StudyContext.create("tiny", outputs=tmp_path / name, root=tiny_root, gx_docs=False)
        sdtm = clean_sdtm()
        sdtm["AE"].loc[0, "AESEV"] = "VERY BAD"
        sdtm["DM"].loc[0, "AGE"] = 17.0
        write_sdtm(ctx, sdtm)
        run(ctx, raise_on_gate=False)
        outputs.append([(ctx.validation_dir / f).read_bytes() for f in ("findings.parquet", "findings.csv", "rules.csv")])
    assert outputs[0] == outputs[1]


def test_severity_override_from_expectations_yaml(tiny_root: Path, tmp_path: Path) -> None:
    spec = tiny_root / "specs" / "tiny" / "expectations.yaml"
    spec.write_text(spec.read_text().replace("rules: {}", "rules:\n  FB3209: {severity: warning, reason: test}"))
    ctx = StudyContext.create("tiny", outputs=tmp_path / "o2", root=tiny_root, gx_docs=False)
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, ["AEENDTC", "AEENDY"]] = ["2024-02-01", 1.0]
    write_sdtm(ctx, sdtm)
    findings = run(ctx)  # no GateFailed: FB3209 is now a warning (FB3207, AESTDY after AEENDY, is one anyway)
    assert sorted(findings[["rule_id", "severity"]].values.tolist()) == [["FB3207", "warning"], ["FB3209", "warning"]]


def test_accepted_finding_becomes_a_notice_and_passes_the_gate(tiny_root: Path, tmp_path: Path) -> None:
    spec = tiny_root / "specs" / "tiny" / "expectations.yaml"
    spec.write_text(spec.read_text() + "accepted:\n  - {rule_id: ISL-0002, usubjid: TINY01-001, variable: AESEV,"
                    " reason: query 17 answered}\n")
    ctx = StudyContext.create("tiny", outputs=tmp_path / "o3", root=tiny_root, gx_docs=False)
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AESEV"] = "VERY BAD"
    write_sdtm(ctx, sdtm)
    findings = run(ctx)
    assert findings[["rule_id", "severity", "message"]].values.tolist() == [
        ["ISL-0002", "notice", "AESEV value 'VERY BAD' is not in non-extensible codelist AESEV [accepted: query 17 answered]"]]


def test_accepted_finding_without_reason_is_a_config_error(tiny_root: Path, tmp_path: Path) -> None:
    spec = tiny_root / "specs" / "tiny" / "expectations.yaml"
    spec.write_text(spec.read_text() + "accepted:\n  - {rule_id: ISL-0002}\n")
    ctx = StudyContext.create("tiny", outputs=tmp_path / "o4", root=tiny_root, gx_docs=False)
    with pytest.raises(ConfigError, match=r"expectations.yaml:line \d+: an accepted finding needs rule_id and reason"):
        run(ctx)


def test_empty_dataset_validates_without_crash(tiny_ctx: StudyContext) -> None:
    sdtm = clean_sdtm()
    sdtm["AE"] = sdtm["AE"].iloc[0:0]
    write_sdtm(tiny_ctx, sdtm)
    findings = run(tiny_ctx, raise_on_gate=False)
    assert findings[findings["dataset"] == "AE"].empty


def test_dataset_missing_from_the_spec_is_checked_against_the_standard(tiny_ctx: StudyContext) -> None:
    sdtm = clean_sdtm()
    sdtm["SUPPAE"] = pd.DataFrame({
        "STUDYID": ["TINY01"], "RDOMAIN": ["AE"], "USUBJID": ["TINY01-001"], "IDVAR": ["AESEQ"], "IDVARVAL": ["1"],
        "QNAM": [None], "QLABEL": ["Treatment Emergent Flag"], "QVAL": ["Y"], "QORIG": ["Derived"], "QEVAL": [None]})
    write_sdtm(tiny_ctx, sdtm)
    findings = run(tiny_ctx, raise_on_gate=False)
    got = findings[findings["dataset"] == "SUPPAE"][["rule_id", "severity", "variable", "record"]]
    assert got.astype(object).where(got.notna(), None).values.tolist() == [
        ["CG0014", "error", "QNAM", 1], ["ISL-0010", "warning", None, None]]


def test_no_sdtm_is_a_clear_config_error(tiny_ctx: StudyContext) -> None:
    with pytest.raises(ConfigError, match="no SDTM parquet files"):
        run(tiny_ctx)


def pilot_dm(usubjid: str | None = "01-701-1015") -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": ["CDISCPILOT01"] * 2, "DOMAIN": ["DM"] * 2, "USUBJID": [usubjid, "01-701-1023"],
        "SUBJID": ["1015", "1023"], "SITEID": ["701", "701"], "AGE": [63.0, 64.0], "AGEU": ["YEARS"] * 2,
        "SEX": ["F", "M"], "ARMCD": ["Pbo", "Xan_Hi"], "ARM": ["Placebo", "Xanomeline High Dose"],
        "COUNTRY": ["USA", "USA"],
    })


def cli_validate(outputs: Path, dm: pd.DataFrame, study: str = "cdiscpilot01"):
    (outputs / "sdtm").mkdir(parents=True, exist_ok=True)
    dm.to_parquet(outputs / "sdtm" / "dm.parquet", index=False)
    (outputs / "adam").mkdir(parents=True, exist_ok=True)  # an ADSL of its own: the pilot's is not read
    adsl = dm.drop(columns=["DOMAIN", "COUNTRY", "ARMCD"]).assign(TRT01P=dm["ARM"], RACE="WHITE").dropna(subset=["USUBJID"])
    adsl.to_parquet(outputs / "adam" / "adsl.parquet")
    return runner.invoke(app, ["validate", "--study", study, "--outputs", str(outputs)])


def test_cli_exit_0_when_only_warnings(tmp_path: Path) -> None:
    result = cli_validate(tmp_path / "ok", pilot_dm())
    assert result.exit_code == 0, result.output
    findings = pd.read_csv(tmp_path / "ok" / "validation" / "findings.csv")
    assert set(findings["severity"]) <= {"warning", "notice"}


def test_cli_exit_1_when_gate_fails(tmp_path: Path) -> None:
    result = cli_validate(tmp_path / "bad", pilot_dm(usubjid=None))
    assert result.exit_code == 1
    assert "gate failed" in result.output and "CG0014 DM" in result.output


def test_cli_exit_2_for_unknown_study(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--study", "nostudy", "--outputs", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown study 'nostudy'" in result.output


def test_cli_exit_2_without_sdtm(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--study", "iscalimab-ln", "--outputs", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "no SDTM parquet files" in result.output


def test_sdtm_pass_reads_no_adam_even_when_an_adam_folder_exists(tiny_root: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "out"
    write_sdtm(StudyContext.create("tiny", outputs=outputs, root=tiny_root), clean_sdtm())
    (outputs / "adam").mkdir()
    pd.DataFrame({"STUDYID": ["TINY01"], "USUBJID": ["TINY01-001"]}).to_parquet(outputs / "adam" / "adsl.parquet")
    write_marker(outputs, "sdtm", [outputs / "sdtm"])
    seen = {}
    for validate_pass in ("sdtm", "adam"):   # a stale ADSL of an earlier full run: only the adam pass reads it
        write_marker(outputs, "adam", [outputs / "adam"])   # (the sdtm pass removes the later stages' markers)
        result = runner.invoke(app, ["validate", "--study", "tiny", "--project", str(tiny_root), "--outputs",
                                     str(outputs), "--pass", validate_pass])
        assert result.exit_code in (0, 1), result.output
        summary = json.loads((outputs / "validation" / "summary.json").read_text())
        findings = pd.read_parquet(outputs / "validation" / "findings.parquet")
        seen[validate_pass] = (summary["datasets"]["adam"], sorted(set(findings["dataset"].dropna()) & {"ADSL"}))
    assert seen == {"sdtm": ([], []), "adam": (["ADSL"], ["ADSL"])}


def test_the_gx_worker_is_stopped_once_it_has_done_its_work() -> None:
    from pipeline.validate.stage import _stop_idle_worker

    class Executor:
        stopped = False

        def shutdown(self, wait: bool) -> None:
            self.stopped = True

    class Expectations:
        def __init__(self, done: bool) -> None:
            self._done = done

        def done(self) -> bool:
            return self._done

    busy, idle = Executor(), Executor()
    assert _stop_idle_worker(Expectations(False), busy) is busy and not busy.stopped
    assert _stop_idle_worker(Expectations(True), idle) is None and idle.stopped
    assert _stop_idle_worker(None, busy) is busy   # expectations reused from the SDTM pass: nothing to stop


def test_a_gx_worker_started_early_is_discarded_on_a_config_error(tiny_root: Path, tmp_path: Path) -> None:
    import multiprocessing

    ctx = StudyContext.create("tiny", outputs=tmp_path / "out", root=tiny_root, gx_docs=False, gx_worker=True)
    with pytest.raises(ConfigError, match="no SDTM parquet files"):   # the error of a run without the worker
        run(ctx)
    assert multiprocessing.active_children() == []


def test_the_gx_worker_starts_early_unless_saved_expectations_will_probably_be_reused(
        tiny_root: Path, tmp_path: Path) -> None:
    from pipeline.validate.sdtm_pass import FORMAT, SAVED_DIR
    from pipeline.validate.stage import _gx_worker_wanted

    ctx = StudyContext.create("tiny", outputs=tmp_path / "out", root=tiny_root, gx_docs=False, gx_worker=True)
    saved = ctx.validation_dir / SAVED_DIR
    wanted = [_gx_worker_wanted(ctx)]
    saved.mkdir(parents=True)
    (saved / "manifest.json").write_text(json.dumps({"format": FORMAT, "gx": None}))   # saved without expectations
    wanted.append(_gx_worker_wanted(ctx))
    (saved / "manifest.json").write_text(json.dumps({"format": FORMAT, "gx": {}}))
    wanted.append(_gx_worker_wanted(ctx))
    in_process = StudyContext.create("tiny", outputs=tmp_path / "other", root=tiny_root, gx_worker=False)
    assert wanted + [_gx_worker_wanted(in_process)] == [True, True, False, False]
