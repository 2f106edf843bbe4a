"""The Dask engine: the stages' pandas code runs once per partition (blocks of sites for SDTM, of
subjects for validation and ADaM) on a dask.distributed cluster, and the partitions' results are combined
deterministically into the pandas engine's files: SDTM, lineage and quarantine byte for byte
(:func:`combine_sdtm_blocks`, records in the pandas engine's order: :func:`combine_dataset`), ADaM too
(:mod:`pipeline.engines.dask_adam`).

SDTM and validation blocks are dask.distributed tasks (``client.submit``: an SDTM block may wait for the
task that reads its sites once); ADaM blocks are the partitions of a dask.dataframe (``dd.from_map``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pipeline.common.errors import InputError
from pipeline.common.io import write_json_atomic
from pipeline.common.logs import get_logger
from pipeline.engines import PARTITIONED

log = get_logger("engine")

SITE_FOLDER = re.compile(r"^site_(?P<site>[^/]+)$")
# a block holds about this many bytes of raw exports (about 2,000 subjects of the flagship)
DEFAULT_BLOCK_BYTES = 24 * 2**20
WORKER_MEMORY = "3GiB"


@contextmanager
def dask_client(options: dict[str, Any]) -> Iterator[Any]:
    """A dask.distributed client: to ``options['scheduler']`` when given, else to a new LocalCluster
    of ``options['workers']`` (default 2) single-threaded worker processes (one worker thread when
    ``options['processes']`` is false)."""
    from dask.distributed import Client, LocalCluster

    address = options.get("scheduler")
    if address:
        try:
            client = Client(address, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {address}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    processes = bool(options.get("processes", True))
    # the stages set process-wide state while they run (pandas' copy-on-write option, Arrow's memory pool), which
    # two worker threads of one process would race on and could leave set: a cluster in this process gets one worker
    workers = int(options.get("workers", 2)) if processes else 1
    # dashboard_address None would still bind :8787 on every interface
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                      memory_limit=options.get("worker_memory", WORKER_MEMORY) if processes else None,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client


def compute_site_blocks(sizes: dict[str, int], block_bytes: int) -> list[list[str]]:
    """Consecutive site folders (in name order) grouped so a block holds about ``block_bytes``.

    >>> compute_site_blocks({"site_1": 5, "site_2": 5, "site_3": 5, "site_4": 1}, 10)
    [['site_1', 'site_2'], ['site_3', 'site_4']]
    >>> compute_site_blocks({"site_1": 50}, 10)
    [['site_1']]
    """
    blocks: list[list[str]] = []
    held = 0
    for name in sorted(sizes):
        if not blocks or held + sizes[name] > block_bytes:
            blocks.append([])
            held = 0
        blocks[-1].append(name)
        held += sizes[name]
    return blocks


def _site_folders(raw_dir: Path) -> dict[str, int]:
    """Site folder -> bytes of its exports; anything else at the top level cannot be partitioned."""
    sizes = {}
    for entry in sorted(raw_dir.iterdir()):
        if entry.name.startswith((".", "_")):
            continue  # _truth/ (simulation answers) and hidden files are not exports
        if not entry.is_dir() or not SITE_FOLDER.match(entry.name):
            raise InputError(f"{entry}: the dask engine partitions raw exports by site folder (site_<id>/); "
                             "run this raw folder with --engine pandas")
        sizes[entry.name] = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
    if not sizes:
        raise InputError(f"{raw_dir}: no site_<id>/ folders to partition")
    return sizes


def _link_or_copy(source: str, target: str) -> None:
    """A hard link, or a copy where links are not allowed."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def run_sdtm_block(study: str, raw: str, sites: list[str], root: str, outputs: str, ingested: str | None = None,
                   split_subjects: tuple[int, str] | None = None, after: Any = None) -> str:
    """Worker task: the pandas SDTM stage on one block of sites, or on one subject slice of them
    (``ingested``: the slice's file, written by the task ``after`` names), or only reading the sites and
    writing their ``split_subjects`` (parts, folder) slices; returns ``outputs``."""
    from pipeline.common.study import StudyContext
    from pipeline.sdtm import stage

    options = {"sites": sites, "ingested": ingested, "split_subjects": split_subjects}
    ctx = StudyContext.create(study, raw=raw, outputs=outputs, root=root, **{k: v for k, v in options.items() if v})
    stage.run(ctx)
    return outputs


