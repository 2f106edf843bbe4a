"""SDTM stage: ingest raw exports, map them with ``mappings/<study>/*.yaml``, derive, write.

Writes under ``ctx.outputs_dir``: ``sdtm/<domain>.parquet``, ``lineage/<domain>.parquet``,
``quarantine/<domain>.parquet`` (+ ``quarantine/flagged/<domain>.parquet`` for rows kept but
flagged), ``ledger.json`` and ``ingest/manifest.json``. The stage fails (PipelineError) when a
mapping file is wrong, a raw file is unreadable, or the ledger does not balance.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow.lib import ArrowException

from pipeline.common.errors import ConfigError, InputError, PipelineError
from pipeline.common.specfile import SpecProblems
from pipeline.common.io import write_json_atomic, write_parquet_atomic
from pipeline.common.logs import get_logger, track
from pipeline.common.sdtm_model import place_model_timing
from pipeline.common.study import StudyContext
from pipeline.common.text import value_text
from pipeline.engines import partitioned_runner
from pipeline.engines.partitions import read_ingested_slice, write_ingested_slices
from pipeline.sdtm.date_order import DateOrderFinding, check_date_order
from pipeline.sdtm.import_existing import run_import
from pipeline.sdtm.mapping.algorithms import MappingEnv
from pipeline.sdtm.mapping.engine import (
    QUARANTINE_COLUMNS, DomainResult, IngestedFile, quarantine_rows, check_bindings, check_references, check_ledger,
    check_quarantine_gate, from_raw_rows, quarantine_gate_error,
    count_rows, ingest_source, looked_up_datasets, map_domain)
from pipeline.sdtm.mapping.derivations import DERIVATIONS, DerivationContext
from pipeline.sdtm.mapping.records import derive_records_ratio
from pipeline.sdtm.mapping.spec import SITES_FILE, DomainMapping, SiteDefaults, load_mapping, load_site_defaults
from pipeline.sdtm.mapping.units import UnitTable
from pipeline.sdtm.relrec import build_relrec
from pipeline.sdtm.supp import build_supp, nulls_as_none
from pipeline.sdtm.trial_design import build_se, build_trial_design, build_ts
from pipeline.standards.tables import load_standard_variables
from pipeline.standards.terminology import load_terminology

log = get_logger("sdtm")

UNITS_FILE = "units.yaml"
LINEAGE_OUT = ["STUDYID", "DOMAIN", "USUBJID", "SEQ", "SOURCE_FILE", "SOURCE_ROW", "SITE", "DERIVED_FROM"]


# --- loading ------------------------------------------------------------------------------------

def load_site_dialects(mappings_dir: Path, problems: SpecProblems | None = None) -> dict[str, SiteDefaults]:
    """The site dialects of ``sites.yaml`` when the study has one."""
    sites_path = mappings_dir / SITES_FILE
    return load_site_defaults(sites_path, problems=problems) if sites_path.is_file() else {}


def load_mappings(mappings_dir: Path, site_defaults: dict[str, SiteDefaults] | None = None) -> dict[str, DomainMapping]:
    """Every ``<domain>.yaml`` of a study (files starting with ``_`` are skipped), DM first; the site
    dialects of ``sites.yaml`` (``site_defaults``, read when not given) are inherited by every source.
    Every problem of every mapping file (and of sites.yaml) is reported together, one line each.

    >>> from pipeline.common.study import PROJECT_ROOT
    >>> list(load_mappings(PROJECT_ROOT / "mappings" / "iscalimab-ln"))[0]
    'DM'
    """
    if not mappings_dir.is_dir():
        raise ConfigError(f"{mappings_dir}: no mapping folder for this study")
    mappings: dict[str, DomainMapping] = {}
    problems = SpecProblems()
    site_defaults = load_site_dialects(mappings_dir, problems) if site_defaults is None else site_defaults
    unread = []  # files that could not be read at all: checks across files would only echo them
    for path in sorted(mappings_dir.glob("*.yaml")):
        if path.name.startswith("_") or path.name == SITES_FILE:
            continue
        with problems.check():
            try:
                mapping = load_mapping(path, site_defaults=site_defaults, problems=problems)
            except ConfigError:
                unread.append(path)
                raise
            if mapping.domain in mappings:
                raise ConfigError(f"{path}:1: domain {mapping.domain} is already mapped by {mappings[mapping.domain].path}")
            mappings[mapping.domain] = mapping
    if not mappings and not problems.lines:
        raise ConfigError(f"{mappings_dir}: no mapping files (<domain>.yaml)")
    if unread:
        problems.raise_if_any()
    for mapping in mappings.values():
        for item in mapping.relrec:
            with problems.check():
                if item.domain_add not in mappings:
                    raise item.where.error(f"relrec domain_add: {item.domain_add} is not a domain of this study's "
                                           f"mappings ({', '.join(sorted(mappings))})")
    known_forms = {source.form for mapping in mappings.values() for source in mapping.sources}
    for site in site_defaults.values():
        unknown = [form for form in site.forms if form not in known_forms]
        with problems.check():
            if unknown:
                raise site.where.error(f"site {site.site}: forms {', '.join(unknown)} are not the form of any mapping "
                                       f"source (known: {', '.join(sorted(known_forms))})")
    problems.raise_if_any()
    order = sorted(mappings, key=lambda d: (d != "DM", d))
    return {d: mappings[d] for d in order}


# --- derivations --------------------------------------------------------------------------------

def _subject_check(domain: str, result: DomainResult, mapping: DomainMapping, subjects: set[str] | None) -> None:
    """Quarantine every record of a raw row whose subject has no DM record (``subjects``: DM's USUBJIDs, None
    without DM)."""
    if subjects is None or domain == "DM" or not mapping.subject_check or result.data.empty \
            or "USUBJID" not in result.data:
        return
    unknown = ~result.data["USUBJID"].isin(subjects)
    if not unknown.any():
        return
    bad = result.data[unknown].drop_duplicates(["_file", "_row"])
    q = quarantine_rows(domain, bad, "USUBJID", bad["USUBJID"],
                         "unknown subject '" + bad["USUBJID"].astype(str) + "' (no DM record)")
    result.data = result.data[~from_raw_rows(result.data, bad)].reset_index(drop=True)  # all its records
    result.quarantine = pd.concat([result.quarantine, q], ignore_index=True)


def _derived_records(domain: str, result: DomainResult, mapping: DomainMapping, units: UnitTable) -> None:
    for spec in mapping.derived_records:
        data = result.data
        new = derive_records_ratio(data, spec, units)
        if not new.empty:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # all-null columns of the new records
                result.data = pd.concat([data, new.astype(object)], ignore_index=True)
            log.info("%s: %d record(s) derived (%s)", domain, len(new), spec.description or "ratio")


def derive_domain(domain: str, data: pd.DataFrame, mapping: DomainMapping, dm: pd.DataFrame, se: pd.DataFrame | None,
                  tv: pd.DataFrame | None = None, increment: float = 0.01) -> pd.DataFrame:
    """Timing and identifier derivations named in the mapping's ``derivations:`` block, in the order of
    the registry (:data:`pipeline.sdtm.mapping.derivations.DERIVATIONS`).

    >>> from pipeline.sdtm.mapping.spec import load_mapping
    >>> mapping = load_mapping(Path("ae.yaml"), text="domain: AE\\nsources: []\\nderivations:\\n"
    ...     "  dy: [{dtc: AESTDTC, new_var: AESTDY}]\\n  seq: {order: [AESTDTC]}\\n")
    >>> ae = pd.DataFrame({"USUBJID": ["S1", "S1"], "AESTDTC": ["2020-01-05", "2019-12-31"]})
    >>> dm = pd.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2020-01-01"]})
    >>> derive_domain("AE", ae, mapping, dm, None)[["AESEQ", "AESTDTC", "AESTDY"]].values.tolist()
    [[1, '2019-12-31', -1], [2, '2020-01-05', 5]]
    """
    if data.empty:
        return data
    ctx = DerivationContext(domain=domain, dm=dm, se=se, tv=tv, increment=increment)
    for step in mapping.steps():
        data = step.apply(data, ctx)
    return data


def order_columns(domain: str, data: pd.DataFrame, variables: pd.DataFrame, keep_internal: bool = False) -> pd.DataFrame:
    """SDTMIG column order; Req/Exp variables absent from the data are added empty; Num variables as float.

    >>> meta = pd.DataFrame({"domain": ["XX"] * 3, "order": [1, 2, 3], "variable": ["STUDYID", "XXSEQ", "XXTERM"],
    ...                      "type": ["Char", "Num", "Char"], "core": ["Req", "Req", "Exp"]})
    >>> order_columns("XX", pd.DataFrame({"XXSEQ": [1], "STUDYID": ["S"], "ZZ": ["z"]}), meta).columns.tolist()
    ['STUDYID', 'XXSEQ', 'XXTERM', 'ZZ']
    >>> order_columns("XX", pd.DataFrame({"VISIT": ["V"], "XXSEQ": [1], "VISITNUM": [1]}), meta).columns.tolist()
    ['STUDYID', 'XXSEQ', 'XXTERM', 'VISITNUM', 'VISIT']
    """
    meta_domain = "SUPPQUAL" if domain.startswith("SUPP") else domain
    meta = variables[variables["domain"] == meta_domain].sort_values("order")
    out = data.copy(deep=False)  # columns below are replaced, never written into
    for variable, core in zip(meta["variable"], meta["core"]):
        if variable not in out.columns and core in ("Req", "Exp"):
            out[variable] = None
    for variable, kind in zip(meta["variable"], meta["type"]):
        if variable in out.columns:
            out[variable] = _numbers(domain, variable, out) if kind == "Num" else _texts(out[variable])
    # SDTM model timing variables a domain table does not list (VISITNUM in EX, MHSTDY in MH) go where the
    # model puts them (SDTM v2.0 timing order; CG0330)
    known = [v for v in place_model_timing(list(meta["variable"]), list(out.columns), meta_domain) if v in out.columns]
    extra = [c for c in out.columns if c not in known and not c.startswith("_")]
    internal = [c for c in out.columns if c.startswith("_")] if keep_internal else []
    out = out[known + extra + internal]
    return out.reset_index(drop=True)


def _texts(values: pd.Series) -> pd.Series:
    """A Char variable as text or None: numbers as text (whole floats without ``.0``), each distinct
    value converted once.

    >>> _texts(pd.Series([1.0, "a", None, 2.5, float("nan")])).tolist()
    ['1', 'a', None, '2.5', None]
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    if pd.api.types.infer_dtype(uniques, skipna=True) in ("string", "empty"):
        if values.dtype == object and np.equal(values.to_numpy()[codes < 0], None).all():
            return values  # text and None already: nothing to convert, no second copy of the column
        text = np.append(np.asarray(uniques, dtype=object), None)
    else:
        text = np.array([v if isinstance(v, str) else value_text(v) for v in uniques] + [None], dtype=object)
    return pd.Series(text[codes], index=values.index, dtype=object)


