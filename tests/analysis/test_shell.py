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
