"""The Dask engine gives the pandas engine's outputs, value for value, on the flagship study.

The cluster is a LocalCluster in this process (processes=False: one worker thread); small blocks make
several partitions of 57 subjects, so combining is exercised.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.errors import InputError
from pipeline.common.study import StudyContext
from pipeline.engines import check_engine
from pipeline.engines.dask_engine import compute_site_blocks, plan_subject_blocks
from pipeline.engines.partitions import compute_subject_slice, normalise_subject

DASK = {"engine": "dask", "processes": False}
BLOCK_BYTES = 100_000     # the larger sites are split into subject slices
BLOCK_SUBJECTS = 12       # 6 subject blocks of 71 screened subjects


def _by_value(frame: pd.DataFrame) -> pd.DataFrame:
    cols = list(frame.columns)
    return frame.astype(str).sort_values(cols, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def dask_sdtm(simulated: StudyContext, tmp_path_factory: pytest.TempPathFactory) -> StudyContext:
    from pipeline.sdtm.stage import run

    ctx = StudyContext.create(simulated.study, raw=simulated.raw_dir, outputs=tmp_path_factory.mktemp("dask") / "out",
                              block_bytes=BLOCK_BYTES, **DASK)
    run(ctx)
    return ctx


def test_site_blocks_partition_the_flagship(simulated):
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*")) for p in Path(simulated.raw_dir).glob("site_*")}
    blocks = compute_site_blocks(sizes, BLOCK_BYTES)
    assert len(blocks) >= 4 and sorted(sum(blocks, [])) == sorted(sizes)
    assert max(sizes.values()) > BLOCK_BYTES      # so at least one site is mapped in subject slices


def test_subject_slices_cover_every_subject_once():
    subjects = ["0012", "12", "7", "100", "", "A-1"]
    keys = [normalise_subject(s) for s in subjects]
    slices = [compute_subject_slice(keys, part, 3) for part in range(3)]
    assert set().union(*slices) == set(keys)
    assert sum(len(s) for s in slices) == len(set(keys))      # disjoint
    assert "" in slices[0] and {"12"} <= slices[0] | slices[1] | slices[2]


def test_sdtm_equals_pandas_value_for_value(sdtm_built, dask_sdtm):
    names = sorted(p.name for p in Path(sdtm_built.sdtm_dir).glob("*.parquet"))
    assert names == sorted(p.name for p in Path(dask_sdtm.sdtm_dir).glob("*.parquet"))
    for name in names:
        expected = pd.read_parquet(Path(sdtm_built.sdtm_dir) / name)
        got = pd.read_parquet(Path(dask_sdtm.sdtm_dir) / name)
        assert list(got.columns) == list(expected.columns), name
        assert got.dtypes.astype(str).tolist() == expected.dtypes.astype(str).tolist(), name
        pd.testing.assert_frame_equal(_by_value(got), _by_value(expected), obj=name)


@pytest.mark.parametrize("folder", ["sdtm_dir", "lineage_dir", "quarantine_dir"])
def test_sdtm_files_are_the_pandas_files_byte_for_byte(sdtm_built, dask_sdtm, folder):
    """Same compression, row groups, pandas metadata and record order (SV, without --SEQ, in the order of
    mapping: its sites 201 and 401 are mapped as batches of their own, after the other sites)."""
    def hashes(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): _sha256(p) for p in root.rglob("*.parquet")}

    expected = hashes(Path(getattr(sdtm_built, folder)))
    assert len(expected) >= 10
    assert hashes(Path(getattr(dask_sdtm, folder))) == expected


def test_sv_keeps_the_order_of_mapping(dask_sdtm):
    sites = pd.read_parquet(Path(dask_sdtm.sdtm_dir) / "sv.parquet", columns=["USUBJID"])["USUBJID"].str[12:15]
    assert sites.drop_duplicates().tolist()[-2:] == ["201", "401"]


@pytest.mark.parametrize("blocks, expected", [
    ([["S-1", "S-1", "S-2"], ["S-3"]], None),                       # blocks follow each other: kept as they are
    ([["S-3"], ["S-1", "S-1", "S-2"]], [1, 2, 3, 0]),               # site 10 before site 9 as text: sorted
    ([["S-1", None], ["S-2"]], [0, 2, 1]),                          # no subject: last
], ids=["in-order", "blocks-out-of-order", "missing-subject-last"])
def test_domain_with_seq_is_ordered_by_subject_and_seq(tmp_path, blocks, expected):
    from pipeline.engines.dask_engine import order_by_subject_and_seq

    paths = []
    for number, subjects in enumerate(blocks):
        paths.append(tmp_path / f"{number}.parquet")
        seq = pd.Series(range(1, len(subjects) + 1), dtype="Int64")
        pd.DataFrame({"USUBJID": subjects, "AESEQ": seq}).to_parquet(paths[-1], index=False)
    order = order_by_subject_and_seq(paths, "AESEQ")
    assert (order if order is None else order.tolist()) == expected


def test_ledger_lineage_and_quarantine_equal_pandas(sdtm_built, dask_sdtm):
    assert json.loads(Path(dask_sdtm.ledger_path).read_text()) == json.loads(Path(sdtm_built.ledger_path).read_text())
    for folder in ("lineage_dir", "quarantine_dir"):
        for path in sorted(Path(getattr(sdtm_built, folder)).glob("*.parquet")):
            got = pd.read_parquet(Path(getattr(dask_sdtm, folder)) / path.name)
            pd.testing.assert_frame_equal(_by_value(got), _by_value(pd.read_parquet(path)), obj=path.name)


@pytest.mark.parametrize("with_adam", [False, True], ids=["sdtm-pass", "adam-pass"])
def test_findings_equal_pandas(dask_sdtm, tmp_path, with_adam):
    """Both engines validate the same SDTM (and ADaM): identical findings, record numbers included."""
    from pipeline.adam.stage import run as run_adam
    from pipeline.validate.stage import run as run_validate

    if with_adam and not Path(dask_sdtm.adam_dir).exists():
        run_adam(dask_sdtm)
    found = {}
    for engine in ("pandas", "dask"):
        out = tmp_path / engine
        for layer in ("sdtm", "adam") if with_adam else ("sdtm",):
            shutil.copytree(Path(dask_sdtm.outputs_dir) / layer, out / layer)
        options = {**DASK, "block_subjects": BLOCK_SUBJECTS} if engine == "dask" else {}
        ctx = StudyContext.create(dask_sdtm.study, outputs=out, gx_docs=False, include_adam=with_adam, **options)
        found[engine] = run_validate(ctx, raise_on_gate=False)
    assert len(found["pandas"]) > 100
    # ISL-0003 is reported once per distinct value (merged over blocks); ISL-0202 comes from GX. ISL-0206
    # (completeness per visit, a study-wide share) stays absent: in blocks of 12 subjects it would fire
    assert {"ISL-0003", "ISL-0202"} <= set(found["pandas"]["rule_id"])
    assert "ISL-0206" not in set(found["dask"]["rule_id"])
    pd.testing.assert_frame_equal(found["dask"], found["pandas"])


def test_adam_from_dask_sdtm_equals_pandas(adam_built, dask_sdtm):
    from pipeline.adam.stage import run as run_adam

    if not Path(dask_sdtm.adam_dir).exists():
        run_adam(dask_sdtm)
    names = sorted(p.name for p in Path(adam_built.adam_dir).glob("*.parquet"))
    assert "adsl.parquet" in names
    for name in names:
        pd.testing.assert_frame_equal(pd.read_parquet(Path(dask_sdtm.adam_dir) / name),
                                      pd.read_parquet(Path(adam_built.adam_dir) / name), obj=name)


def test_subject_blocks_keep_each_subject_in_one_block(sdtm_built):
    files = {p.stem.upper(): p for p in Path(sdtm_built.sdtm_dir).glob("*.parquet")}
    blocks = plan_subject_blocks(files, BLOCK_SUBJECTS)
    ae = pd.read_parquet(files["AE"], columns=["USUBJID"])
    owner = pd.Series(-1, index=ae.index)
    for number, rows in enumerate(blocks):
        assert (owner.iloc[rows["AE"]] == -1).all()          # no row in two blocks
        owner.iloc[rows["AE"]] = number
        assert rows["TS"] is None                             # trial design: read whole by every block
    assert (owner >= 0).all()
    assert ae.assign(block=owner).groupby("USUBJID")["block"].nunique().max() == 1


def test_unknown_engine_and_scheduler_without_dask_are_one_line():
    with pytest.raises(InputError, match="--engine spark: unknown engine"):
        check_engine("spark")
    with pytest.raises(InputError, match="only with --engine dask"):
        check_engine("pandas", "tcp://127.0.0.1:8786")


def test_staged_run_keeps_every_combined_dataset(sdtm_built, simulated, tmp_path):
    """Under the CLI the stage writes to staging folders: the combined datasets must land there."""
    from pipeline.common.staging import staged_run
    from pipeline.sdtm.stage import run

    ctx = StudyContext.create(simulated.study, raw=simulated.raw_dir, outputs=tmp_path / "out", **DASK)
    with staged_run(ctx, "sdtm") as staged:
        run(staged)
    expected = sorted(p.name for p in Path(sdtm_built.sdtm_dir).glob("*.parquet"))
    assert sorted(p.name for p in Path(ctx.sdtm_dir).glob("*.parquet")) == expected
    assert len(pd.read_parquet(Path(ctx.sdtm_dir) / "lb.parquet")) == len(pd.read_parquet(Path(sdtm_built.sdtm_dir) / "lb.parquet"))
    assert json.loads(Path(ctx.ledger_path).read_text())["balanced"] is True


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_adam_on_dask_writes_the_pandas_files_byte_for_byte(adam_built, tmp_path):
    """ADaM per block of 12 subjects (ADSL built in each block from its own subjects), blocks combined:
    the same files as the pandas engine's, byte for byte."""
    from pipeline.engines import dask_adam

    shutil.copytree(adam_built.sdtm_dir, tmp_path / "out" / "sdtm")
    ctx = StudyContext.create(adam_built.study, outputs=tmp_path / "out", block_subjects=BLOCK_SUBJECTS, **DASK)
    dask_adam.run(ctx)
    expected = {p.name: _sha256(p) for p in Path(adam_built.adam_dir).glob("*.parquet")}
    assert {"adsl.parquet", "adlb.parquet", "adae.parquet"} <= set(expected)
    assert {p.name: _sha256(p) for p in Path(ctx.adam_dir).glob("*.parquet")} == expected
    assert not list((tmp_path).glob(".dask-adam-*"))      # the blocks' folders are removed


