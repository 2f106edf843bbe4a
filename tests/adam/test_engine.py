import pandas as pd
import pyarrow as pa
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.engine import Engine, as_text, finalise, key_order, parquet_ready, parquet_table
from pipeline.common.errors import ConfigError, PipelineError

DM = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["1", "2", "3"], "ARMCD": ["A", "B", "SF"],
                   "SITEID": ["101", "501", "101"], "AGE": [30.0, 70.0, 50.0]})
DESIGN = {"arms": [{"armcd": "A", "trt": "Drug", "trtn": 1}, {"armcd": "B", "trt": "Placebo", "trtn": 2}],
          "sites": [{"siteid": "101", "region": "EUROPE"}, {"siteid": "501", "region": "ASIA"}],
          "visits": [{"visitnum": 4, "visit": "WEEK 2", "day": 15}, {"visitnum": 5, "visit": "WEEK 4", "day": 29}],
          "cut": 65}


def _build(steps, variables=None, source=None, sdtm=None):
    spec = {"datasets": [{"name": "ADSL", "source": source or {"sdtm": "dm", "filter": "ARMCD in ${arms.armcd}"},
                          "steps": steps, **({"variables": variables} if variables else {})}]}
    return Engine(spec, sdtm or {"dm": DM}, design=DESIGN, spec_path="spec.yaml").build()["ADSL"]


def test_placeholders_and_design_tables():
    out = _build([{"derive_vars_merged": {"dataset_add": {"design": "arms"}, "by_vars": {"ARMCD": "armcd"},
                                          "new_vars": {"TRT01P": "trt"}}},
                  {"derive_vars_cat": {"definition": [{"condition": "AGE < ${cut}", "AGEGR1": "<65"},
                                                      {"condition": "AGE >= ${cut}", "AGEGR1": ">=65"}]}}])
    assert out[["USUBJID", "TRT01P", "AGEGR1"]].values.tolist() == [["1", "Drug", "<65"], ["2", "Placebo", ">=65"]]


def test_table_operations_compute_assign_round_rename_drop():
    out = _build([{"compute": {"X": "AGE / 7"}}, {"round": {"X": 2}}, {"assign": {"FLAG": "Y"}},
                  {"rename": {"AGE": "AAGE"}}, {"drop": ["SITEID"]}])
    assert out["X"].tolist() == [4.29, 10.0]
    assert out["FLAG"].tolist() == ["Y", "Y"]
    assert "AAGE" in out and "SITEID" not in out


def test_round_is_half_away_from_zero():
    out = _build([{"compute": {"X": "AGE * 0 + 2.5"}}, {"round": {"X": 0}}])
    assert out["X"].tolist() == [3.0, 3.0]


def test_windows_reference_from_design_visits():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "ADY": [22.0, 23.0]})
    out = _build([{"derive_vars_avisit": {"windows": {"windows": {"visits": ["WEEK 2", "WEEK 4"], "first_lower": 2}}}}],
                 source={"sdtm": "lb"}, sdtm={"lb": lb})
    assert out["AVISIT"].tolist() == ["WEEK 2", "WEEK 4"]


def test_windows_from_a_design_list_without_target_days_names_the_missing_key():
    lb = pd.DataFrame({"USUBJID": ["1"], "ADY": [22.0]})
    with pytest.raises(ConfigError, match=r"study.yaml 'arms' entries need visit, visitnum, day for analysis windows"):
        _build([{"derive_vars_avisit": {"windows": {"windows": {"from": "arms"}}}}], source={"sdtm": "lb"},
               sdtm={"lb": lb})


def test_error_names_spec_dataset_step_and_verb():
    with pytest.raises(DerivationError, match=r"spec.yaml: dataset ADSL step 2 \(derive_vars_merged\): .*more than one record"):
        _build([{"assign": {"X": 1}},
                {"derive_vars_merged": {"dataset_add": {"sdtm": "dm"}, "by_vars": ["STUDYID"], "new_vars": {"A2": "AGE"}}}])


