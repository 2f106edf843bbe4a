"""Table and listing shells (``specs/<study>/tlf.yaml``): load, check and resolve them.

The shell says what each output shows (population, treatment columns, rows with their dataset,
filter and method) and how it looks (titles, footnotes, cell formats, page layout). Checking it
up front gives one clear message naming the file, the output, the row and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import SpecProblems, line_of, load_spec

METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "ancova_log_ratio": ("dataset", "response", "covariates"),
    "ancova_change": ("dataset", "response", "covariates"),
    "binary_response": ("dataset", "response", "responder"),
    "subject_count": ("dataset",),
    "soc_pt_counts": ("dataset", "soc", "pt"),
    "continuous_summary": ("variable",),
    "categorical_summary": ("variable",),
    "listing": ("dataset", "columns"),
    "mmrm": ("dataset", "response", "covariates", "visit"),
}

# Closed vocabularies of an estimand (ICH E9(R1)): the intercurrent-event strategies and the
# missing-data rules the analysis methods know how to apply.
ICE_STRATEGIES = ("treatment policy", "composite", "hypothetical", "while on treatment", "principal stratum")
MISSING_DATA_RULES = {
    "observed": "observed cases, no imputation",
    "evaluable": "evaluable subjects only (denominator), no imputation",
    "non_responder": "missing = non-responder (denominator = population)",
    "likelihood": "all observed visits, missing at random (likelihood)",
}


@dataclass(frozen=True)
class Estimand:
    """One estimand of ``tlf.yaml`` ``estimands``: what a row estimates, said out loud (ICH E9(R1)).

    ``population`` is a key of ``populations``; ``intercurrent_events`` maps an event to one of
    :data:`ICE_STRATEGIES`; ``missing_data`` is one of :data:`MISSING_DATA_RULES`.
    """

    id: str
    label: str
    population: str
    variable: str
    intercurrent_events: tuple[tuple[str, str], ...]
    missing_data: str
    summary: str = ""
    role: str = "primary"
    note: str = ""

    def footnote(self, population_label: str) -> str:
        """The estimand as one footnote sentence.

        >>> Estimand("crr", "CRR", "FAS", "response at Week 24", (("rescue therapy", "composite"),),
        ...          "evaluable", "proportion", "primary").footnote("Full Analysis Set")
        'Estimand (primary) CRR: Full Analysis Set; response at Week 24; intercurrent events: rescue therapy - composite; missing data: evaluable subjects only (denominator), no imputation; proportion.'
        """
        events = ", ".join(f"{event} - {strategy}" for event, strategy in self.intercurrent_events)
        text = (f"Estimand ({self.role}) {self.label}: {population_label}; {self.variable}; "
                f"intercurrent events: {events or 'none'}; missing data: {MISSING_DATA_RULES[self.missing_data]}")
        text += f"; {self.summary}" if self.summary else ""
        return text + "." + (f" {self.note}" if self.note else "")


@dataclass(frozen=True)
class AnalysisPeriod:
    """One analysis period of ``tlf.yaml`` ``analysis_periods``: an ADaM flag says which records fall in it."""

    id: str
    label: str
    flag: str
    definition: str
    datasets: tuple[str, ...] = ("adae",)

    def footnote(self) -> str:
        """>>> AnalysisPeriod("W24", "Up to Week 24", "TRTEMW24", "Day 1 to Day 169").footnote()
        'Analysis period: Up to Week 24 = Day 1 to Day 169 (TRTEMW24 = Y).'
        """
        return f"Analysis period: {self.label} = {self.definition} ({self.flag} = Y)."


def _entries(data: Any, path: Path, section: str, what: str) -> list[tuple[Any, Any]]:
    """The ``(id, spec)`` pairs of an optional top-level section, which must be a mapping of id to ``what``."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{path}: {section} must be a mapping of id to {what}")
    return list((data or {}).items())


