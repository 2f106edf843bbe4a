"""The validate stage: specs, pandera schemas, GX expectations and conformance rules -> findings -> gate.

What it reads and writes: ``pipeline/validate/README.md``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.common.io import write_csv_atomic, write_json_atomic
from pipeline.common.logs import get_logger
from pipeline.common.staging import DONE_DIR, marker_for, published_path
from pipeline.engines import partitioned_runner
from pipeline.validate.conformance import (
    CONFORMANCE_RULES, RULE_STATUS_COLUMNS, ValidationData, run_conformance_rules_with_status,
)
from pipeline.validate.datasets import load_study_datasets, read_parquet_text_as_arrow
from pipeline.validate.findings import (
    SEVERITY_RANK, combine_findings, concat_findings, evaluate_gate, make_findings, summarise_findings,
    write_findings,
)
from pipeline.standards.study import StudyMetadata
from pipeline.standards.tables import load_instrument
from pipeline.validate.rules import SCHEMA_RULES, Rule, rules_catalogue
from pipeline.validate.schemas import prepare_dataset, validate_dataset
from pipeline.validate.sdtm_pass import (
    SAVED_DIR, AdamReadRecorder, SdtmResults, copy_data_docs, expectations_read_adam, input_key,
    lists_saved_expectations, load_saved, save,
)
from pipeline.validate.specs_check import SPEC_RULES, check_specs

log = get_logger("validate")


def validate_schemas(datasets: dict[str, pd.DataFrame], meta: StudyMetadata, prepared: bool = False,
                     standards_dir: Path | None = None) -> pd.DataFrame:
    """Run the generated pandera schema of every dataset (``prepared``: frames went through :func:`prepare_dataset`);
    one the study spec does not describe gets ISL-0010 and, with ``standards_dir``, the standard's schema alone.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> from pipeline.standards.study import load_study_metadata
    >>> meta = load_study_metadata(PROJECT_ROOT / "specs" / "iscalimab-ln", PROJECT_ROOT / "specs" / "standards")
    >>> validate_schemas({"XX": pd.DataFrame({"A": [1]})}, meta)[["rule_id", "dataset", "message"]].values.tolist()
    [['ISL-0010', 'XX', 'dataset XX is not in the dataset spec']]
    """
    parts = []
    for name in sorted(datasets):
        frame = datasets[name]
        domain = None
        if "DOMAIN" in frame.columns and frame["DOMAIN"].notna().any():
            domain = str(frame["DOMAIN"].dropna().iloc[0])
        spec = meta.spec_for_file(name, domain)
        variables = meta.dataset_variables(spec.name) if spec is not None else None
        strict = True
        if spec is None:
            rule = SCHEMA_RULES["ISL-0010"]
            parts.append(make_findings(rule.id, rule.severity, name, rule.format_message(dataset=name), "pandera"))
            fallback = meta.standard_fallback(name, list(frame.columns), domain, standards_dir) \
                if standards_dir is not None else None
            if fallback is None:
                continue
            spec, variables = fallback  # still checked against the standard alone
            strict = False  # the standard lists only part of a real dataset's variables
        parts.append(validate_dataset(frame, spec, variables, meta.codelists, name, prepared=prepared, strict=strict))
    return concat_findings(parts)


def _start_gx_worker() -> Any:
    """A one-process pool (spawned: no forked Arrow threads) that imports GX straight away."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from pipeline.validate.gx_worker import start

    try:
        executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=start)
        executor.submit(int, 0)  # start the worker (and its GX import) now
        return executor
    except (OSError, RuntimeError) as exc:  # no process support: run GX in-process
        log.debug("GX worker not started (%s); running expectations in-process", exc)
        return None


def _gx_worker_wanted(ctx: Any) -> bool:
    """Whether to start the GX worker before the specs are checked: a pandas run in a process without GX, with an
    expectations.yaml, and no saved results whose expectations this run will probably reuse (a guess: a worker
    started for nothing is discarded, one wrongly not started is started once the saved results are read)."""
    if (ctx.options.get("engine") or "pandas") != "pandas" or not (ctx.specs_dir / "expectations.yaml").is_file():
        return False
    if not ctx.options.get("gx_worker", "great_expectations" not in sys.modules):
        return False
    return not lists_saved_expectations(published_path(ctx, "validation_dir") / SAVED_DIR)


