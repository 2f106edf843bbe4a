"""Try a mapping snippet on a few rows: the runner behind the examples in docs/mapping-language.md.

An example is YAML with ``raw`` (rows, canonical column names), ``variables`` (as in a mapping
file), optionally ``transpose``, ``date_formats``, ``month_names``, ``required``, and ``expect`` (the
records expected, only the listed variables compared) and/or ``quarantine`` (expected reasons).
Site dialects: ``sites`` (the content of ``sites.yaml``: site id -> settings), ``source_sites`` (the
source's own ``sites:`` block) and ``site`` (the site the rows come from, default ``001``); the rows
are then renamed, value-mapped and decimal-normalised as the ingest step would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.ingest.readers import ReaderOptions
from pipeline.sdtm.mapping.algorithms import MappingEnv
from pipeline.sdtm.mapping.engine import IngestedFile, map_file, prepare_frame
from pipeline.sdtm.mapping.spec import load_mapping, load_site_defaults
from pipeline.sdtm.mapping.units import UnitTable
from pipeline.standards.terminology import load_terminology

EXAMPLE_KEYS = {"raw", "variables", "transpose", "date_formats", "month_names", "required", "expect", "quarantine",
                "numeric", "decimal", "filter", "sites", "source_sites", "site"}


def example_env() -> MappingEnv:
    """Terminology, units, design and TV of the flagship study (what the examples may refer to).

    >>> env = example_env()
    >>> sorted(env.datasets), env.codelist("NY").lookup["YES"]
    (['TV'], 'Y')
    """
    from pipeline.common.study import StudyContext
    from pipeline.sdtm.stage import UNITS_FILE
    from pipeline.sdtm.trial_design import build_tv

    ctx = StudyContext.create("iscalimab-ln")
    standards = Path(ctx.standards_dir)
    ct = load_terminology(standards)
    return MappingEnv(ct=ct, units=UnitTable.load(standards / UNITS_FILE, ct), design=ctx.design,
                      datasets={"TV": build_tv(ctx.design)})


def run_example(example: dict[str, Any], env: MappingEnv | None = None, path: str = "example.yaml"
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map the example's raw rows; returns ``(records, quarantine)`` with internal columns dropped.

    >>> records, _ = run_example({"raw": [{"term": " Headache "}], "variables": {"AETERM": {"assign": "term"}}})
    >>> records.to_dict("records")
    [{'AETERM': 'Headache'}]
    """
    import yaml

    unknown = set(example) - EXAMPLE_KEYS
    if unknown:
        raise ValueError(f"example: unknown key(s) {', '.join(sorted(unknown))}")
    env = env or example_env()
    source = {"form": "example", "files": "example.csv", "subject": None,
              **{key: example[key] for key in ("date_formats", "month_names", "numeric", "filter") if key in example}}
    spec = {"domain": "XX", "sources": [source], "variables": example.get("variables") or {},
            "required": example.get("required") or []}
    if example.get("transpose"):
        spec["transpose"] = example["transpose"]
    if example.get("source_sites"):
        source["sites"] = example["source_sites"]
    site_defaults = load_site_defaults(Path(f"{path} sites"), text=yaml.safe_dump(
        {"sites": example["sites"]}, sort_keys=False, allow_unicode=True)) if example.get("sites") else None
    mapping = load_mapping(Path(path), text=yaml.safe_dump(spec, sort_keys=False, allow_unicode=True),
                           site_defaults=site_defaults)
    site = str(example.get("site", "001"))
    effective = mapping.sources[0].for_site(site)
    raw = pd.DataFrame(example.get("raw") or [], dtype=str).fillna("")
    if example.get("decimal"):
        for column in example.get("numeric") or []:
            raw[column] = raw[column].str.replace(example["decimal"], ".", regex=False)
    options = ReaderOptions(decimal=str(effective.reader.get("decimal", ".")))
    raw = prepare_frame(raw, effective, options)
    frame = raw.assign(_file="example.csv", _row=range(1, len(raw) + 1), _site=site, _subject="")
    item = IngestedFile("example.csv", site, frame, effective, options, len(raw), {}, None, "x")
    records, quarantine, _flags = map_file(mapping, item, env)
    records = records[[c for c in records.columns if not c.startswith("_")]].reset_index(drop=True)
    return records, quarantine.reset_index(drop=True)