def check_estimands(data: Any, populations: Mapping[str, Any], path: Path) -> dict[str, Estimand]:
    """Check ``estimands`` (a mapping of id to estimand) and return them typed.

    >>> check_estimands({"e": {"label": "E", "population": "FAS", "variable": "v", "missing_data": "guess",
    ...     "intercurrent_events": {}}}, {"FAS": {}}, Path("tlf.yaml"))
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml: estimands.e: missing_data 'guess' is not a known rule (known: evaluable, likelihood, non_responder, observed)
    """
    result = {}
    for key, spec in _entries(data, path, "estimands", "estimand"):
        where = f"{path}: estimands.{key}"
        _require(spec, ("label", "population", "variable", "missing_data"), where)
        _check_defined(where, "population", spec["population"], populations, "populations")
        if spec["missing_data"] not in MISSING_DATA_RULES:
            raise ConfigError(f"{where}: missing_data {spec['missing_data']!r} is not a known rule "
                              f"(known: {', '.join(sorted(MISSING_DATA_RULES))})")
        events = spec.get("intercurrent_events") or {}
        if not isinstance(events, Mapping):
            raise ConfigError(f"{where}: intercurrent_events must be a mapping of event to strategy")
        for event, strategy in events.items():
            if str(strategy).split(":")[0].strip() not in ICE_STRATEGIES:
                raise ConfigError(f"{where}: intercurrent_events.{event}: strategy {strategy!r} is not one of "
                                  f"{', '.join(ICE_STRATEGIES)}")
        role = str(spec.get("role", "primary"))
        if role not in ("primary", "sensitivity", "supplementary"):
            raise ConfigError(f"{where}: role {role!r} must be primary, sensitivity or supplementary")
        result[str(key)] = Estimand(str(key), str(spec["label"]), str(spec["population"]), str(spec["variable"]),
                                    tuple((str(e), str(s)) for e, s in events.items()), str(spec["missing_data"]),
                                    str(spec.get("summary", "")), role, str(spec.get("note", "")))
    return result


def check_periods(data: Any, path: Path) -> dict[str, AnalysisPeriod]:
    """Check ``analysis_periods`` (id -> label, flag, definition) and return them typed.

    >>> check_periods({"W24": {"label": "Up to Week 24", "flag": "TRTEMW24"}}, Path("tlf.yaml"))
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml: analysis_periods.W24: missing key 'definition'
    """
    result = {}
    for key, spec in _entries(data, path, "analysis_periods", "period"):
        _require(spec, ("label", "flag", "definition"), f"{path}: analysis_periods.{key}")
        datasets = tuple(str(d).lower() for d in (spec.get("datasets") or ["adae"]))
        result[str(key)] = AnalysisPeriod(str(key), str(spec["label"]), str(spec["flag"]), str(spec["definition"]),
                                          datasets)
    return result


@dataclass(frozen=True)
class Shell:
    """A parsed, checked ``tlf.yaml``."""

    path: Path
    defaults: dict[str, Any]
    populations: dict[str, dict[str, Any]]
    treatment_columns: dict[str, dict[str, Any]]
    comparison: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    estimands: dict[str, Estimand] = field(default_factory=dict)
    periods: dict[str, AnalysisPeriod] = field(default_factory=dict)

    def period(self, output_id: str) -> AnalysisPeriod | None:
        """The analysis period of an output (``period: <id>``), or ``None``."""
        key = self.outputs[output_id].get("period")
        return self.periods[key] if key else None

    def estimand_footnotes(self, output_id: str) -> list[str]:
        """One footnote per estimand named by the output's rows, in row order."""
        estimands = [self.estimands[row["estimand"]] for row in self.outputs[output_id]["rows"] if row.get("estimand")]
        return list(dict.fromkeys(e.footnote(self.populations[e.population]["label"]) for e in estimands))

    def where(self, output_id: str, row: Mapping[str, Any] | None = None) -> str:
        """A location for messages: ``<file>: outputs.<id>.rows[<row id>]``."""
        text = f"{self.path}: outputs.{output_id}"
        return f"{text}.rows[{row.get('id')}]" if row is not None else text

    def setting(self, output_id: str, key: str, default: Any = None) -> Any:
        """An output's own setting, else the shell default, else ``default``."""
        return self.outputs[output_id].get(key, self.defaults.get(key, default))

    def decimals(self, output_id: str, row: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Decimals per statistic: defaults, overridden by the output, then by the row.

        A row's ``precision`` (decimals of the collected data) sets the summary statistics first,
        then the row's own ``decimals`` win.

        >>> shell = Shell(Path("t.yaml"), {"decimals": {"mean": 1, "pct": 1}}, {}, {}, {},
        ...               {"t": {"decimals": {"pct": 0}}})
        >>> shell.decimals("t"), shell.decimals("t", {"precision": 0, "decimals": {"sd": 1}})["sd"]
        ({'mean': 1, 'pct': 0}, 1)
        """
        merged = dict(self.defaults.get("decimals") or {})
        merged.update(self.outputs[output_id].get("decimals") or {})
        if row is not None:
            if row.get("precision") is not None:
                merged.update(precision_decimals(int(row["precision"])))
            merged.update(row.get("decimals") or {})
        return merged


def precision_decimals(precision: int) -> dict[str, int]:
    """Decimals of summary statistics from the precision of the collected data (a CSR convention).

    >>> precision_decimals(1)
    {'min': 1, 'max': 1, 'mean': 2, 'median': 2, 'q1': 2, 'q3': 2, 'sd': 3}
    """
    return {"min": precision, "max": precision, "mean": precision + 1, "median": precision + 1,
            "q1": precision + 1, "q3": precision + 1, "sd": precision + 2}


def _check_defined(where: str, key: str, value: Any, known: Mapping[str, Any], section: str) -> None:
    if value not in known:
        raise ConfigError(f"{where}: {key} {value!r} is not defined under {section} (known: {', '.join(known) or 'none'})")


def _require(mapping: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    missing = [k for k in keys if k not in mapping or mapping[k] in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing key {', '.join(repr(k) for k in missing)}")


FIGURE_KEYS = {"row", "stat", "lower", "upper", "scale", "reference", "ylabel"}


def check_figure(spec: Any, where: str) -> dict[str, Any]:
    """A shell's ``figure:`` block (drawn by ``pipeline.tlf.figures``), checked.

    >>> check_figure({"row": "upcr", "stat": "gmr", "scale": "cubic"}, "tlf.yaml: outputs.f")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml: outputs.f: figure.scale must be log or linear, got 'cubic'
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: figure must be a mapping with keys {', '.join(sorted(FIGURE_KEYS))}")
    unknown = sorted(set(spec) - FIGURE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: figure: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(FIGURE_KEYS))})")
    for key in ("row", "stat"):
        if not isinstance(spec.get(key), str):
            raise ConfigError(f"{where}: figure.{key} must name the ARD {key} to plot")
    if spec.get("scale", "linear") not in ("log", "linear"):
        raise ConfigError(f"{where}: figure.scale must be log or linear, got {spec.get('scale')!r}")
    return dict(spec)


