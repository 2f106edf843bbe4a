"""Run every benchmark script in bench/ (bench_<area>.py), each in its own process.

Separate processes keep peak-memory and CPU readings per benchmark. A script exits non-zero when
it misses its target. Speed and memory targets are checked here, never in unit tests.
Usage: ``python bench/run.py [area ...]`` (e.g. ``validate simulate``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(selected: list[str]) -> int:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if selected:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in selected]
    missed = []
    for script in scripts:
        print(f"== {script.stem} ==", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent).returncode != 0:
            missed.append(script.stem)
    print(f"== {len(scripts) - len(missed)} of {len(scripts)} benchmarks met their targets"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