def run_sdtm_partitioned(ctx: Any) -> None:
    """``sdtm --engine dask``: map each block of sites (a site larger than a block: its subject slices,
    read once by an ingest task) on the cluster, then combine into ``ctx``'s folders."""
    from pipeline.engines.partitions import slice_path

    raw_dir = Path(ctx.raw_dir)
    sizes = _site_folders(raw_dir)
    block_bytes = int(ctx.options.get("block_bytes", DEFAULT_BLOCK_BYTES))
    blocks = compute_site_blocks(sizes, block_bytes)
    work = Path(tempfile.mkdtemp(prefix=".dask-sdtm-", dir=Path(ctx.outputs_dir).parent))
    root = str(Path(ctx.specs_dir).parent.parent)  # the project folder (--project): workers read the same specs
    try:
        with dask_client(ctx.options) as client:
            futures = []
            for number, block in enumerate(blocks):
                tag = f"{number:04d}"
                block_raw = work / f"raw-{tag}"
                for folder in block:
                    shutil.copytree(raw_dir / folder, block_raw / folder, copy_function=_link_or_copy)
                sites = [SITE_FOLDER.match(f).group("site") for f in block]
                parts = max(1, math.ceil(sum(sizes[f] for f in block) / block_bytes))
                task = (run_sdtm_block, ctx.study, str(block_raw), sites, root)
                if parts == 1:
                    futures.append(client.submit(*task, str(work / f"out-{tag}"), key=f"sdtm-block-{tag}", pure=False))
                    continue
                slices = work / f"ingested-{tag}"
                read = client.submit(*task, str(work / f"ingest-{tag}"), split_subjects=(parts, str(slices)),
                                     key=f"sdtm-ingest-{tag}", pure=False)
                # the ingest future as an argument: each slice waits for it (its value, a path, is unused)
                futures.extend(client.submit(*task, str(work / f"out-{tag}-{part:03d}"), str(slice_path(slices, part)),
                                             after=read, key=f"sdtm-block-{tag}-{part:03d}", pure=False)
                               for part in range(parts))
            log.info("dask engine: %d partition(s) of %d site(s)", len(futures), len(sizes))
            outputs = [Path(p) for p in client.gather(futures)]
            combine_sdtm_blocks(ctx, outputs, client)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unify_block_schemas(paths: list[Path]) -> Any:
    """The schema (pandas metadata included) that converting the blocks' concatenated frame gives, as the pandas
    engine writes it: a column null in every block stays null (pandas type ``empty``); one null in some blocks
    only takes the type, and the pandas type, of the blocks where it has values. No pandas index.

    >>> import pandas as pd
    >>> folder = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"A": ["x"], "B": [None], "C": [None]}).to_parquet(folder / "1.parquet", index=False)
    >>> pd.DataFrame({"A": ["z"], "B": ["b"], "C": [None]}).to_parquet(folder / "2.parquet", index=False)
    >>> schema = unify_block_schemas([folder / "1.parquet", folder / "2.parquet"])
    >>> [str(t) for t in schema.types], [c["pandas_type"] for c in json.loads(schema.metadata[b"pandas"])["columns"]]
    (['string', 'string', 'null'], ['unicode', 'unicode', 'empty'])
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(p) for p in paths]
    unified = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    schema = pa.schema([f for f in unified if not f.name.startswith("__index_level_")])
    described = [json.loads(s.metadata[b"pandas"]) for s in schemas if s.metadata and b"pandas" in s.metadata]
    if not described or any(d.get("index_columns") for d in described):
        return schema
    columns = []
    for field in schema:  # a column's description from the first block where it has values (else the first block's)
        found = [c for d in described for c in d["columns"] if c["name"] == field.name]
        columns.append(next((c for c in found if c["pandas_type"] != "empty"), found[0] if found else None))
    if None in columns:
        return schema
    pandas = {**described[0], "columns": columns}
    return schema.with_metadata({b"pandas": json.dumps(pandas).encode()})


def write_blocks_like_pandas(paths: list[Path], target: Path, order: Any = None) -> int:
    """Write the rows of ``paths`` (one dataset's blocks) into ``target`` as ``pipeline.common.io.
    write_parquet_atomic`` writes the whole frame: the schema of :func:`unify_block_schemas`, zstd, no
    statistics, row groups of ``PARQUET_ROW_GROUP_ROWS`` rows, so the bytes are the pandas engine's. Rows go block
    after block, holding one row group (and one block) in memory; with ``order`` (positions in the blocks'
    concatenation) all rows are read and taken in that order. Returns the rows written.

    >>> import pandas as pd
    >>> from pipeline.common.io import write_parquet_atomic
    >>> folder = Path(tempfile.mkdtemp())
    >>> whole = pd.DataFrame({"USUBJID": ["1", "2", "3"], "AETERM": [None, None, "x"]})
    >>> _ = write_parquet_atomic(folder / "whole.parquet", whole)
    >>> _ = write_parquet_atomic(folder / "a.parquet", whole[:2]), write_parquet_atomic(folder / "b.parquet", whole[2:])
    >>> write_blocks_like_pandas([folder / "b.parquet", folder / "a.parquet"], folder / "c.parquet", [1, 2, 0])
    3
    >>> (folder / "c.parquet").read_bytes() == (folder / "whole.parquet").read_bytes()
    True
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = unify_block_schemas(paths)

    def read(path: Path) -> Any:
        table = pq.read_table(path)
        return pa.table([table[n] if n in table.column_names else pa.nulls(table.num_rows, schema.field(n).type)
                         for n in schema.names], schema=schema.remove_metadata()).cast(schema)

    def tables() -> Iterator[Any]:
        if order is None:
            yield from (read(path) for path in paths)
        else:
            yield pa.concat_tables([read(path) for path in paths]).take(pa.array(order, type=pa.int64()))

    return write_in_row_groups(tables(), schema, target)


def write_in_row_groups(tables: Iterable[Any], schema: Any, target: Path) -> int:
    """Arrow ``tables`` of ``schema`` written one after another into ``target`` (through a temporary file) in
    row groups of ``PARQUET_ROW_GROUP_ROWS`` rows, each one contiguous table, zstd and no statistics: the bytes
    ``pipeline.common.io.write_parquet_atomic`` gives their concatenation, holding one row group at a time.
    Returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.common.io import PARQUET_ROW_GROUP_ROWS

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    pending: list[Any] = []
    held = rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd", write_statistics=False) as writer:
        for table in tables:
            if not table.num_rows:
                continue
            pending.append(table)
            held += table.num_rows
            while held >= PARQUET_ROW_GROUP_ROWS:  # one whole row group: written as one contiguous table
                joined = pa.concat_tables(pending).combine_chunks()
                writer.write_table(joined.slice(0, PARQUET_ROW_GROUP_ROWS))
                pending, held = [joined.slice(PARQUET_ROW_GROUP_ROWS)], held - PARQUET_ROW_GROUP_ROWS
                rows += PARQUET_ROW_GROUP_ROWS
        if held or not rows:  # the last, partial row group (or the one empty group of an empty dataset)
            writer.write_table(pa.concat_tables(pending).combine_chunks() if pending else schema.empty_table())
            rows += held
    os.replace(tmp, target)
    return rows


def mapping_file_order(ctx: Any) -> dict[str, tuple[str, int]]:
    """Per raw file (path relative to the raw folder), where the pandas engine's mapping puts its records: the
    key of its mapping batch (``pipeline.sdtm.mapping.engine.ingest_source``: form, merge, and the site when the
    site's own variables or filter make it a batch of its own; batches are mapped in key order) and the file's
    place among the domain's files (ingest order)."""
    from pipeline.sdtm.mapping.engine import discover_files
    from pipeline.sdtm.stage import load_mappings, load_site_dialects

    mappings = load_mappings(Path(ctx.mappings_dir), load_site_dialects(Path(ctx.mappings_dir)))
    order: dict[str, tuple[str, int]] = {}
    for mapping in mappings.values():
        number = 0
        for source in mapping.sources:
            for relative, site, _ in discover_files(source, Path(ctx.raw_dir)):
                override = source.sites.get(site)
                own = override is not None and ("variables" in override.raw or "filter" in override.raw)
                order[relative] = (f"{source.form}|{'merge' if source.merge else ''}|{site if own else ''}", number)
                number += 1
    return order


def order_like_mapping(lineage_paths: list[Path], file_order: dict[str, tuple[str, int]]) -> Any:
    """Positions, in the blocks' concatenation, of a dataset's records in the pandas engine's order for a domain
    without --SEQ (the order of mapping: batch, file, row), from each block's lineage (row for row its records);
    records without a known raw file last, in block order. None when the blocks' order is already that order."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    rows = pd.concat([pq.read_table(p, columns=["SOURCE_FILE", "SOURCE_ROW"]).to_pandas() for p in lineage_paths],
                     ignore_index=True)
    codes, files = pd.factorize(rows["SOURCE_FILE"], use_na_sentinel=True)
    unknown = ("\uffff", len(file_order))   # after every batch (no form or file name holds this character)
    places = [file_order.get(f, unknown) for f in files] + [unknown]   # code -1 (no file): the last entry
    batch_rank = pd.factorize(pd.Series([b for b, _ in places]), sort=True)[0]
    file_rank = np.array([n for _, n in places])
    order = np.lexsort((np.arange(len(rows)), rows["SOURCE_ROW"].fillna(-1).to_numpy(), file_rank[codes],
                        batch_rank[codes]))
    return None if (order == np.arange(len(rows))).all() else order


def order_by_subject_and_seq(paths: list[Path], seq: str) -> Any:
    """Positions, in the blocks' concatenation, that sort a domain with --SEQ by USUBJID and --SEQ as the pandas
    engine's ``derive_var_seq`` does (missing last; stable); None when the blocks in their order are sorted (each
    block is, and blocks of sites in site order follow each other unless site numbers sort otherwise as text)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    types = pa.schema([("USUBJID", pa.string()), (seq, pa.float64())])
    keys = pa.concat_tables([pq.read_table(p, columns=["USUBJID", seq]).cast(types) for p in paths]).combine_chunks()
    subject, number = keys["USUBJID"], keys[seq]
    if not keys.num_rows:
        return None
    if not subject.null_count and not number.null_count:
        earlier, later = subject[:-1], subject[1:]
        step_up = pc.or_(pc.less(earlier, later),
                         pc.and_(pc.equal(earlier, later), pc.less_equal(number[:-1], number[1:])))
        if pc.all(step_up).as_py() in (True, None):   # None: a single record
            return None
    whole = keys.to_pandas()
    return whole.sort_values(["USUBJID", seq], kind="stable", na_position="last").index.to_numpy()


def _concat_sorted_small(paths: list[Path], target: Path) -> None:
    import pandas as pd

    from pipeline.common.io import write_parquet_atomic

    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)] or frames[:1]
    data = pd.concat(frames, ignore_index=True)
    if len(data) and {"file", "row"} <= set(data.columns):
        data = data.sort_values(["file", "row"], kind="stable").reset_index(drop=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(target, data)


def _add_counts(into: dict[str, Any], counts: dict[str, Any]) -> None:
    """Sum the numbers of ``counts`` into ``into``, nested tables key by key (JSON sorts the keys)."""
    for key, value in counts.items():
        if isinstance(value, dict):
            _add_counts(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
        else:
            into[key] = value


def _merge_ledgers(ledgers: list[dict[str, Any]]) -> dict[str, Any]:
    """One study ledger from the blocks' ledgers: per-file counts and totals summed (a file read
    by several subject slices adds up to the whole file).

    >>> a = {"files": {"f": {"rows_read": 2, "domains": {"AE": {"records": 2, "quarantined_by_reason": {}}}}},
    ...      "totals": {"rows_read": 2, "records": {"AE": 2}, "rows_quarantined": {}, "quarantined_by_reason": {}},
    ...      "unconsumed_files": [], "balanced": True}
    >>> _merge_ledgers([a, a])["files"]["f"]
    {'rows_read': 4, 'domains': {'AE': {'records': 4, 'quarantined_by_reason': {}}}}
    """
    summed: dict[str, Any] = {}
    for ledger in ledgers:
        _add_counts(summed, {"files": ledger["files"], "totals": ledger["totals"]})
    return {**summed,
            "unconsumed_files": sorted(set().union(*(ledger.get("unconsumed_files", []) for ledger in ledgers))),
            "balanced": all(ledger.get("balanced", False) for ledger in ledgers)}


def combine_sdtm_blocks(ctx: Any, blocks: list[Path], client: Any = None) -> None:
    """The study's SDTM, lineage, quarantine, ledger and ingest manifest from the blocks' outputs: subject-level
    datasets block after block (in the pandas engine's record order and file format: :func:`combine_dataset`,
    one task per dataset on ``client``'s workers when given, largest first); trial design from the first block;
    TS rebuilt."""
    import pyarrow.parquet as pq

    # the context's own folders: under the CLI they are the stage's staging folders (pipeline/common/staging.py)
    sdtm_dir, lineage_dir = Path(ctx.sdtm_dir), Path(ctx.lineage_dir)
    file_order = mapping_file_order(ctx)
    subject_level = []
    for name in sorted({p.name for b in blocks for p in (b / "sdtm").glob("*.parquet")}):
        paths = [b / "sdtm" / name for b in blocks if (b / "sdtm" / name).exists()]
        if "USUBJID" in pq.read_schema(paths[0]).names:
            subject_level.append((sum(p.stat().st_size for p in paths), name))
        elif name != "ts.parquet":  # trial design: the same in every block (TS is rebuilt below from the combined DM)
            sdtm_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(paths[0], sdtm_dir / name)
    jobs = [(combine_dataset, name, blocks, str(sdtm_dir), str(lineage_dir), file_order)
            for _, name in sorted(subject_level, reverse=True)]
    if client is None:
        for function, *args in jobs:
            function(*args)
    else:  # the workers write two datasets at once; the driver waits
        client.gather([client.submit(*job, key=f"sdtm-combine-{job[1]}", pure=False) for job in jobs])
    quarantine = {"quarantine": Path(ctx.quarantine_dir), "quarantine/flagged": Path(ctx.quarantine_dir) / "flagged"}
    for folder, target_dir in quarantine.items():  # small: sorted as a whole by file and row, as the pandas engine does
        for name in sorted({p.name for b in blocks for p in (b / folder).glob("*.parquet")}):
            _concat_sorted_small([b / folder / name for b in blocks if (b / folder / name).exists()], target_dir / name)
    _rebuild_ts(ctx)
    ledger = _merge_ledgers([json.loads((b / "ledger.json").read_text()) for b in blocks])
    _check_quarantine_gate(ctx, ledger)
    write_json_atomic(ctx.ledger_path, ledger)
    files: dict[str, dict[str, Any]] = {}  # a file read by several subject slices: their rows summed
    for b in blocks:
        for entry in json.loads((b / "ingest" / "manifest.json").read_text())["files"]:
            files.setdefault(entry["path"], {**entry, "rows_read": 0})["rows_read"] += entry["rows_read"]
    write_json_atomic(Path(ctx.ingest_dir) / "manifest.json", {"files": [files[k] for k in sorted(files)]})
    log.info("dask engine: combined %d block(s) into %s", len(blocks), ctx.outputs_dir)


def combine_dataset(name: str, blocks: list[Path], sdtm_dir: str, lineage_dir: str,
                    file_order: dict[str, tuple[str, int]]) -> str:
    """One subject-level dataset and its lineage (row for row the same records) from the blocks' files, in the
    pandas engine's record order and file format (:func:`write_blocks_like_pandas`). A domain with --SEQ is
    sorted by USUBJID and --SEQ (:func:`order_by_subject_and_seq`); one without keeps the order of mapping
    (:func:`order_like_mapping`); a dataset without lineage (SUPP--, RELREC, SE) follows its blocks."""
    import pyarrow.parquet as pq

    paths = [b / "sdtm" / name for b in blocks if (b / "sdtm" / name).exists()]
    lineage = [b / "lineage" / name for b in blocks if (b / "sdtm" / name).exists()]
    order = None
    if all(p.exists() for p in lineage):
        seq = f"{name.removesuffix('.parquet').upper()}SEQ"
        order = order_by_subject_and_seq(paths, seq) if seq in pq.read_schema(paths[0]).names else \
            order_like_mapping(lineage, file_order)
        write_blocks_like_pandas(lineage, Path(lineage_dir) / name, order)
    write_blocks_like_pandas(paths, Path(sdtm_dir) / name, order)
    return name


def _check_quarantine_gate(ctx: Any, ledger: dict[str, Any]) -> None:
    """The study's quarantine gate over all blocks (a block alone may pass or fail it by chance)."""
    import pandas as pd

    from pipeline.sdtm.mapping.engine import check_quarantine_gate, quarantine_gate_error
    from pipeline.sdtm.stage import _quarantine_gate

    folder = Path(ctx.quarantine_dir)
    frames = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))]
    quarantine = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["domain", "file", "row", "category"])
    lost = check_quarantine_gate(ledger, quarantine, **_quarantine_gate(ctx))
    if lost:
        raise quarantine_gate_error(lost, ctx.raw_dir)