def _numbers(domain: str, variable: str, data: pd.DataFrame) -> pd.Series:
    """A Num variable as float; text that is not a number stops the stage naming the record's raw row
    (a mapping that mixes numbers and text in one variable), never a silent null.

    >>> _numbers("LB", "VISITNUM", pd.DataFrame({"VISITNUM": [1, "2"]})).tolist()
    [1.0, 2.0]
    >>> _numbers("LB", "VISITNUM", pd.DataFrame({"VISITNUM": [1, "V2"], "_file": ["a.csv"] * 2, "_row": [3, 4]}))
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: a.csv: row 4: LB.VISITNUM is numeric in SDTMIG but the mapping gives 'V2'
    """
    values = data[variable]
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype(object).where(values.notna(), None)
    bad = numbers.isna()
    if bad.any():  # a value that is not a number, unless blank
        bad[bad] = [v is not None and str(v).strip() != "" for v in text[bad]]
    if bad.any():
        first = data.index[bad.to_numpy()][0]
        where = f"{data.at[first, '_file']}: row {data.at[first, '_row']}: " if {"_file", "_row"} <= set(data.columns) else ""
        raise InputError(f"{where}{domain}.{variable} is numeric in SDTMIG but the mapping gives {text[first]!r}"
                         + (f" ({int(bad.sum())} records)" if bad.sum() > 1 else ""))
    return numbers.astype("float64")


