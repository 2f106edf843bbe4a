"""Table and listing shells (``specs/<study>/tlf.yaml``): load, check and resolve them.

The shell says what each output shows (population, treatment columns, rows with their dataset,
filter and method) and how it looks (titles, footnotes, cell formats, page layout). Checking it
up front gives one clear message naming the file, the output, the row and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import load_spec

METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "ancova_log_ratio": ("dataset", "response", "covariates"),
    "ancova_change": ("dataset", "response", "covariates"),
    "binary_response": ("dataset", "response", "responder"),
    "subject_count": ("dataset",),
    "soc_pt_counts": ("dataset", "soc", "pt"),
    "continuous_summary": ("variable",),
    "categorical_summary": ("variable",),
    "listing": ("dataset", "columns"),
}


@dataclass(frozen=True)
class Shell:
    """A parsed, checked ``tlf.yaml``."""

    path: Path
    defaults: dict[str, Any]
    populations: dict[str, dict[str, Any]]
    treatment_columns: dict[str, dict[str, Any]]
    comparison: dict[str, Any]
    outputs: dict[str, dict[str, Any]]

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


def _require(mapping: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    missing = [k for k in keys if k not in mapping or mapping[k] in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing key {', '.join(repr(k) for k in missing)}")


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
    outputs = data["outputs"]
    if not isinstance(outputs, Mapping) or not outputs:
        raise ConfigError(f"{path}: outputs must be a non-empty mapping of output id to shell")
    for output_id, output in outputs.items():
        where = f"{path}: outputs.{output_id}"
        _require(output, ("title", "population", "columns", "rows"), where)
        if output["population"] not in populations:
            known = ", ".join(populations) or "none"
            raise ConfigError(f"{where}: population {output['population']!r} is not defined under "
                              f"populations (known: {known})")
        if output["columns"] not in columns:
            known = ", ".join(columns) or "none"
            raise ConfigError(f"{where}: columns {output['columns']!r} is not defined under "
                              f"treatment_columns (known: {known})")
        if not isinstance(output["rows"], list):
            raise ConfigError(f"{where}: rows must be a list")
        seen: set[str] = set()
        for index, row in enumerate(output["rows"]):
            row_where = f"{where}.rows[{index}]"
            _require(row, ("id", "method"), row_where)
            row_where = f"{where}.rows[{row['id']}]"
            if row["id"] in seen:
                raise ConfigError(f"{row_where}: duplicate row id")
            seen.add(row["id"])
            if row["method"] not in METHOD_KEYS:
                raise ConfigError(f"{row_where}: unknown method {row['method']!r} "
                                  f"(known: {', '.join(sorted(METHOD_KEYS))})")
            _require(row, METHOD_KEYS[row["method"]], row_where)
            if "where" in row and row["where"] is not None and not isinstance(row["where"], Mapping):
                raise ConfigError(f"{row_where}: 'where' must be a mapping of variable to value")
    return Shell(
        path=path,
        defaults=dict(data.get("defaults") or {}),
        populations=dict(populations),
        treatment_columns=dict(columns),
        comparison=dict(data.get("comparison") or {}),
        outputs={str(k): dict(v) for k, v in outputs.items()},
    )


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
