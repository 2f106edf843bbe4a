"""Analysis stage: ADaM datasets + shells (``tlf.yaml``) -> ``ard/<output_id>.parquet`` and ``.json``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import pyarrow.parquet as pq

from pipeline.analysis.ard import finalise_ard, write_ard
from pipeline.analysis.methods import METHODS, OutputData, big_n_rows
from pipeline.analysis.shell import Shell, load_shell, resolve_groups, resolve_reference
from pipeline.common.errors import ConfigError, InputError
from pipeline.common.io import read_parquet, read_parquet_distinct_text, write_json_atomic
from pipeline.common.specfile import load_spec
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext

log = get_logger("analysis")


def adam_loader(adam_dir: str | Path, names: set[str] | None = None) -> Callable[[str], pd.DataFrame]:
    """A cached reader of ``<adam_dir>/<name>.parquet`` (lower-case names, DESIGN.md).

    With ``names`` (:func:`shell_names`), only the variables among them are read (an analysis reads
    a few of a BDS dataset's columns; converting every text column dominated reading).

    >>> adam_loader("/nonexistent")("ADSL")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: /nonexistent/adsl.parquet: ADaM dataset adsl not found (run `python -m pipeline adam` first)
    """
    cache: dict[str, pd.DataFrame] = {}
    adam_dir = Path(adam_dir)

    def load(name: str) -> pd.DataFrame:
        key = name.lower()
        if key not in cache:
            path = adam_dir / f"{key}.parquet"
            if not path.exists() and (adam_dir / f"{key.upper()}.parquet").exists():
                path = adam_dir / f"{key.upper()}.parquet"
            if not path.exists():
                raise InputError(f"{path}: ADaM dataset {key} not found (run `python -m pipeline adam` first)")
            if names is None:
                cache[key] = read_parquet(path)
            else:
                cache[key] = read_parquet_distinct_text(path, [c for c in pq.read_schema(path).names if c in names])
        return cache[key]

    return load


def shell_names(shell: Shell) -> set[str] | None:
    """Every name written in the shell file (``tlf.yaml``), the default subject variable included:
    a superset of the variables its outputs read; ``None`` when the shell has no file.

    >>> from pipeline.common.study import StudyContext
    >>> names = shell_names(load_shell(StudyContext.create("iscalimab-ln", outputs="/nonexistent/out").specs_dir))
    >>> {"USUBJID", "TRT01P", "AVISIT"} <= names, "LBORRES" in names
    (True, False)
    """
    path = Path(shell.path)
    if not path.is_file():
        return None
    return set(_NAME.findall(path.read_text(encoding="utf-8"))) | {str(shell.defaults.get("subject_variable", "USUBJID"))}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def output_data(shell: Shell, output_id: str, design: Mapping[str, Any],
                load: Callable[[str], pd.DataFrame]) -> OutputData:
    """Population, treatment columns and dataset access of one output.

    >>> from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
    >>> data = output_data(example_shell(), "table1", EXAMPLE_DESIGN, example_adam().__getitem__)
    >>> data.group_var, data.groups, data.reference, len(data.population)
    ('TRT01P', ['Active', 'Placebo'], 'Placebo', 7)
    """
    output = shell.outputs[output_id]
    where_name = shell.where(output_id)
    population = shell.populations[output["population"]]
    group_var = shell.treatment_columns[output["columns"]]["variable"]
    subject_var = shell.defaults.get("subject_variable", "USUBJID")
    adsl_name = str(shell.defaults.get("adsl", "adsl")).lower()
    adsl = load(adsl_name)
    missing = [c for c in (subject_var, group_var, population["flag"]) if c not in adsl.columns]
    if missing:
        raise InputError(f"{where_name}: dataset {adsl_name} has no variable {', '.join(missing)}")
    pop = adsl.loc[adsl[population["flag"]] == "Y"].copy()
    if pop[subject_var].duplicated().any():
        first = pop.loc[pop[subject_var].duplicated(), subject_var].iloc[0]
        raise InputError(f"{where_name}: dataset {adsl_name} has more than one record for {subject_var} = {first}")
    if pop[group_var].isna().any():
        first = pop.loc[pop[group_var].isna(), subject_var].iloc[0]
        raise InputError(f"{where_name}: dataset {adsl_name}, {subject_var} = {first}: {group_var} is missing "
                         f"for a subject with {population['flag']} = Y")
    pop[group_var] = pop[group_var].astype(str)
    groups = resolve_groups(design, sorted(pop[group_var].unique()))
    present = set(pop[group_var])
    groups = [g for g in groups if g in present] or groups
    total = bool(output.get("total", False))
    reference = resolve_reference(shell, design)
    period = shell.period(output_id)
    return OutputData(
        output_id=output_id, where_name=where_name, population=pop, group_var=group_var, groups=groups, load=load,
        adsl_name=adsl_name, total_label=str(shell.setting(output_id, "total_label", "Total")) if total else None,
        reference=reference if reference in groups else None, subject_var=subject_var,
        confidence_level=float(shell.setting(output_id, "confidence_level", 0.95)),
        period_flag=period.flag if period else None, period_datasets=period.datasets if period else (),
        missing_data={key: estimand.missing_data for key, estimand in shell.estimands.items()})


def build_output_ard(shell: Shell, output_id: str, design: Mapping[str, Any],
                     load: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """The ARD of one output: the ``big_n`` row, then every shell row in order.

    >>> from pipeline.analysis.examples import EXAMPLE_DESIGN, example_adam, example_shell
    >>> ard = build_output_ard(example_shell(), "table2", EXAMPLE_DESIGN, example_adam().__getitem__)
    >>> list(dict.fromkeys(ard["row_id"]))
    ['big_n', 'any_ae', 'sae', 'ae_disc', 'ae_severe', 'ae_sev_query', 'ae_fatal', 'deaths']
    """
    if output_id not in shell.outputs:
        raise ConfigError(f"{shell.path}: no output {output_id!r} (known: {', '.join(shell.outputs)})")
    data = output_data(shell, output_id, design, load)
    output = shell.outputs[output_id]
    parts = [big_n_rows(data)]
    for row in output["rows"]:
        parts.extend(METHODS[row["method"]](row, data))
    is_listing = output.get("kind") == "listing"
    return finalise_ard(parts, output_id, text_values=is_listing)


ANALYSIS_KEYS = ("method", "dataset", "where", "response", "responder", "covariates", "variable", "soc", "pt",
                 "comparison_row", "estimand", "visit", "visits", "covariance")


def analysis_metadata(shell: Shell, output_ids: list[str]) -> list[dict[str, Any]]:
    """What each output analyses, for define.xml analysis results metadata and reviewers.

    One entry per output (number, title, population flag, treatment variable) with its analyses
    (row id, method, dataset, filter, variables), in the spirit of CDISC ARS ``analyses``.

    >>> from pipeline.analysis.examples import example_shell
    >>> entry = analysis_metadata(example_shell(), ["table2"])[0]
    >>> entry["population"], entry["group_variable"], entry["analyses"][1]["where"]
    ({'flag': 'SAFFL', 'label': 'Safety Set', 'value': 'Y'}, 'TRT01A', {'TRTEMFL': 'Y', 'AESER': 'Y'})
    """
    entries = []
    for output_id in output_ids:
        output = shell.outputs[output_id]
        population = shell.populations[output["population"]]
        analyses = [{"row_id": row["id"], "label": row.get("label", row["id"]),
                     **{k: row[k] for k in ANALYSIS_KEYS if k in row}} for row in output["rows"]]
        for analysis in analyses:
            analysis.setdefault("dataset", str(shell.defaults.get("adsl", "adsl")))
        entries.append({
            "output_id": output_id, "number": output.get("number", ""), "title": output["title"],
            "population": {"flag": population["flag"], "label": population["label"], "value": "Y"},
            "group_variable": shell.treatment_columns[output["columns"]]["variable"],
            "total_column": bool(output.get("total", False)), "ard": f"ard/{output_id}.parquet", "analyses": analyses})
    return entries


def run(ctx: StudyContext) -> dict[str, pd.DataFrame]:
    """Compute the ARD of every output in ``specs/<study>/tlf.yaml`` and write ``ard/``, with
    ``ard/analyses.json`` (:func:`analysis_metadata`) and ``ard/run_info.json`` (:func:`run_info`)."""
    if not (ctx.specs_dir / "tlf.yaml").exists():
        log.warning("%s: no table shells (tlf.yaml); no ARD written", ctx.specs_dir)
        return {}
    shell = load_shell(ctx.specs_dir)
    load = adam_loader(ctx.adam_dir, shell_names(shell))
    only = ctx.options.get("outputs")
    results: dict[str, pd.DataFrame] = {}
    for output_id in shell.outputs:
        if only and output_id not in only:
            continue
        ard = build_output_ard(shell, output_id, ctx.design, load)
        write_ard(ard, ctx.ard_dir, output_id)
        log.info("ard %s: %d statistics", output_id, len(ard))
        results[output_id] = ard
    write_json_atomic(ctx.ard_dir / "analyses.json", analysis_metadata(shell, list(results)))
    write_json_atomic(ctx.ard_dir / "run_info.json", run_info(shell, load, ctx.specs_dir))
    return results


def run_info(shell: Shell, load: Callable[[str], pd.DataFrame], specs_dir: str | Path) -> dict[str, Any]:
    """What the table headers state about the run: data cut, run date, dictionary versions.

    The data cut is the latest date of the shell's ``data_cut`` variable (``{dataset, variable}``,
    e.g. ADSL.EOSDT); the run date is that date, so outputs stay byte-identical across runs.
    Dictionary versions come from ``datasets.yaml`` ``dictionaries``.

    >>> from pipeline.analysis.examples import example_adam, example_shell
    >>> run_info(example_shell(), example_adam().__getitem__, "/nonexistent")["dictionaries"]
    {}
    """
    cut = shell.defaults.get("data_cut") or {}
    data_cut = None
    if cut.get("dataset") and cut.get("variable"):
        dataset = load(str(cut["dataset"]).lower())
        if cut["variable"] not in dataset.columns:
            raise ConfigError(f"{shell.path}: defaults.data_cut: dataset {cut['dataset']} has no variable {cut['variable']}")
        dates = pd.to_datetime(dataset[cut["variable"]], errors="coerce").dropna()
        data_cut = dates.max().strftime("%Y-%m-%d") if len(dates) else None
    specs = Path(specs_dir) / "datasets.yaml"
    dictionaries = (load_spec(specs) or {}).get("dictionaries") or {} if specs.exists() else {}
    return {"data_cut": data_cut, "run_date": data_cut,
            "dictionaries": {str(k): str(v) for k, v in dictionaries.items()}}
