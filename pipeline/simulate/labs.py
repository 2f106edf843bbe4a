"""Laboratory truth: calibrated UPCR, CKD-EPI-consistent creatinine/eGFR, serology, counts.

Values are in the canonical units of ``simulation.yaml: lab.canonical``; ``reported`` is the value as a site
writes it, back in canonical units. The calibration is exact by construction (docs/raw-exports.md, section 7).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.numbers import round_half_away
from pipeline.simulate.config import SimulationInputs, rng_for


def compute_ancova_calibrated(y, x, group, target_mean: dict, lower=None, upper=None,
                              max_iter: int = 500) -> np.ndarray:
    """Shift and de-correlate ``y`` within each group so that an ANCOVA of ``y`` on group + ``x``
    has a zero slope for ``x`` and LS means exactly ``target_mean[group]``; optional per-element
    bounds are met by alternating projections (clip, then re-project on the moment constraints).

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


def _factors(age, female, black):
    # CKD-EPI 2009 (Levey 2009): eGFR = 141 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.209 x 0.993^age
    # x 1.018 [female] x 1.159 [Black], k = 0.7 (F) / 0.9 (M), a = -0.329 (F) / -0.411 (M), Scr in mg/dL
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


def compute_time_fraction(study_day, primary_day: int, exponent: float = 0.7) -> np.ndarray:
    """Share of the Week-24 effect reached by a study day (0 before Day 1, 1 from the primary day).

    >>> compute_time_fraction([-2, 85, 169, 253], 169).round(3).tolist()
    [0.0, 0.618, 1.0, 1.0]
    """
    d = np.asarray(study_day, dtype=float)
    return np.clip(np.where(d > 0, d / primary_day, 0.0), 0, 1) ** exponent