@pytest.mark.parametrize("step, expected", [
    ({"derive_var_obs_number": {"by_vars": ["USUBJID"], "order": ["ADT"]}}, None),
    ({"derive_var_obs_number": {"order": ["ADT"]}},
     "dataset ADLB step 1 (derive_var_obs_number): by_vars do not include USUBJID"),
    ({"derive_var_anl01fl": {}}, None),                       # its default by_vars name USUBJID
    ({"derive_vars_merged": {"dataset_add": {"table": [{"PARAMCD": "X"}]}, "by_vars": ["PARAMCD"]}}, None),
    ({"derive_vars_merged": {"dataset_add": {"adam": "adsl"}, "by_vars": ["STUDYID"]}},
     "dataset ADLB step 1 (derive_vars_merged): joins a subject dataset by keys without USUBJID"),
    ({"derive_vars_merged": {"dataset_add": {"sdtm": "ex", "steps": [{"derive_var_obs_number": {}}]},
                             "by_vars": ["USUBJID"]}},
     "dataset ADLB step 1 (derive_vars_merged) dataset_add step 1 (derive_var_obs_number): by_vars do not include "
     "USUBJID"),
    ({"union": [{"table": [{"USUBJID": "1"}]}]},
     "dataset ADLB step 1 (union): appends study-level rows (every block would append them)"),
], ids=["by-subject", "whole-dataset-numbering", "default-by-subject", "study-lookup", "merge-by-study",
        "nested-step", "union-of-table"])
