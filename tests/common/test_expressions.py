"""The one expression language: closed grammar, pandas-compatible results, nothing evaluated as code."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis.filters import filter_where
from pipeline.common.errors import ConfigError
from pipeline.common.expressions import ExpressionError, evaluate, evaluate_mask, parse
from pipeline.common.study import PROJECT_ROOT, StudyContext
from pipeline.sdtm.mapping.algorithms import Columns, evaluate_condition

FRAME = pd.DataFrame({
    "USUBJID": ["01", "02", "03", "04"],
    "PARAMCD": ["UPCR", "EGFR", None, "UPCR"],
    "AVAL": [2.0, None, 4.0, 0.5],
    "BASE": [4.0, 1.0, None, 1.0],
    "LBSTRESC": ["<0.1", "5", "", "<2"],
    "ADT": pd.to_datetime(["2024-01-10", "2024-01-01", None, "2024-02-01"]),
    "TRTSDT": pd.to_datetime(["2024-01-01"] * 4),
})


@pytest.mark.parametrize("expression, expected", [
    ("PARAMCD == 'UPCR'", [True, False, False, True]),
    ("PARAMCD != 'UPCR'", [False, True, True, False]),          # pandas: a missing value is unequal
    ("AVAL > 1", [True, False, True, False]),                   # a comparison with a missing value is false
    ("AVAL >= 0.5 and BASE < 4", [False, False, False, True]),
    ("PARAMCD == 'EGFR' or AVAL == 4", [False, True, True, False]),
    ("not PARAMCD == 'UPCR'", [False, True, True, False]),
    ("PARAMCD in ['UPCR', 'EGFR']", [True, True, False, True]),
    ("PARAMCD not in ['UPCR']", [False, True, True, False]),
    ("notna(AVAL) and isna(BASE)", [False, False, True, False]),
    ("isna(LBSTRESC)", [False, False, True, False]),            # blank text counts as missing
    ("startswith(LBSTRESC, '<')", [True, False, False, True]),
    ("matches(LBSTRESC, '<[0-9.]+')", [True, False, False, True]),
    ("matches(LBSTRESC, '<')", [False, False, False, False]),   # the whole value must match
    ("days(ADT - TRTSDT) <= 9", [True, True, False, False]),
    ("0 < AVAL < 3", [True, False, False, True]),
    ("True", [True, True, True, True]),
])
def test_conditions_give_one_true_false_per_row(expression, expected):
    assert evaluate_mask(FRAME, expression).tolist() == expected


@pytest.mark.parametrize("expression, expected", [
    ("AVAL - BASE", [-2.0, np.nan, np.nan, -0.5]),
    ("AVAL / BASE * 100", [50.0, np.nan, np.nan, 50.0]),
    ("-AVAL + 1", [-1.0, np.nan, -3.0, 0.5]),
    ("BASE ** 2", [16.0, 1.0, np.nan, 1.0]),
    ("coalesce(AVAL, BASE, 0)", [2.0, 1.0, 4.0, 0.5]),
    ("if_else(PARAMCD == 'UPCR', AVAL, BASE)", [2.0, 1.0, np.nan, 0.5]),
    ("number(extract(LBSTRESC, '<([0-9.]+)'))", [0.1, np.nan, np.nan, 2.0]),
    ("log(BASE)", [np.log(4.0), 0.0, np.nan, 0.0]),
    ("days(ADT - TRTSDT) + 1", [10.0, 1.0, np.nan, 32.0]),
])
def test_values_are_computed_column_wise(expression, expected):
    np.testing.assert_allclose(pd.to_numeric(evaluate(FRAME, expression)).to_numpy(dtype=float), expected)


def test_the_same_text_gives_what_pandas_eval_gave_for_the_specs_old_spelling():
    """The flagship's ADaM specs moved from pandas spellings to the language; the values agree."""
    old_and_new = [
        (FRAME["AVAL"].fillna(FRAME["LBSTRESC"].str.extract("^<([0-9.]+)$", expand=False).astype("float64")),
         "coalesce(AVAL, number(extract(LBSTRESC, '<([0-9.]+)')))"),
        ((FRAME["ADT"] - FRAME["TRTSDT"]).dt.days + 1, "days(ADT - TRTSDT) + 1"),
        (FRAME["AVAL"].where(FRAME["PARAMCD"] != "EGFR", FRAME["BASE"]), "if_else(PARAMCD != 'EGFR', AVAL, BASE)"),
    ]
    for old, new in old_and_new:
        pd.testing.assert_series_equal(evaluate(FRAME, new), old, check_names=False)


