"""Display layout: headers from the ARD's big N, line structure, and clear errors."""

import pytest

from pipeline.analysis.shell import check_shell
from pipeline.common.errors import ConfigError, InputError
from pipeline.tlf.display import HEADING, build_display


def test_headers_carry_population_counts_from_the_ard(example_shell_, example_ards):
    display = build_display(example_shell_, "table1", example_ards["table1"])
    assert display.column_headers == ("Active\n(N=4)", "Placebo\n(N=3)")
    assert display.population == "Full Analysis Set"
    assert display.number == "Table 14.2-1"


def test_comparison_lines_fill_only_the_compared_arm(example_shell_, example_ards):
    display = build_display(example_shell_, "table1", example_ards["table1"])
    ratio = next(line for line in display.lines if line.label.startswith("Ratio of geometric means"))
    assert ratio.cells[0].startswith("0.602 (") and ratio.cells[1] == ""


def test_soc_lines_are_headings_with_terms_indented_in_the_same_block(example_shell_, example_ards):
    display = build_display(example_shell_, "t_teae_soc_pt", example_ards["t_teae_soc_pt"])
    soc = next(line for line in display.lines if line.label == "Infections and infestations")
    terms = [line for line in display.lines if line.block == soc.block and line.indent == 1]
    assert soc.kind == HEADING and [t.label for t in terms] == ["Nasopharyngitis", "Pneumonia"]


def test_row_without_display_format_is_a_config_error(example_ards):
    shell = check_shell({
        "populations": {"SAF": {"flag": "SAFFL", "label": "Safety Set"}},
        "treatment_columns": {"actual": {"variable": "TRT01A"}},
        "outputs": {"table2": {"title": "T", "population": "SAF", "columns": "actual",
                               "rows": [{"id": "sae", "method": "subject_count", "dataset": "adae"}]}}}, "tlf.yaml")
    with pytest.raises(ConfigError, match=r"outputs.table2.rows\[sae\]: no 'display'"):
        build_display(shell, "table2", example_ards["table2"])


def test_row_missing_from_the_ard_asks_to_rerun_analysis(example_shell_, example_ards):
    ard = example_ards["table2"]
    with pytest.raises(InputError, match=r"ARD table2: no statistics for row 'sae'"):
        build_display(example_shell_, "table2", ard.loc[ard["row_id"] != "sae"])


def test_cell_pattern_naming_an_absent_statistic_is_a_config_error(example_ards):
    shell = check_shell({
        "populations": {"SAF": {"flag": "SAFFL", "label": "Safety Set"}},
        "treatment_columns": {"actual": {"variable": "TRT01A"}},
        "outputs": {"table2": {"title": "T", "population": "SAF", "columns": "actual",
                               "rows": [{"id": "sae", "method": "subject_count", "dataset": "adae",
                                         "display": [{"label": "", "format": "{n} ({median})"}]}]}}}, "tlf.yaml")
    with pytest.raises(ConfigError, match=r"rows\[sae\].*'median'"):
        build_display(shell, "table2", example_ards["table2"])
