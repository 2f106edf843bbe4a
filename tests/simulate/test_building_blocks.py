"""Small, hand-checked cases for the simulator's building blocks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from pipeline.common.errors import ConfigError
from pipeline.common.study import StudyContext
from pipeline.simulate.config import load_simulation_inputs
from pipeline.simulate.defects import compute_impossible_date_parts
from pipeline.simulate.formats import compute_format_date_parts, compute_format_decimal, compute_format_dates
from pipeline.simulate.labs import (compute_ancova_calibrated, compute_creatinine_from_egfr_ckd_epi_2009,
                                    compute_egfr_ckd_epi_2009, compute_toggles_for_sum)
from pipeline.simulate.writers import compute_csv_bytes, compute_xlsx_bytes, compute_xpt_bytes


def test_ancova_lsmeans_equal_targets_exactly_with_bounds():
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 0.4, 60)
    group = np.repeat(["A", "B"], [40, 20])
    y = rng.normal(-0.5, 0.5, 60)
    upper = np.where(np.arange(60) < 3, np.log(0.45) - x, np.inf)      # three forced responders in A
    lower = np.where((np.arange(60) >= 3), np.log(0.55) - x, -np.inf)
    out = compute_ancova_calibrated(y, x, group, {"A": np.log(0.369), "B": np.log(0.637)}, lower, upper)
    fit = smf.ols("y ~ C(g) + x", pd.DataFrame({"y": out, "x": x, "g": group})).fit()
    lsmeans = fit.predict(pd.DataFrame({"g": ["A", "B"], "x": x.mean()}))
    assert np.exp(lsmeans).round(10).tolist() == [0.369, 0.637]
    assert abs(fit.params["x"]) < 1e-10
    w24 = np.exp(x + out)
    assert (w24[:3] <= 0.45 + 1e-9).all() and (w24[3:] >= 0.55 - 1e-9).all()


def test_ancova_calibration_names_a_group_without_target():
    with pytest.raises(ConfigError, match="no target mean for group"):
        compute_ancova_calibrated([0.0, 1.0], [1.0, 2.0], ["A", "C"], {"A": 0.0})


def test_toggles_reach_a_negative_sum_and_refuse_an_impossible_one():
    cand = pd.DataFrame({"weight": [4, 2, 1, 1, 4], "sign": [-1, -1, -1, 1, 1]})
    chosen = compute_toggles_for_sum(-7, cand, np.random.default_rng(0))
    assert int((chosen["weight"] * chosen["sign"]).sum()) == -7
    with pytest.raises(ConfigError, match="cannot reach"):
        compute_toggles_for_sum(-9, cand, np.random.default_rng(0))


def test_ckd_epi_inverse_round_trips_for_black_and_non_black():
    egfr = np.array([35.0, 60.0, 90.0, 124.0])
    scr = compute_creatinine_from_egfr_ckd_epi_2009(egfr, [25, 40, 55, 70], [True, False, True, False], [True, True, False, False])
    back = compute_egfr_ckd_epi_2009(scr, [25, 40, 55, 70], [True, False, True, False], [True, True, False, False])
    assert np.allclose(back, egfr)


@pytest.mark.parametrize("pattern, expected", [
    ("DD.MM.YYYY", ["05.03.2024", "UN.03.2024", "UN.UN.2024"]),
    ("DD-MON-YYYY", ["05-MAR-2024", "UN-MAR-2024", "UN-UNK-2024"]),
    ("MM-DD-YYYY", ["03-05-2024", "03-UN-2024", "UN-UN-2024"]),
    ("YYYY-MM-DD", ["2024-03-05", "2024-03", "2024"]),
    ("YYYY/MM/DD", ["2024/03/05", "2024/03/UN", "2024/UN/UN"]),
])
def test_partial_dates_use_the_documented_tokens(pattern, expected):
    got = compute_format_date_parts([2024] * 3, [3] * 3, [5] * 3, pattern, ["D", "M", "Y"])
    assert got.tolist() == expected


def test_dates_with_missing_values_and_precision():
    dates = pd.Series(pd.to_datetime(["2023-02-28", None, "2024-12-31"]))
    assert compute_format_dates(dates, "DD/MM/YYYY", ["D", "D", "M"]).tolist() == ["28/02/2023", "", "UN/12/2024"]


def test_impossible_dates_are_30_february_or_31_of_a_30_day_month():
    years, months, days = compute_impossible_date_parts([2024] * 12, list(range(1, 13)))
    for m, d in zip(months, days):
        assert (m, d) in {(2, 30), (4, 31), (6, 31), (9, 31), (11, 31)}


def test_decimal_comma_and_rounding_half_away_from_zero():
    assert compute_format_decimal([0.125, 2.5, -2.5, 1e-9], 2, ",").tolist() == ["0,13", "2,50", "-2,50", "0,00"]
    assert compute_format_decimal([2.5, 3.5], 0).tolist() == ["3", "4"]


def test_csv_quotes_only_fields_with_the_delimiter():
    frame = pd.DataFrame({"soc": ["Injury, poisoning and procedural complications", "Infections"], "n": ["1", "2"]})
    text = compute_csv_bytes(frame, ",", "utf-8").decode()
    assert text == 'soc,n\n"Injury, poisoning and procedural complications",1\nInfections,2\n'
    assert pd.read_csv(io.StringIO(text), dtype=str)["soc"].tolist() == frame["soc"].tolist()


def test_csv_refuses_text_the_encoding_cannot_hold():
    with pytest.raises(ConfigError, match="cannot be written in encoding latin-1"):
        compute_csv_bytes(pd.DataFrame({"term": ["発熱"]}), ";", "latin-1")


def test_xlsx_is_deterministic_escapes_markup_and_keeps_numbers_typed():
    frame = pd.DataFrame({"Result": ["<10", "A&B", ""], "Weight": ["64.3", "", "70"]})
    first = compute_xlsx_bytes(frame, numeric_columns=["Weight"])
    assert first == compute_xlsx_bytes(frame, numeric_columns=["Weight"])
    back = pd.read_excel(io.BytesIO(first))
    assert back["Result"].fillna("").tolist() == ["<10", "A&B", ""]
    assert back["Weight"].tolist()[0] == 64.3 and pd.isna(back["Weight"].tolist()[1])


def test_xpt_is_deterministic_and_readable(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"SUBJNO": ["1", "2"], "WEIGHT": ["64.3", ""]})
    data = compute_xpt_bytes(frame, "VS", ["Subject No", "Weight"], ["WEIGHT"])
    assert data == compute_xpt_bytes(frame, "VS", ["Subject No", "Weight"], ["WEIGHT"])
    path = tmp_path / "vs.xpt"
    path.write_bytes(data)
    back, meta = pyreadstat.read_xport(str(path))
    assert back["SUBJNO"].tolist() == ["1", "2"] and back["WEIGHT"].iloc[0] == 64.3 and np.isnan(back["WEIGHT"].iloc[1])
    assert meta.column_labels == ["Subject No", "Weight"]


def test_xpt_refuses_long_variable_names():
    with pytest.raises(ConfigError, match="<= 8 characters"):
        compute_xpt_bytes(pd.DataFrame({"SUBJECTNUMBER": ["1"]}), "DM")


def _copy_study(tmp_path: Path, mutate) -> StudyContext:
    root = Path(__file__).resolve().parents[2]
    specs = tmp_path / "specs"
    (specs / "iscalimab-ln").mkdir(parents=True)
    import shutil

    shutil.copytree(root / "specs" / "standards", specs / "standards")
    shutil.copy(root / "specs" / "iscalimab-ln" / "study.yaml", specs / "iscalimab-ln" / "study.yaml")
    sim = yaml.safe_load((root / "specs" / "iscalimab-ln" / "simulation.yaml").read_text(encoding="utf-8"))
    mutate(sim)
    (specs / "iscalimab-ln" / "simulation.yaml").write_text(yaml.safe_dump(sim, allow_unicode=True), encoding="utf-8")
    return StudyContext.create("iscalimab-ln", root=tmp_path, outputs=tmp_path / "out")


def test_missing_site_dialect_is_a_config_error_naming_the_site(tmp_path):
    ctx = _copy_study(tmp_path, lambda sim: sim["site_dialects"].pop("301"))
    with pytest.raises(ConfigError, match=r"simulation.yaml: site_dialects has no entry for site 301"):
        load_simulation_inputs(ctx)


def test_rescue_drug_outside_the_study_list_is_refused(tmp_path):
    def mutate(sim):
        sim["concomitant_medications"]["rescue"][0]["drug"] = "PARACETAMOL"
    ctx = _copy_study(tmp_path, mutate)
    with pytest.raises(ConfigError, match="rescue drug PARACETAMOL is not in study.yaml rescue_therapy"):
        load_simulation_inputs(ctx)


def test_ae_term_missing_from_the_dictionary_is_refused(tmp_path):
    def mutate(sim):
        sim["adverse_events"]["catalogue"][0]["llt"] = "Made-up term"
    ctx = _copy_study(tmp_path, mutate)
    with pytest.raises(ConfigError, match="'Made-up term' is not an LLT of meddra-mini.tsv"):
        load_simulation_inputs(ctx)


def test_missing_nested_key_is_a_one_line_config_error(tmp_path):
    from pipeline.simulate.stage import run

    ctx = _copy_study(tmp_path, lambda sim: sim["calibration"]["upcr"].pop("baseline_geomean"))
    with pytest.raises(ConfigError, match="simulation.yaml: missing key 'baseline_geomean'"):
        run(ctx)


def test_fever_item_outside_the_instrument_is_refused(tmp_path):
    ctx = _copy_study(tmp_path, lambda sim: sim["sledai"].update(fever_item="SSLD9999"))
    with pytest.raises(ConfigError, match="sledai.fever_item names unknown item 'SSLD9999'"):
        load_simulation_inputs(ctx)


def test_vital_signs_temperature_is_fever_temperature_where_the_fever_item_is_present():
    from pipeline.simulate.stage import example_truth

    truth = example_truth()
    sledai = load_simulation_inputs(StudyContext.create("iscalimab-ln")).sim["sledai"]
    assert (sledai["fever_item"], sledai["fever_temperature"]) == ("SSLD0122", 38.4)
    febrile = truth["sledai"].loc[truth["sledai"]["SSLD0122"].eq(True), ["usubjid", "visitnum"]]
    febrile = febrile.assign(visitnum=febrile["visitnum"].astype(float))
    vs = truth["vs"].assign(visitnum=truth["vs"]["visitnum"].astype(float)).merge(febrile, on=["usubjid", "visitnum"])
    assert len(vs) > 0 and vs["temperature"].mean() > 38.0      # afebrile temperatures are clipped at 37.6
