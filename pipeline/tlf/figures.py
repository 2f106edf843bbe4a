"""Figures of the shells: an output with a ``figure:`` block in tlf.yaml is also drawn, from its ARD,
as ``tlf/<output_id>.svg`` (matplotlib, byte-identical across runs).

``figure: {row, stat, lower, upper, scale, reference, ylabel}`` plots, per treatment group, the
statistic ``stat`` of the rows ``<row>@<visit>`` in ARD order with the interval ``lower``-``upper``,
on a ``log`` or ``linear`` scale with a reference line (e.g. 1 for a ratio to baseline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.plotting import ARM_COLOURS, figure_to_svg, new_figure

def compute_figure_data(ard: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """One row per group and visit: ``group, visit, estimate, lower, upper`` (visits in ARD order).

    >>> ard = pd.DataFrame({"row_id": ["r@W4", "r@W4", "r@W8", "r@W8"], "group": ["A"] * 4,
    ...                     "stat": ["gmr", "gmr_lcl", "gmr", "gmr_lcl"], "value": [0.8, 0.6, 0.5, 0.4]})
    >>> compute_figure_data(ard, {"row": "r", "stat": "gmr", "lower": "gmr_lcl"}).values.tolist()
    [['A', 'W4', 0.8, 0.6, nan], ['A', 'W8', 0.5, 0.4, nan]]
    """
    rows = ard[ard["row_id"].astype(str).str.startswith(f"{spec['row']}@")]
    visits = list(dict.fromkeys(rows["row_id"]))
    out = []
    for group in dict.fromkeys(rows["group"]):
        wide = rows[rows["group"] == group].pivot_table(index="row_id", columns="stat", values="value", aggfunc="first")
        wide = wide.reindex(visits)
        for visit in visits:
            pick = lambda key: float(wide.at[visit, spec[key]]) if spec.get(key) in wide.columns else np.nan  # noqa: E731
            out.append({"group": group, "visit": visit.split("@", 1)[1], "estimate": pick("stat"),
                        "lower": pick("lower"), "upper": pick("upper")})
    return pd.DataFrame(out, columns=["group", "visit", "estimate", "lower", "upper"])


def render_figure(data: pd.DataFrame, spec: Mapping[str, Any], title: str) -> str:
    """The figure as SVG: estimates with their intervals over visits, one series per group."""
    figure, axes = new_figure(6.4, 3.8)
    visits = list(dict.fromkeys(data["visit"]))
    groups = list(dict.fromkeys(data["group"]))
    for index, group in enumerate(groups):
        part = data[data["group"] == group].set_index("visit").reindex(visits)
        offset = (index - (len(groups) - 1) / 2) * 0.08
        x = np.arange(len(visits)) + offset
        estimate = part["estimate"].to_numpy(dtype=float)
        errors = np.vstack([estimate - part["lower"].to_numpy(dtype=float), part["upper"].to_numpy(dtype=float) - estimate])
        axes.errorbar(x, estimate, yerr=None if np.isnan(errors).all() else np.nan_to_num(errors), marker="o",
                      capsize=3, linewidth=1.2, color=ARM_COLOURS[index % len(ARM_COLOURS)], label=str(group))
    if spec.get("scale") == "log":
        axes.set_yscale("log")
    if spec.get("reference") is not None:
        axes.axhline(float(spec["reference"]), color="#6a7785", linewidth=0.8, linestyle="--")
    axes.set_xticks(np.arange(len(visits)), visits)
    axes.set_ylabel(str(spec.get("ylabel", spec["stat"])))
    axes.set_title(title, fontsize=10)
    axes.legend(frameon=False)
    return figure_to_svg(figure)
