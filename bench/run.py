"""Run every benchmark script in bench/ (bench_<area>.py), each in its own process.

Separate processes keep peak-memory and CPU readings per benchmark. A script exits non-zero when
it misses its target. Speed and memory targets are checked here, never in unit tests.
Then ``bench/scale.py`` runs the flagship at 57, 2,000, 20,000 (pandas) and 20,000, 100,000 (Dask)
subjects, one CLI process per stage, and writes ``outputs/bench/results.json``.
Usage: ``python bench/run.py [area ...] [--sizes N ...] [--engines pandas dask]``; with ``--sizes``
(``make bench SIZES="57 2000"``) only the scale runs of those sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="*", help="area benchmarks to run (bench_<area>.py); default all")
    parser.add_argument("--sizes", nargs="*", type=int, help="scale runs of these subject counts only")
    parser.add_argument("--engines", nargs="*", help="scale runs of these engines only (pandas, dask)")
    args = parser.parse_args(argv)
    scale = [sys.executable, str(BENCH_DIR / "scale.py")] + (["--sizes", *map(str, args.sizes)] if args.sizes else []) \
        + (["--engines", *args.engines] if args.engines else [])
    scripts = [] if args.sizes and not args.areas else sorted(BENCH_DIR.glob("bench_*.py"))
    if args.areas:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.areas]
    missed = []
    if not args.areas:
        print("== scale ==", flush=True)
        if subprocess.run(scale, cwd=BENCH_DIR.parent).returncode != 0:
            missed.append("scale")
    for script in scripts:
        print(f"== {script.stem} ==", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent).returncode != 0:
            missed.append(script.stem)
    print(f"== {len(scripts) + (not args.areas) - len(missed)} of {len(scripts) + (not args.areas)} benchmarks met their targets"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
