"""Pictures for the report: matplotlib figures written as inline SVG, byte-identical across runs.

Every chart is a function from a tidy frame to an SVG string. Determinism: the Agg-free SVG
backend, a fixed ``svg.hashsalt`` (clip-path and glyph ids), text kept as text
(``svg.fonttype: none``) and no date in the metadata. The XML prolog is dropped so the markup can
sit inside the HTML page; matplotlib escapes every text it writes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

from pipeline.common.plotting import ARM_COLOURS, figure_to_svg, new_figure

SEVERITY_COLOURS = {"error": "#b3261e", "warning": "#e0a100", "notice": "#3b6e9b"}


def compute_mean_ci(frame: pd.DataFrame, by_vars: list[str], value: str, confidence: float = 0.95) -> pd.DataFrame:
    """Mean of ``value`` with its t-based confidence interval per ``by_vars`` (n, mean, lcl, ucl).

    A group of one has no interval (NaN limits).

    >>> f = pd.DataFrame({"arm": ["A", "A", "A", "B"], "v": [1.0, 2.0, 3.0, 5.0]})
    >>> compute_mean_ci(f, ["arm"], "v").round(3).values.tolist()
    [['A', 3, 2.0, -0.484, 4.484], ['B', 1, 5.0, nan, nan]]
    """
    data = frame.dropna(subset=[value])
    grouped = data.groupby(by_vars, sort=True)[value]
    out = grouped.agg(n="size", mean="mean", sd="std").reset_index()
    # the inverse t CDF that scipy.stats.t.ppf computes, without importing scipy.stats (0.7 s per report run)
    t = out["n"].map(lambda n: special.stdtrit(n - 1, 0.5 + confidence / 2) if n > 1 else math.nan)
    half = t * out["sd"] / np.sqrt(out["n"])
    out["lcl"], out["ucl"] = out["mean"] - half, out["mean"] + half
    return out.drop(columns="sd")


def chart_over_visits(summary: pd.DataFrame, ylabel: str, reference: float, log_scale: bool = False) -> str:
    """Mean and 95% CI per visit (``AVISITN``/``AVISIT``) and arm (``group``), arms slightly dodged."""
    figure, axes = new_figure(6.4, 3.4)
    groups = list(dict.fromkeys(summary["group"]))
    for i, group in enumerate(groups):
        part = summary[summary["group"] == group].sort_values("AVISITN")
        x = part["AVISITN"].to_numpy(dtype=float) + (i - (len(groups) - 1) / 2) * 0.12
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        errors = np.vstack([part["mean"] - part["lcl"], part["ucl"] - part["mean"]])
        axes.errorbar(x, part["mean"], yerr=np.nan_to_num(errors), marker="o", markersize=4, capsize=3,
                      color=colour, label=f"{group}")
    axes.axhline(reference, color="#9aa5b1", linewidth=0.8, linestyle="--")
    if log_scale:
        from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter

        axes.set_yscale("log")
        low, high = axes.get_ylim()
        ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0) if low <= t <= high] or [reference]
        axes.yaxis.set_major_locator(FixedLocator(ticks))
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        axes.yaxis.set_minor_formatter(NullFormatter())
    visits = summary.drop_duplicates("AVISITN").sort_values("AVISITN")
    axes.set_xticks(visits["AVISITN"].tolist())
    axes.set_xticklabels([str(v).title() for v in visits["AVISIT"]], rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    axes.legend(frameon=False, fontsize=8)
    return figure_to_svg(figure)


def compute_upcr_gmr(adlb: pd.DataFrame, paramcd: str = "LUPCR", group_var: str = "TRTP") -> pd.DataFrame:
    """Geometric mean ratio to baseline per visit and arm with 95% CI, from the log-ratio ``CHG``.

    ``CHG`` of the log parameter is log(post / baseline); the mean and its t interval are
    back-transformed with exp. Analysis records (``ANL01FL = Y``) after baseline only.

    >>> adlb = pd.DataFrame({"PARAMCD": "LUPCR", "ANL01FL": "Y", "ABLFL": None, "TRTP": "A",
    ...                      "AVISITN": 5.0, "AVISIT": "WEEK 4", "CHG": [math.log(0.5), math.log(0.5)]})
    >>> compute_upcr_gmr(adlb)[["group", "AVISIT", "n", "mean"]].round(3).values.tolist()
    [['A', 'WEEK 4', 2, 0.5]]
    """
    summary = compute_change(adlb, paramcd, group_var)
    return summary.assign(**{column: np.exp(summary[column]) for column in ("mean", "lcl", "ucl")})


def compute_change(adam: pd.DataFrame, paramcd: str, group_var: str = "TRTP") -> pd.DataFrame:
    """Mean change from baseline (``CHG``) per visit and arm with 95% CI, post-baseline analysis records.

    >>> f = pd.DataFrame({"PARAMCD": "T", "ANL01FL": "Y", "ABLFL": None, "TRTP": "A", "AVISITN": 5.0,
    ...                   "AVISIT": "WEEK 4", "CHG": [-2.0, -4.0]})
    >>> compute_change(f, "T")[["group", "n", "mean"]].values.tolist()
    [['A', 2, -3.0]]
    """
    data = adam[(adam["PARAMCD"] == paramcd) & (adam.get("ANL01FL", "Y") == "Y")]
    if "ABLFL" in data.columns:
        data = data[data["ABLFL"].fillna("") != "Y"]
    return compute_mean_ci(data.rename(columns={group_var: "group"}), ["group", "AVISITN", "AVISIT"], "CHG")


def chart_findings_per_site(counts: pd.DataFrame) -> str:
    """Stacked bars: findings per site (``site`` x severity columns ``error``, ``warning``, ``notice``)."""
    figure, axes = new_figure(6.4, 2.8)
    sites = counts["site"].astype(str).tolist()
    bottom = np.zeros(len(sites))
    for severity, colour in SEVERITY_COLOURS.items():
        values = counts[severity].to_numpy(dtype=float) if severity in counts else np.zeros(len(sites))
        axes.bar(sites, values, bottom=bottom, color=colour, label=severity, width=0.6)
        bottom += values
    axes.set_ylabel("findings")
    axes.set_xlabel("site")
    axes.legend(frameon=False, fontsize=8)
    return figure_to_svg(figure)


def chart_quarantine_reasons(counts: pd.DataFrame) -> str:
    """Horizontal bars: quarantined rows per reason (``reason``, ``rows``), largest on top."""
    data = counts.sort_values(["rows", "reason"], ascending=[True, False])
    figure, axes = new_figure(6.4, 0.6 + 0.28 * max(len(data), 1))
    axes.barh(data["reason"].astype(str).tolist(), data["rows"].to_numpy(dtype=float), color="#c2571a")
    for y, value in enumerate(data["rows"]):
        axes.text(float(value), y, f" {int(value)}", va="center", fontsize=8)
    axes.set_xlabel("quarantined rows")
    return figure_to_svg(figure)
