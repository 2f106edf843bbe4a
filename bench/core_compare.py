"""Time our CORE-equivalent validation on the same SDTM XPT files CDISC CORE reads (docs/conformance.md).

Usage: .venv/bin/python bench/core_compare.py outputs/iscalimab-ln/submission/sdtm [REPEATS]
Prints JSON: wall and CPU seconds to read the XPT files and run every conformance rule (best of REPEATS,
default 3), the findings per CORE id, and the rules run. CORE itself is timed by its own wrapper
(../shared/tools/core/check.sh prints "core: N s wall"). Not part of `make bench` (no CORE there).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pandas as pd

from pipeline.validate.conformance import CONFORMANCE_RULES, ValidationData, run_conformance_rules
from pipeline.validate.frames import prepare_dataset


def read_xpt_dir(folder: Path) -> dict[str, pd.DataFrame]:
    """Every ``*.xpt`` of a folder by upper-case name, blank text as null (as CORE reads them)."""
    out = {}
    for path in sorted(folder.glob("*.xpt")):
        frame = pd.read_sas(path, format="xport", encoding="utf-8")
        out[path.stem.upper()] = prepare_dataset(frame)
    return out


def main(folder: Path, repeats: int) -> dict:
    best_wall, best_cpu, findings = float("inf"), float("inf"), None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        data = ValidationData(read_xpt_dir(folder), {})
        findings = run_conformance_rules(data)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    core_ids = {r.id: re.findall(r"CORE-\d{6}", r.citation) for r in CONFORMANCE_RULES.values()}
    per_core: dict[str, int] = {}
    for rule_id, n in findings.groupby("rule_id").size().items():
        for core_id in core_ids.get(rule_id, []):
            per_core[core_id] = per_core.get(core_id, 0) + int(n)
    return {"folder": str(folder), "datasets": len(data.sdtm), "records": int(sum(len(f) for f in data.sdtm.values())),
            "rules": len(CONFORMANCE_RULES), "rules_citing_core": sum(1 for v in core_ids.values() if v),
            "wall_s": round(best_wall, 3), "cpu_s": round(best_cpu, 3), "findings": int(len(findings)),
            "findings_by_core_id": dict(sorted(per_core.items()))}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3), indent=1))