def _discard_gx_worker(executor: Any) -> None:
    """Stop a GX worker that is not needed at once (it may still be importing GX, and the stage's exit would wait
    for it). The pool's processes have no public handle before Python 3.14 (``terminate_workers``)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
        process.join()


class EarlyGxWorker:
    """A GX worker started before it is known to be needed: the run takes it (:meth:`take`), or it is discarded."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor

    def take(self) -> Any:
        executor, self.executor = self.executor, None
        return executor

    def discard(self) -> None:
        if self.executor is not None:
            _discard_gx_worker(self.take())


def _start_expectations(data: ValidationData, specs: list, docs_dir: Path | None, executor: Any) -> Any:
    """The expectations started: in the GX worker when there is one (it runs them while this process runs the
    other checks), else run here and now."""
    from concurrent.futures.process import BrokenProcessPool

    from pipeline.validate.expectations import ExpectationRun

    if executor is not None:
        try:
            return ExpectationRun(data, specs, docs_dir, executor=executor)
        except BrokenProcessPool as exc:
            log.warning("GX worker failed (%s); running expectations in-process", exc)
    return ExpectationRun(data, specs, docs_dir)


def _expectation_findings(run: Any, data: ValidationData, specs: list, docs_dir: Path | None) -> pd.DataFrame:
    """The findings of a run started by :func:`_start_expectations` (run again in-process if the worker died)."""
    from concurrent.futures.process import BrokenProcessPool

    from pipeline.validate.expectations import ExpectationRun

    try:
        return run.findings()
    except BrokenProcessPool as exc:
        log.warning("GX worker failed (%s); running expectations in-process", exc)
    return ExpectationRun(data, specs, docs_dir).findings()


def _stop_idle_worker(expectations: Any, executor: Any) -> Any:
    """Stop the GX worker once it has done its work, so its memory (GX, the views it was sent) is freed while the
    other checks still run (the findings it sent stay with their futures); the executor while it still works."""
    if executor is not None and expectations is not None and expectations.done():
        executor.shutdown(wait=False)
        return None
    return executor


