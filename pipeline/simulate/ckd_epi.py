"""CKD-EPI 2009 creatinine equation (Levey 2009), forwards and inverted.

eGFR = 141 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.209 x 0.993^age x 1.018 [female] x 1.159 [Black],
k = 0.7 (F) / 0.9 (M), a = -0.329 (F) / -0.411 (M), Scr in mg/dL.
"""

from __future__ import annotations

import numpy as np

from pipeline.common.errors import ConfigError


def _factors(age, female, black):
    female = np.asarray(female, dtype=bool)
    black = np.asarray(black, dtype=bool)
    k = np.where(female, 0.7, 0.9)
    a = np.where(female, -0.329, -0.411)
    scale = 141.0 * 0.993 ** np.asarray(age, dtype=float) * np.where(female, 1.018, 1.0) * np.where(black, 1.159, 1.0)
    return k, a, scale


def compute_egfr_ckd_epi_2009(creatinine_mg_dl, age, female, black) -> np.ndarray:
    """eGFR (mL/min/1.73 m2) from serum creatinine in mg/dL.

    >>> compute_egfr_ckd_epi_2009([0.7, 1.2], [40, 40], [True, False], [False, False]).round(1).tolist()
    [108.4, 75.2]
    """
    scr = np.asarray(creatinine_mg_dl, dtype=float)
    if np.any(scr[np.isfinite(scr)] <= 0):
        raise ConfigError("serum creatinine must be > 0 mg/dL for CKD-EPI")
    k, a, scale = _factors(age, female, black)
    ratio = scr / k
    return scale * np.minimum(ratio, 1.0) ** a * np.maximum(ratio, 1.0) ** -1.209


def compute_creatinine_from_egfr_ckd_epi_2009(egfr, age, female, black) -> np.ndarray:
    """Serum creatinine (mg/dL) that gives ``egfr`` under CKD-EPI 2009 (inverse of the above).

    >>> scr = compute_creatinine_from_egfr_ckd_epi_2009([108.4, 75.2], [40, 40], [True, False], [False, False])
    >>> scr.round(2).tolist()
    [0.7, 1.2]
    """
    egfr = np.asarray(egfr, dtype=float)
    if np.any(egfr <= 0):
        raise ConfigError("eGFR must be > 0 to invert CKD-EPI")
    k, a, scale = _factors(age, female, black)
    q = egfr / scale                       # = min(r,1)^a * max(r,1)^-1.209
    ratio = np.where(q >= 1.0, q ** (1.0 / a), q ** (-1.0 / 1.209))
    return ratio * k