def test_unknown_verb_missing_domain_and_missing_design_key():
    with pytest.raises(ConfigError, match="unknown verb 'derive_var_magic'"):
        _build([{"derive_var_magic": {}}])
    with pytest.raises(PipelineError, match="SDTM domain EX is not available"):
        _build([{"derive_vars_merged": {"dataset_add": {"sdtm": "ex"}, "by_vars": ["USUBJID"]}}])
    with pytest.raises(ConfigError, match="study.yaml has no 'arms.colour'"):
        _build([{"filter": "ARMCD in ${arms.colour}"}])


def test_wrong_argument_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unexpected keyword argument 'byvars'"):
        _build([{"derive_var_extreme_flag": {"byvars": ["USUBJID"], "order": ["AGE"], "new_var": "F"}}])


def test_finalise_orders_types_sorts_and_checks_keys():
    frame = pd.DataFrame({"USUBJID": ["2", "1"], "AGE": [70, 30], "X": [1, 2]})
    spec = {"keys": ["USUBJID"], "variables": [{"name": "USUBJID", "type": "text"}, {"name": "AGE", "type": "integer"},
                                               {"name": "DTHFL", "type": "text", "optional": True}]}
    out = finalise(frame, spec, "t")
    assert out.columns.tolist() == ["USUBJID", "AGE", "DTHFL"]
    assert out["USUBJID"].tolist() == ["1", "2"] and out["AGE"].dtype == float
    with pytest.raises(ConfigError, match="not derived: TRTSDT"):
        finalise(frame, {"variables": [{"name": "TRTSDT", "type": "date"}]}, "t")
    with pytest.raises(DerivationError, match="keys USUBJID are not unique"):
        finalise(pd.concat([frame, frame]), spec, "t")


def test_finalise_names_variable_row_and_value_that_is_not_of_its_type():
    frame = pd.DataFrame({"AGE": ["30", "", None, "unknown"], "TRTSDT": ["2024-01-01", "", None, "2024-13-45"]})
    out = finalise(frame.iloc[:3], {"variables": [{"name": "AGE", "type": "float"}]}, "t")
    assert out["AGE"].tolist()[0] == 30.0 and out["AGE"].isna().tolist() == [False, True, True]
    with pytest.raises(DerivationError, match=r"t: variable AGE \(type float\): value 'unknown' on row 4 is not a float"):
        finalise(frame, {"variables": [{"name": "AGE", "type": "float"}]}, "t")
    with pytest.raises(DerivationError, match=r"variable TRTSDT \(type date\): value '2024-13-45' on row 4"):
        finalise(frame, {"variables": [{"name": "TRTSDT", "type": "date"}]}, "t")


def test_round_of_an_unknown_variable_names_it():
    with pytest.raises(ConfigError, match=r"spec.yaml: dataset ADSL step 1 \(round\): round names unknown variables \['X'\]"):
        _build([{"round": {"X": 2}}])


def test_text_conversion_and_parquet_types():
    assert as_text(pd.Series([1.0, 2.5, None])).tolist() == ["1", "2.5", None]
    ready = parquet_ready(pd.DataFrame({"A": [None, None], "B": [1.0, 2.0]}),
                          {"variables": [{"name": "A", "type": "text"}, {"name": "B", "type": "float"}]})
    assert str(ready["A"].dtype) == "string" and ready["B"].dtype == float


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"A": ["x", None, "y"], "B": [1.0, None, 2.0], "C": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
                  "D": [1, 2, 3], "E": [None, None, None], "F": [True, False, True]}),
    pd.DataFrame({"A": ["x", 2, None], "B": [1.0, 2.0, 3.0], "C": pd.to_datetime(["2024-01-01"] * 3),
                  "D": [1, 2, 3], "E": ["a", "b", None], "F": [True, False, True]}),  # a number among the text
    pd.DataFrame({"A": ["x", "y", "z"], "B": [1.0, 2.0, 3.0], "C": pd.to_datetime(["2024-01-01"] * 3),
                  "D": pd.array([1, None, 3], dtype="Int64"), "E": ["a", "b", None], "F": [True, False, None]}),
])
def test_parquet_table_is_the_table_of_parquet_ready(frame):
    spec = {"variables": [{"name": "A", "type": "text"}, {"name": "B", "type": "float"}, {"name": "C", "type": "date"},
                          {"name": "E", "type": "text"}]}  # D and F are kept without a type
    expected = pa.Table.from_pandas(parquet_ready(frame, spec), preserve_index=False)
    table = parquet_table(frame.set_axis([5, 3, 1]), spec)
    assert table.equals(expected, check_metadata=True)
    assert table.column("A").to_pylist() == [str(v) if v is not None else None for v in frame["A"]]


