"""The shell file: the study's tlf.yaml checks out, and mistakes are named precisely."""

import pytest

from pipeline.analysis.shell import check_shell, load_shell, resolve_groups
from pipeline.common.errors import ConfigError
from pipeline.common.study import StudyContext

CONTRACT_OUTPUTS = {"table1", "table2", "t_demog", "t_teae_soc_pt", "l_sae"}


def minimal(rows, population="SAF"):
    return {
        "populations": {"SAF": {"flag": "SAFFL", "label": "Safety Set"}},
        "treatment_columns": {"actual": {"variable": "TRT01A"}},
        "outputs": {"t": {"title": "T", "population": population, "columns": "actual", "rows": rows}},
    }


def test_study_shell_defines_every_contract_output():
    shell = load_shell(StudyContext.create("iscalimab-ln").specs_dir)
    assert CONTRACT_OUTPUTS <= set(shell.outputs)
    table1 = {row["id"] for row in shell.outputs["table1"]["rows"]}
    assert {"upcr_rel_improvement", "crr", "sledai_chg"} <= table1
    table2 = {row["id"] for row in shell.outputs["table2"]["rows"]}
    assert {"any_ae", "sae", "ae_disc"} <= table2


def test_study_shell_takes_parameters_and_visits_from_spec():
    shell = load_shell(StudyContext.create("iscalimab-ln").specs_dir)
    upcr = next(r for r in shell.outputs["table1"]["rows"] if r["id"] == "upcr_rel_improvement")
    assert upcr["where"]["PARAMCD"] == "LUPCR"
    assert upcr["where"]["AVISIT"] == "WEEK 24"


def test_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"outputs.t.rows\[x\]: unknown method 'mean'.*ancova_change"):
        check_shell(minimal([{"id": "x", "method": "mean"}]), "tlf.yaml")


def test_missing_method_key_is_named():
    with pytest.raises(ConfigError, match=r"outputs.t.rows\[soc\]: missing key 'soc', 'pt'"):
        check_shell(minimal([{"id": "soc", "method": "soc_pt_counts", "dataset": "adae"}]), "tlf.yaml")


def test_duplicate_row_id_is_refused():
    rows = [{"id": "a", "method": "subject_count", "dataset": "adae"}] * 2
    with pytest.raises(ConfigError, match=r"rows\[a\]: duplicate row id"):
        check_shell(minimal(rows), "tlf.yaml")


def test_unknown_population_is_named():
    with pytest.raises(ConfigError, match="population 'PP' is not defined under populations"):
        check_shell(minimal([], population="PP"), "tlf.yaml")


def test_precision_sets_summary_decimals():
    shell = check_shell(minimal([{"id": "AGE", "method": "continuous_summary", "variable": "AGE", "precision": 0}]))
    decimals = shell.decimals("t", shell.outputs["t"]["rows"][0])
    assert (decimals["min"], decimals["mean"], decimals["sd"]) == (0, 1, 2)


def test_groups_follow_study_arm_order_then_extra_values():
    design = {"arms": [{"trt": "Placebo", "trtn": 2}, {"trt": "Iscalimab 10 mg/kg", "trtn": 1}]}
    assert resolve_groups(design, ["Placebo", "Iscalimab 10 mg/kg"]) == ["Iscalimab 10 mg/kg", "Placebo"]


ESTIMAND = {"label": "CRR", "population": "SAF", "variable": "response",
            "intercurrent_events": {"rescue therapy": "composite"}, "missing_data": "evaluable"}


def test_study_shell_declares_estimands_and_periods_and_uses_them():
    shell = load_shell(StudyContext.create("iscalimab-ln", outputs="/nonexistent/out").specs_dir)
    assert shell.estimands["crr"].missing_data == "evaluable"
    assert shell.estimands["crr_nri"].missing_data == "non_responder"
    assert shell.estimands["crr_nri"].role == "sensitivity"
    assert shell.period("table2").flag == "TRTEMW24" and shell.period("table2_study").flag == "TRTEMFL"
    notes = shell.estimand_footnotes("table1")
    assert any("3/37 = 8.1%" in note and "(primary) CRR" in note for note in notes)
    assert any("missing = non-responder" in note for note in notes)


def test_estimand_with_unknown_missing_data_rule_is_refused():
    data = minimal([{"id": "r", "method": "subject_count", "dataset": "adae", "estimand": "e"}])
    data["estimands"] = {"e": {**ESTIMAND, "missing_data": "last observation"}}
    with pytest.raises(ConfigError, match="estimands.e: missing_data 'last observation' is not a known rule"):
        check_shell(data)


def test_estimand_with_unknown_strategy_is_refused():
    data = minimal([{"id": "r", "method": "subject_count", "dataset": "adae"}])
    data["estimands"] = {"e": {**ESTIMAND, "intercurrent_events": {"rescue": "ignore it"}}}
    with pytest.raises(ConfigError, match="intercurrent_events.rescue: strategy 'ignore it' is not one of"):
        check_shell(data)


def test_row_naming_an_undeclared_estimand_is_refused():
    data = minimal([{"id": "r", "method": "subject_count", "dataset": "adae", "estimand": "nope"}])
    with pytest.raises(ConfigError, match=r"rows\[r\]: estimand 'nope' is not defined under estimands"):
        check_shell(data)


def test_estimand_population_must_be_the_output_population():
    data = minimal([{"id": "r", "method": "subject_count", "dataset": "adae", "estimand": "e"}])
    data["populations"]["FAS"] = {"flag": "FASFL", "label": "Full Analysis Set"}
    data["estimands"] = {"e": {**ESTIMAND, "population": "FAS"}}
    with pytest.raises(ConfigError, match="estimand 'e' is for population FAS, the output for SAF"):
        check_shell(data)


def test_output_period_must_be_declared():
    data = minimal([{"id": "r", "method": "subject_count", "dataset": "adae"}])
    data["outputs"]["t"]["period"] = "W24"
    with pytest.raises(ConfigError, match="outputs.t: period 'W24' is not defined under analysis_periods"):
        check_shell(data)
    data["analysis_periods"] = {"W24": {"label": "Up to Week 24", "flag": "TRTEMW24", "definition": "Day 1-169"}}
    assert check_shell(data).period("t").flag == "TRTEMW24"
