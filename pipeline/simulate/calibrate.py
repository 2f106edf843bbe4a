"""Exact calibration by construction: moments that an analysis will recover, not seed hunting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError


def compute_ancova_calibrated(y, x, group, target_mean: dict, lower=None, upper=None,
                              max_iter: int = 500) -> np.ndarray:
    """Shift and de-correlate ``y`` within each group so that an ANCOVA of ``y`` on group + ``x``
    has a zero slope for ``x`` and LS means exactly ``target_mean[group]``.

    Within every group ``y`` is made uncorrelated with ``x`` (the pooled within-group slope is then
    0, so LS means equal group means) and shifted to the target mean. Optional per-element bounds
    are met by alternating projections (clip, then re-project on the moment constraints).

    >>> y = np.array([0.1, -0.4, 0.3, -1.0, -0.2, 0.0])
    >>> x = np.array([1.0, 1.5, 0.8, 1.2, 0.9, 1.1])
    >>> g = np.array(["A", "A", "A", "B", "B", "B"])
    >>> out = compute_ancova_calibrated(y, x, g, {"A": -1.0, "B": -0.5})
    >>> [round(float(out[g == k].mean()), 12) for k in "AB"]
    [-1.0, -0.5]
    >>> round(float(np.cov(out[g == "A"], x[g == "A"])[0, 1]), 12)
    0.0
    """
    y = np.asarray(y, dtype=float).copy()
    x = np.asarray(x, dtype=float)
    group = np.asarray(group)
    if not (y.shape == x.shape == group.shape):
        raise ConfigError(f"y, x and group must have the same length ({y.shape}, {x.shape}, {group.shape})")
    missing = sorted(set(group.tolist()) - set(target_mean))
    if missing:
        raise ConfigError(f"no target mean for group(s) {missing}")
    lo = np.full(y.shape, -np.inf) if lower is None else np.asarray(lower, dtype=float)
    hi = np.full(y.shape, np.inf) if upper is None else np.asarray(upper, dtype=float)
    if np.any(lo > hi):
        raise ConfigError("calibration bounds: lower > upper for some element")

    def project(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        for key in np.unique(group):
            m = group == key
            xc = x[m] - x[m].mean()
            denom = float(xc @ xc)
            slope = float(xc @ (out[m] - out[m].mean())) / denom if denom > 0 else 0.0
            resid = out[m] - slope * xc
            out[m] = resid - resid.mean() + target_mean[key]
        return out

    y = project(y)
    for _ in range(max_iter):
        if np.all(y >= lo - 1e-12) and np.all(y <= hi + 1e-12):
            break
        y = project(np.clip(y, lo, hi))
    return y


def compute_toggles_for_sum(deficit: int, candidates: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Choose candidate moves whose signed weights add up to ``deficit`` (greedy, largest first).

    ``candidates`` has columns ``weight`` (positive int) and ``sign`` (+1 raises the sum, -1
    lowers it); the chosen rows are returned (a subset). Raises when the sum cannot be reached.

    >>> c = pd.DataFrame({"weight": [4, 4, 2, 1, 1], "sign": [1, 1, 1, -1, 1]})
    >>> chosen = compute_toggles_for_sum(7, c, np.random.default_rng(0))
    >>> int((chosen.weight * chosen.sign).sum())
    7
    """
    if deficit == 0 or candidates.empty:
        if deficit != 0:
            raise ConfigError(f"cannot reach the calibration sum: {deficit} left and no candidate")
        return candidates.iloc[0:0]
    sign = 1 if deficit > 0 else -1
    remaining = abs(int(deficit))
    pool = candidates[candidates["sign"] == sign]
    pool = pool.iloc[rng.permutation(len(pool))]
    chosen = []
    for weight in sorted(pool["weight"].unique(), reverse=True):
        rows = pool[pool["weight"] == weight]
        take = min(remaining // int(weight), len(rows))
        if take:
            chosen.append(rows.iloc[:take])
            remaining -= take * int(weight)
    if remaining:
        raise ConfigError(f"cannot reach the calibration sum exactly: {sign * remaining} left")
    return pd.concat(chosen) if chosen else candidates.iloc[0:0]