@pytest.mark.parametrize("text, message", [
    ("@pd.io.common.os.system('touch /tmp/pwned')", "invalid syntax"),
    ("__import__('os').system('touch /tmp/pwned')", "'.system' is not part of the expression language"),
    ("AVAL.__class__", "'.__class__' is not part of the expression language"),
    ("open('/etc/passwd')", "unknown function open()"),
    ("[x for x in AVAL]", "ListComp is not part of the expression language"),
    ("(lambda: 1)()", "Lambda is not part of the expression language"),
    ("AVAL[0]", "Subscript is not part of the expression language"),
    ("f'{AVAL}'", "JoinedStr is not part of the expression language"),
    ("AVAL.notna()", "write notna(AVAL)"),
    ("PARAMCD.str.startswith('SSLD')", "is not part of the expression language"),
    ("AVAL if BASE else 0", "IfExp is not part of the expression language"),
    ("AVAL // 2", "operator FloorDiv is not part of the expression language"),
    ("PARAMCD in AVAL", "'in' needs a list of values"),
    ("matches(LBSTRESC, '(')", "invalid regular expression"),
    ("matches(LBSTRESC, PARAMCD)", "a regular expression must be a quoted string"),
    ("coalesce(AVAL)", "coalesce() takes 2 or more argument(s), got 1"),
    ("notna(AVAL, na=False)", "takes no named arguments"),
    ("AEACN == ", "incomplete or invalid syntax"),
    ("", "empty"),
    ("(" * 300 + "AVAL" + ")" * 300, "too many nested parentheses"),
    ("AVAL + " * 700 + "1", "characters: longer than the limit"),
])
def test_anything_outside_the_grammar_is_refused_before_it_runs(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(text)


def test_an_unknown_variable_is_named_with_the_variables_there_are():
    with pytest.raises(ExpressionError, match=r"expression 'AVALX > 1': unknown variable AVALX \(has: USUBJID, PARAMCD"):
        evaluate_mask(FRAME, "AVALX > 1")


def test_parse_lists_the_variables_read_in_order():
    assert parse("AVAL > BASE and PARAMCD in ['A'] or notna(AVAL)").columns == ["AVAL", "BASE", "PARAMCD"]


def test_shell_where_as_text_and_as_mapping_select_the_same_rows():
    by_text = filter_where(FRAME, "PARAMCD in ['UPCR', 'EGFR'] and notna(AVAL)")
    by_mapping = filter_where(FRAME, {"PARAMCD": ["UPCR", "EGFR"], "AVAL": {"notnull": True}})
    assert by_text["USUBJID"].tolist() == by_mapping["USUBJID"].tolist() == ["01", "04"]


def test_mapping_condition_as_text_and_as_mapping_select_the_same_rows():
    columns = Columns(pd.DataFrame({"sae": ["Yes", "No", "", "Y"], "grade": ["3", "1", "2", ""]}))
    structured = {"all": [{"column": "sae", "in": ["Yes", "Y"]}, {"not": {"column": "grade", "is_empty": True}}]}
    text = "sae in ['Yes', 'Y'] and notna(grade)"
    assert evaluate_condition(structured, columns).tolist() == evaluate_condition(text, columns).tolist() \
        == [True, False, False, False]


def test_no_spec_text_is_ever_handed_to_python_or_pandas_evaluation():
    """`eval(`, `exec(`, `DataFrame.eval(` and `.query(` appear nowhere in the pipeline's code."""
    pattern = re.compile(r"\.(eval|query)\(|(?<![\w.])(eval|exec)\(|__import__\(")
    hits = [f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
            for path in sorted((PROJECT_ROOT / "pipeline").rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if pattern.search(line)]
    assert hits == []


# --- spec files carrying a payload never run it ---------------------------------------------------

def test_a_relrec_filter_that_would_run_a_shell_command_stops_the_stage_naming_file_and_line(tmp_path, study_root, simulated):
    from pipeline.sdtm.stage import run

    root = study_root
    marker = tmp_path / "pwned"
    mapping = root / "mappings/iscalimab-ln/ae.yaml"
    text = mapping.read_text(encoding="utf-8")
    payload = f"@pd.io.common.os.system('touch {marker}')"
    assert "filter: \"AEACN == 'DRUG WITHDRAWN'\"" in text
    mapping.write_text(text.replace("filter: \"AEACN == 'DRUG WITHDRAWN'\"", f'filter: "{payload}"'), encoding="utf-8")
    line = next(n for n, row in enumerate(mapping.read_text(encoding="utf-8").splitlines(), 1) if payload in row)
    ctx = StudyContext.create("iscalimab-ln", root=root, raw=simulated.raw_dir, outputs=tmp_path / "out")
    with pytest.raises(ConfigError, match=rf"ae\.yaml:{line}: relrec filter: expression .* invalid syntax"):
        run(ctx)
    assert not marker.exists()
    assert not (tmp_path / "out" / "sdtm").exists()


def test_an_adam_filter_that_would_run_code_stops_before_any_derivation(tmp_path):
    from pipeline.adam.engine import Engine

    spec = {"datasets": [{"name": "ADSL", "source": {"sdtm": "dm", "filter": "ARMCD != 'SCRNFAIL'"},
                          "steps": [{"compute": {"X": "__import__('os').system('true')"}}]}]}
    with pytest.raises(ConfigError, match=r"adam\.yaml: dataset ADSL: steps 1 compute X: expression .*'\.system'"):
        Engine(spec, {"DM": pd.DataFrame({"ARMCD": ["A"]})}, spec_path="adam.yaml")


# --- text functions are computed per distinct value: the same result as per row ---------------------

TEXT_COLUMNS = {
    "object": pd.Series(["<10", None, " ", "SSLD01", "<10", "", "5.5", float("nan"), "SSLD01"], index=range(10, 19)),
    "string": pd.Series(["<10", None, " ", "SSLD01", "<10", "", "5.5", None, "SSLD01"], dtype="string"),
    "mixed": pd.Series([1, 1.0, True, "<1", None, " "], dtype=object),
}


@pytest.mark.parametrize("kind", sorted(TEXT_COLUMNS))
@pytest.mark.parametrize("expression", ["notna(X)", "isna(X)", "startswith(X, 'SSLD')", "matches(X, '<[0-9.]+')",
                                        "extract(X, '<([0-9.]+)')", "number(extract(X, '<([0-9.]+)'))"])
def test_text_functions_per_distinct_value_equal_the_per_row_result(kind, expression):
    values = TEXT_COLUMNS[kind]
    got = evaluate(pd.DataFrame({"X": values}), expression)
    expected = pd.concat([evaluate(pd.DataFrame({"X": values.iloc[[i]]}), expression) for i in range(len(values))])
    pd.testing.assert_series_equal(got, expected, check_names=False)


def test_text_functions_per_distinct_value_known_values():
    values = TEXT_COLUMNS["object"]
    frame = pd.DataFrame({"X": values})
    assert evaluate(frame, "notna(X)").tolist() == [True, False, False, True, True, False, True, False, True]
    assert evaluate(frame, "extract(X, '<([0-9.]+)')").tolist() == ["10", pd.NA, pd.NA, pd.NA, "10", pd.NA, pd.NA,
                                                                   pd.NA, pd.NA]
    assert evaluate(frame, "startswith(X, 'SSLD')").index.tolist() == list(range(10, 19))
    mixed = pd.DataFrame({"X": TEXT_COLUMNS["mixed"]})
    assert evaluate(mixed, "matches(X, '1.*')").tolist() == [True, True, False, False, False, False]
