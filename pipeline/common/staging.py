"""Crash consistency: a stage that dies leaves the previous outputs or none, never a mix.

The command line wraps every stage's ``run(ctx)`` in :func:`staged_run`:

1. ``<outputs>/.lock`` (``fcntl.flock``, non-blocking) refuses a second run on the same folder.
2. The stage must find the completion markers of the stages it reads (:data:`REQUIRES`).
3. Its own marker and the markers of every later stage (:data:`MARKER_ORDER`) are removed, and
   scratch left by an earlier crash (``<outputs>/.staging/<stage>``, orphan ``.*.tmp``) is deleted.
4. The stage runs with a context whose write locations for the paths it owns (:data:`OWNED`) point
   into ``<outputs>/.staging/<stage>/``; reads of earlier stages still come from ``<outputs>/``.
5. On success each owned path is swapped in (old renamed away, new renamed in, old deleted), and
   THEN the marker ``<outputs>/.done/<marker>.json`` (the sha256 of every file it owns) is written.

A killed stage therefore leaves its previous outputs untouched and no marker, so ``make`` and the
next stage know it has not completed. A failed validation gate still publishes its (complete)
findings, without the marker. ``validate`` runs twice, so it has two markers: ``validate-sdtm``
(the gate before ADaM) and ``validate-adam`` (SDTM and ADaM together); ``--pass`` chooses, and by
default it is ``adam`` once ADaM has completed.

An outputs folder without ``.done/`` (SDTM put there by hand, or outputs of an older version) is
read as it is: requirements are checked only in folders the pipeline manages.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pipeline.common.errors import EXIT_BAD_INPUT, GateFailed, PipelineError
from pipeline.common.io import sha256_files, write_json_atomic
from pipeline.common.logs import get_logger

log = get_logger("staging")

# Every output path a stage owns, as StudyContext attributes: the one place that says who writes what.
OWNED: dict[str, tuple[str, ...]] = {
    "simulate": ("raw_dir",),
    "sdtm": ("sdtm_dir", "lineage_dir", "quarantine_dir", "ledger_path", "ingest_dir"),
    "validate": ("validation_dir",),
    "adam": ("adam_dir",),
    "tables": ("ard_dir", "tlf_dir"),
    "submission": ("submission_dir",),
    "report": ("reports_dir",),
}
# Completion markers in pipeline order; starting a stage removes its marker and every later one.
MARKER_ORDER = ("simulate", "sdtm", "validate-sdtm", "adam", "validate-adam", "tables", "submission", "report")
# The markers a stage needs before it starts (what it reads, and the validation gate before it).
REQUIRES: dict[str, tuple[str, ...]] = {
    "simulate": (),
    "sdtm": (),
    "validate-sdtm": ("sdtm",),
    "adam": ("sdtm", "validate-sdtm"),
    "validate-adam": ("sdtm", "adam"),
    "tables": ("adam", "validate-adam"),
    "submission": ("sdtm", "adam", "tables"),
    "report": ("sdtm", "validate-adam", "tables", "submission"),
}
# Results a stage saves for its next run, checked against their own inputs when read (validate: the SDTM pass's
# checks, for the adam pass): not outputs of the stage, so its completion marker does not list them.
SAVED_RESULTS = ("validation/sdtm-pass",)
MAKE_TARGET = {"validate-sdtm": "validate", "validate-adam": "validate-adam"}
DONE_DIR, STAGING_DIR, LOCK_FILE = ".done", ".staging", ".lock"


class StageNotReady(PipelineError):
    """A stage's inputs are incomplete, or another run holds the outputs folder (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


def marker_path(outputs_dir: Path, marker: str) -> Path:
    """``<outputs>/.done/<marker>.json``.

    >>> marker_path(Path("/o"), "sdtm").as_posix()
    '/o/.done/sdtm.json'
    """
    return Path(outputs_dir) / DONE_DIR / f"{marker}.json"