def test_cross_subject_steps_keep_adam_whole(step, expected):
    from pipeline.engines.dask_adam import find_cross_subject_step

    spec = {"datasets": [{"name": "ADLB", "source": {"sdtm": "lb"}, "keys": ["STUDYID", "USUBJID"], "steps": [step]}]}
    assert find_cross_subject_step(spec) == expected


def test_written_dataset_sorted_by_other_keys_keeps_adam_whole():
    from pipeline.engines.dask_adam import find_cross_subject_step

    first_pass = {"name": "ADSL", "source": {"sdtm": "dm"}}               # rebuilt below: its order does not matter
    spec = {"datasets": [first_pass, {"name": "ADSL", "source": {"adam": "adsl"}, "keys": ["STUDYID", "USUBJID"]},
                         {"name": "ADTTE", "source": {"adam": "adsl"}, "keys": ["PARAMCD", "USUBJID"]}]}
    assert find_cross_subject_step(spec) == ("dataset ADTTE: keys ['PARAMCD', 'USUBJID'] do not begin with "
                                             "(STUDYID,) USUBJID, so blocks would not concatenate in its order")
    assert find_cross_subject_step({"datasets": spec["datasets"][:2]}) is None


def test_flagship_adam_spec_runs_per_subject_block(study_ctx):
    from pipeline.engines.dask_adam import find_cross_subject_step

    assert find_cross_subject_step(study_ctx.spec("adam")) is None