def _rebuild_ts(ctx: Any) -> None:
    """TS summarises the whole study (e.g. the number of subjects): built once from the combined DM."""
    import pandas as pd

    from pipeline.common.io import write_parquet_atomic
    from pipeline.sdtm.stage import _trial_design_spec, order_columns
    from pipeline.sdtm.trial_design import build_ts
    from pipeline.standards.tables import load_standard_variables
    from pipeline.standards.terminology import load_terminology

    dm_path = Path(ctx.sdtm_dir) / "dm.parquet"
    dm = pd.read_parquet(dm_path) if dm_path.exists() else None
    standards = Path(ctx.standards_dir)
    ct = load_terminology(standards)
    ts = build_ts(ctx.design, _trial_design_spec(ctx), ct, dm, standards)
    write_parquet_atomic(Path(ctx.sdtm_dir) / "ts.parquet", order_columns("TS", ts, load_standard_variables(standards)))


# --- validation: subject blocks ---------------------------------------------------------------------

DEFAULT_BLOCK_SUBJECTS = 2000
_PER_VALUE = re.compile(r"^(?P<base>.*) \((?P<n>\d+) record\(s\); first shown\)$")


def plan_subject_blocks(files: dict[str, Path], per_block: int) -> list[dict[str, Any]]:
    """Per block of subjects (sorted), the row positions of every dataset that has USUBJID (rows without a
    subject: the first block), or None for a dataset without USUBJID (read whole by every block)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = {name: pq.read_table(path, columns=["USUBJID"])["USUBJID"] if "USUBJID" in pq.read_schema(path).names
               else None for name, path in files.items()}
    subjects = sorted(set().union(*(pc.unique(c.drop_null()).to_pylist() for c in columns.values() if c is not None)))
    blocks = []
    for b in range(max(1, math.ceil(len(subjects) / per_block))):
        chosen = pa.array(subjects[b * per_block:(b + 1) * per_block], type=pa.string())
        rows = {}
        for name, column in columns.items():
            if column is None:
                rows[name] = None
                continue
            hit = pc.is_in(column.cast(pa.string()), value_set=chosen)
            if b == 0:
                hit = pc.or_(pc.fill_null(hit, True), pc.is_null(column))
            rows[name] = np.flatnonzero(pc.fill_null(hit, False).to_numpy(zero_copy_only=False))
        blocks.append(rows)
    return blocks


def write_block_rows(blocks: list[dict[str, Any]], folder: Path) -> list[str]:
    """Each block's row positions (:func:`plan_subject_blocks`) in a file of the run's scratch folder; a task gets
    the file's path, not the positions (at 20,000 subjects they made a task graph of 54 MiB). Returns the paths.

    >>> import numpy as np
    >>> paths = write_block_rows([{"AE": np.array([0, 3]), "TS": None}], Path(tempfile.mkdtemp()))
    >>> rows = read_block_rows(paths[0], ["AE", "TS"])
    >>> rows["AE"].tolist(), rows["TS"]
    ([0, 3], None)
    """
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, rows in enumerate(blocks):
        path = folder / f"rows-{number:04d}.npz"
        np.savez(path, **{name: positions for name, positions in rows.items() if positions is not None})
        paths.append(str(path))
    return paths


def read_block_rows(path: str | Path, names: Any) -> dict[str, Any]:
    """A block's row positions of each of ``names`` written by :func:`write_block_rows` (None: every row)."""
    import numpy as np

    with np.load(path) as stored:
        return {name: stored[name] if name in stored.files else None for name in names}