def apply_rule_overrides(findings: pd.DataFrame, overrides: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Study-level severity overrides (``rules:`` in expectations.yaml); ``disabled: true`` drops a rule.

    >>> f = make_findings("FB3209", "error", "AE", "m", "conformance")
    >>> apply_rule_overrides(f, {"FB3209": {"severity": "warning", "reason": "r"}})["severity"].tolist()
    ['warning']
    """
    if not overrides or findings.empty:
        return findings
    out = findings.copy()
    for rule_id, override in overrides.items():
        override = override or {}
        hit = out["rule_id"] == rule_id
        if override.get("disabled"):
            out = out[~hit]
        elif override.get("severity"):
            out.loc[hit, "severity"] = override["severity"]
    return out.reset_index(drop=True)


ACCEPT_KEYS = ("rule_id", "dataset", "variable", "usubjid", "record", "value")


def apply_accepted_findings(findings: pd.DataFrame, accepted: list[dict[str, Any]] | None,
                            where: str = "expectations.yaml") -> pd.DataFrame:
    """Findings a reviewer accepted (``accepted:`` in expectations.yaml, matched on the keys an entry gives)
    become notices whose message ends with the reason: they stay in the table but no longer gate.

    >>> f = make_findings("FB3209", "error", "AE", "end before start", "conformance", usubjid=["S-1", "S-2"])
    >>> out = apply_accepted_findings(f, [{"rule_id": "FB3209", "usubjid": "S-1", "reason": "site confirmed"}])
    >>> out[["usubjid", "severity", "message"]].values.tolist()
    [['S-1', 'notice', 'end before start [accepted: site confirmed]'], ['S-2', 'error', 'end before start']]
    """
    if not accepted or findings.empty:
        return findings
    out = findings.copy()
    for number, entry in enumerate(accepted):
        if not isinstance(entry, dict) or not entry.get("rule_id") or not entry.get("reason"):
            raise ConfigError(f"{where}: accepted[{number}] needs at least rule_id and reason")
        hit = pd.Series(True, index=out.index)
        for key in ACCEPT_KEYS:
            if key in entry and entry[key] is not None:
                column = out[key].astype("string") if key != "record" else out[key].astype("Int64").astype("string")
                hit &= (column == str(entry[key])).fillna(False)
        out.loc[hit, "severity"] = "notice"
        out.loc[hit, "message"] = out.loc[hit, "message"] + f" [accepted: {entry['reason']}]"
    return out


def load_study_instruments(ctx: Any) -> dict[str, dict]:
    """The instrument specs named in study.yaml ``instruments`` (specs/standards/instruments/<name>.yaml).

    >>> from pipeline.common.study import StudyContext
    >>> sorted(load_study_instruments(StudyContext.create("iscalimab-ln")))
    ['selena-sledai']
    """
    named = ctx.design.get("instruments") or {}
    names = named.values() if isinstance(named, dict) else named
    return {str(n): load_instrument(ctx.standards_dir, str(n)) for n in sorted(map(str, names))}


def _domains(datasets: dict[str, pd.DataFrame], meta: StudyMetadata) -> dict[str, str]:
    out = {}
    for name in datasets:
        spec = meta.spec_for_file(name)
        if spec is not None and not spec.is_adam and not name.startswith("SUPP"):
            out[name] = spec.domain
    return out


def rules_status(catalogue: pd.DataFrame, conformance_status: pd.DataFrame, findings: pd.DataFrame,
                 overrides: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The rule catalogue with the study's severity overrides and what each rule did: ``status`` (ran / skipped /
    failed / disabled), ``reason``, the ``datasets`` it checked and its ``findings`` count (after overrides).
    Conformance rules report their own status; schema, spec and expectation rules run on every dataset.

    >>> cat = pd.DataFrame({"id": ["CG0014", "FB4001"], "check_source": ["pandera", "conformance"]})
    >>> status = pd.DataFrame({"id": ["FB4001"], "status": ["skipped"], "reason": ["no dataset in scope (DM)"],
    ...                        "datasets": [""], "findings": [0]})
    >>> f = make_findings("CG0014", "error", "AE", "m", "pandera", n=2)
    >>> rules_status(cat, status, f, {})[["id", "status", "findings"]].values.tolist()
    [['CG0014', 'ran', 2], ['FB4001', 'skipped', 0]]
    """
    out = catalogue.merge(conformance_status, on="id", how="left")
    counts = findings.groupby("rule_id").size() if len(findings) else pd.Series(dtype="int64")
    datasets = findings.groupby("rule_id")["dataset"].agg(lambda d: " ".join(sorted(set(d.dropna())))) \
        if len(findings) else pd.Series(dtype=object)
    coded = out["status"].isna()
    out.loc[coded, "status"] = "ran"
    out.loc[coded, "datasets"] = out.loc[coded, "id"].map(datasets).fillna("")
    out["reason"] = out["reason"].fillna("")
    out["findings"] = out["id"].map(counts).fillna(0).astype(int)
    for rule_id, override in (overrides or {}).items():
        hit = out["id"] == rule_id
        if (override or {}).get("severity"):
            out.loc[hit, "severity"] = override["severity"]
        if (override or {}).get("disabled"):
            out.loc[hit, "status"] = "disabled"
            out.loc[hit, "reason"] = str((override or {}).get("reason", "disabled in expectations.yaml"))
    return out


def validates_adam(ctx: Any) -> bool:
    """Whether this run checks ADaM: ``--pass adam`` does, ``--pass sdtm`` reads SDTM only, and no pass is the
    adam pass once the adam stage has completed (:func:`pipeline.common.staging.marker_for`). An outputs folder
    the pipeline does not manage (no ``.done/``) is read as it is. ``include_adam``, when given, decides.

    >>> import tempfile
    >>> from pipeline.common.study import StudyContext
    >>> out = Path(tempfile.mkdtemp())
    >>> [validates_adam(StudyContext.create("iscalimab-ln", outputs=out, validate_pass=p)) for p in ("sdtm", "adam")]
    [False, True]
    """
    if ctx.options.get("include_adam") is not None:
        return bool(ctx.options["include_adam"])
    validate_pass = ctx.options.get("validate_pass")
    if validate_pass is None and not (Path(ctx.outputs_dir) / DONE_DIR).is_dir():
        return True
    return marker_for("validate", ctx.outputs_dir, validate_pass) == "validate-adam"


def _load_prepared(ctx: Any, layer: str) -> dict[str, pd.DataFrame]:
    """The layer's datasets through :func:`prepare_dataset`, each prepared as it is read (peak memory)."""
    return load_study_datasets(ctx, layer, prepare_dataset)


class LazyPreparedDatasets(Mapping):
    """Parquet datasets by name, each read and prepared on first access: the adam pass reuses the SDTM checks'
    results, and the checks it re-runs read only a few SDTM datasets (peak memory). Names keep the file order.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "dm.parquet"
    >>> pd.DataFrame({"USUBJID": ["S-1", " "]}).to_parquet(path)
    >>> lazy = LazyPreparedDatasets({"DM": path})
    >>> list(lazy), lazy.loaded(), lazy["DM"]["USUBJID"].isna().tolist(), lazy.loaded()
    (['DM'], [], [False, True], ['DM'])
    """

    def __init__(self, files: dict[str, Path]) -> None:
        self._files = files
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = prepare_dataset(read_parquet_text_as_arrow(self._files[name]))
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, name: object) -> bool:
        return name in self._files

    def loaded(self) -> list[str]:
        return list(self._frames)

    def records(self) -> int:
        """Records of every dataset, from the parquet footers (reads no data)."""
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(path).metadata.num_rows for path in self._files.values())