def marker_for(stage: str, outputs_dir: Path, validate_pass: str | None = None) -> str:
    """The marker a run of ``stage`` writes: the stage name, or the pass of ``validate``.

    >>> import tempfile
    >>> marker_for("validate", Path(tempfile.mkdtemp())), marker_for("validate", Path("/x"), "adam")
    ('validate-sdtm', 'validate-adam')
    """
    if stage != "validate":
        return stage
    if validate_pass is None:
        validate_pass = "adam" if marker_path(outputs_dir, "adam").exists() else "sdtm"
    if validate_pass not in ("sdtm", "adam"):
        raise StageNotReady(f"validate --pass {validate_pass!r}: expected sdtm or adam")
    return f"validate-{validate_pass}"


def owned_paths(ctx: Any, stage: str) -> dict[str, Path]:
    """Attribute -> final path of every output ``stage`` owns (simulate only for ``<outputs>/raw``)."""
    paths = {attribute: Path(getattr(ctx, attribute)) for attribute in OWNED.get(stage, ())}
    if stage == "simulate" and paths["raw_dir"] != Path(ctx.outputs_dir) / "raw":
        return {}  # `simulate --out DIR` writes a folder of the user's in place
    return paths


def published_path(ctx: Any, attribute: str) -> Path:
    """Where an output lives once its stage has completed (in a staged run ``ctx`` points it at the scratch folder).

    >>> from pipeline.common.study import StudyContext
    >>> ctx = dataclasses.replace(StudyContext.create("iscalimab-ln", outputs="/o"),
    ...                           redirects={"validation_dir": Path("/o/.staging/v")})
    >>> ctx.validation_dir.as_posix(), published_path(ctx, "validation_dir").as_posix()
    ('/o/.staging/v', '/o/validation')
    """
    return Path(getattr(dataclasses.replace(ctx, redirects={}), attribute))


def check_requirements(outputs_dir: Path, stage: str, marker: str) -> None:
    """Refuse to start when a stage this one reads has not completed (managed folders only)."""
    if not (Path(outputs_dir) / DONE_DIR).is_dir():
        return
    for needed in REQUIRES.get(marker, ()):
        if not marker_path(outputs_dir, needed).exists():
            name = "validate (SDTM and ADaM)" if needed == "validate-adam" else needed.replace("-sdtm", "")
            raise StageNotReady(f"stage {stage} needs stage {name} to have completed: "
                                f"run make {MAKE_TARGET.get(needed, needed)}")


def invalidate_from(outputs_dir: Path, marker: str) -> None:
    """Remove ``marker`` and the markers of every later stage (they no longer describe the outputs)."""
    done = Path(outputs_dir) / DONE_DIR
    done.mkdir(parents=True, exist_ok=True)
    for later in MARKER_ORDER[MARKER_ORDER.index(marker):]:
        marker_path(outputs_dir, later).unlink(missing_ok=True)
    for orphan in done.glob(".*.tmp"):
        orphan.unlink(missing_ok=True)


def remove_orphan_temporaries(paths: list[Path]) -> None:
    """Delete ``.<name>.*.tmp`` files an interrupted atomic write left in the final folders."""
    for path in paths:
        candidates = path.rglob(".*.tmp") if path.is_dir() else path.parent.glob(f".{path.name}.*.tmp")
        for orphan in list(candidates):
            if orphan.is_file():
                orphan.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_in(pairs: list[tuple[Path, Path]], trash: Path) -> None:
    """For each (final, staged): rename final away into ``trash``, rename staged in; then empty ``trash``.

    A staged path the run did not produce means the output no longer exists: the old one goes.
    """
    _remove(trash)
    trash.mkdir(parents=True)
    for number, (final, staged) in enumerate(pairs):
        if final.exists() or final.is_symlink():
            os.replace(final, trash / f"{number}-{final.name}")
        if staged.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
    _remove(trash)