def check_shell(data: Any, path: str | Path = "tlf.yaml") -> Shell:
    """Check the structure of a shell and return it as a :class:`Shell`.

    >>> shell = check_shell({"populations": {"SAF": {"flag": "SAFFL", "label": "Safety Set"}},
    ...     "treatment_columns": {"actual": {"variable": "TRT01A"}},
    ...     "outputs": {"t": {"title": "T", "population": "SAF", "columns": "actual",
    ...                       "rows": [{"id": "any_ae", "method": "subject_count", "dataset": "adae"}]}}})
    >>> list(shell.outputs)
    ['t']
    >>> check_shell({"populations": {}, "treatment_columns": {}, "outputs": {"t": {"title": "T",
    ...     "population": "FAS", "columns": "planned", "rows": []}}}, "tlf.yaml")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: tlf.yaml: outputs.t: population 'FAS' is not defined under populations (known: none)
    """
    path = Path(path)
    _require(data, ("populations", "treatment_columns", "outputs"), str(path))
    populations = data["populations"] or {}
    columns = data["treatment_columns"] or {}
    for name, population in populations.items():
        _require(population, ("flag", "label"), f"{path}: populations.{name}")
    for name, column in columns.items():
        _require(column, ("variable",), f"{path}: treatment_columns.{name}")
    estimands = check_estimands(data.get("estimands"), populations, path)
    periods = check_periods(data.get("analysis_periods"), path)
    outputs = data["outputs"]
    if not isinstance(outputs, Mapping) or not outputs:
        raise ConfigError(f"{_at(path, data, 'outputs')}: outputs must be a non-empty mapping of output id to shell")
    problems = SpecProblems()  # every output's problems at once
    for output_id, output in outputs.items():
        with problems.check():
            _check_output(output_id, output, outputs, populations, columns, estimands, periods, path, problems)
    problems.raise_if_any()
    return Shell(path=path, defaults=dict(data.get("defaults") or {}), populations=dict(populations),
                 treatment_columns=dict(columns), comparison=dict(data.get("comparison") or {}),
                 outputs={str(k): dict(v) for k, v in outputs.items()}, estimands=estimands, periods=periods)