def build_lineage(domain: str, data: pd.DataFrame) -> pd.DataFrame:
    """For each record: keys (STUDYID, DOMAIN, USUBJID, SEQ) and the raw file and row it came from.

    >>> ae = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "AESEQ": [1], "_file": ["site_101/ae.csv"],
    ...                    "_row": [4], "_site": ["101"]})
    >>> build_lineage("AE", ae).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'STUDYID': 'S', 'DOMAIN': 'AE', 'USUBJID': 'S-1', 'SEQ': 1, 'SOURCE_FILE': 'site_101/ae.csv', 'SOURCE_ROW': 4,
      'SITE': '101', 'DERIVED_FROM': None}]
    """
    seq = f"{domain}SEQ"
    return pd.DataFrame({
        "STUDYID": data.get("STUDYID"), "DOMAIN": domain, "USUBJID": data.get("USUBJID"),
        "SEQ": pd.to_numeric(data[seq], errors="coerce") if seq in data else np.nan,
        "SOURCE_FILE": data["_file"], "SOURCE_ROW": data["_row"].astype("int64"), "SITE": data["_site"],
        "DERIVED_FROM": data["_derived_from"] if "_derived_from" in data else None,
    })[LINEAGE_OUT]


# --- the stage ----------------------------------------------------------------------------------

