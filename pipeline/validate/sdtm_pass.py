"""The SDTM pass's check results, saved in ``validation/sdtm-pass/`` so the adam pass need not run them again.

``validate --pass adam`` reads the SDTM that ``validate --pass sdtm`` already checked. A check that reads only
SDTM gives the same findings again, so the adam pass takes them from here and runs only the checks that read an
ADaM dataset: the schemas of ADaM datasets, the conformance rules that read ``data.adam`` (recorded while each
rule runs, so a rule added later is classified by what it reads; a rule that failed counts as reading ADaM), and
the expectations unless none of them looks at an ADaM dataset.

Saved results are reused only when they were made from the same inputs (:func:`input_key`): the SHA-256 of every
SDTM parquet file, of the study's specs and of the standards, of the pipeline's code, the versions of the
libraries that run the checks and the options that change what they write. On any difference, or a missing or
unreadable file, every check runs as before and one log line says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import pipeline
from pipeline.common.io import sha256_file, write_bytes_atomic, write_json_atomic, write_parquet_atomic
from pipeline.common.logs import get_logger
from pipeline.validate.conformance_base import ValidationData
from pipeline.validate.findings import FINDINGS_COLUMNS, concat_findings, normalise_findings

log = get_logger("validate")

SAVED_DIR = "sdtm-pass"          # under validation/
FORMAT = 1                       # of the saved files; a change makes older saved results unusable
PART = "part"                    # saved findings: the dataset (schemas) or rule id (conformance) they belong to
LIBRARIES = ("pandas", "numpy", "pyarrow", "pandera", "great_expectations")
# Expectation views that read the spec's dataset from SDTM when SDTM has it (and SDTM SV): any other view, or a
# dataset SDTM lacks, may read ADaM.
SDTM_FIRST_VIEWS = {"records", "dates", "completeness_by_visit", "visit_order", "within_subject_ratio",
                    "ratio_to_median"}


class AdamReadRecorder(ValidationData):
    """:class:`ValidationData` that notes in ``adam_read`` whether a check read its ADaM datasets.

    >>> data = AdamReadRecorder({"DM": pd.DataFrame({"USUBJID": ["S-1"]})}, {})
    >>> _ = data.first("DM"); data.adam_read
    False
    >>> _ = data.adam.get("ADSL"); data.adam_read
    True
    """

    @property
    def adam(self) -> dict[str, pd.DataFrame]:
        self.__dict__["adam_read"] = True
        return self.__dict__["_adam_frames"]

    @adam.setter
    def adam(self, frames: dict[str, pd.DataFrame]) -> None:
        self.__dict__["_adam_frames"] = frames
        self.__dict__["adam_read"] = False

    def forget_reads(self) -> None:
        self.__dict__["adam_read"] = False


@dataclass
class SdtmResults:
    """Check results that depend on SDTM only: schema findings by SDTM dataset, findings and status row by
    conformance rule, and the expectations' findings with their Data Docs files (None: an expectation reads ADaM)."""

    schemas: dict[str, pd.DataFrame] = field(default_factory=dict)
    rules: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = field(default_factory=dict)
    expectations: pd.DataFrame | None = None
    gx_files: dict[str, str] = field(default_factory=dict)   # path under validation/ -> sha256


def expectations_read_adam(specs: list, sdtm_names: set[str]) -> bool:
    """Whether an expectation may look at an ADaM dataset: its dataset is not an SDTM one, or its view is unknown.

    >>> from pipeline.validate.expectations import ExpectationSpec
    >>> from pipeline.validate.rules import Rule
    >>> spec = ExpectationSpec(Rule("X", "t", "d", "m", "error", "great_expectations"), "ADSL", "", {})
    >>> expectations_read_adam([spec], {"DM"}), expectations_read_adam([spec], {"DM", "ADSL"})
    (True, False)
    """
    return any(spec.dataset not in sdtm_names or (spec.view or "records") not in SDTM_FIRST_VIEWS for spec in specs)


def _tree_hashes(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _code_identity() -> str:
    """SHA-256 over the pipeline package's Python files (names and contents)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def input_key(ctx: Any, sdtm_files: dict[str, Path], gx_docs: bool) -> dict[str, Any]:
    """What the SDTM checks' results depend on: SDTM files, specs, standards, code, libraries and options."""
    from pipeline.standards import standards_home

    return {
        "sdtm": {name: sha256_file(path) for name, path in sorted(sdtm_files.items())},
        "specs": _tree_hashes(ctx.specs_dir),
        "standards": _tree_hashes(ctx.standards_dir),
        "standards_home": _tree_hashes(standards_home()),
        "code": {"pipeline": pipeline.__version__, "sha256": _code_identity()},
        "libraries": {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}},
        "options": {"gx_docs": bool(gx_docs), "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH")},
    }


