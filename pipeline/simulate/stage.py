"""Stage `simulate`: multi-site raw exports of the flagship study, with documented defects (docs/raw-exports.md).

``run(ctx)`` draws a clean, calibrated truth, renders every site's files in its own dialect, injects the defects of
``simulation.yaml`` and writes ``_truth/`` (``defects.csv``, ``subjects.csv``, last ``manifest.json``).
"""

from __future__ import annotations

import shutil
from functools import lru_cache
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.io import sha256_file, write_bytes_atomic, write_csv_atomic, write_json_atomic
from pipeline.common.logs import get_logger
from pipeline.simulate.config import (FORMS, GENERATOR_VERSION, SimulationInputs, example_inputs, load_simulation_inputs,
                                      rng_for)
from pipeline.simulate.defects import RawFile, finalise_rows, inject_defects
from pipeline.simulate.events import (build_ae_truth, build_cm_truth, build_ds_truth, build_dv_truth, build_ex_truth,
                                      build_ie_truth, build_mh_truth, build_vs_truth, derive_vars_key_dates)
from pipeline.simulate.labs import build_lab_truth, derive_vars_upcr_truth
from pipeline.simulate.render import SiteDialect, compute_sledai_column_names, render_site_form
from pipeline.simulate.sledai import build_sledai_truth
from pipeline.simulate.subjects import build_subjects, build_visits, derive_var_ie_failed, derive_vars_disposition
from pipeline.simulate.visit_log import apply_visit_log, drop_missed_visits
from pipeline.simulate.writers import compute_csv_bytes, compute_xlsx_bytes, compute_xpt_bytes

log = get_logger("simulate")


def build_truth(inputs: SimulationInputs) -> dict[str, pd.DataFrame]:
    """All clean truth frames of one simulation (no dialect, no defect).

    >>> truth = build_truth(example_inputs())
    >>> len(truth["dm"]), len(truth["rand"]), truth["lab"]["protected"].any()
    (71, 57, np.True_)
    """
    subjects = derive_vars_disposition(derive_var_ie_failed(build_subjects(inputs), inputs), inputs)
    visits = build_visits(subjects, inputs)
    bl_date = visits[visits["visit"] == inputs.baseline_visit].set_index("usubjid")["date"]
    subjects["rand_date"] = subjects["usubjid"].map(bl_date).where(subjects["randomised"])
    subjects = derive_vars_upcr_truth(subjects, inputs)
    labs = build_lab_truth(subjects, visits, inputs)
    sledai = build_sledai_truth(subjects, visits, labs, inputs)
    ex = build_ex_truth(subjects, visits, inputs)
    subjects = derive_vars_key_dates(subjects, visits, ex, inputs)
    ae = build_ae_truth(subjects, inputs)  # every builder draws from its own random stream, in any order
    truth = {"subjects": subjects, "visits": visits, "dm": subjects, "mh": build_mh_truth(subjects, inputs),
             "ie": build_ie_truth(subjects, inputs), "rand": subjects[subjects["randomised"]], "ex": ex,
             "vs": build_vs_truth(subjects, visits, sledai, inputs), "lab": labs, "sledai": sledai, "ae": ae,
             "cm": build_cm_truth(subjects, ae, inputs), "ds": build_ds_truth(subjects, inputs),
             "sv": visits.merge(subjects[["usubjid", "siteid"]], on="usubjid").assign(protected=False),
             "dv": build_dv_truth(subjects, visits, inputs)}
    return apply_visit_log(truth, inputs)  # unscheduled and missed visits, on their own random streams


