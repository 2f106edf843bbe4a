"""Everything the simulator reads: study design, simulation knobs, instrument, dictionaries.

Checks the simulation spec before any data is drawn; a problem names the file and the key.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import load_spec
from pipeline.standards.tables import load_dictionary, load_instrument

GENERATOR_VERSION = "1.0"
FORMS = ("dm", "mh", "ie", "rand", "ex", "vs", "lab", "sledai", "ae", "cm", "ds", "sv", "dv")
FILE_FORMATS = ("csv", "xlsx", "xpt")
SCHEDULED_FORMS = ("vs", "lab", "sledai", "height_at")
UNSCHEDULED = "UNSCHEDULED"     # visit name of an unscheduled visit in the truth (sites write their own)
REQUIRED_SIM_KEYS = ("seed", "screen_failures", "enrolment", "site_weights", "calibration",
                     "demography", "ie_criteria", "medical_history", "adverse_events",
                     "concomitant_medications", "dispositions", "lab", "sledai", "site_dialects",
                     "vs_units", "codelists", "defects", "forms", "coded_fields", "column_styles", "numeric_columns")
REQUIRED_DIALECT_KEYS = ("format", "date", "time", "columns", "codes", "subject", "visit", "presence",
                         "treatment", "lab_units", "lab_names", "specimen_names", "vs_units", "language")


def rng_for(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per component, so changing one part leaves the others alone.

    >>> int(rng_for(1, "ae").integers(0, 1000)) == int(rng_for(1, "ae").integers(0, 1000))
    True
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def draw_by_share(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    """``n`` keys of ``shares`` drawn with probabilities proportional to their values.

    >>> draw_by_share(rng_for(1, "x"), {"A": 3, "B": 0}, 2).tolist()
    ['A', 'A']
    """
    p = np.array([float(v) for v in shares.values()])
    return rng.choice(list(shares), n, p=p / p.sum())


def compute_apportion(total: int, weights) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder).

    >>> compute_apportion(57, [0.16, 0.12, 0.16, 0.14, 0.16, 0.12, 0.14]).tolist()
    [9, 7, 9, 8, 9, 7, 8]
    """
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    parts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[: total - parts.sum()]] += 1
    return parts


@dataclass(frozen=True)
class SimulationInputs:
    """The parsed inputs of one simulation run."""

    design: dict[str, Any]
    sim: dict[str, Any]
    instrument: dict[str, Any]
    meddra: pd.DataFrame
    whodrug: pd.DataFrame
    seed: int
    n_by_arm: dict[str, int]
    n_default_by_arm: dict[str, int]
    n_screen_failures: int
    sim_path: Path

    @property
    def studyid(self) -> str:
        return str(self.design["study"]["studyid"])

    @property
    def sites(self) -> pd.DataFrame:
        return pd.DataFrame(self.design["sites"]).astype({"siteid": str})

    @property
    def visits(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.design["visits"])
        frame[["window_lo", "window_hi"]] = pd.DataFrame(frame["window"].tolist(), index=frame.index)
        return frame.drop(columns="window")

    @property
    def baseline_visit(self) -> str:
        """The last planned visit before study day 1."""
        visits = self.visits.sort_values("visitnum")
        return str(visits.loc[visits["day"] < 1, "visit"].iloc[-1])

    def count(self, key: str, armcd: str) -> int:
        """A calibration count for an arm, scaled from the default arm size to the run's (exact at the default).

        >>> inputs = example_inputs()
        >>> big = replace(inputs, n_by_arm={"ISCAL10": 3900})
        >>> inputs.count("sae_subjects", "ISCAL10"), big.count("sae_subjects", "ISCAL10")
        (6, 600)
        """
        table = self.sim["calibration"].get(key)
        if not isinstance(table, dict) or armcd not in table:
            raise ConfigError(f"{self.sim_path}: calibration.{key} needs a value for arm {armcd}")
        n, n_default, default = self.n_by_arm[armcd], self.n_default_by_arm[armcd], int(table[armcd])
        if n_default <= 0:
            raise ConfigError(f"default arm size must be > 0, got {n_default}")
        return default if n == n_default else int(min(n, round(default * n / n_default)))


def _arm_sizes(design: dict[str, Any], subjects: int | None, where: Path) -> tuple[dict[str, int], dict[str, int]]:
    arms = design.get("arms") or []
    if not arms:
        raise ConfigError(f"{where}: study.yaml has no arms")
    defaults = {a["armcd"]: int(a["n"]) for a in arms}
    if subjects is None or subjects == sum(defaults.values()):
        return dict(defaults), defaults
    if subjects < len(arms):
        raise ConfigError(f"--subjects {subjects}: need at least one subject per arm ({len(arms)} arms)")
    sizes = np.maximum(compute_apportion(subjects, [float(a["ratio"]) for a in arms]), 1)
    return {a["armcd"]: int(n) for a, n in zip(arms, sizes)}, defaults


