"""Rounding as SAS ``ROUND`` does it, for every stage that stores a rounded number."""

from __future__ import annotations

from typing import Any

import numpy as np


def round_half_away(values: Any, decimals: Any) -> np.ndarray:
    """``values`` rounded half away from zero to ``decimals`` (a number or an array of them), as float;
    numpy rounds half to even. The 1e-9 absorbs binary noise, so 2.675 (stored as 2.67499...) gives 2.68.

    >>> round_half_away([1.25, -0.5, 2.0, 2.675], 1).tolist(), round_half_away([2.675], 2).tolist()
    ([1.3, -0.5, 2.0, 2.7], [2.68])
    """
    x = np.asarray(values, dtype=float)
    scale = 10.0 ** np.asarray(decimals)
    return np.sign(x) * np.floor(np.abs(x) * scale + 0.5 + 1e-9) / scale