def read_table_rows(path: Path, positions: Any) -> Any:
    """The rows at ``positions`` (sorted) of a parquet file as an Arrow table with the file's schema (pandas
    metadata included), reading only the row groups that hold them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    starts = np.cumsum([0] + [handle.metadata.row_group(i).num_rows for i in range(handle.num_row_groups)])
    groups = sorted(set(np.searchsorted(starts, positions, side="right") - 1))
    if not groups:
        return handle.schema_arrow.empty_table()
    local = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in groups])
    return handle.read_row_groups(groups).take(pa.array(np.searchsorted(local, positions)))


def read_rows(path: Path, positions: Any) -> Any:
    """The rows at ``positions`` (sorted) of a parquet file, reading only the row groups that hold them,
    as a frame with text as Arrow strings and the file's row positions as index."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from pipeline.validate.datasets import read_parquet_text_as_arrow

    if positions is None:
        return read_parquet_text_as_arrow(path)
    text = pd.StringDtype("pyarrow")
    frame = read_table_rows(path, positions).to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)
    frame.index = pd.Index(np.asarray(positions, dtype="int64"))
    return frame


class BlockDatasets(Mapping):
    """A block's rows of parquet datasets (``rows[name]``: positions, None: every row), each read and prepared on
    first access: with the SDTM pass's results reused, the re-run checks read only a few SDTM datasets."""

    def __init__(self, files: dict[str, Path], rows: dict[str, Any]) -> None:
        self._files, self._rows, self._frames = files, rows, {}

    def __getitem__(self, name: str) -> Any:
        from pipeline.validate.frames import prepare_dataset

        if name not in self._frames:
            self._frames[name] = prepare_dataset(read_rows(self._files[name], self._rows[name]))
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def skipped_checks(reused: dict[str, Any] | None) -> Any:
    """What a block takes as the SDTM pass's saved results: the reused checks with no findings (the driver adds
    the saved whole-study findings once), so the block runs only the other checks. None: run every check.

    >>> skipped = skipped_checks({"schemas": ["DM"], "rules": {"CG0001": {"status": "ran"}}, "expectations": False})
    >>> len(skipped.schemas["DM"]), skipped.rules["CG0001"][1], skipped.expectations
    (0, {'status': 'ran'}, None)
    """
    from pipeline.validate.findings import empty_findings
    from pipeline.validate.sdtm_pass import SdtmResults

    if reused is None:
        return None
    return SdtmResults(schemas={name: empty_findings() for name in reused["schemas"]},
                       rules={rule_id: (empty_findings(), row) for rule_id, row in reused["rules"].items()},
                       expectations=empty_findings() if reused["expectations"] else None)


