"""Scale benchmark: the flagship simulated at several sizes, every stage run as its own CLI process.

Writes ``outputs/bench/results.json`` (schema in /work/shared/DESIGN.md, "Contracts") and prints a
table that flags stages whose cost per row at the largest size is more than 1.2x that at 2,000
subjects. Each stage's wall and CPU seconds and its peak RSS come from the child process: CPU and
the largest single process from ``os.wait4``; the whole process tree's RSS (Dask workers included)
is sampled with psutil. ``total_wall_s`` and ``peak_rss_mib`` cover the pipeline after the
simulator (raw exports -> ... -> submission); ``simulate`` is recorded but not counted.

    .venv/bin/python bench/scale.py [--sizes 57 2000] [--engines pandas dask] [--resume]

A subset run replaces only its own entries in an existing results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
STUDY = "iscalimab-ln"
RESULTS = ROOT / "outputs" / "bench" / "results.json"
WORK = ROOT / "outputs" / "bench" / "runs"
# (subjects, engine) of a full `make bench`
DEFAULT_RUNS = [(57, "pandas"), (2000, "pandas"), (20000, "pandas"), (20000, "dask"), (100000, "dask")]
# stage name -> CLI arguments after `python -m pipeline`; the dask engine runs every stage up to the tables
PANDAS_STAGES = {
    "simulate": ["simulate"],
    "sdtm": ["sdtm"],
    "validate_sdtm": ["validate", "--pass", "sdtm"],
    "adam": ["adam"],
    "validate_adam": ["validate", "--pass", "adam"],
    "tables": ["tables"],
    "submission": ["submission"],
}
# ingest, mapping, validation and ADaM on Dask; the tables run on pandas (from the Dask run's ADaM)
DASK_STAGES = ("simulate", "sdtm", "validate_sdtm", "adam", "validate_adam", "tables")
# the 100,000-subject run measures ingest, mapping and validation only, the bound for it
DASK_STAGES_LARGE = ("simulate", "sdtm", "validate_sdtm")
LARGE_SUBJECTS = 100000
ENGINE_OPTION_STAGES = {"sdtm", "validate_sdtm", "adam", "validate_adam"}   # stages that take --engine
FLAG_RATIO = 1.2
REFERENCE_SUBJECTS = 2000


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], log_path: Path) -> dict:
    """Run ``cmd``; wall, CPU (user + system of the child and its reaped children) and peak RSS (MiB)."""
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            try:
                proc = psutil.Process(child.pid)
                while not done.is_set():
                    peak[0] = max(peak[0], _tree_rss(proc))
                    done.wait(0.2)
            except psutil.Error:
                pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    largest_process = usage.ru_maxrss * 1024      # Linux: KiB
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(max(peak[0], largest_process) / 2**20, 1), "exit_code": child.returncode}


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet")))


def _raw_rows(out: Path) -> int:
    manifest = out / "raw" / "_truth" / "manifest.json"
    if not manifest.exists():
        return 0
    return sum(int(f.get("rows", 0)) for f in json.loads(manifest.read_text())["files"].values())


def stage_rows(stage: str, out: Path) -> int:
    """The rows a stage works on: raw rows for simulate and sdtm, its input datasets after that."""
    sdtm, adam = _parquet_rows(out / "sdtm") if (out / "sdtm").exists() else 0, \
        _parquet_rows(out / "adam") if (out / "adam").exists() else 0
    return {"simulate": _raw_rows(out), "sdtm": _raw_rows(out), "validate_sdtm": sdtm, "adam": sdtm,
            "validate_adam": sdtm + adam, "tables": adam, "submission": sdtm + adam}[stage]


def xpt_writer_speed(out: Path) -> dict:
    """Rows per second of our XPT v5 writer and of pyreadstat's on the same frame (the largest SDTM dataset)."""
    import tempfile

    import pandas as pd
    import pyreadstat

    sys.path.insert(0, str(ROOT))
    from pipeline.submit.metadata import DatasetMeta
    from pipeline.common.vector import forget_columns
    from pipeline.submit.xpt import prepare_xpt_dataset, write_xpt

    files = sorted((out / "sdtm").glob("*.parquet"), key=lambda p: p.stat().st_size)
    if not files:
        return {}
    frame = pd.read_parquet(files[-1])
    name = files[-1].stem.upper()
    meta = DatasetMeta(name, name, "SDTM", "", "", ("USUBJID",))
    variable_meta = pd.DataFrame({"variable": frame.columns, "label": frame.columns, "display_format": "",
                                  "kind": ["float" if pd.api.types.is_numeric_dtype(t) else "char" for t in frame.dtypes]})
    plain, _ = prepare_xpt_dataset(frame, variable_meta)   # pyreadstat gets the frame ours prepares for itself
    forget_columns()   # ours starts cold: its time includes preparing the frame
    result = {"dataset": name, "rows": len(frame)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_xpt(Path(tmp) / meta.file_name, frame, meta, variable_meta, "01JAN00:00:00:00")
        result["ours_rows_per_s"] = round(len(frame) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        pyreadstat.write_xport(plain, str(Path(tmp) / "pyreadstat.xpt"), table_name=name, file_format_version=5)
        result["pyreadstat_rows_per_s"] = round(len(frame) / (time.perf_counter() - t0))
    return result


# the completion marker each stage writes (pipeline/common/staging.py)
DONE_MARKERS = {"simulate": "simulate", "sdtm": "sdtm", "validate_sdtm": "validate-sdtm", "adam": "adam",
                "validate_adam": "validate-adam", "tables": "tables", "submission": "submission"}


def _commit() -> str:
    """The measured code: the short commit of ROOT, with '+changes' when the work tree differs from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    head = git("rev-parse", "--short", "HEAD")
    return f"{head}+changes" if head and git("status", "--porcelain", "--untracked-files=no", "pipeline") else head


def _record(subjects: int, engine: str, stages: dict) -> dict:
    counted = [v for k, v in stages.items() if k != "simulate"]
    return {"subjects": subjects, "engine": engine, "commit": _commit(),
            "total_wall_s": round(sum(v["wall_s"] for v in counted), 2),
            "peak_rss_mib": max((v["peak_rss_mib"] for v in counted), default=0.0),
            "stages": stages}


def run_size(subjects: int, engine: str, python: str, previous: dict | None = None, save=None) -> dict:
    """One run: every stage in its own process. With ``previous`` (--resume), a stage whose
    completion marker exists keeps its earlier measurement instead of running again."""
    out = WORK / f"{engine}-{subjects}"
    logs = WORK / f"{engine}-{subjects}-logs"
    if previous is None:   # a fresh run: no earlier run's saved validation results may be reused
        shutil.rmtree(out, ignore_errors=True)
    logs.mkdir(parents=True, exist_ok=True)
    stages = {}
    dask_stages = DASK_STAGES_LARGE if subjects >= LARGE_SUBJECTS else DASK_STAGES
    names = [s for s in PANDAS_STAGES if engine == "pandas" or s in dask_stages]
    for stage in names:
        kept = (previous or {}).get("stages", {}).get(stage)
        if kept and (out / ".done" / f"{DONE_MARKERS[stage]}.json").exists():
            stages[stage] = kept
            print(f"  {engine} {subjects:>7}  {stage:<14}{kept['wall_s']:9.1f} s (kept from the earlier run)", flush=True)
            continue
        cmd = [python, "-m", "pipeline", *PANDAS_STAGES[stage], "--study", STUDY, "--outputs", str(out)]
        if stage == "simulate":
            cmd += ["--subjects", str(subjects)]
        if engine != "pandas" and stage in ENGINE_OPTION_STAGES:
            cmd += ["--engine", engine]
        print(f"  {engine} {subjects:>7}  {stage:<14}", end="", flush=True)
        measured = run_measured(cmd, logs / f"{stage}.log")
        measured["rows"] = stage_rows(stage, out)
        stages[stage] = measured
        if save is not None:   # a long run keeps every stage measured so far
            save(_record(subjects, engine, stages))
        print(f"{measured['wall_s']:9.1f} s {measured['peak_rss_mib']:9.0f} MiB  exit {measured['exit_code']}", flush=True)
        if measured["exit_code"] not in (0, 1):   # 1: a validation gate failed, later stages still run
            break
    record = _record(subjects, engine, stages)
    if engine == "pandas" and "submission" in stages:
        record["xpt_writer"] = xpt_writer_speed(out)
    return record


def machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "processor": platform.processor()}


def flag_table(runs: list[dict]) -> list[str]:
    """One line per (engine, stage): seconds per million rows at each size, flagged when the largest
    size costs more than FLAG_RATIO times the 2,000-subject run (pandas at 2,000 is the reference)."""
    reference = {s: v for r in runs if r["subjects"] == REFERENCE_SUBJECTS and r["engine"] == "pandas"
                 for s, v in r["stages"].items()}
    lines = [f"{'engine':<7} {'stage':<14} {'subjects':>8} {'wall s':>8} {'MiB':>7} {'rows':>11} "
             f"{'s/M rows':>9} {'x 2k':>6} {'cpu x 2k':>8}"]
    for r in sorted(runs, key=lambda r: (r["engine"] != "pandas", r["subjects"])):
        for stage, v in r["stages"].items():
            per = v["wall_s"] / v["rows"] * 1e6 if v.get("rows") else float("nan")
            ref = reference.get(stage)
            ratio = per / (ref["wall_s"] / ref["rows"] * 1e6) if ref and ref.get("rows") else float("nan")
            # CPU seconds per row beside wall: steadier on a machine other work shares
            cpu_ratio = (v.get("cpu_s", 0) / v["rows"]) / (ref["cpu_s"] / ref["rows"]) \
                if ref and ref.get("rows") and ref.get("cpu_s") and v.get("rows") else float("nan")
            flag = "  SUPER-LINEAR" if r["subjects"] > REFERENCE_SUBJECTS and ratio > FLAG_RATIO else ""
            lines.append(f"{r['engine']:<7} {stage:<14} {r['subjects']:>8} {v['wall_s']:>8.1f} {v['peak_rss_mib']:>7.0f} "
                         f"{v.get('rows', 0):>11,} {per:>9.2f} {ratio:>6.2f} {cpu_ratio:>8.2f}{flag}")
        if r.get("total_wall_s") is not None:
            lines.append(f"{r['engine']:<7} {'TOTAL':<14} {r['subjects']:>8} {r['total_wall_s']:>8.1f} {r['peak_rss_mib']:>7.0f}"
                         f"  (code {r.get('commit') or 'not recorded'})")
        if r.get("notes"):
            lines.append(f"{r['engine']:<7} {'(note)':<14} {r['subjects']:>8} {r['notes']}")
    return lines


def markdown_table(runs: list[dict]) -> str:
    """The runs as a Markdown table (docs/performance.md): one row per engine, size and stage."""
    lines = ["| engine | subjects | stage | wall s | CPU s | peak RSS MiB | rows | s per M rows |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(runs, key=lambda r: (r["engine"] != "pandas", r["subjects"])):
        for stage, v in r["stages"].items():
            per = f"{v['wall_s'] / v['rows'] * 1e6:.1f}" if v.get("rows") else ""
            lines.append(f"| {r['engine']} | {r['subjects']:,} | {stage} | {v['wall_s']:.1f} | {v.get('cpu_s', 0):.1f} | "
                         f"{v['peak_rss_mib']:,.0f} | {v.get('rows', 0):,} | {per} |")
        if r.get("total_wall_s") is not None and r["stages"]:
            lines.append(f"| {r['engine']} | {r['subjects']:,} | **total after simulate** | **{r['total_wall_s']:.1f}** | | "
                         f"**{r['peak_rss_mib']:,.0f}** | | |")
    notes = [f"- {r['engine']}, {r['subjects']:,} subjects (code {r.get('commit') or 'not recorded'}): {r['notes']}"
             for r in runs if r.get("notes")]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, help="subjects to run (default: 57 2000 20000 100000)")
    parser.add_argument("--engines", nargs="*", default=["pandas", "dask"])
    parser.add_argument("--resume", action="store_true",
                        help="keep the measurements of stages already completed in the run's folder")
    parser.add_argument("--markdown", action="store_true", help="print results.json as a Markdown table and stop")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(RESULTS.read_text())["runs"]))
        return 0
    wanted = [(n, e) for n, e in DEFAULT_RUNS if (not args.sizes or n in args.sizes) and e in args.engines]
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    runs = {(r["subjects"], r["engine"]): r for r in old.get("runs", [])}
    def save(record: dict) -> None:   # a new measurement replaces the old one, notes included
        runs[(record["subjects"], record["engine"])] = record
        result = {"machine": machine(), "runs": sorted(runs.values(), key=lambda r: (r["engine"] != "pandas", r["subjects"]))}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    for subjects, engine in wanted:
        previous = runs.get((subjects, engine)) if args.resume else None
        save(run_size(subjects, engine, sys.executable, previous, save))
    print("\n".join(flag_table(list(runs.values()))))
    for r in runs.values():
        if r.get("xpt_writer"):
            x = r["xpt_writer"]
            print(f"XPT writer, {r['subjects']} subjects, {x['dataset']} ({x['rows']:,} rows): ours "
                  f"{x['ours_rows_per_s']:,} rows/s, pyreadstat {x['pyreadstat_rows_per_s']:,} rows/s")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