def check_expected_forms(ingested: dict[str, list[IngestedFile]], mappings: dict[str, DomainMapping],
                         site_defaults: dict[str, SiteDefaults], raw_dir: Path) -> None:
    """Every form ``sites.yaml`` says a site sends was found: a missing export is an error, not lost records."""
    found = {(item.site, item.source.form) for files in ingested.values() for item in files}
    sources = {source.form: source for mapping in mappings.values() for source in mapping.sources}
    for site in sorted(site_defaults.values(), key=lambda s: s.site):
        for form in site.forms:
            if (site.site, form) not in found:
                files = sources[form].sites.get(site.site)
                pattern = (files.raw.get("files") if files else None) or sources[form].files
                raise InputError(f"{raw_dir}: site {site.site} sent no '{form}' export (expected {pattern}; "
                                 f"sites.yaml:{site.where.line} lists it among the site's forms)")


def _ingest_all(mappings: dict[str, DomainMapping], raw_dir: Path, env: MappingEnv | None = None,
                site_defaults: dict[str, SiteDefaults] | None = None
                ) -> tuple[dict[str, list[IngestedFile]], dict[str, dict[str, Any]]]:
    """Check references (codelists, datasets, study.yaml entries), read every source of every mapping,
    then check every binding (columns) before anything is mapped."""
    if env is not None:
        known = set(env.datasets)
        for domain, mapping in mappings.items():
            check_references(mapping, env, known)
            known.add(domain)
    ingested: dict[str, list[IngestedFile]] = {}
    manifest: dict[str, dict[str, Any]] = {}
    for domain, mapping in mappings.items():
        files = []
        for source in mapping.sources:
            found = ingest_source(source, raw_dir)
            if not found:
                log.warning("%s: source %s matched no file (%s)", mapping.path.name, source.form, source.files)
            files.extend(found)
        ingested[domain] = files
        manifest.update({item.relative: item.manifest for item in files})
    if not manifest:
        expected = ", ".join(sorted({str(s.files) for m in mappings.values() for s in m.sources})[:3])
        raise InputError(f"{raw_dir}: no raw export matches any mapping source (expected files such as "
                         f"{expected}); check --raw")
    check_expected_forms(ingested, mappings, site_defaults or {}, raw_dir)
    for domain, files in ingested.items():
        for item in files:
            check_bindings(mappings[domain], item)
    return ingested, manifest


def check_date_orders(ingested: dict[str, list[IngestedFile]], max_share: float, min_rows: int = 5
                      ) -> list[DateOrderFinding]:
    """Day-month order of every file's declared date formats against its values (pipeline/sdtm/date_order.py):
    each suspicious column is logged; a column whose rows readable only with day and month swapped exceed
    ``max_share`` of its file (the quarantine gate's share) stops the stage when it looks written in the
    other order or has at least ``min_rows`` such rows (one typing error in a short file is a query)."""
    findings: list[DateOrderFinding] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for files in ingested.values():
        for item in files:
            key = (item.relative, tuple(item.source.date_formats))
            if key not in seen:  # a file read by two domains (dm.csv for DM and DS) is checked once
                seen.add(key)
                findings.extend(check_date_order(item.frame, item.source.date_formats, item.relative, item.site))
    for finding in findings:
        log.warning("date format: %s", finding.message())
    failing = [f for f in findings if f.swapped_share > max_share and (f.looks_swapped or f.swapped_only >= min_rows)]
    if failing:
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        raise InputError(f"date format: {failing[0].message()}{more}; over the {max_share:.1%} quarantine limit - "
                         f"declare the site's date_formats in sites.yaml (docs/new-study.md)")
    return findings