def validate_block(study: str, outputs: str, files: dict[str, tuple[str, str]], rows_path: str,
                   options: dict[str, Any], root: str | None = None, reused: dict[str, Any] | None = None) -> Any:
    """Worker task: schemas, conformance rules and expectations on one block of subjects (its rows of each
    dataset in ``rows_path``: :func:`write_block_rows`; records numbered by their row in the whole dataset, as
    the pandas engine numbers them), but not the ``reused`` checks (the SDTM pass's saved results:
    :func:`skipped_checks`). Returns findings, the rules' status and this block's results of the checks that
    read SDTM only (``SdtmResults``, for the SDTM pass's saved results)."""
    from pipeline.common.study import StudyContext
    from pipeline.validate.expectations import load_expectation_specs, study_wide_columns
    from pipeline.validate.sdtm_pass import SdtmResults
    from pipeline.validate.stage import run_checks_reusing

    ctx = StudyContext.create(study, outputs=outputs, root=root, **options)
    rows = read_block_rows(rows_path, files)
    layers = {layer: BlockDatasets({name: Path(path) for name, (kind, path) in files.items() if kind == layer}, rows)
              for layer in ("sdtm", "adam")}
    # ADaM, and SDTM when every check runs, read now (as the pandas engine does); reused checks: SDTM on first use
    layers = {layer: frames if layer == "sdtm" and reused is not None else {name: frames[name] for name in frames}
              for layer, frames in layers.items()}
    specs, _ = load_expectation_specs(ctx.specs_dir / "expectations.yaml", ctx.design)
    local = [s for s in specs if study_wide_columns(s) is None]   # the others run once, in the driver
    findings, status, fresh = run_checks_reusing(ctx, layers["sdtm"], layers["adam"], expectation_specs=local,
                                                 saved=skipped_checks(reused))
    positions = {name: rows[name] for name in files}   # read_rows numbers a block's rows by these positions

    def renumbered(found: Any) -> Any:
        return renumber_records(found, positions)

    fresh = SdtmResults(schemas={name: renumbered(found) for name, found in fresh.schemas.items()},
                        rules={rule_id: (renumbered(found), row) for rule_id, (found, row) in fresh.rules.items()},
                        expectations=None if fresh.expectations is None else renumbered(fresh.expectations))
    return renumbered(findings), status, fresh