def test_adam_pass_on_dask_reuses_the_sdtm_pass_results(dask_sdtm, tmp_path, caplog):
    """As on the pandas engine, the dask adam pass takes the SDTM-only checks from validation/sdtm-pass/ (saved by
    the dask SDTM pass) and re-runs only the checks that read ADaM: the same findings as the pandas engine's."""
    import logging

    from pipeline.adam.stage import run as run_adam
    from pipeline.validate.stage import run as run_validate

    if not Path(dask_sdtm.adam_dir).exists():
        run_adam(dask_sdtm)
    found = {}
    for engine in ("pandas", "dask"):
        out = tmp_path / engine
        for layer in ("sdtm", "adam"):
            shutil.copytree(Path(dask_sdtm.outputs_dir) / layer, out / layer)
        options = {**DASK, "block_subjects": BLOCK_SUBJECTS} if engine == "dask" else {}
        for validate_pass in ("sdtm", "adam"):
            caplog.clear()
            ctx = StudyContext.create(dask_sdtm.study, outputs=out, gx_docs=False, validate_pass=validate_pass,
                                      include_adam=validate_pass == "adam", **options)
            with caplog.at_level(logging.INFO, logger="pipeline.validate"):
                found[engine, validate_pass] = run_validate(ctx, raise_on_gate=False)
            reused = any("reusing the results saved" in r.getMessage() for r in caplog.records)
            assert reused == (validate_pass == "adam"), (engine, validate_pass)
        assert (out / "validation" / "sdtm-pass" / "manifest.json").exists()
    for validate_pass in ("sdtm", "adam"):
        pd.testing.assert_frame_equal(found["dask", validate_pass], found["pandas", validate_pass])
    assert len(found["dask", "adam"]) > len(found["dask", "sdtm"])          # the ADaM checks ran
    for name in ("rules.csv", "summary.json"):
        assert (tmp_path / "dask" / "validation" / name).read_bytes() == \
            (tmp_path / "pandas" / "validation" / name).read_bytes(), name


def test_a_block_skips_the_reused_checks():
    from pipeline.engines.dask_engine import skipped_checks

    assert skipped_checks(None) is None
    skipped = skipped_checks({"schemas": ["AE", "DM"], "rules": {"CG0001": {"status": "skipped", "reason": "r"}},
                              "expectations": True})
    assert sorted(skipped.schemas) == ["AE", "DM"] and all(len(f) == 0 for f in skipped.schemas.values())
    assert len(skipped.rules["CG0001"][0]) == 0 and skipped.rules["CG0001"][1]["status"] == "skipped"
    assert skipped.expectations is not None and len(skipped.expectations) == 0
