"""Thin command line: one command per stage, each a call into that stage's ``run(ctx)``.

Exit codes: 0 success, 1 a validation gate failed, 2 bad input or configuration, 3 an internal
error (a bug: one line on the console, the traceback in the stage's log file).
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, NoReturn, Optional

import typer

from pipeline.common.errors import EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR, GateFailed, InputError, PipelineError
from pipeline.common.logs import console, get_logger, print_error, safe_text, setup_logging
from pipeline.common.staging import staged_run
from pipeline.common.study import DEFAULT_STUDY, StudyContext

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=(
        "Clinical-trial pipeline: raw site exports -> SDTM -> ADaM -> tables -> submission.\n\n"
        "Stages run in this order: simulate, sdtm, validate, adam, tables, submission, report. "
        "Each reads the previous stage's files under --outputs and can be rerun alone."
    ),
)

StudyOpt = typer.Option(DEFAULT_STUDY, "--study", "-s", help="Study slug: a folder under specs/ and mappings/.")
RawOpt = typer.Option(None, "--raw", help="Folder of raw site exports (default: <outputs>/raw).")
OutputsOpt = typer.Option(None, "--outputs", help="Folder for everything generated (default: outputs/<study>/).")
ProjectOpt = typer.Option(None, "--project", "-p", help="Project folder holding specs/<study>/ and mappings/<study>/ "
                          "(default: the pipeline's own folder); outputs default to <project>/outputs/<study>/.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Show debug messages on the console.")
EngineOpt = typer.Option("pandas", "--engine", help="pandas (one process) or dask (partitions on a dask.distributed "
                         "cluster); both give the same outputs.")
SchedulerOpt = typer.Option(None, "--scheduler", help="With --engine dask: address of an existing dask scheduler "
                            "(default: a LocalCluster on this machine).")


def _run_stage(stage: str, module: str, study: str, raw: Optional[Path], outputs: Optional[Path],
               verbose: bool, project: Optional[Path] = None, **options) -> None:
    """Build the context, set up logging, call ``<module>.run(ctx)`` and map errors to exit codes.

    An option left out on the command line (None) is not passed to the stage."""
    started = time.perf_counter()
    options = {name: value for name, value in options.items() if value is not None}
    log_path = None
    try:
        for option, path in (("--outputs", outputs), ("--raw", raw), ("--sdtm", options.get("sdtm")),
                             ("--previous", options.get("previous")), ("--project", project)):
            if path is not None and path.exists() and not path.is_dir():  # one line (exit 2), not a traceback later
                raise InputError(f"{option} {path}: is a file, not a folder")
        if project is not None and not project.is_dir():
            raise InputError(f"--project {project}: folder not found")
        if "engine" in options:
            from pipeline.engines import check_engine

            check_engine(options["engine"], options.get("scheduler"))
            if options["engine"] == "dask":  # registers its runners, which the stages then call
                importlib.import_module("pipeline.engines.dask_engine")
        ctx = StudyContext.create(study, raw=raw, outputs=outputs, root=project, **options)
        try:
            log_path = setup_logging(ctx.logs_dir, stage, verbose)
        except OSError as exc:
            raise InputError(f"{ctx.logs_dir}: cannot write the log ({exc.strerror or exc})") from None
        log = get_logger("cli")
        log.info("stage %s, study %s, outputs %s", stage, ctx.study, ctx.outputs_dir)
        stage_module = importlib.import_module(module)
        run: Callable[[StudyContext], object] = getattr(stage_module, "run")
        with console.status(safe_text(f"{stage}: {ctx.study}"), spinner="dots") if console.is_terminal else nullcontext():
            with staged_run(ctx, stage) as staged_ctx:  # lock, markers, staging folder: see staging.py
                run(staged_ctx)
        log.info("stage %s done in %.1f s (log: %s)", stage, time.perf_counter() - started, log_path)
    except GateFailed as exc:
        print_error("gate failed", exc)
        raise typer.Exit(exc.exit_code) from None
    except PipelineError as exc:
        for line in getattr(exc, "problems", None) or [exc]:  # collected spec problems: one line each
            print_error("error", line)
        raise typer.Exit(exc.exit_code) from None
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:  # noqa: BLE001 - the last resort: a bug, never a traceback on the console
        if log_path:  # the traceback goes to the log file only, never to the console
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(f"internal error in stage {stage}:\n{traceback.format_exc()}")
        details = f" (details: {log_path})" if log_path else ""
        print_error("internal error", f"in stage {stage}: {type(exc).__name__}: {exc}{details}")
        raise typer.Exit(EXIT_INTERNAL_ERROR) from None


@app.command()
def simulate(
    study: str = StudyOpt,
    raw: Optional[Path] = RawOpt,
    outputs: Optional[Path] = OutputsOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the raw exports here (default: <outputs>/raw)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default: the study's simulation spec)."),
    subjects: Optional[int] = typer.Option(None, "--subjects", help="Randomised subjects (default: the study's design)."),
    verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt,
) -> None:
    """Simulate realistic multi-site raw exports (EDC forms and central lab) with documented defects."""
    _run_stage("simulate", "pipeline.simulate.stage", study, out or raw, outputs, verbose, project,
               seed=seed, subjects=subjects)


@app.command()
def sdtm(study: str = StudyOpt, raw: Optional[Path] = RawOpt, outputs: Optional[Path] = OutputsOpt,
         sdtm_dir: Optional[Path] = typer.Option(None, "--sdtm", help="Import existing SDTM from this folder "
                                                 "(XPT, sas7bdat, parquet or Dataset-JSON) instead of mapping raw exports."),
         verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt, engine: str = EngineOpt,
         scheduler: Optional[str] = SchedulerOpt) -> None:
    """Ingest the raw exports and map them to SDTM with mappings/<study>/*.yaml (ledger, lineage, quarantine)."""
    _run_stage("sdtm", "pipeline.sdtm.stage", study, raw, outputs, verbose, project,
               sdtm=sdtm_dir, engine=engine, scheduler=scheduler)


@app.command()
def validate(study: str = StudyOpt, raw: Optional[Path] = RawOpt, outputs: Optional[Path] = OutputsOpt,
             verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt,
             validate_pass: Optional[str] = typer.Option(
                 None, "--pass", help="sdtm: the gate before ADaM; adam: SDTM and ADaM together "
                 "(default: adam once the adam stage has completed, else sdtm)."),
             engine: str = EngineOpt, scheduler: Optional[str] = SchedulerOpt) -> None:
    """Validate SDTM (and ADaM when present): schemas, expectations, conformance rules, severity gate."""
    _run_stage("validate", "pipeline.validate.stage", study, raw, outputs, verbose, project,
               validate_pass=validate_pass or None, engine=engine, scheduler=scheduler)


def _add_plain_stage(name: str, module: str, summary: str) -> None:
    """A command whose stage takes only the common options (study, folders, verbosity)."""
    def command(study: str = StudyOpt, raw: Optional[Path] = RawOpt, outputs: Optional[Path] = OutputsOpt,
                verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt) -> None:
        _run_stage(name, module, study, raw, outputs, verbose, project)

    command.__doc__ = summary
    app.command(name=name)(command)


def adam(study: str = StudyOpt, raw: Optional[Path] = RawOpt, outputs: Optional[Path] = OutputsOpt,
         verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt, engine: str = EngineOpt,
         scheduler: Optional[str] = SchedulerOpt) -> None:
    """Derive the ADaM datasets (ADSL, BDS, ADAE, ...) from SDTM with specs/<study>/adam.yaml."""
    # the dask engine runs the same stage per block of subjects and combines the blocks (pipeline/engines/dask_adam.py)
    module = "pipeline.engines.dask_adam" if engine == "dask" else "pipeline.adam.stage"
    _run_stage("adam", module, study, raw, outputs, verbose, project, engine=engine, scheduler=scheduler)


_add_plain_stage("specs-check", "pipeline.validate.specs_check",
                 "Check the study's specs against the standards before any data is read.")
app.command(name="adam")(adam)   # its own command (it takes --engine), in the stages' order
for _name, _module, _summary in (
    ("tables", "pipeline.tlf.stage",
     "Compute analysis results data (ARD) and render tables and listings (HTML, RTF, TXT)."),
    ("submission", "pipeline.submit.stage",
     "Package SDTM and ADaM for submission: XPT v5, Dataset-JSON, define.xml, manifest."),
):
    _add_plain_stage(_name, _module, _summary)


@app.command()
def report(study: str = StudyOpt, raw: Optional[Path] = RawOpt, outputs: Optional[Path] = OutputsOpt,
           previous: Optional[Path] = typer.Option(None, "--previous", help="A previous run's outputs folder to "
                                                   "compare with (default: the copy kept in reports/history/)."),
           verbose: bool = VerboseOpt, project: Optional[Path] = ProjectOpt) -> None:
    """Write the data-quality review report from findings, ledger and ARD."""
    _run_stage("report", "pipeline.report.stage", study, raw, outputs, verbose, project,
               previous=previous)


@app.command(name="verify-submission")
def verify_submission(folder: Path = typer.Argument(..., help="A submission folder with its manifest.json.")) -> None:
    """Re-check a submission package someone sends back: files, sizes, SHA-256, record counts, define.xml links."""
    from pipeline.submit.verify import main as verify

    raise typer.Exit(verify([str(folder)]))


def main() -> None:
    try:
        app(prog_name="python -m pipeline")
    except KeyboardInterrupt:
        print_error("interrupted", "stopped by the user", style="red")
        sys.exit(EXIT_BAD_INPUT)


def exit_without_teardown(code: int) -> NoReturn:
    """End the process with ``code`` as the interpreter would, but without freeing every module and object
    one by one: that teardown costs 0.1-0.5 s per process once pandas, Arrow, scipy or matplotlib are loaded,
    and every stage is its own process. The exit handlers still run (logging's flush and close, libraries'
    cleanup) and the console is flushed. A process with other threads or child processes still running
    exits the ordinary way, which waits for them."""
    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if threading.active_count() > 1 or children:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be shown
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
