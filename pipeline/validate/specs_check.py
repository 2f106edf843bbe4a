"""``make specs-check``: the study's specs are checked against the standards before any data is read.

Every problem names file and line; a broken spec raises :class:`ConfigError` (exit code 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.logs import get_logger
from pipeline.common.specfile import line_at
from pipeline.validate.findings import concat_findings, empty_findings, make_findings
from pipeline.standards.study import DATASETS_SPEC, MAX_CHAR_LENGTH, StudyMetadata, resolve_study_metadata
from pipeline.standards.tables import load_standard_variables
from pipeline.validate.rules import Rule

log = get_logger("validate.specs")
NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
MAX_LABEL = 40
TYPES = {"Char", "Num"}
CORES = {"Req", "Exp", "Perm", "Cond"}

SPEC_RULES: dict[str, Rule] = {r.id: r for r in [
    Rule("ISL-0301", "Codelist not in the CT subset", "A standard variable's codelist is not in the CT subset "
         "of specs/standards; its values cannot be checked.", "{variable}: codelist {codelist} is not in the CT "
         "subset, values are not checked", "notice", "specs"),
]}


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec file, with where it is."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def check_study_metadata(meta: StudyMetadata, standards_dir: Path) -> tuple[list[SpecProblem], pd.DataFrame]:
    """All problems of a resolved study spec (errors) and notices as findings.

    >>> from pipeline.common.study import StudyContext
    >>> ctx = StudyContext.create("iscalimab-ln")
    >>> from pipeline.standards.study import load_study_metadata
    >>> problems, notices = check_study_metadata(load_study_metadata(ctx.specs_dir, ctx.standards_dir),
    ...                                          ctx.standards_dir)
    >>> problems
    []
    """
    problems: list[SpecProblem] = []
    spec_file = str(meta.path)
    standard = load_standard_variables(standards_dir)
    known = set(zip(standard["domain"], standard["variable"]))
    notices = []
    for name, ds in meta.datasets.items():
        found = []  # this dataset's problems, all at its line
        if not NAME_PATTERN.match(name):
            found.append(f"dataset name {name} is not 1-8 upper-case letters/digits starting with a letter")
        if len(ds.label) > MAX_LABEL:
            found.append(f"dataset {name} label has {len(ds.label)} characters (max {MAX_LABEL})")
        if not ds.label:
            found.append(f"dataset {name} has no label")
        problems.extend(SpecProblem(spec_file, ds.source_line, message) for message in found)
        names = set(meta.dataset_variables(name)["variable"])
        keys_line = line_at(meta.spec, "datasets", _raw_key(meta, name), "keys", default=ds.source_line)
        problems.extend(SpecProblem(spec_file, keys_line, f"dataset {name}: key {key} is not a variable of the dataset")
                        for key in ds.keys if key not in names)
    for row in meta.variables.itertuples(index=False):
        file = row.source_file if str(row.source_file).endswith(DATASETS_SPEC) else str(Path(standards_dir) / row.source_file)
        line = int(row.source_line)
        label = row.label if isinstance(row.label, str) else ""
        what = f"{row.dataset}.{row.variable}"
        std_domain = meta.datasets[row.dataset].standard_domain
        if (std_domain, row.variable) not in known and not (row.sponsor_defined or row.model_variable):
            problems.append(SpecProblem(file, line, f"{what}: not a {std_domain} variable of the standard; "
                                                    "declare it with sponsor_defined: true (or model_variable: true)"))
            continue
        found = []  # this variable's problems, all at its line
        if not NAME_PATTERN.match(str(row.variable)):
            found.append(f"{what}: name is not 1-8 upper-case letters/digits starting with a letter")
        if not label:
            found.append(f"{what}: label is missing")
        elif len(label) > MAX_LABEL:
            found.append(f"{what}: label has {len(label)} characters (max {MAX_LABEL})")
        if row.type not in TYPES:
            found.append(f"{what}: type '{row.type}' must be Char or Num")
        if row.core not in CORES:
            found.append(f"{what}: core '{row.core}' must be one of Req, Exp, Perm, Cond")
        if row.type == "Char" and not (pd.notna(row.length) and 1 <= int(row.length) <= MAX_CHAR_LENGTH):
            found.append(f"{what}: length {row.length} must be 1-{MAX_CHAR_LENGTH}")
        problems.extend(SpecProblem(file, line, message) for message in found)
        if row.codelist:
            missing = [c for c in str(row.codelist).split("|") if c not in meta.codelists]
            if missing and file == spec_file:
                problems.append(SpecProblem(file, line, f"{what}: codelist {', '.join(missing)} does not exist "
                                                        "(not in the CT subset nor under codelists:)"))
            elif missing:
                rule = SPEC_RULES["ISL-0301"]
                notices.append(make_findings(rule.id, rule.severity, row.dataset,
                                             rule.format_message(variable=row.variable, codelist=", ".join(missing)),
                                             "specs", variable=row.variable, value=", ".join(missing)))
            elif row.subset:
                terms = set().union(*(meta.codelists[c].terms for c in str(row.codelist).split("|")))
                outside = [t for t in str(row.subset).split(";") if t not in terms]
                if outside:
                    problems.append(SpecProblem(file, line, f"{what}: subset value(s) {', '.join(outside)} are not "
                                                            f"terms of codelist {row.codelist}"))
    for name, codelist in meta.codelists.items():
        if codelist.sponsor_defined and not codelist.terms:
            problems.append(SpecProblem(spec_file, line_at(meta.spec, "codelists", name),
                                        f"sponsor codelist {name} has no terms"))
    return problems, concat_findings(notices)


def _raw_key(meta: StudyMetadata, name: str) -> Any:
    return next((key for key in meta.spec.get("datasets", {}) if str(key).upper() == name), name)


def check_specs(ctx: Any) -> tuple[StudyMetadata, pd.DataFrame]:
    """Resolve and check the study's specs; raise :class:`ConfigError` listing every problem.

    >>> from pipeline.common.study import StudyContext
    >>> meta, notices = check_specs(StudyContext.create("iscalimab-ln"))
    >>> "DM" in meta.datasets, len(notices)
    (True, 0)
    """
    from pipeline.adam.engine import Engine
    from pipeline.analysis.shell import load_shell
    from pipeline.common.specfile import SpecProblems, load_spec
    from pipeline.sdtm.stage import load_mappings
    from pipeline.validate.expectations import load_accepted_findings, load_expectation_specs

    problems = SpecProblems()  # every spec file of the study, all problems in one run
    design = None
    with problems.check():
        design = ctx.design
    if design is None:  # study.yaml has problems (reported): the other files are still checked against what it says
        try:
            design = load_spec(ctx.specs_dir / "study.yaml")
        except ConfigError:
            design = None
        design = design if isinstance(design, dict) else None
    if Path(ctx.mappings_dir).is_dir():
        with problems.check():
            load_mappings(Path(ctx.mappings_dir))
    meta, notices = None, empty_findings()
    with problems.check():
        meta = resolve_study_metadata(ctx.specs_dir / DATASETS_SPEC, ctx.standards_dir)
        found, notices = check_study_metadata(meta, ctx.standards_dir)
        problems.lines.extend(str(p) for p in found)
    if design is not None:
        with problems.check():
            load_expectation_specs(ctx.specs_dir / "expectations.yaml", design)
    with problems.check():
        load_accepted_findings(ctx.specs_dir / "expectations.yaml")
    adam_path = ctx.specs_dir / "adam.yaml"
    if adam_path.is_file() and design is not None:
        with problems.check():
            spec = load_spec(adam_path)
            Engine(spec if spec is not None else {}, {}, design=design, spec_path=adam_path, standards_dir=ctx.standards_dir)
    if (ctx.specs_dir / "tlf.yaml").is_file():
        with problems.check():
            load_shell(ctx.specs_dir)
    problems.raise_if_any()
    return meta, notices


def run(ctx: Any) -> None:
    """CLI entry point ``python -m pipeline specs-check``: check the specs, log a one-line summary."""
    meta, notices = check_specs(ctx)
    log.info("specs ok: %d datasets, %d variables, %d codelists (%d notice(s): codelists outside the CT "
             "subset are not value-checked)", len(meta.datasets), len(meta.variables), len(meta.codelists),
             len(notices))