def _parquet_files(folder: Path) -> dict[str, Path]:
    return {p.stem.upper(): p for p in sorted(Path(folder).glob("*.parquet"))}


def run_checks(ctx: Any, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame], meta: StudyMetadata | None = None,
               expectation_specs: list | None = None, executor: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Schemas, conformance rules and expectations on prepared datasets (the whole study, or one
    block of subjects under the dask engine): findings before overrides and accepted findings, and
    the conformance rules' status (ran / skipped / failed, see ``run_conformance_rules_with_status``)."""
    findings, status, _ = run_checks_reusing(ctx, sdtm, adam, meta, expectation_specs, executor)
    return findings, status


def run_checks_reusing(ctx: Any, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                       meta: StudyMetadata | None = None, expectation_specs: list | None = None, executor: Any = None,
                       saved: SdtmResults | None = None) -> tuple[pd.DataFrame, pd.DataFrame, SdtmResults]:
    """:func:`run_checks`, taking from ``saved`` the results of every check that reads SDTM only (they are
    those of the same SDTM: see :mod:`pipeline.validate.sdtm_pass`); also returns this run's SDTM-only results."""
    if expectation_specs is None:
        from pipeline.validate.expectations import load_expectation_specs

        expectation_specs, _ = load_expectation_specs(ctx.specs_dir / "expectations.yaml", ctx.design)
    if meta is None:
        meta, _ = check_specs(ctx)
    fresh = SdtmResults()
    data = AdamReadRecorder(sdtm, adam, _domains(sdtm, meta), load_study_instruments(ctx))
    started = time.perf_counter()
    docs_dir = Path(ctx.validation_dir) / "gx" if ctx.options.get("gx_docs", True) else None
    reads_adam = expectations_read_adam(expectation_specs, set(sdtm) - set(adam))
    expectation_findings, expectations = None, None
    if saved is not None and saved.expectations is not None and not reads_adam:
        try:
            copy_data_docs(saved.gx_files, published_path(ctx, "validation_dir"), ctx.validation_dir)
            expectation_findings = saved.expectations
        except OSError as exc:
            log.info("SDTM checks: saved Data Docs not copied (%s); running the expectations", exc)
    if expectation_findings is None:   # first: the GX worker validates the views while the other checks run here
        expectations = _start_expectations(data, expectation_specs, docs_dir, executor)
    worker = executor
    times = [time.perf_counter()]   # then after the schemas, the conformance rules and the expectations' end
    schema_parts = []
    for name in sorted({*sdtm, *adam}):   # one dataset's schema findings depend on it alone
        worker = _stop_idle_worker(expectations, worker)
        reused = saved.schemas.get(name) if saved is not None and name not in adam else None
        found = reused if reused is not None else validate_schemas(
            {name: adam[name] if name in adam else sdtm[name]}, meta, prepared=True, standards_dir=ctx.standards_dir)
        if name not in adam:
            fresh.schemas[name] = found
        schema_parts.append(found)
    schema_findings = concat_findings(schema_parts)
    times.append(time.perf_counter())
    rule_parts, status_rows = [], []
    for rule_id, rule in sorted(CONFORMANCE_RULES.items()):
        worker = _stop_idle_worker(expectations, worker)
        reused = saved.rules.get(rule_id) if saved is not None else None
        if reused is not None:
            found, row = reused
            fresh.rules[rule_id] = reused
        else:
            data.forget_reads()
            found, status = run_conformance_rules_with_status(data, {rule_id: rule})
            row = {column: status[column].iloc[0] for column in ("status", "reason", "datasets")}
            row["findings"] = int(status["findings"].iloc[0])
            if not data.adam_read and row["status"] != "failed":   # SDTM only (a failed rule's inputs are unknown)
                fresh.rules[rule_id] = (found, row)
        rule_parts.append(found)
        status_rows.append({"id": rule_id, **row})
    conformance_findings = concat_findings(rule_parts)
    conformance_status = pd.DataFrame(status_rows, columns=RULE_STATUS_COLUMNS)
    times.append(time.perf_counter())
    if expectation_findings is None:
        expectation_findings = _expectation_findings(expectations, data, expectation_specs, docs_dir)
    if not reads_adam:
        fresh.expectations = expectation_findings
    times.append(time.perf_counter())
    log.info("checks: schemas %.1f s, conformance %.1f s, expectations %.1f s (starting them and waiting at the end)",
             times[1] - times[0], times[2] - times[1], times[0] - started + times[3] - times[2])
    findings = combine_findings([schema_findings, conformance_findings, expectation_findings])
    return findings, conformance_status, fresh