QUARANTINE_GATE_DEFAULTS = {"max_share": 0.05, "min_rows": 5}


def _quarantine_gate(ctx: StudyContext) -> dict[str, Any]:
    """``quarantine_gate: {max_share, min_rows}`` of study.yaml over the defaults, checked."""
    where = f"{Path(ctx.specs_dir) / 'study.yaml'}: quarantine_gate"
    given = ctx.design.get("quarantine_gate") or {}
    if not isinstance(given, dict) or set(given) - set(QUARANTINE_GATE_DEFAULTS):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(QUARANTINE_GATE_DEFAULTS)}, got {given!r}")
    gate = {**QUARANTINE_GATE_DEFAULTS, **given}
    share, rows = gate["max_share"], gate["min_rows"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConfigError(f"{where}.max_share: a share between 0 and 1 (0.05 = 5%), got {share!r}")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ConfigError(f"{where}.min_rows: a whole number of rows, got {rows!r}")
    return {"max_share": float(share), "min_rows": rows}


def _trial_design_spec(ctx: StudyContext) -> dict[str, Any]:
    path = Path(ctx.specs_dir) / "trial_design.yaml"
    return (ctx.spec("trial_design") or {}) if path.is_file() else {}


def run(ctx: StudyContext) -> None:
    """Ingest, map, derive and write the study's SDTM (see module docstring).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "raw" / "site_402").mkdir(parents=True)
    >>> _ = (folder / "raw" / "site_402" / "dm.csv").write_text(
    ...     "Subject No,Initials,Date of Birth,Sex,Race,Ethnicity,Informed Consent Date\\n"
    ...     "0012,AB,1985-06-20,F,WHITE,NOT HISPANIC OR LATINO,2019-03-01\\n")
    >>> ctx = StudyContext.create("iscalimab-ln", raw=folder / "raw", outputs=folder / "out")
    >>> run(ctx)  # sites.yaml says every site sends every form
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: ...raw: site 101 sent no 'ae' export (expected site_*/ae.csv; sites.yaml:... lists it among the site's forms)
    """
    # Arrow's own allocator (mimalloc) cannot reuse the memory pandas frees as domains are written, so each parquet
    # conversion would grow the process; the system allocator shares one heap with pandas and numpy
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        with pd.option_context("mode.copy_on_write", True):  # frames are copied lazily: no whole-frame copies per step
            _run(ctx)
    finally:
        pa.set_memory_pool(pool)


def _run(ctx: StudyContext) -> None:
    problems = SpecProblems()  # study.yaml, sites.yaml and every mapping file: all their problems in one run
    design: dict[str, Any] = {}
    with problems.check():
        design = ctx.design
    source = (design.get("sources") or {}).get("sdtm") if isinstance(design, dict) else None
    if ctx.options.get("sdtm"):  # --sdtm DIR: the user's own SDTM files win over the study's source
        source = {"folder": str(Path(ctx.options["sdtm"]).resolve())}
    if source:  # existing SDTM (a folder of files, or the CDISC pilot in a data package): import, nothing to map
        problems.raise_if_any()
        run_import(ctx, source)
        return
    started = time.perf_counter()
    raw_dir = Path(ctx.raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"{raw_dir}: raw directory not found (run `simulate` first or pass --raw DIR)")
    gate: dict[str, Any] = {}
    site_defaults: dict[str, SiteDefaults] = {}
    mappings: dict[str, DomainMapping] = {}
    with problems.check():
        gate = _quarantine_gate(ctx)
    with problems.check():
        site_defaults = load_site_dialects(Path(ctx.mappings_dir), problems)
    with problems.check():
        mappings = load_mappings(Path(ctx.mappings_dir), site_defaults)
    problems.raise_if_any()
    run_partitioned = partitioned_runner(ctx, "sdtm")
    if run_partitioned is not None:  # --engine dask: site partitions run this function on a cluster, then combine
        run_partitioned(ctx)
        return
    standards = Path(ctx.standards_dir)
    ct = load_terminology(standards)
    units = UnitTable.load(standards / UNITS_FILE, ct)
    variables = load_standard_variables(standards)
    design = ctx.design
    td_spec = _trial_design_spec(ctx)
    trial = build_trial_design(design, td_spec, ct, standards_dir=standards)
    env = MappingEnv(ct=ct, units=units, design=design, datasets=dict(trial))  # lookups may read TV, TI, ...

    sites = ctx.options.get("sites")  # a dask partition expects the exports of its own sites only
    expected = site_defaults if sites is None else {k: v for k, v in site_defaults.items() if k in sites}
    if ctx.options.get("ingested"):  # a dask partition: one subject slice of sites its ingest task read once
        ingested, manifest = read_ingested_slice(ctx.options["ingested"])
    else:
        ingested, manifest = _ingest_all(mappings, raw_dir, env, expected)
    if ctx.options.get("split_subjects"):  # a dask ingest task: write the sites' subject slices, map nothing
        write_ingested_slices(ingested, manifest, *ctx.options["split_subjects"])
        return
    date_order = check_date_orders(ingested, gate["max_share"], gate["min_rows"])
    # Domains are mapped in order; DM's reference variables and SE read DM, EX and DS, so the domains up to the
    # last of these are mapped first. Every later domain is mapped, derived and written in turn (each domain
    # is written and its records let go of once derived), so the largest domains are never all held at once.
    results: dict[str, DomainResult] = {}
    looked_up = looked_up_datasets(mappings)
    order = list(mappings)
    first = order[:max([order.index(d) for d in ("DM", "EX", "DS") if d in mappings], default=-1) + 1]

    def map_next(domain: str) -> None:
        results[domain] = map_domain(mappings[domain], ingested[domain], env)
        if domain in looked_up:  # a later domain's lookup reads these records as mapped
            env.datasets[domain] = results[domain].data
        for item in ingested.pop(domain):  # the raw frames of a mapped domain are not needed again
            item.frame = item.original = None

    for domain in track(first, "mapping domains"):
        map_next(domain)
    subjects = set(results["DM"].data["USUBJID"].dropna()) if "DM" in results else None
    for domain in first:
        _subject_check(domain, results[domain], mappings[domain], subjects)
        _derived_records(domain, results[domain], mappings[domain], units)

    # DM reference variables and subject elements, then each domain's timing and --SEQ derivations
    ex = results["EX"].data if "EX" in results else pd.DataFrame(columns=["USUBJID", "EXTRT", "EXSTDTC"])
    ds = results["DS"].data if "DS" in results else pd.DataFrame(columns=["USUBJID", "DSDECOD", "DSSTDTC"])
    dm = results["DM"].data if "DM" in results else pd.DataFrame(columns=["USUBJID", "STUDYID"])
    se = None
    if "DM" in results:
        dm = dm.assign(**{c: None for c in ("ARMCD",) if c not in dm.columns})  # no randomisation export read
        steps = mappings["DM"].steps(subject_level=True) or (DERIVATIONS["reference"].default_step(),)
        subject_ctx = DerivationContext(domain="DM", dm=dm, ex=ex, ds=ds, design=design)
        for step in steps:
            dm = step.apply(dm, subject_ctx)
        results["DM"].data = dm
        se = build_se(dm, ex, ds, design, td_spec)
        trial["TS"] = build_ts(design, td_spec, ct, dm, standards)
    # each domain is written (and its records let go of) as soon as it is derived: only the domains a RELREC
    # reads wait for it; DM, SE and TV stay for the derivations of later domains. The stage is staged
    # (pipeline/common/staging.py), so a failure below still leaves the previous outputs or none.
    increment = float(design.get("unscheduled_visit_increment", 0.01))
    waiting = {d for mapping in mappings.values() for spec in mapping.relrec for d in (mapping.domain, spec.domain_add)}
    extra: dict[str, pd.DataFrame] = {}
    written: dict[str, tuple[dict[str, dict[str, Any]], int]] = {}
    for domain, mapping in track(list(mappings.items()), "deriving domains"):
        if domain not in results:
            map_next(domain)
            _subject_check(domain, results[domain], mapping, subjects)
            _derived_records(domain, results[domain], mapping, units)
        results[domain].data = derive_domain(domain, results[domain].data, mapping, dm, se, trial["TV"], increment)
        extra.update(_build_supp(results[domain], mapping))
        if domain not in waiting:
            written[domain] = _write_domain(ctx, results[domain], variables)
    env.datasets.clear()  # lookups are done
    extra.update(_build_relrec(results, mappings))
    for domain in [d for d in mappings if d in waiting]:
        written[domain] = _write_domain(ctx, results[domain], variables)

    # ledger: every raw row mapped or quarantined, per (file, domain)
    ledger = build_ledger(results, manifest, raw_dir, written)
    if date_order:  # columns whose values look written in the other day-month order
        ledger["date_order"] = [{**vars(f), "swapped_share": round(f.swapped_share, 4)} for f in date_order]
    unbalanced = check_ledger(ledger)
    if unbalanced:
        raise PipelineError("ledger does not balance: " + "; ".join(unbalanced[:5]))
    lost = [] if sites is not None else \
        check_quarantine_gate(ledger, pd.concat([r.quarantine for r in results.values()], ignore_index=True), **gate)
    if lost:
        raise quarantine_gate_error(lost, raw_dir)
    if se is not None:
        trial["SE"] = se
    trial.update(extra)  # one reference to each dataset: _write_outputs lets go of it once written
    del extra, dm, ex, ds, se
    _write_outputs(ctx, variables, trial, ledger, manifest)
    _summarise(results, ledger, time.perf_counter() - started)


def _build_supp(result: DomainResult, mapping: DomainMapping) -> dict[str, pd.DataFrame]:
    """SUPP-- of one domain from its mapping's ``supp:`` list; the columns it moves leave the domain's records."""
    data = result.data
    specs = [s for s in mapping.supp if s.column in data.columns]
    if not specs:
        return {}
    out = {}
    if not data.empty:
        supp = build_supp(data, result.domain, [s.as_qnam_spec() for s in specs])
        if not supp.empty:
            out[f"SUPP{result.domain}"] = supp
        result.data = data.drop(columns=[s.column for s in specs])
    return out


def _build_relrec(results: dict[str, DomainResult], mappings: dict[str, DomainMapping]) -> dict[str, pd.DataFrame]:
    """RELREC from each mapping's ``relrec:`` list (the records of both domains, SUPP-- columns moved out)."""
    relrecs = []
    for domain, mapping in mappings.items():
        for spec in mapping.relrec:
            other = spec.domain_add
            if other not in results or results[domain].data.empty or results[other].data.empty:
                continue
            relrecs.append(build_relrec(results[domain].data, results[other].data, domain, other,
                                        filter_dataset=spec.filter, filter_add=spec.filter_add,
                                        relid_prefix=spec.relid_prefix))
    relrecs = [r for r in relrecs if not r.empty]
    return {"RELREC": pd.concat(relrecs, ignore_index=True)} if relrecs else {}


def build_ledger(results: dict[str, DomainResult], manifest: dict[str, dict[str, Any]], raw_dir: Path,
                 written: dict[str, tuple[dict[str, dict[str, Any]], int]] | None = None) -> dict[str, Any]:
    """Per raw file: rows read, and per domain rows mapped, records written, rows quarantined by reason.
    ``written``: per domain whose records were written and let go of, its counts (:func:`_write_domain`).

    >>> import tempfile
    >>> data = pd.DataFrame({"_file": ["a.csv", "a.csv"], "_row": [1, 1]})
    >>> quarantine = pd.DataFrame({"file": ["a.csv"], "row": [2], "category": ["impossible date"]})
    >>> result = DomainResult("VS", data, quarantine, pd.DataFrame(columns=["file", "row"]), {"a.csv": {"rows_read": 2}})
    >>> ledger = build_ledger({"VS": result}, {}, Path(tempfile.mkdtemp()))
    >>> ledger["files"]["a.csv"]["domains"]["VS"]["rows_mapped"], ledger["balanced"]
    (1, True)
    """
    written = written or {}
    counted = {d: written[d] if d in written else (count_rows(r), len(r.data)) for d, r in results.items()}
    files: dict[str, dict[str, Any]] = {}
    for domain, (file_counts, _) in counted.items():
        for file, counts in file_counts.items():
            entry = files.setdefault(file, {"rows_read": counts["rows_read"], "domains": {}})
            entry["domains"][domain] = {k: v for k, v in counts.items() if k != "rows_read"}
    present = sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*")
                     if p.is_file() and not p.relative_to(raw_dir).as_posix().startswith("_truth/")
                     and not p.name.startswith("."))
    by_reason = Counter(category for result in results.values() for category in result.quarantine["category"])
    totals = {"rows_read": sum(f["rows_read"] for f in files.values()),
              "records": {d: int(records) for d, (_, records) in counted.items()},
              "rows_quarantined": {d: int(r.quarantine[["file", "row"]].drop_duplicates().shape[0]) for d, r in results.items()},
              "quarantined_by_reason": dict(sorted(by_reason.items()))}
    ledger = {"files": dict(sorted(files.items())), "totals": totals,
              "unconsumed_files": [p for p in present if p not in files]}
    ledger["balanced"] = not check_ledger(ledger)
    return ledger