def test_optional_step_with_missing_domain_is_skipped():
    out = _build([{"optional": True, "derive_vars_merged": {"dataset_add": {"sdtm": "suppmh"}, "by_vars": ["USUBJID"],
                                                            "new_vars": {"BXCLASS": "QVAL"}}}],
                 variables=[{"name": "USUBJID", "type": "text"}, {"name": "BXCLASS", "type": "text", "optional": True}])
    assert out["BXCLASS"].tolist() == [None, None]


def test_standard_table_union_and_sort(tmp_path):
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "toy.yaml").write_text("items:\n  - {testcd: T1, weight: 4}\n  - {testcd: T2, weight: 2}\n")
    spec = {"datasets": [{"name": "ADX", "source": {"standard": "instruments/toy", "path": "items"},
                          "steps": [{"union": {"table": [{"testcd": "T0", "weight": 1}]}},
                                    {"sort": ["weight"]}]}]}
    out = Engine(spec, {}, design={}, standards_dir=tmp_path).build()["ADX"]
    assert out[["testcd", "weight"]].values.tolist() == [["T0", 1], ["T2", 2], ["T1", 4]]


def test_later_dataset_of_the_same_name_replaces_the_first_pass():
    spec = {"datasets": [{"name": "ADSL", "source": {"sdtm": "dm"}},
                         {"name": "ADSL", "source": {"adam": "adsl"}, "steps": [{"assign": {"PASS": "2"}}]}]}
    out = Engine(spec, {"dm": DM}).build()["ADSL"]
    assert out["PASS"].tolist() == ["2", "2", "2"]


def _major_deviation_step():
    return {"optional": True, "otherwise": {"assign": {"MAJDVFL": "N"}},
            "derive_vars_merged": {"dataset_add": {"sdtm": "dv", "filter": "DVCAT == 'MAJOR'"},
                                   "by_vars": ["STUDYID", "USUBJID"], "new_vars": {"MAJDVTRM": "DVTERM"},
                                   "exist_flag": "MAJDVFL", "false_value": "N"}}


def test_optional_step_runs_otherwise_when_its_domain_is_missing():
    out = _build([_major_deviation_step()])
    assert out["MAJDVFL"].tolist() == ["N", "N"]
    assert "MAJDVTRM" not in out


def test_optional_step_runs_itself_when_its_domain_exists():
    dv = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["2", "1"], "DVCAT": ["MAJOR", "MINOR"],
                       "DVTERM": ["Wrong dose", "Late visit"]})
    out = _build([_major_deviation_step()], sdtm={"dm": DM, "dv": dv})
    assert out[["USUBJID", "MAJDVFL", "MAJDVTRM"]].fillna("").values.tolist() == [
        ["1", "N", ""], ["2", "Y", "Wrong dose"]]


