"""``adam --engine dask``: the pandas ADaM stage run once per block of subjects on a dask.distributed cluster,
its blocks' datasets combined into exactly the files the pandas engine writes (same rows, order and bytes).

Why per block is the same as whole: every derivation of a spec that passes :func:`find_cross_subject_step`
reads one subject's records at a time (its groups and merges are by USUBJID; study-level lookups, such as
``{design: arms}``, windows or inline tables, are the same in every block), and every written dataset is
sorted by keys that begin with (STUDYID,) USUBJID, so the blocks, taken in subject order, follow each other
in the whole dataset's order. A block's SDTM is the rows of its subjects of every dataset with USUBJID (as
validation's subject blocks: rows without a subject go to the first block); TS, TA, TV and the other
datasets without USUBJID go whole to every block. ADSL is built inside each block from its own subjects:
a BDS dataset reads ADSL only by USUBJID, so it needs no other block's subjects.

A spec with a step that reads across subjects (a ``by_vars`` without USUBJID, a merge of another subject
dataset by other keys, a ``union`` of study-level rows) and a study without SDTM parquet files (a packaged
source) run the pandas stage whole, with a log line that says why.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.common.logs import get_logger

log = get_logger("engine")

# verbs that group or order a dataset's records by ``by_vars`` (None: all records together)
GROUPING_VERBS = {"derive_locf_records", "derive_param_computed", "derive_param_exposure", "derive_summary_records",
                  "derive_var_base", "derive_var_extreme_flag", "derive_var_ablfl", "derive_var_anl01fl",
                  "derive_var_obs_number"}
# verbs that join a second dataset by ``by_vars``
JOINING_VERBS = {"derive_vars_merged", "derive_vars_joined"}
# dataset references holding subject records (the others are the same study-level table in every block)
SUBJECT_REFS = ("sdtm", "adam")


def _names_usubjid(by_vars: Any) -> bool:
    """``by_vars`` (a list, or a mapping of this dataset's name -> the other's) includes USUBJID on both sides."""
    if isinstance(by_vars, Mapping):
        return any(str(k) == "USUBJID" and str(v) == "USUBJID" for k, v in by_vars.items())
    return isinstance(by_vars, (list, tuple)) and "USUBJID" in [str(v) for v in by_vars]


def _is_subject_ref(ref: Any) -> bool:
    return isinstance(ref, str) or (isinstance(ref, Mapping) and any(k in ref for k in SUBJECT_REFS))


def find_cross_subject_step(spec: Mapping[str, Any]) -> str | None:
    """The first step of an ADaM spec whose result for one subject depends on other subjects' records
    (then the spec cannot run per block of subjects), as ``dataset NAME step N (verb): why``; else None.

    >>> adlb = {"name": "ADLB", "source": {"sdtm": "lb"}, "keys": ["STUDYID", "USUBJID", "PARAMCD"]}
    >>> numbered = {"derive_var_obs_number": {"by_vars": ["PARAMCD"]}}
    >>> find_cross_subject_step({"datasets": [{**adlb, "steps": [numbered]}]})
    'dataset ADLB step 1 (derive_var_obs_number): by_vars do not include USUBJID'
    >>> lookup = {"derive_vars_merged": {"dataset_add": {"table": [{"PARAMCD": "X"}]}, "by_vars": ["PARAMCD"]}}
    >>> find_cross_subject_step({"datasets": [{**adlb, "steps": [lookup]}]}) is None
    True
    """
    def check_steps(steps: Any, where: str) -> str | None:
        for number, step in enumerate(steps if isinstance(steps, list) else [], start=1):
            if not isinstance(step, Mapping):
                continue
            for verb, args in step.items():
                if verb in ("optional",):
                    continue
                if verb == "otherwise":  # the single step used instead when an optional source is missing
                    found = check_steps([args], f"{where} step {number} otherwise")
                    if found:
                        return found
                    continue
                found = check_step(verb, args if isinstance(args, Mapping) else {}, args, f"{where} step {number}")
                if found:
                    return found
        return None

    def check_step(verb: str, kwargs: Mapping[str, Any], args: Any, where: str) -> str | None:
        here = f"{where} ({verb})"
        if verb in GROUPING_VERBS and not _names_usubjid(kwargs.get("by_vars", _default_by_vars(verb))):
            return f"{here}: by_vars do not include USUBJID"
        if verb in JOINING_VERBS and _is_subject_ref(kwargs.get("dataset_add")) \
                and not _names_usubjid(kwargs.get("by_vars")):
            return f"{here}: joins a subject dataset by keys without USUBJID"
        if verb == "union":
            refs = args if isinstance(args, list) else [args]
            if not all(_is_subject_ref(ref) for ref in refs):
                return f"{here}: appends study-level rows (every block would append them)"
        for name in ("dataset_add", "dataset_ref"):  # a reference's own steps
            ref = kwargs.get(name)
            if isinstance(ref, Mapping) and "steps" in ref:
                found = check_steps(ref["steps"], f"{here} {name}")
                if found:
                    return found
        return None

    datasets = [d for d in spec.get("datasets") or [] if isinstance(d, Mapping)]
    # the entry that writes a dataset is its last one (an earlier pass, like ADSL's first, is rebuilt by it)
    written = {str(d.get("name", "")).upper(): index for index, d in enumerate(datasets)}
    for index, dataset_spec in enumerate(datasets):
        name = str(dataset_spec.get("name", "")).upper()
        source = dataset_spec.get("source")
        found = check_steps(dataset_spec.get("steps"), f"dataset {name}")
        if not found and isinstance(source, Mapping) and "steps" in source:
            found = check_steps(source["steps"], f"dataset {name} source")
        if found:
            return found
        keys = [str(k) for k in dataset_spec.get("keys") or []]
        if written[name] == index and keys[:1] != ["USUBJID"] and keys[:2] != ["STUDYID", "USUBJID"]:
            return (f"dataset {name}: keys {keys} do not begin with (STUDYID,) USUBJID, so blocks would not "
                    "concatenate in its order")
    return None


def _default_by_vars(verb: str) -> Any:
    """The ``by_vars`` a grouping verb uses when the spec gives none (derive_var_anl01fl's default names USUBJID)."""
    import inspect

    from pipeline.adam.engine import VERBS

    parameter = inspect.signature(VERBS[verb]).parameters.get("by_vars")
    default = None if parameter is None else parameter.default
    return None if default is inspect.Parameter.empty else default


def run_adam_block(block: int, rows_path: str, study: str, root: str, files: dict[str, str], work: str) -> Any:
    """Partition ``block``: the pandas ADaM stage on one block of subjects (``rows_path``: its rows of each SDTM
    file, :func:`pipeline.engines.dask_engine.write_block_rows`; written to the block's own sdtm/ under ``work``);
    returns one row per dataset written: block, dataset, path, records."""
    import pandas as pd
    import pyarrow.parquet as pq

    from pipeline.adam import stage
    from pipeline.common.study import StudyContext

    from pipeline.engines.dask_engine import read_block_rows, read_table_rows

    rows = read_block_rows(rows_path, files)
    ctx = StudyContext.create(study, outputs=Path(work) / f"block-{block:04d}", root=root)
    Path(ctx.sdtm_dir).mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        target = Path(ctx.sdtm_dir) / Path(path).name
        if rows[name] is None:  # a study-level dataset (TS, TA, TV ...): the whole file
            shutil.copyfile(path, target)
        else:
            pq.write_table(read_table_rows(Path(path), rows[name]), target, compression="none")
    stage.run(ctx)
    written = sorted(Path(ctx.adam_dir).glob("*.parquet"))
    shutil.rmtree(ctx.sdtm_dir, ignore_errors=True)  # the block's SDTM copy is no longer needed
    return pd.DataFrame({"block": block, "dataset": [p.name for p in written], "path": [str(p) for p in written],
                         "records": [pq.ParquetFile(p).metadata.num_rows for p in written]})


def check_subject_order(name: str, paths: list[Path]) -> None:
    """Each block's first (STUDYID, USUBJID) follows the previous block's last: the blocks concatenate in the
    order of the dataset's keys (a bug otherwise, not bad input)."""
    import pyarrow.parquet as pq

    previous = None
    for path in paths:
        table = pq.read_table(path, columns=[c for c in ("STUDYID", "USUBJID") if c in pq.read_schema(path).names])
        if table.num_rows == 0 or table.num_columns == 0:
            continue
        first = tuple(table.column(i)[0].as_py() for i in range(table.num_columns))
        if previous is not None and None not in first + previous and first < previous:
            raise RuntimeError(f"{name}: subject blocks out of order ({previous} before {first})")
        previous = tuple(table.column(i)[-1].as_py() for i in range(table.num_columns))


def concat_like_pandas(paths: list[Path], target: Path) -> int:
    """Write the rows of ``paths`` (one dataset's blocks, in order) into ``target`` as
    ``pipeline.common.io.write_parquet_atomic`` writes the whole frame: same schema and pandas metadata,
    zstd, no statistics, row groups of ``PARQUET_ROW_GROUP_ROWS`` rows, so the bytes are the same. Holds at
    most one row group (and one block) in memory. Returns the rows written.

    >>> import pandas as pd
    >>> from pipeline.common.io import write_parquet_atomic
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"USUBJID": ["1", "2", "3"], "AVAL": [1.0, None, 3.0]}).astype({"USUBJID": "string"})
    >>> _ = write_parquet_atomic(folder / "whole.parquet", frame)
    >>> _ = write_parquet_atomic(folder / "a.parquet", frame[:2]), write_parquet_atomic(folder / "b.parquet", frame[2:])
    >>> concat_like_pandas([folder / "a.parquet", folder / "b.parquet"], folder / "combined.parquet")
    3
    >>> (folder / "combined.parquet").read_bytes() == (folder / "whole.parquet").read_bytes()
    True
    """
    import pyarrow.parquet as pq

    from pipeline.engines.dask_engine import write_in_row_groups

    schemas = [pq.read_schema(p) for p in paths]
    counts = [pq.ParquetFile(p).metadata.num_rows for p in paths]
    # a block without rows may type an all-missing column differently: the first block with rows gives the schema
    schema = next((s for s, n in zip(schemas, counts) if n), schemas[0])
    for path, other, count in zip(paths, schemas, counts):
        if count and not other.equals(schema, check_metadata=True):
            raise RuntimeError(f"{target.name}: block {path.parent.parent.name} has another schema than the first "
                               "block with rows")
    return write_in_row_groups((pq.read_table(path) for path, count in zip(paths, counts) if count), schema, target)


def combine_adam_dataset(name: str, paths: list[Path], target: Path) -> int:
    """One dataset from its blocks' files (in block order) into ``target``; returns the records written."""
    check_subject_order(name, paths)
    return concat_like_pandas(paths, target)


def combine_adam_blocks(written: Any, adam_dir: Path, client: Any = None) -> None:
    """Every dataset from its blocks' files (``written``: block, dataset, path rows) into ``adam_dir``: one task
    per dataset on ``client``'s workers when given (largest first), else one after another."""
    jobs = []
    for name, rows in written.sort_values(["dataset", "block"], kind="stable").groupby("dataset", sort=True):
        jobs.append((int(rows["records"].sum()), name, [Path(p) for p in rows["path"]]))
    jobs.sort(key=lambda job: -job[0])
    if client is None:
        records = [combine_adam_dataset(name, paths, Path(adam_dir) / name) for _, name, paths in jobs]
    else:
        records = client.gather([client.submit(combine_adam_dataset, name, paths, Path(adam_dir) / name,
                                               key=f"adam-combine-{name}", pure=False) for _, name, paths in jobs])
    for (_, name, paths), count in sorted(zip(jobs, records), key=lambda pair: pair[0][1]):
        log.info("%s: %d records from %d subject block(s) -> %s", name, count, len(paths), Path(adam_dir) / name)


def run(ctx: Any) -> None:
    """The adam stage with ``--engine dask`` (the CLI calls this instead of ``pipeline.adam.stage.run``)."""
    import dask.dataframe as dd
    import pandas as pd

    from pipeline.adam import stage
    from pipeline.engines.dask_engine import (DEFAULT_BLOCK_SUBJECTS, dask_client, plan_subject_blocks,
                                              write_block_rows)

    files = {p.stem.upper(): p for p in sorted(Path(ctx.sdtm_dir).glob("*.parquet"))}
    reason = None if files else "no SDTM parquet files (a packaged source)"
    reason = reason or find_cross_subject_step(ctx.spec("adam"))
    if reason:
        log.info("dask engine: the adam stage runs whole, not per subject block: %s", reason)
        stage.run(ctx)
        return
    per_block = int(ctx.options.get("block_subjects", DEFAULT_BLOCK_SUBJECTS))
    blocks = plan_subject_blocks(files, per_block)
    log.info("dask engine: ADaM of %d subject block(s) of up to %d subjects", len(blocks), per_block)
    work = Path(tempfile.mkdtemp(prefix=".dask-adam-", dir=Path(ctx.outputs_dir).parent))
    root = str(Path(ctx.specs_dir).parent.parent)  # the project folder: workers read the same specs
    paths = {name: str(path) for name, path in files.items()}
    meta = pd.DataFrame({"block": pd.Series(dtype="int64"), "dataset": pd.Series(dtype=object),
                         "path": pd.Series(dtype=object), "records": pd.Series(dtype="int64")})
    try:
        rows_paths = write_block_rows(blocks, work / "rows")   # the graph carries paths, not row positions
        del blocks
        with dask_client(ctx.options) as client:
            # one partition per subject block; its value is the table of the ADaM files the block wrote
            # (the datasets themselves stay on disk, to be combined in order below)
            written = dd.from_map(run_adam_block, range(len(rows_paths)), rows_paths, meta=meta, label="adam-block",
                                  study=ctx.study, root=root, files=paths, work=str(work))
            table = written.compute()
            combine_adam_blocks(table, Path(ctx.adam_dir), client)
    finally:
        shutil.rmtree(work, ignore_errors=True)
