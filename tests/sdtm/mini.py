"""Build a throw-away study context: real study.yaml and standards, temporary mappings and raw files."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pipeline.common.study import PROJECT_ROOT, StudyContext

STUDY = "iscalimab-ln"


def make_ctx(tmp_path: Path, mappings: dict[str, str] | None = None, copy_study_mappings: bool = False,
             extra_sites: list[dict] | None = None, quarantine_gate: dict | None = None) -> StudyContext:
    """A context whose mappings, specs, raw and outputs folders live under ``tmp_path``; ``quarantine_gate``
    sets study.yaml's limits (a mini study of deliberately broken rows loses more than 5% of a file)."""
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "specs" / STUDY, specs)
    if extra_sites or quarantine_gate:
        design = yaml.safe_load((specs / "study.yaml").read_text())
        design["sites"].extend(extra_sites or [])
        if quarantine_gate:
            design["quarantine_gate"] = quarantine_gate
        (specs / "study.yaml").write_text(yaml.safe_dump(design, sort_keys=False, allow_unicode=True))
    mapping_dir = tmp_path / "mappings"
    if copy_study_mappings:  # the study's mappings on a few forms: sites.yaml's expected forms do not apply
        shutil.copytree(PROJECT_ROOT / "mappings" / STUDY, mapping_dir)
        sites = mapping_dir / "sites.yaml"
        sites.write_text("".join(line for line in sites.read_text(encoding="utf-8").splitlines(keepends=True)
                                 if not line.startswith("forms:")), encoding="utf-8")
    else:
        mapping_dir.mkdir()
    for name, text in (mappings or {}).items():
        (mapping_dir / name).write_text(text, encoding="utf-8")
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    return StudyContext(study=STUDY, specs_dir=specs, mappings_dir=mapping_dir,
                        standards_dir=PROJECT_ROOT / "specs" / "standards", raw_dir=raw,
                        outputs_dir=tmp_path / "out")