def test_build_each_hands_over_each_dataset_after_its_last_reader_and_forgets_sdtm_after_its_last_reader():
    from pipeline.adam.stage import LazyFrames

    loads: list[str] = []
    frames = LazyFrames({"dm": lambda: loads.append("dm") or DM,
                         "ae": lambda: loads.append("ae") or pd.DataFrame({"USUBJID": ["2"], "AETERM": ["X"]})})
    spec = {"datasets": [
        {"name": "ADSL", "source": {"sdtm": "dm"}},
        {"name": "ADAE", "source": {"sdtm": "ae"},
         "steps": [{"derive_vars_merged": {"dataset_add": {"adam": "adsl"}, "by_vars": ["USUBJID"],
                                           "new_vars": ["ARMCD"]}}]},
        {"name": "ADSL", "source": {"adam": "adsl"}, "steps": [{"assign": {"FINAL": "Y"}}]},
        {"name": "ADXX", "source": {"sdtm": "dm"}},
    ]}
    engine = Engine(spec, frames, design=DESIGN)
    assert engine.last_uses() == ({"dm": 3, "ae": 1}, {"ADSL": 2, "ADAE": 1, "ADXX": 3})
    done: list[tuple[str, list[str], list[str]]] = []
    engine.build_each(lambda name, frame: done.append((name, list(frame.columns), sorted(frames._cache))))
    assert [(name, cached) for name, _, cached in done] == [("ADAE", ["dm"]), ("ADSL", ["dm"]), ("ADXX", [])]
    assert done[0][1] == ["USUBJID", "AETERM", "ARMCD"]
    assert done[1][1] == ["STUDYID", "USUBJID", "ARMCD", "SITEID", "AGE", "FINAL"]
    assert loads == ["dm", "ae"] and engine.built == {}
    assert engine.sdtm_reads_left == {"dm": 0, "ae": 0}  # AE was forgotten as soon as its one reference was read


def test_last_uses_resolves_placeholders_in_references():
    spec = {"datasets": [{"name": "ADSL", "source": {"sdtm": "${domain}"}}, {"name": "ADAE", "source": {"sdtm": "ae"}}]}
    assert Engine(spec, {}, design={"domain": "DM"}).last_uses() == ({"dm": 0, "ae": 1}, {"ADSL": 0, "ADAE": 1})


def test_finalise_sorts_every_column_by_the_keys_and_types_them():
    frame = pd.DataFrame({"K": ["b", "a", "c", "a"], "N": [2, 1, 3, 0],
                          "D": ["2024-01-02", None, "2024-01-03", "2024-01-01"], "X": ["drop", "me", "too", "!"]},
                         index=[5, 5, 6, 7])
    spec = {"keys": ["K", "N"], "variables": [{"name": "K"}, {"name": "N", "type": "integer"},
                                              {"name": "D", "type": "date"}]}
    out = finalise(frame, spec, "t")
    assert out.index.tolist() == [0, 1, 2, 3] and list(out.columns) == ["K", "N", "D"]
    assert out["K"].tolist() == ["a", "a", "b", "c"] and out["N"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert out["D"].dt.strftime("%Y-%m-%d").fillna("").tolist() == ["2024-01-01", "", "2024-01-02", "2024-01-03"]
    assert frame.shape == (4, 4)  # the caller's frame is untouched


def test_key_order_sorts_missing_last_keeps_ties_in_input_order_and_finds_the_first_repeated_key():
    keys = pd.DataFrame({"K": ["b", None, "a", "b", "a"], "N": [2.0, 1.0, None, 1.0, 0.0]})
    positions, repeated = key_order(keys)
    assert positions.tolist() == [4, 2, 3, 0, 1] and repeated == -1
    positions, repeated = key_order(pd.DataFrame({"K": ["b", None, "a", None], "N": [1.0, None, 2.0, None]}))
    assert positions.tolist() == [2, 0, 1, 3] and repeated == 2  # missing keys equal each other, as in duplicated()


def test_finalise_reports_the_first_repeated_key_in_key_order():
    frame = pd.DataFrame({"USUBJID": ["3", "2", "1", "2", "3"], "AESEQ": [1, 5, 1, 5, 1]})
    spec = {"keys": ["USUBJID", "AESEQ"], "variables": [{"name": "USUBJID"}, {"name": "AESEQ", "type": "integer"}]}
    with pytest.raises(DerivationError, match=r"not unique, e.g. \{'USUBJID': '2', 'AESEQ': 5.0\}"):
        finalise(frame, spec, "t")
    assert finalise(frame, {**spec, "unique_keys": False}, "t")["USUBJID"].tolist() == ["1", "2", "2", "3", "3"]


def test_text_that_is_all_text_is_kept_and_missing_values_become_none():
    values = pd.Series(["a", "b"], index=[3, 4], name="X")
    assert as_text(values).tolist() == ["a", "b"] and as_text(values).index.tolist() == [3, 4]
    assert as_text(pd.Series(["a", float("nan"), None, pd.NA], dtype=object)).tolist() == ["a", None, None, None]
