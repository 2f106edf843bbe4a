"""Benchmark: the whole CDISC pilot SDTM (31 datasets, ~290,000 rows) through the validate stage.

Pandera schemas, conformance rules and GX expectations, as `make validate` runs them (the GX import
overlaps in a worker process), without ADaM and without rendering GX Data Docs. Target: under 10 s
and 1 GiB on 2 cores. Prints wall and CPU seconds per phase and peak RSS (main process and worker).

    .venv/bin/python bench/bench_validate.py [--docs] [--adam]
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", action="store_true", help="also render GX Data Docs HTML")
    parser.add_argument("--adam", action="store_true", help="also validate the pilot ADaM (12 datasets)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from pipeline.common.logs import setup_logging
    from pipeline.common.study import StudyContext
    from pipeline.validate.stage import run

    setup_logging(None, "bench", verbose=False)
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StudyContext.create("cdiscpilot01", outputs=Path(tmp) / "cdiscpilot01", gx_docs=args.docs,
                                  include_adam=args.adam)
        t0 = time.perf_counter()
        findings = run(ctx, raise_on_gate=False)
        stage_seconds = time.perf_counter() - t0
        records = sum(1 for _ in (ctx.validation_dir / "findings.csv").open()) - 1
    total = time.perf_counter() - started
    result = {
        "stage_wall_s": round(stage_seconds, 2),
        "total_wall_s_incl_imports": round(total, 2),
        "cpu_s_main": round(_cpu_seconds(resource.RUSAGE_SELF), 2),
        "cpu_s_workers": round(_cpu_seconds(resource.RUSAGE_CHILDREN), 2),
        "peak_rss_mib_main": round(_peak_rss_mib(resource.RUSAGE_SELF), 1),
        "peak_rss_mib_worker": round(_peak_rss_mib(resource.RUSAGE_CHILDREN), 1),
        "findings": int(len(findings)),
        "csv_rows": records,
    }
    verdict = "OK" if stage_seconds < 10 and result["peak_rss_mib_main"] < 1024 else "OVER TARGET"
    print("bench_validate (CDISC pilot SDTM, 31 datasets):")
    for key, value in result.items():
        print(f"  {key:28s} {value}")
    print(f"  target: < 10 s and < 1 GiB -> {verdict}")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