def render_files(truth: dict[str, pd.DataFrame], inputs: SimulationInputs) -> list[RawFile]:
    """Every site's files in its dialect (clean).

    >>> files = render_files(example_truth(), example_inputs())
    >>> len(files), files[0].relpath, files[-1].relpath
    (91, 'site_101/dm.csv', 'site_501/dv.csv')
    """
    files = []
    for site in inputs.sites["siteid"]:
        dialect = SiteDialect(site, inputs.sim["site_dialects"][site], inputs)
        for form in FORMS:
            rows = truth[form][truth[form]["siteid"] == site]
            files.append(RawFile(site, form, dialect, render_site_form(form, rows, truth["subjects"], dialect)))
    return files


def _numeric_columns(f: RawFile, inputs: SimulationInputs) -> list[str]:
    return [f.dialect.column(f.form, fld) for fld in inputs.sim["numeric_columns"].get(f.form, [])]


def _labels(f: RawFile, inputs: SimulationInputs, columns: list[str]) -> list[str]:
    title = {f.dialect.column(f.form, fld): names[1] for fld, names in inputs.sim["forms"][f.form].items()}
    if f.form == "sledai":
        for it in inputs.instrument["items"]:
            names = compute_sledai_column_names(it["test"], int(it["num"]))
            title[names[f.dialect.spec["columns"]]] = names["title"]
    return [title.get(c, c) for c in columns]


def write_files(files: list[RawFile], raw_dir: Path, inputs: SimulationInputs) -> dict[str, dict]:
    """Write every file in its site's format; return ``relpath -> {rows, format, sha256}``.

    >>> import tempfile
    >>> files = render_files(example_truth(), example_inputs())[:12]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = write_files(files, Path(tmp), example_inputs())
    >>> written["site_101/dm.csv"]["rows"], written["site_101/dm.csv"]["format"]
    (11, 'csv')
    """
    written = {}
    for f in files:
        frame = f.frame[[c for c in f.frame.columns if not c.startswith("_")]]
        path = raw_dir / f.relpath
        fmt = f.dialect.spec["format"]
        try:
            if fmt == "csv":
                data = compute_csv_bytes(frame, f.dialect.spec.get("delimiter", ","),
                                         f.dialect.spec.get("encoding", "utf-8"))
            elif fmt == "xlsx":
                data = compute_xlsx_bytes(frame, f.dialect.spec.get("sheet", "Export"), _numeric_columns(f, inputs))
            elif fmt == "xpt":
                data = compute_xpt_bytes(frame, f.form.upper(), _labels(f, inputs, list(frame.columns)),
                                         _numeric_columns(f, inputs))
            else:
                raise ConfigError(f"unknown format {fmt}")
            write_bytes_atomic(path, data)
        except ConfigError as exc:
            raise ConfigError(f"{inputs.sim_path}: site {f.siteid}, form {f.form}: {exc}") from None
        written[f.relpath] = {"rows": int(len(frame)), "format": fmt, "sha256": sha256_file(path)}
    return written