def compute_written_ratio_pair(ratio, creatinine, creat_factor, creat_decimals, prot_factor, prot_decimals,
                               steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Protein and creatinine (canonical units) a lab can write whose ratio is closest to ``ratio``:
    creatinine moves up to ``steps`` units of its last written digit, protein is the rounded ratio x creatinine.

    >>> p, c = compute_written_ratio_pair([0.3712345], [104.3], [1.0], [1], [1.0], [1])
    >>> round(float(p[0] / c[0]), 6), bool(abs(c[0] - 104.3) <= 4.0)
    (0.371234, True)
    """
    ratio = np.asarray(ratio, dtype=float)[:, None]
    creat_factor = np.asarray(creat_factor, dtype=float)[:, None]
    prot_factor = np.asarray(prot_factor, dtype=float)[:, None]
    step = 10.0 ** -np.asarray(creat_decimals, dtype=float)[:, None] / creat_factor
    offsets = np.arange(-steps, steps + 1)[None, :]
    cand_c = np.asarray(creatinine, dtype=float)[:, None] + offsets * step
    cand_c = round_half_away(cand_c * creat_factor, np.asarray(creat_decimals)[:, None]) / creat_factor
    cand_c = np.where(cand_c > 0, cand_c, np.nan)
    cand_p = round_half_away(ratio * cand_c * prot_factor, np.asarray(prot_decimals)[:, None]) / prot_factor
    error = np.abs(cand_p / cand_c / ratio - 1)
    best = np.nanargmin(np.where(np.isfinite(error), error, np.inf), axis=1)
    rows = np.arange(len(best))
    return cand_p[rows, best], cand_c[rows, best]


def derive_vars_upcr_truth(subjects: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Add ``log_upcr_bl`` and ``log_upcr_ratio`` (Week 24 / baseline) per randomised subject.

    Evaluable subjects get log ratios whose ANCOVA on arm + log baseline returns the target GMRs
    exactly, CRR responders below and every other subject above the UPCR threshold (with a margin).

    >>> from pipeline.simulate.stage import example_truth
    >>> s = example_truth()["subjects"]
    >>> ev = s[s["primary_sample"]]
    >>> np.exp(ev.groupby("armcd")["log_upcr_ratio"].mean()).round(6).to_dict()
    {'ISCAL10': 0.369, 'PBO': 0.637}
    """
    cal = inputs.sim["calibration"]["upcr"]
    threshold = float(inputs.design["endpoints"]["crr"]["upcr_below"])
    margin = float(cal["threshold_margin"])
    rng = rng_for(inputs.seed, "upcr")
    out = subjects.copy()
    n = len(out)
    x = rng.normal(np.log(cal["baseline_geomean"]), cal["baseline_log_sd"], n)
    low, high = np.log(cal["baseline_min"]), np.log(cal["baseline_max"])
    nudge = rng.uniform(0, 0.3, n)  # out-of-range draws land just inside the range, not on its edge
    x = np.where(x < low, low + nudge, np.where(x > high, high - nudge, x))
    targets = {a: float(np.log(g)) for a, g in cal["gmr_to_baseline"].items()}
    arm = out["armcd"].to_numpy()
    base_mean = np.array([targets.get(a, 0.0) for a in arm])
    y = base_mean + rng.normal(0, cal["log_ratio_sd"], n)
    evaluable = out["primary_sample"].to_numpy()
    responder = out["crr_responder"].to_numpy()
    if evaluable.any():
        ev_arm = arm[evaluable]
        missing = sorted(set(ev_arm) - set(targets))
        if missing:
            raise ConfigError(f"{inputs.sim_path}: calibration.upcr.gmr_to_baseline has no value for {missing}")
        xe = x[evaluable]
        # bounds per subject (threshold +- margin + a random spread): values pushed across do not pile up
        spread = rng.uniform(0, 0.3, len(xe))
        low_cut = np.log((threshold - margin) * (1 - spread / 2)) - xe
        high_cut = np.log(threshold + margin + spread) - xe
        lower = np.where(responder[evaluable], -np.inf, high_cut)
        upper = np.where(responder[evaluable], low_cut, np.inf)
        y[evaluable] = compute_ancova_calibrated(y[evaluable], xe, ev_arm, targets, lower, upper)
    out["log_upcr_bl"] = np.where(out["randomised"], x, np.nan)
    out["log_upcr_ratio"] = np.where(out["randomised"], y, np.nan)
    return out


def build_lab_truth(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Long lab truth: one row per subject, scheduled lab visit and test available at the site.

    >>> from pipeline.simulate.stage import example_truth
    >>> lab = example_truth()["lab"]
    >>> sorted(lab.loc[lab["siteid"] == "201", "test"].unique())[:4], bool((lab["test"] == "EGFR").any())
    (['C3', 'C4', 'CREAT', 'DSDNA'], True)
    """
    sim, lab = inputs.sim, inputs.sim["lab"]
    rng = rng_for(inputs.seed, "labs")
    primary_visit = inputs.design["endpoints"]["primary_visit"]
    primary_day = int(inputs.visits.set_index("visit").loc[primary_visit, "day"])
    baseline_visit = inputs.baseline_visit
    sv = visits[visits["visit"].isin(inputs.design["schedule"]["lab"])].merge(
        subjects[["usubjid", "siteid", "armcd", "randomised", "sex", "black", "birth_date", "log_upcr_bl",
                  "log_upcr_ratio", "crr_responder", "ie_failed", "primary_sample"]], on="usubjid")
    sv = sv.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    m = len(sv)
    f = compute_time_fraction(sv["study_day"], primary_day)
    is_primary = (sv["visit"] == primary_visit).to_numpy()
    is_baseline = (sv["visit"] == baseline_visit).to_numpy()
    is_screening = (sv["visitnum"] == inputs.visits["visitnum"].min()).to_numpy()
    after = np.clip((sv["study_day"].to_numpy() - primary_day) / primary_day, 0, None)
    cal = sim["calibration"]["upcr"]
    x = sv["log_upcr_bl"].to_numpy()
    y = sv["log_upcr_ratio"].to_numpy()
    log_upcr = x + y * f + rng.normal(0, float(lab["upcr_visit_noise"]), m) * (1 + after)
    log_upcr = np.where(is_primary | is_baseline, x + y * np.where(is_primary, 1.0, 0.0), log_upcr)
    screening_upcr = np.maximum(x + rng.normal(0, cal["screening_log_sd"], m), np.log(cal["baseline_min"]))
    log_upcr = np.where(is_screening, screening_upcr, log_upcr)
    # screen failures: screening sample only
    sf = ~sv["randomised"].to_numpy()
    ie_lab = {c["id"]: c.get("lab") for c in sim["ie_criteria"]}
    failed_lab = sv["ie_failed"].map(ie_lab).fillna("").to_numpy()
    elig = inputs.design["eligibility"]
    sf_upcr = np.log(np.where(failed_lab == "upcr_below", rng.uniform(0.3, 0.9, m) * float(elig["upcr_min_mg_mg"]),
                              np.exp(rng.normal(np.log(cal["baseline_geomean"]), cal["baseline_log_sd"], m)).clip(0.6)))
    log_upcr = np.where(sf, sf_upcr, log_upcr)
    upcr = np.exp(log_upcr)
    tr = lab["trajectories"]
    ucr_gm, ucr_sd = tr["UCREAT"]["baseline"]
    ucreat = np.clip(np.exp(rng.normal(np.log(ucr_gm), ucr_sd, m)), *tr["UCREAT"]["limits"])
    values = {"UPCR": upcr, "UCREAT": ucreat, "UPROT": upcr * ucreat}
    # renal function: eGFR around a subject baseline, creatinine from the inverted CKD-EPI 2009
    eg = sim["calibration"]["egfr_baseline"]
    subj_codes, subj_index = np.unique(sv["usubjid"].to_numpy(), return_inverse=True)
    egfr_draw = rng.normal(eg["mean"], eg["sd"], len(subj_codes))
    nudge = rng.uniform(0, 8, len(subj_codes))
    egfr_bl = np.where(egfr_draw < eg["min"], eg["min"] + nudge,
                       np.where(egfr_draw > eg["max"], eg["max"] - nudge, egfr_draw))[subj_index]
    egfr_noise = rng.normal(0, sim["calibration"]["egfr_visit_log_sd"], m)
    egfr_noise = np.where(is_baseline, 0.0, egfr_noise)
    egfr_noise = np.where(is_primary & sv["crr_responder"].to_numpy(), np.maximum(egfr_noise, -0.05), egfr_noise)
    egfr_true = egfr_bl * np.exp(egfr_noise)
    egfr_min = float(elig["egfr_min"])
    egfr_true = np.where(sf & (failed_lab == "egfr_below"), rng.uniform(0.6, 0.93, m) * egfr_min, egfr_true)
    dates = sv["date"].to_numpy(dtype="datetime64[D]")
    age = np.floor((dates - sv["birth_date"].to_numpy(dtype="datetime64[D]")).astype(int) / 365.25)
    female = (sv["sex"] == "F").to_numpy()
    black = sv["black"].to_numpy(dtype=bool)
    values["CREAT"] = compute_creatinine_from_egfr_ckd_epi_2009(egfr_true, age, female, black)
    for key in [k for k, v in tr.items() if "noise" in v]:  # the "other analytes" of simulation.yaml, in its order
        spec = tr[key]
        gm, sd = spec["baseline"]
        bl = rng.normal(np.log(gm), sd, len(subj_codes))[subj_index]
        change = sv["armcd"].map(spec.get("change", {})).fillna(0.0).to_numpy(dtype=float)
        values[key] = np.exp(bl + change * f + rng.normal(0, spec["noise"], m))
    t_lo, t_hi = (int(t[:2]) * 60 + int(t[3:]) for t in lab["collection_time"])
    sv["time_min"] = t_lo + 5 * rng.integers(0, (t_hi - t_lo) // 5 + 1, m)
    tests = list(lab["canonical"])
    factor, decimals = _site_unit_tables(sv["siteid"], tests, inputs)
    value = np.column_stack([values.get(k, np.full(m, np.nan)) for k in tests])
    reported = round_half_away(value * factor, decimals) / factor
    # endpoint samples: pick written protein/creatinine whose ratio keeps the calibrated UPCR
    key_rows = (is_baseline | is_primary) & ~sf
    if key_rows.any():
        uc, pr = tests.index("UCREAT"), tests.index("UPROT")
        prot, creat = compute_written_ratio_pair(values["UPCR"][key_rows], reported[key_rows, uc], factor[key_rows, uc],
                                                 decimals[key_rows, uc], factor[key_rows, pr], decimals[key_rows, pr])
        value[key_rows, uc], reported[key_rows, uc] = creat, creat
        value[key_rows, pr], reported[key_rows, pr] = prot, prot
    # eGFR: the lab's CKD-EPI 2009 from the creatinine as written
    c, e = tests.index("CREAT"), tests.index("EGFR")
    value[:, e] = compute_egfr_ckd_epi_2009(reported[:, c], age, female, black)
    reported[:, e] = round_half_away(value[:, e] * factor[:, e], decimals[:, e]) / factor[:, e]
    # long layout, already in (subject, visit, test) order; tests a site does not report are dropped
    keep = np.isfinite(factor).ravel()
    n_tests = len(tests)
    meta = sv[["usubjid", "siteid", "visitnum", "visit", "study_day", "date", "time_min"]]
    long = meta.iloc[np.repeat(np.arange(m), n_tests)[keep]].reset_index(drop=True)
    long["test"] = np.tile(np.array(tests, dtype=object), m)[keep]
    long["value"] = value.ravel()[keep]
    long["reported"] = reported.ravel()[keep]
    long["test_order"] = np.tile(np.arange(n_tests), m)[keep]
    long["protected"] = long["visit"].isin({baseline_visit, primary_visit}).to_numpy()
    return long


def _site_unit_tables(siteid: pd.Series, tests: list[str], inputs: SimulationInputs) -> tuple[np.ndarray, np.ndarray]:
    """Per row and test: the factor from canonical to the site's unit (NaN = not reported) and decimals."""
    profiles = inputs.sim["lab"]["unit_profiles"]
    names = list(profiles)
    fac_table = np.full((len(names), len(tests)), np.nan)
    dec_table = np.zeros((len(names), len(tests)), dtype=int)
    for i, name in enumerate(names):
        for test, (_unit, fac, dec) in profiles[name].items():
            if test not in tests:
                raise ConfigError(f"{inputs.sim_path}: lab.unit_profiles.{name}.{test} is not a lab.canonical test")
            fac_table[i, tests.index(test)] = float(fac)
            dec_table[i, tests.index(test)] = int(dec)
    site_profile = siteid.map({str(s): d["lab_units"] for s, d in inputs.sim["site_dialects"].items()})
    p_code = pd.Categorical(site_profile, categories=names).codes
    return fac_table[p_code], dec_table[p_code]