def run(ctx: Any, raise_on_gate: bool = True) -> pd.DataFrame:
    """Validate the study run's SDTM (and ADaM when present), write findings and apply the gate.

    Returns the findings frame (also when the gate does not raise).
    """
    started = time.perf_counter()
    # GX imports slowly (about 2.7 s): its worker starts first and imports it while the specs are checked and the
    # datasets read; one started for nothing is discarded, so errors and their order are those of a run without it.
    early_worker = EarlyGxWorker(_start_gx_worker()) if _gx_worker_wanted(ctx) else None
    try:
        findings, gate = _run_checked(ctx, started, early_worker)
    finally:
        if early_worker is not None:
            early_worker.discard()
    evaluate_gate(findings, gate, raise_on_gate=raise_on_gate)
    return findings


def _run_checked(ctx: Any, started: float, early_worker: EarlyGxWorker | None) -> tuple[pd.DataFrame, str]:
    """:func:`run` up to the gate: the findings and the gate."""
    meta, spec_findings = check_specs(ctx)
    gate = str((ctx.design.get("validation") or {}).get("gate", "error"))
    if gate not in SEVERITY_RANK:
        raise ConfigError(f"{ctx.specs_dir / 'study.yaml'}: validation.gate '{gate}' must be one of "
                          f"{', '.join(SEVERITY_RANK)}")
    from pipeline.validate.expectations import load_accepted_findings, load_expectation_specs

    expectation_specs, overrides = load_expectation_specs(ctx.specs_dir / "expectations.yaml", ctx.design)
    accepted = load_accepted_findings(ctx.specs_dir / "expectations.yaml")
    with_adam = validates_adam(ctx)
    validate_partitioned = partitioned_runner(ctx, "validate")
    if validate_partitioned is not None:  # --engine dask: subject blocks on a cluster (pipeline/engines/dask_engine.py)
        sdtm_files = _parquet_files(ctx.sdtm_dir)
        if not sdtm_files:
            raise ConfigError(f"{ctx.sdtm_dir}: no SDTM parquet files to validate (run `make sdtm` first)")
        adam_files = _parquet_files(ctx.adam_dir) if with_adam else {}
        check_findings, conformance_status = validate_partitioned(ctx, sdtm_files, adam_files)
        sdtm, adam = sdtm_files, adam_files
    else:
        # the SDTM pass's results of the checks that read SDTM only, when made from the same inputs
        sdtm_files = _parquet_files(ctx.sdtm_dir)
        key = input_key(ctx, sdtm_files, ctx.options.get("gx_docs", True)) if sdtm_files else None
        saved = None
        if key is None:
            log.info("SDTM checks: SDTM comes from the study's source package; results are not saved")
        else:
            saved = load_saved(published_path(ctx, "validation_dir") / SAVED_DIR, key,
                               published_path(ctx, "validation_dir"))
        # GX imports slowly: a fresh process imports it in a worker while the other checks run; a
        # process that already imported it (tests, notebooks) runs the expectations in-process.
        use_worker = ctx.options.get("gx_worker", "great_expectations" not in sys.modules)
        gx_reused = saved is not None and saved.expectations is not None
        executor = None
        if expectation_specs and use_worker and not gx_reused:
            executor = early_worker.take() if early_worker is not None else _start_gx_worker()
        elif early_worker is not None:
            early_worker.discard()   # now, not after the checks: its memory and CPU are not wasted meanwhile
        try:
            # reused results: only the re-run checks read SDTM, so each dataset is read when first needed
            sdtm = LazyPreparedDatasets(sdtm_files) if saved is not None else _load_prepared(ctx, "sdtm")
            if not sdtm:
                raise ConfigError(f"{ctx.sdtm_dir}: no SDTM parquet files to validate (run `make sdtm` first)")
            adam = _load_prepared(ctx, "adam") if with_adam else {}
            log.info("validating %d SDTM and %d ADaM datasets (%d records)", len(sdtm), len(adam),
                     (sdtm.records() if isinstance(sdtm, LazyPreparedDatasets) else sum(len(f) for f in sdtm.values()))
                     + sum(len(f) for f in adam.values()))
            check_findings, conformance_status, sdtm_results = run_checks_reusing(
                ctx, sdtm, adam, meta, expectation_specs, executor, saved)
            if key is not None:
                save(Path(ctx.validation_dir) / SAVED_DIR, key, sdtm_results, ctx.validation_dir)
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)

    findings = combine_findings([spec_findings, check_findings])
    findings = apply_rule_overrides(findings, overrides)
    findings = combine_findings([apply_accepted_findings(findings, accepted, str(ctx.specs_dir / "expectations.yaml"))])
    write_findings(findings, ctx.validation_dir)
    rules: list[Rule] = [*SCHEMA_RULES.values(), *CONFORMANCE_RULES.values(), *SPEC_RULES.values(),
                         *(s.rule for s in expectation_specs)]
    catalogue = rules_catalogue(rules).drop_duplicates("id").reset_index(drop=True)
    catalogue = rules_status(catalogue, conformance_status, findings, overrides)
    write_csv_atomic(Path(ctx.validation_dir) / "rules.csv", catalogue)
    counts = findings.groupby(["severity"]).size().to_dict()
    by_rule = (findings.groupby(["rule_id", "severity", "dataset"]).size().reset_index(name="n")
               .to_dict(orient="records"))
    write_json_atomic(Path(ctx.validation_dir) / "summary.json", {
        "study": ctx.study, "gate": gate, "findings": int(len(findings)),
        "by_severity": {k: int(v) for k, v in counts.items()},
        "by_rule_dataset": [{**r, "n": int(r["n"])} for r in by_rule],
        "datasets": {"sdtm": sorted(sdtm), "adam": sorted(adam)},
        "overrides": overrides,
        "gx_data_docs": "gx/index.html" if (Path(ctx.validation_dir) / "gx" / "index.html").exists() else None,
    })
    log.info("%d finding(s): %s; total %.1f s", len(findings),
             ", ".join(f"{counts.get(s, 0)} {s}" for s in ("error", "warning", "notice")), time.perf_counter() - started)
    if len(findings):
        log.info("%s", summarise_findings(findings))
    return findings, gate