def _write_domain(ctx: StudyContext, result: DomainResult, variables: pd.DataFrame
                  ) -> tuple[dict[str, dict[str, Any]], int]:
    """Write one domain's SDTM, lineage, quarantine and flags, then let go of its records; returns what the
    ledger needs of them: the per-file counts (:func:`count_rows`) and the number of records."""
    domain, data = result.domain, result.data
    counts = (count_rows(result), len(data))
    _write_dataset(ctx.sdtm_dir / f"{domain.lower()}.parquet", order_columns(domain, data, variables), domain)
    lineage = build_lineage(domain, data) if not data.empty else pd.DataFrame(columns=LINEAGE_OUT)
    result.data = data = data.iloc[:0]  # written: only its (empty) columns are needed again
    write_parquet_atomic(ctx.lineage_dir / f"{domain.lower()}.parquet", lineage.reset_index(drop=True))
    del lineage
    quarantine = result.quarantine.sort_values(["file", "row"], kind="stable") if not result.quarantine.empty \
        else pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
    write_parquet_atomic(ctx.quarantine_dir / f"{domain.lower()}.parquet", _tidy(quarantine))
    if not result.flags.empty:
        write_parquet_atomic(ctx.quarantine_dir / "flagged" / f"{domain.lower()}.parquet",
                             _tidy(result.flags.sort_values(["file", "row"], kind="stable")))
    return counts