def summarise_subjects(truth: dict[str, pd.DataFrame], inputs: SimulationInputs) -> pd.DataFrame:
    """Key truths per screened subject, computed from the values as written (``_truth/subjects.csv``).

    >>> s = summarise_subjects(example_truth(), example_inputs())
    >>> s[s["randomised"] == "Y"].groupby("armcd")["responder_crr"].apply(lambda v: int((v == "Y").sum())).to_dict()
    {'ISCAL10': 3, 'PBO': 0}
    """
    subjects = truth["subjects"]
    labs = truth["lab"]
    primary = inputs.design["endpoints"]["primary_visit"]
    baseline_visit = inputs.baseline_visit
    wide = labs[labs["visit"].isin([baseline_visit, primary])].pivot_table(
        index=["usubjid", "visit"], columns="test", values="reported", aggfunc="first")
    upcr = (wide["UPROT"] / wide["UCREAT"]).unstack("visit")
    egfr = wide["EGFR"].unstack("visit")
    sled = truth["sledai"].pivot_table(index="usubjid", columns="visit", values="total", aggfunc="first")
    te = truth["ae"][truth["ae"]["treatment_emergent"]]
    crr_cfg = inputs.design["endpoints"]["crr"]
    out = subjects[["usubjid", "siteid", "subject_number", "armcd", "randomised", "screen_failure", "country", "age", "sex",
                    "race", "ethnicity", "weight_kg", "height_cm"]].rename(
        columns={"siteid": "site", "age": "age_at_consent", "weight_kg": "weight_bl_kg"})
    out["first_dose_date"] = pd.to_datetime(subjects["first_dose_date"]).dt.strftime("%Y-%m-%d").fillna("")
    get = lambda table, visit: out["usubjid"].map(table[visit]) if visit in table else pd.Series(np.nan, index=out.index)  # noqa: E731
    out["baseline_upcr"] = get(upcr, baseline_visit).round(6)
    out["w24_upcr"] = get(upcr, primary).round(6)
    out["w24_sample"] = out["w24_upcr"].notna()
    out["baseline_egfr"] = get(egfr, baseline_visit)
    out["w24_egfr"] = get(egfr, primary)
    rescue = subjects["rescue"].to_numpy(dtype=bool)
    egfr_ok = (out["w24_egfr"] >= crr_cfg["egfr_at_least"]) | (
        out["w24_egfr"] >= out["baseline_egfr"] * (1 - crr_cfg["egfr_max_drop_pct"] / 100))
    out["responder_crr"] = (out["w24_upcr"] < crr_cfg["upcr_below"]) & egfr_ok & ~rescue
    out["rescue"] = rescue
    out["baseline_sledai"] = get(sled, baseline_visit)
    out["w24_sledai"] = get(sled, primary)
    out["sae_events"] = out["usubjid"].map(te[te["serious"] == "Y"].groupby("usubjid").size()).fillna(0).astype(int)
    out["drug_withdrawn"] = subjects["drug_withdrawn"].to_numpy(dtype=bool)
    out["any_teae"] = out["usubjid"].isin(te["usubjid"])
    completed = ["completed_treatment", "completed_study"]
    out[completed] = subjects[completed].to_numpy(dtype=bool)
    dv = truth["dv"]
    out["major_deviation"] = out["usubjid"].isin(dv.loc[dv["severity"] == "MAJOR", "usubjid"])
    out["per_protocol"] = out["randomised"] & out["first_dose_date"].ne("") & ~out["major_deviation"]
    out["unscheduled_visits"] = out["usubjid"].map(truth["unscheduled"].groupby("usubjid").size()).fillna(0).astype(int)
    missed = truth.get("missed", pd.DataFrame(columns=["usubjid", "visit"])).set_index("usubjid")["visit"]
    out["missed_visit"] = out["usubjid"].map(missed).fillna("")
    flags = [c for c in out if out[c].dtype == bool]
    out[flags] = np.where(out[flags], "Y", "N")
    return out.sort_values("usubjid").reset_index(drop=True)