def write_marker(outputs_dir: Path, marker: str, paths: list[Path]) -> Path:
    """The completion marker, written last: the sha256 of every file the stage owns."""
    outputs_dir = Path(outputs_dir)
    owned: dict[str, Path] = {}
    for path in paths:
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for member in members:
            relative = member.relative_to(outputs_dir).as_posix()
            if not any(relative.startswith(saved + "/") for saved in SAVED_RESULTS):
                owned[relative] = member
    files = dict(zip(owned, sha256_files(list(owned.values()))))
    return write_json_atomic(marker_path(outputs_dir, marker), {"stage": marker, "files": dict(sorted(files.items()))})


@contextmanager
def outputs_lock(outputs_dir: Path) -> Iterator[None]:
    """Hold ``<outputs>/.lock`` for the run; a second run on the same folder exits 2 naming the holder."""
    outputs_dir = Path(outputs_dir)
    outputs_dir.mkdir(parents=True, exist_ok=True)
    handle = open(outputs_dir / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StageNotReady(f"{outputs_dir}: another pipeline run (pid {holder}) is using this outputs "
                                "folder; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def staged_run(ctx: Any, stage: str) -> Iterator[Any]:
    """Run a stage under the lock with its owned outputs staged; yields the context to pass to ``run``.

    >>> import json, tempfile
    >>> from pipeline.common.io import write_text_atomic
    >>> from pipeline.common.study import StudyContext
    >>> ctx = StudyContext.create("iscalimab-ln", outputs=tempfile.mkdtemp())
    >>> with staged_run(ctx, "report") as staged:
    ...     _ = write_text_atomic(staged.reports_dir / "dq_report.html", "<p>")
    ...     staged.reports_dir.relative_to(ctx.outputs_dir).as_posix(), (ctx.reports_dir / "dq_report.html").exists()
    ('.staging/report/reports', False)
    >>> (ctx.reports_dir / "dq_report.html").read_text(), sorted(json.loads(marker_path(ctx.outputs_dir, "report").read_text())["files"])
    ('<p>', ['reports/dq_report.html'])
    """
    outputs_dir = Path(ctx.outputs_dir)
    with outputs_lock(outputs_dir):
        if stage not in OWNED:  # specs-check writes nothing but its log
            yield ctx
            return
        marker = marker_for(stage, outputs_dir, ctx.options.get("validate_pass"))
        check_requirements(outputs_dir, stage, marker)
        invalidate_from(outputs_dir, marker)
        finals = owned_paths(ctx, stage)
        scratch = outputs_dir / STAGING_DIR / stage
        trash = outputs_dir / STAGING_DIR / f"{stage}.old"
        _remove(scratch)
        _remove(trash)
        remove_orphan_temporaries(list(finals.values()))
        staged = {attribute: scratch / path.relative_to(outputs_dir) for attribute, path in finals.items()}
        redirects = {k: v for k, v in staged.items() if k != "raw_dir"}
        staged_ctx = dataclasses.replace(ctx, redirects={**ctx.redirects, **redirects},
                                         **({"raw_dir": staged["raw_dir"]} if "raw_dir" in staged else {}))
        scratch.mkdir(parents=True)
        pairs = [(finals[k], staged[k]) for k in finals]
        try:
            yield staged_ctx
        except GateFailed:  # the outputs are complete and are the evidence: publish them, without the marker
            swap_in(pairs, trash)
            _remove(scratch)
            raise
        except BaseException:
            _remove(scratch)
            raise
        swap_in(pairs, trash)
        _remove(scratch)
        with suppress(OSError):  # not empty (another stage's scratch of a crash) or already gone
            scratch.parent.rmdir()
        write_marker(outputs_dir, marker, list(finals.values()))
        log.info("stage %s complete: %s", stage, marker_path(outputs_dir, marker))


__all__ = ["OWNED", "MARKER_ORDER", "REQUIRES", "StageNotReady", "staged_run", "outputs_lock", "marker_path",
           "marker_for", "write_marker", "invalidate_from", "swap_in", "published_path", "SAVED_RESULTS"]