def _check_sim(sim: Any, path: Path, design: dict[str, Any], instrument: dict[str, Any]) -> None:
    if not isinstance(sim, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    missing = [k for k in REQUIRED_SIM_KEYS if k not in sim]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {', '.join(missing)}")
    schedule, study_path = design.get("schedule"), path.parent / "study.yaml"
    if not isinstance(schedule, dict):
        raise ConfigError(f"{study_path}: missing key schedule (schedule of assessments: visits per form)")
    planned = {str(v["visit"]) for v in design.get("visits", [])}
    for form in SCHEDULED_FORMS:
        if not isinstance(schedule.get(form), list):
            raise ConfigError(f"{study_path}: schedule.{form} must be a list of visit names")
        unknown = sorted(set(map(str, schedule[form])) - planned)
        if unknown:
            raise ConfigError(f"{study_path}: schedule.{form} names visit(s) {unknown} that are not in visits")
    sites = [str(s["siteid"]) for s in design.get("sites", [])]
    dialects = sim["site_dialects"]
    for site in sites:
        if site not in dialects:
            raise ConfigError(f"{path}: site_dialects has no entry for site {site} (study.yaml sites)")
        dialect = dialects[site]
        absent = [k for k in REQUIRED_DIALECT_KEYS if k not in dialect]
        if absent:
            raise ConfigError(f"{path}: site_dialects.{site} misses {', '.join(absent)}")
        for key, known in (("format", FILE_FORMATS), ("columns", sim["column_styles"]),
                           ("lab_units", sim["lab"]["unit_profiles"]), ("lab_names", sim["lab"]["test_names"]),
                           ("specimen_names", sim["lab"]["specimen_names"]), ("vs_units", sim["vs_units"])):
            if dialect[key] not in known:
                raise ConfigError(f"{path}: site_dialects.{site}.{key} '{dialect[key]}' is not one of "
                                  f"{', '.join(known)}")
        try:
            str(dialect.get("unscheduled", UNSCHEDULED)).format(k=1)
        except (KeyError, IndexError, ValueError):
            raise ConfigError(f"{path}: site_dialects.{site}.unscheduled '{dialect['unscheduled']}' may only use the "
                              "placeholder {k} (the subject's running number of unscheduled visits)") from None
        if str(site) not in {str(k) for k in sim["site_weights"]}:
            raise ConfigError(f"{path}: site_weights has no entry for site {site}")
    for form in FORMS:
        if form not in sim["forms"]:
            raise ConfigError(f"{path}: forms.{form} is missing")
        for fld, names in sim["forms"][form].items():
            if not isinstance(names, list) or len(names) != len(sim["column_styles"]):
                raise ConfigError(f"{path}: forms.{form}.{fld} needs one name per column style "
                                  f"({', '.join(sim['column_styles'])})")
    rescue = {m.upper() for m in design.get("rescue_therapy", {}).get("medications", [])}
    for med in sim["concomitant_medications"].get("rescue", []):
        if med["drug"].upper() not in rescue:
            raise ConfigError(f"{path}: rescue drug {med['drug']} is not in study.yaml rescue_therapy")
    testcds = {item["testcd"] for item in instrument["items"]}
    for key in ("lab_items", "baseline_prevalence"):
        unknown = sorted(set(sim["sledai"][key]) - testcds)
        if unknown:
            raise ConfigError(f"{path}: sledai.{key} names unknown item(s) {unknown}")
    fever_item = sim["sledai"].get("fever_item")
    if fever_item is not None:
        if fever_item not in testcds:
            raise ConfigError(f"{path}: sledai.fever_item names unknown item '{fever_item}'")
        if "fever_temperature" not in sim["sledai"]:
            raise ConfigError(f"{path}: sledai.fever_item needs sledai.fever_temperature (VS temperature with fever)")


def load_simulation_inputs(ctx, seed: int | None = None, subjects: int | None = None) -> SimulationInputs:
    """Read study.yaml, simulation.yaml, the SLEDAI instrument and the bundled dictionaries.

    >>> from pipeline.common.study import StudyContext
    >>> inputs = load_simulation_inputs(StudyContext.create("iscalimab-ln"), seed=7, subjects=12)
    >>> inputs.seed, inputs.n_by_arm, inputs.n_screen_failures
    (7, {'ISCAL10': 8, 'PBO': 4}, 3)
    """
    design = ctx.design
    sim_path = ctx.specs_dir / "simulation.yaml"
    sim = load_spec(sim_path)
    instrument_name = design.get("instruments", {}).get("disease_activity", "selena-sledai")
    instrument = load_instrument(ctx.standards_dir, instrument_name)
    _check_sim(sim, sim_path, design, instrument)
    if subjects is not None and subjects < 1:
        raise ConfigError(f"--subjects must be >= 1, got {subjects}")
    n_by_arm, n_default = _arm_sizes(design, subjects, ctx.specs_dir / "study.yaml")
    n_sf = int(round(sim["screen_failures"] * sum(n_by_arm.values()) / sum(n_default.values())))
    meddra, whodrug = (load_dictionary(ctx.standards_dir, name) for name in ("meddra-mini", "whodrug-mini"))
    llts = set(meddra["llt_name"])
    for entry in sim["adverse_events"]["catalogue"]:
        if entry["llt"] not in llts:
            raise ConfigError(f"{sim_path}: adverse_events.catalogue term '{entry['llt']}' is not an LLT of meddra-mini.tsv")
    drugs = set(whodrug["drug_name"])
    cms = sim["concomitant_medications"]
    for group in ("standard_of_care", "rescue", "ae_treatment"):
        for med in cms.get(group, []):
            if med["drug"] not in drugs:
                raise ConfigError(f"{sim_path}: concomitant_medications.{group} drug '{med['drug']}' is not in whodrug-mini.tsv")
    return SimulationInputs(design=design, sim=sim, instrument=instrument, meddra=meddra, whodrug=whodrug,
                            seed=int(sim["seed"] if seed is None else seed), n_by_arm=n_by_arm,
                            n_default_by_arm=n_default, n_screen_failures=n_sf, sim_path=sim_path)


@lru_cache(maxsize=4)
def example_inputs(study: str = "iscalimab-ln") -> SimulationInputs:
    """The default inputs of a study (cached): what the docstring examples of this package use.

    >>> inputs = example_inputs()
    >>> inputs.n_by_arm, inputs.n_screen_failures
    ({'ISCAL10': 39, 'PBO': 18}, 14)
    """
    from pipeline.common.study import StudyContext

    return load_simulation_inputs(StudyContext.create(study))