def simulate(raw_dir: Path, inputs: SimulationInputs) -> dict:
    """Generate, render, damage and write one simulation into ``raw_dir``; return the manifest.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = simulate(Path(tmp), example_inputs())
    >>> manifest["subjects"], manifest["arms"], len(manifest["files"])
    (57, {'ISCAL10': 39, 'PBO': 18}, 91)
    """
    started = time.perf_counter()
    truth = build_truth(inputs)
    files = render_files(truth, inputs)
    records = inject_defects(files, inputs.sim["defects"], rng_for(inputs.seed, "defects"))
    records, truth["missed"] = drop_missed_visits(files, records, truth, inputs)
    defects = finalise_rows(files, records)
    if raw_dir.exists():  # a previous simulation: remove its site folders and truth only
        for child in raw_dir.iterdir():
            if child.is_dir() and (child.name.startswith("site_") or child.name == "_truth"):
                shutil.rmtree(child)
    written = write_files(files, raw_dir, inputs)
    truth_dir = raw_dir / "_truth"
    write_csv_atomic(truth_dir / "defects.csv", defects)
    write_csv_atomic(truth_dir / "subjects.csv", summarise_subjects(truth, inputs))
    subjects = truth["subjects"]
    sites = inputs.sites.set_index("siteid")
    manifest = {
        "generator": f"pipeline.simulate {GENERATOR_VERSION}", "study": inputs.design["study"]["slug"],
        "studyid": inputs.studyid, "seed": inputs.seed, "subjects": int(subjects["randomised"].sum()),
        "screen_failures": int(subjects["screen_failure"].sum()),
        "arms": {k: int(v) for k, v in inputs.n_by_arm.items()},
        "sites": {s: {"country": sites.loc[s, "country"], "format": inputs.sim["site_dialects"][s]["format"],
                      "screened": int((subjects["siteid"] == s).sum())} for s in sites.index},
        "files": written,
        "defects": {k: int(v) for k, v in defects["defect_class"].value_counts().sort_index().items()},
    }
    write_json_atomic(truth_dir / "manifest.json", manifest)
    log.info("simulated %d randomised + %d screen failures at %d sites: %d files, %d defects in %.1f s",
             manifest["subjects"], manifest["screen_failures"], len(sites), len(written), len(defects),
             time.perf_counter() - started)
    return manifest


def check_has_simulation_spec(specs_dir: Path, study: str, design: dict) -> None:
    """Fail with one clear line when a study has no ``simulation.yaml`` (e.g. it starts from existing SDTM).

    >>> from pipeline.common.study import StudyContext
    >>> ctx = StudyContext.create("cdiscpilot01")
    >>> try:
    ...     check_has_simulation_spec(ctx.specs_dir, ctx.study, ctx.design)
    ... except ConfigError as exc:
    ...     print(exc)
    study cdiscpilot01 has no simulation spec; it starts from existing SDTM (sources.sdtm in study.yaml)
    """
    if (Path(specs_dir) / "simulation.yaml").is_file():
        return
    sources = (design.get("sources") or {}) if isinstance(design, dict) else {}
    if isinstance(sources, dict) and sources.get("sdtm"):
        raise ConfigError(f"study {study} has no simulation spec; it starts from existing SDTM (sources.sdtm in study.yaml)")
    raise ConfigError(f"study {study} has no simulation spec ({Path(specs_dir) / 'simulation.yaml'} not found)")


def run(ctx) -> None:
    """Stage entry point: ``python -m pipeline simulate [--seed N] [--subjects N] [--out DIR]``.

    >>> import tempfile
    >>> from pipeline.common.study import StudyContext
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ctx = StudyContext.create("iscalimab-ln", outputs=tmp, seed=3, subjects=12)
    ...     run(ctx)
    ...     sorted(p.name for p in ctx.truth_dir.iterdir())
    ['defects.csv', 'manifest.json', 'subjects.csv']
    """
    check_has_simulation_spec(ctx.specs_dir, ctx.study, ctx.design)
    inputs = load_simulation_inputs(ctx, seed=ctx.options.get("seed"), subjects=ctx.options.get("subjects"))
    try:
        simulate(Path(ctx.raw_dir), inputs)
    except KeyError as exc:  # a key the simulation spec lacks deeper than the checks of config.py
        raise ConfigError(f"{inputs.sim_path}: missing key {exc} needed by the simulator "
                          "(see docs/raw-exports.md and the default simulation.yaml)") from None


@lru_cache(maxsize=2)
def example_truth(study: str = "iscalimab-ln") -> dict[str, pd.DataFrame]:
    """The clean truth of a study's default simulation (cached), for docstring examples.

    >>> truth = example_truth()
    >>> int(truth["subjects"]["randomised"].sum()), sorted(k for k in truth if k not in ("subjects", "visits"))[:3]
    (57, ['ae', 'cm', 'dm'])
    """
    return build_truth(example_inputs(study))
