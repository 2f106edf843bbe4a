"""Benchmark the simulator: default study and --subjects 20000 (target: under 60 s on 2 cores).

Each size runs in a fresh subprocess so the peak RSS is that run's own. Run with
`.venv/bin/python bench/bench_simulate.py` or `make bench` (bench/run.py calls main()).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS_20K = 60.0
CHILD = """
import json, resource, sys, time
from pipeline.common.study import StudyContext
from pipeline.simulate.config import load_simulation_inputs
from pipeline.simulate.stage import simulate
from pathlib import Path
subjects = None if sys.argv[1] == "default" else int(sys.argv[1])
ctx = StudyContext.create("iscalimab-ln", outputs=sys.argv[2])
started = time.perf_counter()
manifest = simulate(Path(ctx.raw_dir), load_simulation_inputs(ctx, subjects=subjects))
seconds = time.perf_counter() - started
rows = sum(f["rows"] for f in manifest["files"].values())
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_mb,
                  "randomised": manifest["subjects"], "defects": sum(manifest["defects"].values())}))
"""


def run_size(size: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, size, tmp], cwd=ROOT, capture_output=True, text=True,
                             check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    failed = 0
    for size in ("default", "20000"):
        started = time.perf_counter()
        result = run_size(size)
        wall = time.perf_counter() - started
        print(f"simulate subjects={size:>7}: {result['seconds']:6.1f} s in stage ({wall:5.1f} s with start-up), "
              f"{result['rows']:>9,} rows, {result['defects']:>6,} defects, peak RSS {result['peak_rss_mb']:,.0f} MB")
        if size == "20000" and wall > TARGET_SECONDS_20K:
            print(f"  FAIL: --subjects 20000 took {wall:.1f} s (target < {TARGET_SECONDS_20K:.0f} s)")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