def _difference(saved: dict[str, Any], key: dict[str, Any]) -> str:
    """The first input that differs, in words."""
    for part in key:
        old, new = saved.get(part), key[part]
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            names = sorted(set(old) | set(new))
            changed = next(n for n in names if old.get(n) != new.get(n))
            return f"{part} {changed} changed" if changed in old and changed in new else \
                f"{part} {changed} {'added' if changed in new else 'removed'}"
        return f"{part} changed"
    return "inputs changed"


def _split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(part): rows[FINDINGS_COLUMNS].reset_index(drop=True)
            for part, rows in frame.groupby(PART, sort=False)}


def lists_saved_expectations(folder: Path) -> bool:
    """Whether ``folder`` holds saved results that include the expectations' (read silently, nothing checked):
    a guess, made before the key is known, at whether :func:`load_saved` will let the expectations be reused.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> before = lists_saved_expectations(folder)
    >>> _ = (folder / "manifest.json").write_text(json.dumps({"format": FORMAT, "gx": {"gx/index.html": "0"}}))
    >>> before, lists_saved_expectations(folder)
    (False, True)
    """
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT and manifest.get("gx") is not None


def load_saved(folder: Path, key: dict[str, Any], validation_dir: Path) -> SdtmResults | None:
    """The saved results when they were made from ``key``'s inputs and every file is intact, else None (logged)."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        log.info("SDTM checks: no saved results in %s; running every check", folder)
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            reason = f"format {manifest.get('format')} is not {FORMAT}"
        elif manifest.get("key") != key:
            reason = _difference(manifest.get("key") or {}, key)
        else:
            reason = next((f"{name} differs from the manifest" for name, digest in manifest["files"].items()
                           if sha256_file(folder / name) != digest), "")
            if not reason and manifest.get("gx") is not None and _tree_hashes(Path(validation_dir) / "gx") != {
                    path.removeprefix("gx/"): digest for path, digest in manifest["gx"].items()}:
                reason = "the expectations' Data Docs differ from the manifest"
        if reason:
            log.info("SDTM checks: saved results in %s not reused (%s); running every check", folder, reason)
            return None
        schemas = _split(pd.read_parquet(folder / "schemas.parquet"))
        conformance = _split(pd.read_parquet(folder / "conformance.parquet"))
        empty = normalise_findings(pd.DataFrame(columns=FINDINGS_COLUMNS))
        expectations = None
        if manifest.get("gx") is not None:
            expectations = pd.read_parquet(folder / "expectations.parquet")[FINDINGS_COLUMNS]
        log.info("SDTM checks: reusing the results saved in %s (%d datasets, %d rules%s)", folder,
                 len(manifest["schemas"]), len(manifest["rules"]), ", expectations" if expectations is not None else "")
        return SdtmResults(
            schemas={name: schemas.get(name, empty) for name in manifest["schemas"]},
            rules={rule_id: (conformance.get(rule_id, empty), row) for rule_id, row in manifest["rules"].items()},
            expectations=expectations, gx_files=dict(manifest.get("gx") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("SDTM checks: saved results in %s unreadable (%s: %s); running every check", folder,
                 type(exc).__name__, exc)
        return None


def _with_parts(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frames = [normalise_findings(frame).assign(**{PART: name}) for name, frame in parts.items() if len(frame)]
    if not frames:
        return normalise_findings(pd.DataFrame(columns=FINDINGS_COLUMNS)).assign(**{PART: pd.Series(dtype=object)})
    return concat_findings(frames)


def save(folder: Path, key: dict[str, Any], results: SdtmResults, validation_dir: Path) -> None:
    """Write the results, then the manifest (their key and every file's SHA-256) last: a run killed while writing
    leaves no manifest, so nothing half-written is reused."""
    folder = Path(folder)
    files = {"schemas.parquet": write_parquet_atomic(folder / "schemas.parquet", _with_parts(results.schemas)),
             "conformance.parquet": write_parquet_atomic(folder / "conformance.parquet", _with_parts(
                 {rule_id: found for rule_id, (found, _) in results.rules.items()}))}
    gx = None
    if results.expectations is not None:
        files["expectations.parquet"] = write_parquet_atomic(folder / "expectations.parquet",
                                                             normalise_findings(results.expectations))
        gx = {f"gx/{path}": digest for path, digest in _tree_hashes(Path(validation_dir) / "gx").items()}
    write_json_atomic(folder / "manifest.json", {
        "format": FORMAT, "key": key, "files": {name: sha256_file(path) for name, path in files.items()},
        "schemas": sorted(results.schemas), "rules": {rule_id: row for rule_id, (_, row) in results.rules.items()},
        "gx": gx,
    })


def copy_data_docs(gx_files: dict[str, str], source_dir: Path, validation_dir: Path) -> None:
    """The expectations' Data Docs of the saved run, into this run's validation folder (checked file by file)."""
    for path, digest in sorted(gx_files.items()):
        data = (Path(source_dir) / path).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(f"{Path(source_dir) / path} changed while it was copied")
        write_bytes_atomic(Path(validation_dir) / path, data)
