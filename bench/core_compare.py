"""Time our CORE-equivalent validation on the same SDTM XPT files CDISC CORE reads (docs/conformance.md).

Usage: .venv/bin/python bench/core_compare.py outputs/iscalimab-ln/submission/sdtm [REPEATS] [CORE_REPORT]
Prints JSON: wall and CPU seconds to read the XPT files and run every conformance rule (best of REPEATS,
default 3), the findings per CORE id, the rules run (coded and catalogue), and the ratio to CORE's time on
the same files: ``Total_Runtime`` of a CORE report.json when given, else the recorded quietest CORE run
(:data:`CORE_RECORDED_S`, docs/conformance.md). The target is 50x. CORE itself is timed by its own wrapper
(../shared/tools/core/check.sh). Not part of `make bench` (no CORE there).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pandas as pd

from pipeline.validate.conformance import (
    CATALOGUE_RULES, CONFORMANCE_RULES, ValidationData, run_conformance_rules_with_status,
)
from pipeline.validate.frames import prepare_dataset


def read_xpt_dir(folder: Path) -> dict[str, pd.DataFrame]:
    """Every ``*.xpt`` of a folder by upper-case name, blank text as null (as CORE reads them)."""
    out = {}
    for path in sorted(folder.glob("*.xpt")):
        frame = pd.read_sas(path, format="xport", encoding="utf-8")
        out[path.stem.upper()] = prepare_dataset(frame)
    return out


CORE_RECORDED_S = 78.8   # CORE 0.17.1, 430 rules, flagship XPT, quietest engine run (docs/conformance.md)
CORE_RECORDED_CPU_S = 89.8   # the same, whole process CPU (user + sys) of a measured run
TARGET_RATIO = 50


def core_seconds(report: Path | None) -> float:
    """CORE's engine time: ``Total_Runtime`` of its report.json, else the recorded run."""
    if report is None:
        return CORE_RECORDED_S
    runtime = json.loads(report.read_text(encoding="utf-8"))["Conformance_Details"]["Total_Runtime"]
    return float(str(runtime).split()[0])


def main(folder: Path, repeats: int, report: Path | None = None) -> dict:
    best_wall, best_cpu, findings = float("inf"), float("inf"), None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        data = ValidationData(read_xpt_dir(folder), {})
        findings, status = run_conformance_rules_with_status(data)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    core_ids = {r.id: re.findall(r"CORE-\d{6}", r.citation) for r in CONFORMANCE_RULES.values()}
    per_core: dict[str, int] = {}
    for rule_id, n in findings.groupby("rule_id").size().items():
        for core_id in core_ids.get(rule_id, []):
            per_core[core_id] = per_core.get(core_id, 0) + int(n)
    return {"folder": str(folder), "datasets": len(data.sdtm), "records": int(sum(len(f) for f in data.sdtm.values())),
            "rules": len(CONFORMANCE_RULES), "catalogue_rules": len(CATALOGUE_RULES),
            "rules_citing_core": sum(1 for v in core_ids.values() if v),
            "rules_by_status": {k: int(v) for k, v in status["status"].value_counts().sort_index().items()},
            "wall_s": round(best_wall, 3), "cpu_s": round(best_cpu, 3), "findings": int(len(findings)),
            "core_s": core_seconds(report), "ratio": round(core_seconds(report) / best_wall, 1),
            "ratio_cpu": round(CORE_RECORDED_CPU_S / best_cpu, 1), "target_ratio": TARGET_RATIO, "meets_target": core_seconds(report) / best_wall >= TARGET_RATIO,
            "findings_by_core_id": dict(sorted(per_core.items()))}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3,
                          Path(sys.argv[3]) if len(sys.argv) > 3 else None), indent=1))
