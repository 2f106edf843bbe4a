"""A shell output with a ``figure:`` block is drawn from its ARD as tlf/<output_id>.svg."""
import pandas as pd
import pytest

from pipeline.analysis.shell import check_figure
from pipeline.common.errors import ConfigError
from pipeline.tlf.figures import compute_figure_data, render_figure

SPEC = {"row": "upcr_mmrm", "stat": "gmr", "lower": "gmr_lcl", "upper": "gmr_ucl", "scale": "log", "reference": 1,
        "ylabel": "GMR"}


def test_the_upcr_figure_plots_the_mmrm_gmr_by_visit_and_arm(tables_built):
    ard = pd.read_parquet(tables_built.ard_dir / "t_upcr_mmrm.parquet")
    data = compute_figure_data(ard, SPEC)
    assert list(dict.fromkeys(data["visit"])) == ["WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16", "WEEK 20", "WEEK 24"]
    week24 = data[data["visit"] == "WEEK 24"].set_index("group")
    assert week24.loc["Iscalimab 10 mg/kg", "estimate"] == pytest.approx(0.369, abs=5e-4)
    assert week24.loc["Placebo", "estimate"] == pytest.approx(0.637, abs=5e-4)
    assert (data["lower"] < data["estimate"]).all() and (data["estimate"] < data["upper"]).all()
    svg = (tables_built.tlf_dir / "t_upcr_mmrm.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Iscalimab 10 mg/kg" in svg and "Placebo" in svg and "WEEK 24" in svg
    assert render_figure(data, SPEC, "UPCR") == render_figure(data, SPEC, "UPCR")  # the same data, the same bytes


@pytest.mark.parametrize("spec, message", [
    ({"row": "r"}, "figure.stat must name the ARD stat"),
    ({"row": "r", "stat": "gmr", "colour": "red"}, "figure: unknown key"),
    ({"row": "r", "stat": "gmr", "scale": "cubic"}, "figure.scale must be log or linear"),
])
def test_a_malformed_figure_block_is_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        check_figure(spec, "tlf.yaml: outputs.t")