def run_study_wide_expectations(ctx: Any, sdtm_files: dict[str, Path]) -> Any:
    """Expectations on views over all subjects (STUDY_WIDE_VIEWS), on the few columns they read."""
    import pyarrow.parquet as pq

    from pipeline.validate.conformance import ValidationData
    from pipeline.validate.datasets import read_parquet_text_as_arrow
    from pipeline.validate.expectations import load_expectation_specs, run_expectations, study_wide_columns
    from pipeline.validate.findings import empty_findings
    from pipeline.validate.frames import prepare_dataset

    specs, _ = load_expectation_specs(ctx.specs_dir / "expectations.yaml", ctx.design)
    wide = [s for s in specs if study_wide_columns(s) is not None]
    if not wide:
        return empty_findings()
    needed: dict[str, set[str]] = {}
    for spec in wide:
        for name, columns in study_wide_columns(spec).items():
            needed.setdefault(name, set()).update(columns)
    sdtm = {}
    for name, columns in sorted(needed.items()):
        if name in sdtm_files:
            present = [c for c in pq.read_schema(sdtm_files[name]).names if c in columns]
            sdtm[name] = prepare_dataset(read_parquet_text_as_arrow(sdtm_files[name], columns=present))
    return run_expectations(ValidationData(sdtm, {}, dict(zip(sdtm, sdtm))), wide)


