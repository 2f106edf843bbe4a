"""The study context: where a study's metadata, inputs and outputs live.

Every stage receives a :class:`StudyContext`; no stage builds paths of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.common.errors import ConfigError
from pipeline.common.specfile import SpecProblems, Where, check_value, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# study.yaml sections of a fixed kind (pipeline.common.specfile.KINDS), checked when the file is read;
# the sections a stage owns (arms, visits, endpoints, ...) are checked by that stage
DESIGN_KINDS = {"study": "mapping", "arms": "list", "visits": "list", "sites": "list", "epochs": "names",
                "elements": "list", "unscheduled_visit_increment": "positive", "treatment_epoch_tail_days": "count",
                "quarantine_gate": "mapping", "validation": "mapping", "sources": "mapping", "populations": "mapping",
                "endpoints": "mapping", "privacy": "mapping", "dosing": "mapping", "schedule": "mapping"}
DEFAULT_STUDY = "iscalimab-ln"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")  # ${path} of a study.yaml value inside a spec


def study_value(design: Mapping[str, Any], dotted: str, default: Any = KeyError) -> Any:
    """The study.yaml value at a dotted path; a number picks a list item (``age.0``), and through a list
    of mappings it takes each item's value (``arms.armcd``: every arm's armcd). When absent:
    ``default``, or KeyError if none is given.

    >>> design = {"study": {"studyid": "S1"}, "arms": [{"armcd": "A"}, {"armcd": "B"}]}
    >>> study_value(design, "study.studyid"), study_value(design, "arms.armcd"), study_value(design, "arms.1.armcd")
    ('S1', ['A', 'B'], 'B')
    >>> study_value(design, "x.y", None)
    """
    value: Any = design
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) and part in v for v in value):
            value = [v[part] for v in value]
        elif default is KeyError:
            raise KeyError(f"study.yaml has no '{dotted}'")
        else:
            return default
    return value


def resolve_placeholders(value: Any, lookup: Callable[[str], Any]) -> Any:
    """Strings' ``${path}`` placeholders (through lists and mappings) replaced by ``lookup(path)``:
    a placeholder that is the whole string by the value itself, one inside a text by its repr.

    >>> design = {"endpoints": {"cut": 0.5}, "arms": [{"armcd": "A"}, {"armcd": "B"}]}
    >>> resolve_placeholders({"f": "AVAL < ${endpoints.cut}", "in": ["${arms.armcd}"]}, lambda p: study_value(design, p))
    {'f': 'AVAL < 0.5', 'in': [['A', 'B']]}
    """
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return lookup(whole.group(1))
        return PLACEHOLDER.sub(lambda m: repr(lookup(m.group(1))), value)
    if isinstance(value, list):
        return [resolve_placeholders(v, lookup) for v in value]
    if isinstance(value, Mapping):
        return {k: resolve_placeholders(v, lookup) for k, v in value.items()}
    return value


def standards_dir(root: Path) -> Path:
    """The project's own ``specs/standards`` when it has one, else the standards shipped with the pipeline.

    >>> standards_dir(Path("/nowhere")).joinpath("units.yaml").is_file()
    True
    """
    from pipeline.standards import standards_home

    own = Path(root) / "specs" / "standards"
    return own if own.is_dir() else standards_home()


class _Output:
    """An output path of the context: ``<outputs>/<relative>``, or the running stage's staging folder
    for it when ``redirects`` names it."""

    def __init__(self, relative: str):
        self.relative = relative

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, ctx: Any, owner: type | None = None) -> Path:
        return ctx.redirects.get(self.name) or ctx.outputs_dir / self.relative


@dataclass(frozen=True)
class StudyContext:
    """Paths and metadata of one study run.

    >>> ctx = StudyContext.create("iscalimab-ln")
    >>> ctx.sdtm_dir.relative_to(ctx.outputs_dir).as_posix()
    'sdtm'
    """

    study: str
    specs_dir: Path
    mappings_dir: Path
    standards_dir: Path
    raw_dir: Path
    outputs_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    # attribute name -> path: where the running stage writes its own outputs (its staging folder,
    # see pipeline/common/staging.py); every other output path stays under outputs_dir.
    redirects: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        study: str = DEFAULT_STUDY,
        raw: str | Path | None = None,
        outputs: str | Path | None = None,
        root: str | Path | None = None,
        **options: Any,
    ) -> "StudyContext":
        root = Path(root).resolve() if root else PROJECT_ROOT
        specs_dir = root / "specs" / study
        if not specs_dir.is_dir():
            known = sorted(p.name for p in (root / "specs").iterdir() if p.is_dir() and p.name != "standards") \
                if (root / "specs").is_dir() else []
            raise ConfigError(f"unknown study '{study}': no folder {specs_dir} (known: {', '.join(known) or 'none'})")
        outputs_dir = Path(outputs).resolve() if outputs else root / "outputs" / study
        raw_dir = Path(raw).resolve() if raw else outputs_dir / "raw"
        return cls(
            study=study,
            specs_dir=specs_dir,
            mappings_dir=root / "mappings" / study,
            standards_dir=standards_dir(root),
            raw_dir=raw_dir,
            outputs_dir=outputs_dir,
            options=dict(options),
        )

    @cached_property
    def design(self) -> dict[str, Any]:
        """The parsed ``specs/<study>/study.yaml``."""
        path = self.specs_dir / "study.yaml"
        data = load_spec(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: expected a mapping at the top level")
        problems = SpecProblems()  # every section's problem at once, not one per run
        for key, kind in DESIGN_KINDS.items():
            if data.get(key) is not None:
                with problems.check():
                    check_value(data[key], kind, Where(path, data.lines.get(key, 1)), key)
        problems.raise_if_any()
        return data

    def spec(self, name: str) -> Any:
        """Any other YAML spec of the study, e.g. ``ctx.spec('adam')``."""
        return load_spec(self.specs_dir / f"{name}.yaml")

    @property
    def truth_dir(self) -> Path:
        return self.raw_dir / "_truth"

    sdtm_dir = _Output("sdtm")
    adam_dir = _Output("adam")
    lineage_dir = _Output("lineage")
    quarantine_dir = _Output("quarantine")
    ledger_path = _Output("ledger.json")
    ingest_dir = _Output("ingest")
    validation_dir = _Output("validation")
    ard_dir = _Output("ard")
    tlf_dir = _Output("tlf")
    submission_dir = _Output("submission")
    reports_dir = _Output("reports")
    logs_dir = _Output("logs")  # no stage owns it: never redirected