def load_shell(specs_dir: str | Path, name: str = "tlf.yaml") -> Shell:
    """Read and check ``<specs_dir>/tlf.yaml``.

    >>> from pipeline.common.study import StudyContext
    >>> shell = load_shell(StudyContext.create("iscalimab-ln", outputs="/nonexistent/out").specs_dir)
    >>> shell.path.name, "table1" in shell.outputs
    ('tlf.yaml', True)
    """
    path = Path(specs_dir) / name
    return check_shell(load_spec(path), path)


def resolve_groups(design: Mapping[str, Any], values: list[str]) -> list[str]:
    """Treatment columns in display order: the study's arms by ``trtn``, then other values seen.

    >>> design = {"arms": [{"trt": "Placebo", "trtn": 2}, {"trt": "Active", "trtn": 1}]}
    >>> resolve_groups(design, ["Placebo", "Active", "Rescue"])
    ['Active', 'Placebo', 'Rescue']
    """
    arms = sorted((design.get("arms") or []), key=lambda arm: (arm.get("trtn", 0), str(arm.get("trt"))))
    ordered = [str(arm["trt"]) for arm in arms if arm.get("trt")]
    extra = sorted({str(v) for v in values if str(v) not in ordered})
    return ordered + extra


def resolve_reference(shell: Shell, design: Mapping[str, Any]) -> str | None:
    """The reference treatment of comparisons (``comparison.reference_armcd`` or ``reference_group``).

    >>> resolve_reference(Shell(Path("t.yaml"), {}, {}, {}, {"reference_armcd": "PBO"}, {}),
    ...                   {"arms": [{"armcd": "PBO", "trt": "Placebo"}]})
    'Placebo'
    """
    comparison = shell.comparison
    if comparison.get("reference_group"):
        return str(comparison["reference_group"])
    armcd = comparison.get("reference_armcd")
    if not armcd:
        return None
    for arm in design.get("arms") or []:
        if arm.get("armcd") == armcd:
            return str(arm.get("trt") or arm.get("arm"))
    raise ConfigError(f"{shell.path}: comparison.reference_armcd {armcd!r} is not an arm of study.yaml")


def _at(path: Path, node: Any, key: Any) -> str:
    """``path:line`` of ``key`` in ``node`` when the YAML line is known, else ``path``."""
    line = line_of(node, key)
    return f"{path}:{line}" if line else str(path)


def _check_output(output_id: Any, output: Any, outputs: Mapping[str, Any], populations: Mapping[str, Any],
                  columns: Mapping[str, Any], estimands: Mapping[str, Any], periods: Mapping[str, Any], path: Path,
                  problems: SpecProblems) -> None:
    """One output shell of tlf.yaml; each row's problem is collected in ``problems``."""
    where = f"{_at(path, outputs, output_id)}: outputs.{output_id}"
    _require(output, ("title", "population", "columns", "rows"), where)
    _check_defined(where, "population", output["population"], populations, "populations")
    _check_defined(where, "columns", output["columns"], columns, "treatment_columns")
    if not isinstance(output["rows"], list):
        raise ConfigError(f"{where}: rows must be a list")
    if output.get("figure") is not None:
        check_figure(output["figure"], where)
    if output.get("period") is not None:
        _check_defined(where, "period", output["period"], periods, "analysis_periods")
    seen: set[str] = set()
    for index, row in enumerate(output["rows"]):
        with problems.check():
            row_where = f"{_at(path, output['rows'], index)}: outputs.{output_id}.rows[{index}]"
            _require(row, ("id", "method"), row_where)
            row_where = f"{_at(path, output['rows'], index)}: outputs.{output_id}.rows[{row['id']}]"
            if row["id"] in seen:
                raise ConfigError(f"{row_where}: duplicate row id")
            seen.add(row["id"])
            if row["method"] not in METHOD_KEYS:
                raise ConfigError(f"{row_where}: unknown method {row['method']!r} "
                                  f"(known: {', '.join(sorted(METHOD_KEYS))})")
            _require(row, METHOD_KEYS[row["method"]], row_where)
            if row.get("estimand") is not None:
                _check_defined(row_where, "estimand", row["estimand"], estimands, "estimands")
                if estimands[row["estimand"]].population != output["population"]:
                    raise ConfigError(f"{row_where}: estimand {row['estimand']!r} is for population "
                                      f"{estimands[row['estimand']].population}, the output for {output['population']}")
            if "where" in row and row["where"] is not None and not isinstance(row["where"], Mapping):
                raise ConfigError(f"{row_where}: 'where' must be a mapping of variable to value")
