"""Every rule of specs/standards/conformance-rules.yaml fires on a tiny failing dataset and passes on its
fixed twin (data/catalogue_cases.yaml); the reader refuses bad entries; rules.csv says what each rule did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.common.errors import ConfigError
from pipeline.validate.catalogue import Outcome, read_catalogue
from pipeline.validate.conformance import (
    CATALOGUE_RULES, CONFORMANCE_RULES, ValidationData, run_conformance_rules_with_status,
)

CASES = yaml.safe_load((Path(__file__).parent / "data" / "catalogue_cases.yaml").read_text(encoding="utf-8"))


def datasets(spec: dict) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(rows) for name, rows in spec.items()}


def test_catalogue_has_150_rules_with_cdisc_or_fda_and_core_ids_and_each_has_a_case() -> None:
    entries = read_catalogue()
    assert len(entries) >= 150
    assert all(e.id[:2] in ("CG", "FB") and e.core.startswith("CORE-") for e in entries)
    assert sorted(CASES) == sorted(e.id for e in entries)
    assert all("CORE-" in CATALOGUE_RULES[e.id].citation for e in entries)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_catalogue_rule_fires_on_the_failing_frame_and_passes_on_the_fixed_one(rule_id: str) -> None:
    case, rule = CASES[rule_id], CONFORMANCE_RULES[rule_id]
    outcome = Outcome()
    assert rule.check(ValidationData(datasets(case["pass"]), {}), outcome).empty
    assert case["dataset"] in outcome.checked
    found = rule.check(ValidationData(datasets(case["fail"]), {}))
    dataset = case.get("fail_dataset", case["dataset"])
    records = case.get("fail_records", case["records"])
    assert set(found["rule_id"]) == {rule_id}
    assert set(found["dataset"]) == {dataset}
    if records:
        assert sorted(found["record"].astype(int)) == records
    else:  # a dataset-level rule: one finding without a record
        assert len(found) == 1 and found["record"].isna().all()


def test_rules_report_ran_skipped_or_failed_with_the_reason() -> None:
    dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"], "AGE": [-2], "AGEU": ["YEARS"]})
    broken = CONFORMANCE_RULES["CG0029"].__class__(
        "ISL-9999", "t", "d", "m", "error", "conformance", check=lambda data: 1 / 0)
    findings, status = run_conformance_rules_with_status(
        ValidationData({"DM": dm}, {}), {k: CONFORMANCE_RULES[k] for k in ("FB4001", "CG0208", "CG0218", "CG0516")}
        | {"ISL-9999": broken})
    by_id = status.set_index("id")
    assert by_id.loc["FB4001", ["status", "findings", "datasets"]].tolist() == ["ran", 1, "DM"]
    assert by_id.loc["CG0208", "status"] == "skipped" and "no dataset in scope (SE" in by_id.loc["CG0208", "reason"]
    assert by_id.loc["CG0218", "status"] == "skipped" and "SV absent" in by_id.loc["CG0218", "reason"]
    assert by_id.loc["CG0516", "status"] == "skipped" and by_id.loc["CG0516", "reason"] == "reference TA.ARMCD absent"
    assert by_id.loc["ISL-9999", "status"] == "failed" and "ZeroDivisionError" in by_id.loc["ISL-9999", "reason"]
    assert list(findings["rule_id"]) == ["FB4001"]


def test_variable_absent_is_a_skip_reason() -> None:
    se = pd.DataFrame({"DOMAIN": ["SE"], "USUBJID": ["S-1"], "ETCD": ["UNPLAN"]})
    outcome = Outcome()
    CONFORMANCE_RULES["CG0152"].check(ValidationData({"SE": se}, {}), outcome)
    assert outcome.checked == [] and outcome.reason() == "no ELEMENT in SE"


@pytest.mark.parametrize("text, problem", [
    ("rules:\n  - {id: CG0001, core: CORE-000001, kind: nope, message: m, severity: error}\n", "kind: 'nope'"),
    ("rules:\n  - {id: CG0001, core: CORE-000001, kind: record, message: m, severity: error}\n", "needs 'fail_when'"),
    ("rules:\n  - {id: CG0001, core: CORE-1, kind: record, fail_when: 'notna(X)', message: m, severity: error}\n",
     "core: 'CORE-1'"),
    ("rules:\n  - {id: CG0001, core: CORE-000001, kind: record, fail_when: 'X.read()', message: m, severity: error}\n",
     "fail_when: expression"),
])
def test_reader_names_file_line_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as info:
        read_catalogue(path)
    assert str(info.value).startswith(f"{path}:2:")


def test_rules_csv_of_the_flagship_says_what_every_rule_did(validated) -> None:
    rules = pd.read_csv(validated.validation_dir / "rules.csv", keep_default_na=False)
    findings = pd.read_parquet(validated.validation_dir / "findings.parquet")
    assert set(rules["status"]) <= {"ran", "skipped", "failed", "disabled"}
    assert set(CONFORMANCE_RULES) <= set(rules["id"])
    assert (rules["status"] != "failed").all()
    skipped = rules[rules["status"] == "skipped"]
    assert len(skipped) > 0 and (skipped["reason"].str.len() > 0).all()     # nothing skipped silently
    counts = findings.groupby("rule_id").size()
    assert rules.set_index("id")["findings"].to_dict() == {i: int(counts.get(i, 0)) for i in rules["id"]}
    ran = rules[(rules["status"] == "ran") & (rules["check_source"] == "conformance")]
    assert (ran["datasets"].str.len() > 0).sum() >= 150
    # the IE criteria codes differ from TI's (a pipeline inconsistency CORE skips): CG0179 reports every IE record
    assert rules.set_index("id").loc["CG0179", ["status", "datasets"]].tolist() == ["ran", "IE"]


@pytest.mark.parametrize("left, right, expected", [
    (" 2020-01-02 ", "2020-01-02T00:00", True),          # stripped, then compared by date
    ("\u30002020-01-03", "2020-01-02T23:00", False),      # Unicode whitespace is stripped as str.strip() does
    ("2020-01-02T10:00:30", "2020-01-02T10:00", True),    # minutes against minutes
    ("2020-01", "2020-01-01", False),                     # no complete date
    (None, "2020-01-01", False),
])
def test_truncated_le_compares_at_the_shared_precision(left, right, expected) -> None:
    from pipeline.validate.catalogue import truncated_le
    from pipeline.validate.frames import TEXT_DTYPE

    for dtype in (object, TEXT_DTYPE):
        assert truncated_le(pd.Series([left], dtype=dtype), pd.Series([right], dtype=dtype)).tolist() == [expected]