def _write_outputs(ctx: StudyContext, variables: pd.DataFrame, extra: dict[str, pd.DataFrame], ledger: dict[str, Any],
                   manifest: dict[str, dict[str, Any]]) -> None:
    """Write the datasets not from raw rows (trial design, SE, SUPP--, RELREC), the ledger and the manifest
    (atomic, deterministic); each domain's records were written by :func:`_write_domain`."""
    for name in sorted(extra):  # no lineage: not from raw rows
        frame = extra.pop(name)  # written once: not held until the last dataset is written
        _write_dataset(ctx.sdtm_dir / f"{name.lower()}.parquet", order_columns(name, frame, variables), name)
        del frame
    write_json_atomic(ctx.ledger_path, ledger)
    write_json_atomic(ctx.ingest_dir / "manifest.json", {"files": [manifest[k] for k in sorted(manifest)]})


def _write_dataset(path: Path, data: pd.DataFrame, domain: str) -> None:
    """Write one SDTM dataset; a column parquet cannot hold (numbers mixed with text) is named, not a traceback."""
    try:
        write_parquet_atomic(path, data)
    except (ArrowException, ValueError, TypeError) as exc:
        mixed = [c for c in data.columns if data[c].dtype == object
                 and pd.api.types.infer_dtype(data[c], skipna=True) not in ("string", "empty")]
        column = f" column {mixed[0]} mixes text and numbers" if mixed else ""
        raise InputError(f"dataset {domain}:{column}: cannot be written ({exc.__class__.__name__}: {exc}); "
                         "give the variable one type in the mapping") from None


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = nulls_as_none(frame.reset_index(drop=True), exclude=("row",))
    return out.astype({"row": "int64"}) if "row" in out else out


def _summarise(results: dict[str, DomainResult], ledger: dict[str, Any], seconds: float) -> None:
    """One console line per domain and the quarantine counts by reason."""
    for domain, result in results.items():
        records = ledger["totals"]["records"][domain]  # the data itself is released once written
        log.info("%-4s %6d records, %4d raw rows quarantined, %3d flagged", domain, records,
                 result.quarantine[["file", "row"]].drop_duplicates().shape[0] if not result.quarantine.empty else 0,
                 len(result.flags))
    reasons = ledger["totals"]["quarantined_by_reason"]
    if reasons:
        log.info("quarantine by reason: %s", ", ".join(f"{k} {v}" for k, v in reasons.items()))
    if ledger["unconsumed_files"]:
        log.warning("raw files no mapping reads: %s", ", ".join(ledger["unconsumed_files"]))
    log.info("ledger balanced: %d raw rows in %d files; SDTM built in %.1f s", ledger["totals"]["rows_read"],
             len(ledger["files"]), seconds)
