"""Unscheduled and missed visits of the flagship simulation (docs/raw-exports.md, section 2.5).

Both use their own random streams and are applied after everything else (unscheduled visits to
the finished truth, missed visits to the rendered files after the defects), so every other random
draw and every injected defect stay exactly as they were without them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.config import UNSCHEDULED, SimulationInputs, rng_for


def check_visit_log_spec(inputs: SimulationInputs) -> None:
    """Check ``unscheduled_visits`` / ``missed_visits`` of simulation.yaml against the design.

    >>> from pipeline.simulate.config import example_inputs
    >>> check_visit_log_spec(example_inputs()) is None
    True
    """
    sim, design, where = inputs.sim, inputs.design, inputs.sim_path
    visits = inputs.visits.sort_values("visitnum").reset_index(drop=True)
    names = list(visits["visit"])
    protected = {inputs.design["endpoints"]["primary_visit"], inputs.baseline_visit}
    spec = sim.get("unscheduled_visits") or {}
    if spec:
        for key in ("subject_share", "after", "days_after", "lab_tests"):
            if key not in spec:
                raise ConfigError(f"{where}: unscheduled_visits.{key} is missing")
        both = set(design["schedule"]["lab"]) & set(design["schedule"]["vs"])
        lo, hi = (int(d) for d in spec["days_after"])
        if not 0 < lo <= hi:
            raise ConfigError(f"{where}: unscheduled_visits.days_after must be [lo, hi] with 0 < lo <= hi")
        jitter = int(sim.get("visit_jitter_days", 0))
        if lo <= 2 * jitter:
            raise ConfigError(f"{where}: unscheduled_visits.days_after starts at {lo}: must exceed twice "
                              f"visit_jitter_days ({jitter}) so the planned visit stays closest to its target day")
        for visit in spec["after"]:
            if visit not in both:
                raise ConfigError(f"{where}: unscheduled_visits.after: {visit} is not a lab and vital-signs visit "
                                  "of study.yaml schedule")
            i = names.index(visit)
            if i + 1 >= len(names) or int(visits.loc[i, "window_hi"]) + hi >= int(visits.loc[i + 1, "window_lo"]):
                raise ConfigError(f"{where}: unscheduled_visits.after: {visit} + {hi} days can reach the next planned visit")
        unknown = sorted(set(spec["lab_tests"]) - set(sim["lab"]["canonical"]))
        if unknown:
            raise ConfigError(f"{where}: unscheduled_visits.lab_tests: {unknown} are not lab.canonical tests")
    missed = sim.get("missed_visits") or {}
    if missed:
        chosen = set(missed.get("visits", []))
        infusion = set(visits.loc[visits["day"].isin(design["dosing"]["infusion_days"]), "visit"])
        for bad, problem in ((chosen - set(names), "{} are not planned visits of study.yaml"),
                             (chosen & protected, "endpoint visit(s) {} must never be missed"),
                             (chosen & infusion, "infusion visit(s) {} cannot be missed")):
            if bad:
                raise ConfigError(f"{where}: missed_visits.visits: " + problem.format(sorted(bad)))


def build_unscheduled_visits(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """One row per unscheduled visit: after which planned visit, its day, date and number.

    ``visitnum`` is the SDTM number (previous planned + increment), ``unscheduled_number`` the
    subject's running count as a site EDC numbers them (``UNS 1``, ``UNS 2``).

    >>> from pipeline.simulate.stage import example_truth
    >>> from pipeline.simulate.config import example_inputs
    >>> t = example_truth()
    >>> u = build_unscheduled_visits(t["subjects"], t["visits"], example_inputs())
    >>> len(u) > 10, sorted(u["visit"].unique()), bool((u["visitnum"] % 1).round(2).eq(0.01).all())
    (True, ['UNSCHEDULED'], True)
    """
    spec = inputs.sim.get("unscheduled_visits") or {}
    columns = ["usubjid", "siteid", "after_visitnum", "visitnum", "visit", "epoch", "day", "study_day", "date",
               "unscheduled_number", "has_vitals"]
    if not spec:
        return pd.DataFrame(columns=columns)
    rng = rng_for(inputs.seed, "unscheduled_visits")
    increment = float(inputs.design.get("unscheduled_visit_increment", 0.01))
    ids = np.sort(subjects.loc[subjects["randomised"], "usubjid"].to_numpy())
    chosen = ids[rng.random(len(ids)) < float(spec["subject_share"])]
    second = chosen[rng.random(len(chosen)) < float(spec.get("second_visit_share", 0))]
    last = subjects.set_index("usubjid")["last_visitnum"]
    cands = visits[visits["visit"].isin(spec["after"]) & visits["usubjid"].isin(chosen)].copy()
    cands = cands[cands["visitnum"] < cands["usubjid"].map(last)]          # the next planned visit took place
    cands = cands.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    cands["_order"] = rng.random(len(cands))
    cands["_rank"] = cands.groupby("usubjid")["_order"].rank(method="first")
    wanted = np.where(cands["usubjid"].isin(second), 2, 1)
    out = cands[cands["_rank"].to_numpy() <= wanted].copy()
    lo, hi = (int(d) for d in spec["days_after"])
    offset = rng.integers(lo, hi + 1, len(out))
    out["after_visitnum"] = out["visitnum"].astype(int)
    out["visitnum"] = (out["after_visitnum"] + increment).round(6)
    out["visit"] = UNSCHEDULED
    out["study_day"] = out["study_day"].to_numpy() + offset
    out["date"] = pd.to_datetime(out["date"]) + pd.to_timedelta(offset, unit="D")
    out["day"] = np.nan
    out = out.sort_values(["usubjid", "date"], kind="mergesort").reset_index(drop=True)
    out["unscheduled_number"] = out.groupby("usubjid").cumcount() + 1
    out["has_vitals"] = rng.random(len(out)) < float(spec.get("vitals_share", 1.0))
    out = out.merge(subjects[["usubjid", "siteid"]], on="usubjid", how="left")
    return out[columns]


def derive_unscheduled_lab(lab: pd.DataFrame, unscheduled: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Repeat-lab rows of the unscheduled visits: ``lab_tests`` of the planned visit before, slightly changed.

    >>> lab = pd.DataFrame({"usubjid": ["S1", "S1"], "siteid": ["101"] * 2, "visitnum": [5, 5], "visit": ["WEEK 4"] * 2,
    ...                     "study_day": [29, 29], "date": pd.to_datetime(["2020-01-29"] * 2), "time_min": [480, 480],
    ...                     "test": ["PLAT", "C3"], "value": [200.0, 0.8], "reported": [200.0, 0.8],
    ...                     "test_order": [0, 1], "protected": [False, False]})
    >>> u = pd.DataFrame({"usubjid": ["S1"], "after_visitnum": [5], "visitnum": [5.01], "visit": ["UNSCHEDULED"],
    ...                   "study_day": [36], "date": pd.to_datetime(["2020-02-05"]), "unscheduled_number": [1]})
    >>> from pipeline.simulate.config import example_inputs
    >>> out = derive_unscheduled_lab(lab, u, example_inputs())
    >>> out[["visitnum", "visit", "test", "study_day"]].values.tolist()
    [[5.01, 'UNSCHEDULED', 'PLAT', 36]]
    """
    spec = inputs.sim.get("unscheduled_visits") or {}
    if unscheduled.empty or not spec:
        return lab.iloc[:0].assign(unscheduled_number=pd.Series(dtype="int64"))
    rng = rng_for(inputs.seed, "unscheduled_lab")
    base = lab[lab["test"].isin(spec["lab_tests"])]
    keys = unscheduled[["usubjid", "after_visitnum", "visitnum", "visit", "study_day", "date", "unscheduled_number"]]
    rows = base.drop(columns=["visit", "study_day", "date"]).rename(columns={"visitnum": "after_visitnum"}).merge(
        keys, on=["usubjid", "after_visitnum"], how="inner")
    rows = rows.sort_values(["usubjid", "visitnum", "test_order"], kind="mergesort").reset_index(drop=True)
    change = np.exp(rng.normal(0.0, float(spec.get("lab_log_sd", 0.08)), len(rows)))
    rows["value"] = rows["value"].to_numpy(dtype=float) * change
    rows["reported"] = rows["value"]
    t_lo, t_hi = (int(t[:2]) * 60 + int(t[3:]) for t in inputs.sim["lab"]["collection_time"])
    per_visit = rows.groupby(["usubjid", "visitnum"], sort=False).ngroup().to_numpy()
    rows["time_min"] = (t_lo + 5 * rng.integers(0, (t_hi - t_lo) // 5 + 1, per_visit.max(initial=-1) + 1))[per_visit]
    rows["protected"] = False
    return rows[[*lab.columns, "unscheduled_number"]]


def derive_unscheduled_vs(vs: pd.DataFrame, unscheduled: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Vital-signs rows of the unscheduled visits: weight and temperature as before, BP and pulse re-measured.

    >>> vs = pd.DataFrame({"usubjid": ["S1"], "siteid": ["101"], "visitnum": [5], "visit": ["WEEK 4"],
    ...                    "date": pd.to_datetime(["2020-01-29"]), "height": [np.nan], "weight": [60.0], "sbp": [120.0],
    ...                    "dbp": [80.0], "pulse": [70.0], "temperature": [36.6], "protected": [False]})
    >>> u = pd.DataFrame({"usubjid": ["S1"], "after_visitnum": [5], "visitnum": [5.01], "visit": ["UNSCHEDULED"],
    ...                   "date": pd.to_datetime(["2020-02-05"]), "unscheduled_number": [1], "has_vitals": [True]})
    >>> from pipeline.simulate.config import example_inputs
    >>> out = derive_unscheduled_vs(vs, u, example_inputs())
    >>> out[["visitnum", "visit", "weight"]].values.tolist(), bool(out["sbp"].between(100, 140).all())
    ([[5.01, 'UNSCHEDULED', 60.0]], True)
    """
    if unscheduled.empty:
        return vs.iloc[:0].assign(unscheduled_number=pd.Series(dtype="int64"))
    rng = rng_for(inputs.seed, "unscheduled_vs")
    keys = unscheduled.loc[unscheduled["has_vitals"].astype(bool),
                           ["usubjid", "after_visitnum", "visitnum", "visit", "date", "unscheduled_number"]]
    rows = vs.drop(columns=["visit", "date"]).rename(columns={"visitnum": "after_visitnum"}).merge(
        keys, on=["usubjid", "after_visitnum"], how="inner")
    rows = rows.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    n = len(rows)
    rows["height"] = np.nan
    rows["sbp"] = np.rint(rows["sbp"].to_numpy(dtype=float) + rng.normal(0, 6, n))
    rows["dbp"] = np.rint(np.minimum(rows["dbp"].to_numpy(dtype=float) + rng.normal(0, 4, n), rows["sbp"] - 25))
    rows["pulse"] = np.rint(rows["pulse"].to_numpy(dtype=float) + rng.normal(0, 5, n))
    rows["protected"] = False
    return rows[[*vs.columns, "unscheduled_number"]]


def choose_missed_visits(subjects: pd.DataFrame, visits: pd.DataFrame, inputs: SimulationInputs,
                         exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """The planned visits that did not take place: one candidate visit before the last visit per chosen subject,
    never one of the (usubjid, visitnum) pairs of ``exclude`` (visits whose records carry a defect).

    >>> from pipeline.simulate.stage import example_truth
    >>> from pipeline.simulate.config import example_inputs
    >>> t = example_truth()
    >>> m = choose_missed_visits(t["subjects"], t["visits"], example_inputs())
    >>> len(m), sorted(set(m["visit"]) - {"WEEK 28", "WEEK 36"})
    (4, [])
    """
    spec = inputs.sim.get("missed_visits") or {}
    if not spec:
        return pd.DataFrame(columns=["usubjid", "visitnum", "visit"])
    rng = rng_for(inputs.seed, "missed_visits")
    last = subjects.set_index("usubjid")["last_visitnum"]
    randomised = set(subjects.loc[subjects["randomised"], "usubjid"])
    cands = visits[visits["visit"].isin(spec["visits"]) & visits["usubjid"].isin(randomised)]
    cands = cands[cands["visitnum"] < cands["usubjid"].map(last)]
    if exclude is not None and len(exclude):
        bad = pd.MultiIndex.from_arrays([exclude["usubjid"], exclude["visitnum"].astype("float64")])
        cands = cands[~pd.MultiIndex.from_arrays([cands["usubjid"], cands["visitnum"].astype("float64")]).isin(bad)]
    cands = cands.sort_values(["usubjid", "visitnum"], kind="mergesort").reset_index(drop=True)
    people = np.array(sorted(cands["usubjid"].unique()), dtype=object)
    k = int(min(int(spec.get("subjects", 0)), len(people)))
    who = np.sort(rng.choice(people, size=k, replace=False)) if k else people[:0]
    pick = cands[cands["usubjid"].isin(who)]
    pick = pick.assign(_order=rng.random(len(pick))).sort_values(["usubjid", "_order"], kind="mergesort")
    return pick.drop_duplicates("usubjid")[["usubjid", "visitnum", "visit"]].reset_index(drop=True)  # one per subject


def apply_visit_log(truth: dict[str, pd.DataFrame], inputs: SimulationInputs) -> dict[str, pd.DataFrame]:
    """Add the unscheduled visits to the lab, vs and sv truth (``unscheduled_number`` > 0 marks them).

    >>> from pipeline.simulate.stage import example_truth
    >>> t = example_truth()
    >>> sv = t["sv"]
    >>> int((sv["visit"] == "UNSCHEDULED").sum()) == len(t["unscheduled"]), sorted(sv["done"].unique())
    (True, ['Y'])
    """
    check_visit_log_spec(inputs)
    out = dict(truth)
    unscheduled = build_unscheduled_visits(truth["subjects"], truth["visits"], inputs)
    order = ["usubjid", "visitnum"]

    def stacked(planned: pd.DataFrame, extra: pd.DataFrame, sort_by: list[str]) -> pd.DataFrame:
        frames = [planned] + ([extra[[c for c in planned.columns if c in extra.columns]]] if len(extra) else [])
        return pd.concat(frames, ignore_index=True).sort_values(sort_by, kind="mergesort").reset_index(drop=True)

    out["lab"] = stacked(truth["lab"].assign(unscheduled_number=0), derive_unscheduled_lab(truth["lab"], unscheduled, inputs),
                         [*order, "test_order"])
    out["vs"] = stacked(truth["vs"].assign(unscheduled_number=0), derive_unscheduled_vs(truth["vs"], unscheduled, inputs), order)
    extra = unscheduled.drop(columns=["after_visitnum", "has_vitals"]).assign(done="Y", protected=False)
    out["sv"] = stacked(truth["sv"].assign(done="Y", unscheduled_number=0), extra, order)
    out["unscheduled"] = unscheduled
    return out


def drop_missed_visits(files: list, records: list[dict], truth: dict[str, pd.DataFrame],
                       inputs: SimulationInputs) -> tuple[list[dict], pd.DataFrame]:
    """Make the chosen missed visits missing in the rendered files (after defect injection).

    Their lab, vs and sledai rows go; the sv row says not done, with no date and a ``missed_visits.reasons`` text.
    Returns the defect records (moved to the new row positions) and the missed visits.

    >>> from pipeline.simulate.stage import example_truth, render_files
    >>> from pipeline.simulate.config import example_inputs
    >>> files = render_files(example_truth(), example_inputs())
    >>> records, missed = drop_missed_visits(files, [], example_truth(), example_inputs())
    >>> sv = next(f for f in files if f.form == "sv" and f.siteid == missed["usubjid"].iat[0].split("-")[1])
    >>> len(missed), int((sv.frame["_missed"]).sum())
    (4, 1)
    """
    damaged = pd.DataFrame([{"usubjid": files[r["file_index"]].frame["_usubjid"].iat[r["pos"]],
                             "visitnum": files[r["file_index"]].frame["_visitnum"].iat[r["pos"]]}
                            for r in records if "_visitnum" in files[r["file_index"]].frame.columns],
                           columns=["usubjid", "visitnum"]).dropna()
    missed = choose_missed_visits(truth["subjects"], truth["visits"], inputs, exclude=damaged)
    if missed.empty:
        return records, missed
    keys = pd.MultiIndex.from_arrays([missed["usubjid"], missed["visitnum"].astype("float64")])
    reasons = (inputs.sim.get("missed_visits") or {}).get("reasons") or []
    reason_rng = rng_for(inputs.seed, "missed_visit_reasons")
    for i, f in enumerate(files):
        if f.form not in ("lab", "vs", "sledai", "sv") or f.frame.empty:
            continue
        hit = pd.MultiIndex.from_arrays([f.frame["_usubjid"], pd.to_numeric(f.frame["_visitnum"]).astype("float64")]).isin(keys)
        if not hit.any():
            f.frame = f.frame.assign(_missed=False) if f.form == "sv" else f.frame
            continue
        if f.form == "sv":
            f.frame = f.frame.assign(_missed=hit)
            f.frame.loc[hit, f.dialect.column("sv", "done")] = f.dialect.codes("yes_no", ["N"] * int(hit.sum()))
            f.frame.loc[hit, f.dialect.column("sv", "date")] = ""
            if reasons and f.dialect.column("sv", "reason") in f.frame.columns:
                texts = np.array([f.dialect.language_text(r) for r in reasons], dtype=object)
                f.frame.loc[hit, f.dialect.column("sv", "reason")] = texts[reason_rng.integers(0, len(texts), int(hit.sum()))]
            continue
        new_pos = np.cumsum(~hit) - 1
        for r in records:
            r["pos"] = int(new_pos[r["pos"]]) if r["file_index"] == i else r["pos"]
        f.duplicates = [int(new_pos[p]) for p in f.duplicates]
        f.used = {int(new_pos[p]) for p in f.used if not hit[p]}
        f.frame = f.frame[~hit].reset_index(drop=True)
    return records, missed