def renumber_records(findings: Any, positions: dict[str, Any]) -> Any:
    """Block record numbers (1-based rows of the block) -> rows of the whole dataset.

    >>> import numpy as np, pandas as pd
    >>> f = pd.DataFrame({"dataset": ["AE", "AE", "TS"], "record": [1, 2, 3]})
    >>> renumber_records(f, {"AE": np.array([4, 9]), "TS": None})["record"].tolist()
    [5, 10, 3]
    """
    import numpy as np

    out = findings.copy()
    for name, rows in positions.items():
        if rows is None:
            continue
        hit = (out["dataset"] == name).to_numpy() & out["record"].notna().to_numpy()
        if hit.any():
            local = out.loc[hit, "record"].astype("int64").to_numpy() - 1
            out.loc[hit, "record"] = np.asarray(rows)[local] + 1
    return out


def merge_per_value_findings(findings: Any) -> Any:
    """Findings reported once per distinct value ("... (N record(s); first shown)") came once per
    block: one per value again, with the first record and subject and the summed count.

    >>> import pandas as pd
    >>> f = pd.DataFrame({"rule_id": ["R", "R"], "severity": ["notice"] * 2, "dataset": ["LB"] * 2,
    ...     "variable": ["LBTEST"] * 2, "usubjid": ["S-2", "S-1"], "record": [9, 4], "value": ["x", "x"],
    ...     "message": ["odd (2 record(s); first shown)", "odd (1 record(s); first shown)"], "check_source": ["p"] * 2})
    >>> merge_per_value_findings(f)[["usubjid", "record", "message"]].values.tolist()
    [['S-1', 4, 'odd (3 record(s); first shown)']]
    """
    import pandas as pd

    parts = findings["message"].astype("string").str.extract(_PER_VALUE.pattern)
    hit = parts["n"].notna().to_numpy()
    if not hit.any():
        return findings
    grouped = findings[hit].assign(_base=parts.loc[hit, "base"], _n=parts.loc[hit, "n"].astype(int))
    keys = ["rule_id", "severity", "dataset", "variable", "value", "check_source", "_base"]
    grouped = grouped.sort_values("record", kind="stable")
    first = grouped.groupby(keys, dropna=False, sort=False).head(1).set_index(keys)
    total = grouped.groupby(keys, dropna=False, sort=False)["_n"].sum()
    first["message"] = first.index.get_level_values("_base") + " (" + total.reindex(first.index).astype(str) + \
        " record(s); first shown)"
    merged = first.reset_index().drop(columns=["_base", "_n"])[findings.columns]
    kept = findings[~hit]
    return pd.concat([kept, merged], ignore_index=True) if len(kept) else merged.reset_index(drop=True)


def validate_partitioned(ctx: Any, sdtm_files: dict[str, Path], adam_files: dict[str, Path]) -> Any:
    """``validate --engine dask``: the checks of every subject block on the cluster; findings combined. As on
    the pandas engine, the results of the checks that read SDTM only are saved in ``validation/sdtm-pass/`` and,
    when made from the same inputs (:func:`pipeline.validate.sdtm_pass.input_key`), reused instead of run again."""
    import pandas as pd

    from pipeline.common.staging import published_path
    from pipeline.validate.expectations import load_expectation_specs
    from pipeline.validate.sdtm_pass import SAVED_DIR, expectations_read_adam, input_key, load_saved, save

    files = {name: (layer, str(path)) for layer, paths in (("sdtm", sdtm_files), ("adam", adam_files))
             for name, path in paths.items()}
    per_block = int(ctx.options.get("block_subjects", DEFAULT_BLOCK_SUBJECTS))
    blocks = plan_subject_blocks({n: Path(p) for n, (_, p) in files.items()}, per_block)
    log.info("dask engine: validating %d subject block(s) of up to %d subjects", len(blocks), per_block)
    options = {k: v for k, v in ctx.options.items() if k in ("validate_pass", "include_adam")}
    options["gx_docs"] = False
    key = input_key(ctx, sdtm_files, gx_docs=False)   # this engine writes no Data Docs
    saved = load_saved(published_path(ctx, "validation_dir") / SAVED_DIR, key, published_path(ctx, "validation_dir"))
    specs, _ = load_expectation_specs(ctx.specs_dir / "expectations.yaml", ctx.design)
    reads_adam = expectations_read_adam(specs, set(sdtm_files) - set(adam_files))
    reused = None if saved is None else {
        "schemas": [name for name in saved.schemas if name not in adam_files],
        "rules": {rule_id: row for rule_id, (_, row) in saved.rules.items()},
        "expectations": saved.expectations is not None and not reads_adam}
    whole = {name for name, rows in blocks[0].items() if rows is None}
    work = Path(tempfile.mkdtemp(prefix=".dask-validate-", dir=Path(ctx.outputs_dir).parent))
    try:
        rows_paths = write_block_rows(blocks, work)
        del blocks
        with dask_client(ctx.options) as client:
            futures = [client.submit(validate_block, ctx.study, str(ctx.outputs_dir), files, rows_path, options,
                                     root=str(Path(ctx.specs_dir).parent.parent), reused=reused,
                                     key=f"validate-block-{number:04d}", pure=False)
                       for number, rows_path in enumerate(rows_paths)]
            done = client.gather(futures)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def combined(block_findings: list[Any], study_wide: Any = None) -> Any:
        parts = once_per_whole_dataset(block_findings, whole) + ([study_wide] if study_wide is not None else [])
        found = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
        return merge_per_value_findings(found)

    wide = run_study_wide_expectations(ctx, sdtm_files) if not (reused or {}).get("expectations") else None
    findings = combined([found for found, _, _ in done], wide)
    status = combine_rule_status([rule_status for _, rule_status, _ in done])
    results = combine_sdtm_results(saved, reused, [fresh for _, _, fresh in done], status, combined, wide, reads_adam)
    if saved is not None:  # the reused checks' whole-study findings and status, once
        findings = pd.concat([findings, *(saved.schemas[name] for name in reused["schemas"]),
                              *(found for found, _ in saved.rules.values()),
                              *([saved.expectations] if reused["expectations"] else [])], ignore_index=True)
        rows = pd.DataFrame([{"id": rule_id, **row} for rule_id, row in reused["rules"].items()])
        status = pd.concat([status[~status["id"].isin(reused["rules"])], rows[list(status.columns)]] if len(rows)
                           else [status], ignore_index=True).sort_values("id", kind="stable").reset_index(drop=True)
    save(Path(ctx.validation_dir) / SAVED_DIR, key, results, ctx.validation_dir)
    return findings, status


