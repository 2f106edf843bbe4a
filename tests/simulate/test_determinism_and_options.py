"""Same seed -> byte-identical files; --seed and --subjects change what they should."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.common.io import sha256_file
from pipeline.common.study import StudyContext
from pipeline.simulate.stage import run


def _hashes(raw_dir: Path) -> dict[str, str]:
    return {p.relative_to(raw_dir).as_posix(): sha256_file(p) for p in sorted(raw_dir.rglob("*")) if p.is_file()}


def _simulate(tmp_path: Path, name: str, **options) -> StudyContext:
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / name, **options)
    run(ctx)
    return ctx


def test_same_seed_gives_byte_identical_files_in_every_format(raw, tmp_path):
    again = _simulate(tmp_path, "again", seed=None, subjects=None)
    first, second = _hashes(Path(raw.raw_dir)), _hashes(Path(again.raw_dir))
    assert first.keys() == second.keys()
    assert {k for k in first if first[k] != second[k]} == set()
    assert {Path(k).suffix for k in first} >= {".csv", ".xlsx", ".xpt", ".json"}


def test_other_seed_gives_other_data_but_the_same_calibrated_counts(tmp_path):
    ctx = _simulate(tmp_path, "seed7", seed=7, subjects=None)
    manifest = json.loads((ctx.truth_dir / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["arms"] == {"ISCAL10": 39, "PBO": 18}
    truth = pd.read_csv(ctx.truth_dir / "subjects.csv")
    rand = truth[truth["randomised"] == "Y"]
    assert rand.groupby("armcd")["responder_crr"].apply(lambda s: (s == "Y").sum()).to_dict() == {"ISCAL10": 3, "PBO": 0}
    change = (rand["w24_sledai"] - rand["baseline_sledai"]).groupby(rand["armcd"]).sum().to_dict()
    assert change == {"ISCAL10": -104, "PBO": -20}


def test_subjects_option_scales_arms_by_the_two_to_one_ratio(tmp_path):
    ctx = _simulate(tmp_path, "small", seed=None, subjects=30)
    manifest = json.loads((ctx.truth_dir / "manifest.json").read_text())
    assert manifest["arms"] == {"ISCAL10": 20, "PBO": 10}
    assert manifest["screen_failures"] == round(14 * 30 / 57)
    assert all(Path(ctx.raw_dir, f).exists() for f in manifest["files"])


def test_subjects_option_rejects_zero_with_a_clear_message(tmp_path):
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "bad", subjects=0)
    with pytest.raises(ConfigError, match="--subjects must be >= 1"):
        run(ctx)
