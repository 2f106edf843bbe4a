"""Number formatting for displays (the strings every format shows): SAS-style rounding, percentages, p-values."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_DECIMALS = {"n": 0, "N": 0, "events": 0, "pct": 1, "pvalue": 4}


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def round_half_up(value: float, decimals: int) -> str:
    """``value`` rounded half away from zero (as SAS ``ROUND``/``PUT w.d``) as text.

    The shortest repr of the float is rounded, so 2.675 gives 2.68 like SAS (not 2.67).
    Negative zero prints as zero.

    >>> [round_half_up(v, 1) for v in (15.35, 0.25, -0.04, 2.0)]
    ['15.4', '0.3', '0.0', '2.0']
    >>> round_half_up(2.675, 2), round_half_up(38.5, 0)
    ('2.68', '39')
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)
    return f"{rounded:.{decimals}f}"


def format_percent(value: float, decimals: int = 1) -> str:
    """A percentage: one decimal by default, ``100`` without decimals, ``<0.1`` / ``>99.9`` near the ends.

    >>> [format_percent(v) for v in (15.3846, 100.0, 0.0, 0.04, 99.97)]
    ['15.4', '100', '0.0', '<0.1', '>99.9']
    """
    if value >= 100.0 - 1e-12 and value <= 100.0 + 1e-12:
        return "100"
    text = round_half_up(value, decimals)
    smallest = 10.0 ** -decimals
    if 0 < value and float(text) == 0.0:
        return f"<{round_half_up(smallest, decimals)}"
    if value < 100 and float(text) >= 100.0:
        return f">{round_half_up(100 - smallest, decimals)}"
    return text


def format_pvalue(value: float, decimals: int = 4) -> str:
    """A p-value: ``<0.0001`` below the smallest shown value, ``>0.9999`` just below one.

    >>> [format_pvalue(v) for v in (0.03456, 0.00001, 0.999999, 1.0)]
    ['0.0346', '<0.0001', '>0.9999', '1.0000']
    """
    smallest = 10.0 ** -decimals
    if value < smallest:
        return f"<{round_half_up(smallest, decimals)}"
    if 1 - smallest < value < 1:
        return f">{round_half_up(1 - smallest, decimals)}"
    return round_half_up(value, decimals)


def format_stat(stat: str, value: object, decimals: Mapping[str, int], missing: str = "NE") -> str:
    """One statistic as text with the decimals of its name (else :data:`DEFAULT_DECIMALS`, else 2).

    >>> format_stat("mean", 45.25, {"mean": 1}), format_stat("pct", 8.108, {}), format_stat("sd", None, {})
    ('45.3', '8.1', 'NE')
    """
    if _is_missing(value):
        return missing
    if isinstance(value, str):
        return value
    places = int(decimals.get(stat, DEFAULT_DECIMALS.get(stat, 2)))
    if stat == "pct" or stat.endswith("_pct"):
        return format_percent(float(value), places)
    if stat == "pvalue":
        return format_pvalue(float(value), places)
    return round_half_up(float(value), places)


def format_cell(pattern: str, values: Mapping[str, object], decimals: Mapping[str, int],
                missing: str = "NE", zero_format: str | None = None) -> str:
    """Fill a cell pattern such as ``"{n} ({pct})"`` from the statistics of one row and column.

    ``zero_format`` replaces the whole cell when ``n`` is 0 (``"0"`` instead of ``"0 (0.0)"``).
    A placeholder without a statistic is a ``KeyError`` naming it.

    >>> format_cell("{n} ({pct})", {"n": 6, "pct": 15.3846}, {"n": 0, "pct": 1})
    '6 (15.4)'
    >>> format_cell("{n} ({pct})", {"n": 0, "pct": 0.0}, {"n": 0}, zero_format="0")
    '0'
    >>> format_cell("{gmr} ({gmr_lcl}, {gmr_ucl})", {"gmr": 0.3691, "gmr_lcl": 0.28, "gmr_ucl": float("nan")}, {"gmr": 3, "gmr_lcl": 3, "gmr_ucl": 3})
    '0.369 (0.280, NE)'
    """
    if zero_format is not None and "n" in values and not _is_missing(values["n"]) and float(values["n"]) == 0:
        return zero_format

    def fill(match: re.Match[str]) -> str:
        stat = match.group(1)
        if stat not in values:
            raise KeyError(f"cell pattern {pattern!r} names statistic {stat!r}, which the ARD row lacks "
                           f"(has: {', '.join(sorted(values)) or 'none'})")
        return format_stat(stat, values[stat], decimals, missing)

    return PLACEHOLDER.sub(fill, pattern)