def combine_sdtm_results(saved: Any, reused: dict[str, Any] | None, blocks: list[Any], status: Any, combined: Any,
                         study_wide: Any, reads_adam: bool) -> Any:
    """The study's results of the checks that read SDTM only, to save: the reused ones as saved, the others
    combined from the blocks (a rule is SDTM-only when it read no ADaM dataset in any block)."""
    from pipeline.validate.sdtm_pass import SdtmResults

    results = SdtmResults()
    for name in blocks[0].schemas:
        results.schemas[name] = saved.schemas[name] if reused and name in reused["schemas"] else \
            combined([block.schemas[name] for block in blocks])
    rows = status.set_index("id")
    for rule_id in [r for r in blocks[0].rules if all(r in block.rules for block in blocks)]:
        if reused and rule_id in reused["rules"]:
            results.rules[rule_id] = saved.rules[rule_id]
        else:
            row = {column: rows.at[rule_id, column] for column in ("status", "reason", "datasets")}
            results.rules[rule_id] = (combined([block.rules[rule_id][0] for block in blocks]),
                                      {**row, "findings": int(rows.at[rule_id, "findings"])})
    if not reads_adam:
        results.expectations = saved.expectations if reused and reused["expectations"] else \
            combined([block.expectations for block in blocks], study_wide)
    return results


def once_per_whole_dataset(block_findings: list[Any], whole: set[str]) -> list[Any]:
    """Every block reads the datasets without USUBJID (TS, TA, ...) whole, so each reports their findings:
    keep the first block's, or a per-value finding's count would be summed once per block.

    >>> import pandas as pd
    >>> block = pd.DataFrame({"dataset": ["TS", "AE"], "message": ["odd (2 record(s); first shown)", "x"]})
    >>> [f["dataset"].tolist() for f in once_per_whole_dataset([block, block], {"TS"})]
    [['TS', 'AE'], ['AE']]
    """
    return [found if i == 0 else found[~found["dataset"].isin(whole)] for i, found in enumerate(block_findings)]


def combine_rule_status(statuses: list[Any]) -> Any:
    """One status row per rule from the blocks' rows: failed in any block, else ran in any, else
    skipped, with the reason of that block's row (as the pandas engine gives it); datasets joined,
    findings summed.

    >>> import pandas as pd
    >>> one = pd.DataFrame({"id": ["A", "B"], "status": ["skipped", "ran"], "reason": ["no AE", ""],
    ...                     "datasets": ["", "DM"], "findings": [0, 1]})
    >>> two = one.assign(status=["ran", "ran"], reason=["", ""], datasets=["AE", "DM"], findings=[2, 0])
    >>> combine_rule_status([one, two]).values.tolist()
    [['A', 'ran', '', 'AE', 2], ['B', 'ran', '', 'DM', 1]]
    """
    import pandas as pd

    rows = pd.concat(statuses, ignore_index=True)
    rank = rows["status"].map({"failed": 0, "ran": 1, "skipped": 2})
    best = rows.assign(_rank=rank).sort_values(["id", "_rank"], kind="stable").drop_duplicates("id")
    datasets = rows.groupby("id")["datasets"].agg(lambda d: " ".join(sorted(set(" ".join(d).split()))))
    findings = rows.groupby("id")["findings"].sum()
    out = best.drop(columns="_rank").set_index("id")
    out["datasets"], out["findings"] = datasets, findings.astype(int)
    return out.reset_index()[list(statuses[0].columns)]


# the stages find these runners through pipeline.engines.partitioned_runner (no import back into this module)
PARTITIONED.update({"sdtm": run_sdtm_partitioned, "validate": validate_partitioned})
