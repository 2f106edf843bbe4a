"""`--sdtm DIR`: a user's own SDTM files (XPT, parquet, Dataset-JSON) imported as they are, then validated."""
from __future__ import annotations

import json

import pandas as pd
import pyreadstat
import pytest

from pipeline.common.errors import InputError
from pipeline.common.study import StudyContext
from pipeline.sdtm.import_existing import read_folder_sdtm
from pipeline.sdtm.stage import run


def _text_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns[out.dtypes == object]:
        out[column] = out[column].where(out[column].notna() & (out[column].astype(str) != ""), None)
    return out


@pytest.fixture(scope="module")
def own_sdtm(tmp_path_factory, sdtm_built):
    """DM as XPT, AE as Dataset-JSON, LB as parquet: the flagship's SDTM in three formats."""
    folder = tmp_path_factory.mktemp("own-sdtm")
    originals = {name: pd.read_parquet(sdtm_built.sdtm_dir / f"{name}.parquet") for name in ("dm", "ae", "lb")}
    dm = originals["dm"]
    pyreadstat.write_xport(dm, str(folder / "dm.xpt"), table_name="DM", file_format_version=5)
    ae = originals["ae"]
    columns = [{"name": c, "dataType": "double" if pd.api.types.is_numeric_dtype(ae[c]) else "string"} for c in ae.columns]
    rows = [[None if pd.isna(v) else v for v in row] for row in ae.astype(object).itertuples(index=False)]
    (folder / "ae.json").write_text(json.dumps({"datasetJSONVersion": "1.1", "name": "AE", "columns": columns,
                                                "rows": rows}), encoding="utf-8")
    originals["lb"].to_parquet(folder / "lb.parquet")
    return folder, originals


def test_every_format_is_imported_value_for_value(own_sdtm, tmp_path):
    folder, originals = own_sdtm
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out", sdtm=folder)
    run(ctx)
    assert sorted(p.name for p in ctx.sdtm_dir.glob("*.parquet")) == ["ae.parquet", "dm.parquet", "lb.parquet"]
    for name, original in originals.items():
        imported = pd.read_parquet(ctx.sdtm_dir / f"{name}.parquet")
        assert list(imported.columns) == list(original.columns)
        for column in original.columns:
            want, got = _text_as_missing(original[[column]])[column], _text_as_missing(imported[[column]])[column]
            if pd.api.types.is_numeric_dtype(want):
                pd.testing.assert_series_equal(got.astype(float), want.astype(float), check_names=False)
            else:
                assert got.tolist() == want.tolist(), f"{name}.{column}"
    ledger = json.loads(ctx.ledger_path.read_text())
    assert ledger["balanced"] and ledger["source"] == {"folder": str(folder.resolve())}
    assert ledger["totals"]["records"] == {"AE": len(originals["ae"]), "DM": len(originals["dm"]), "LB": len(originals["lb"])}
    lineage = pd.read_parquet(ctx.lineage_dir / "ae.parquet")
    assert set(lineage["SOURCE_FILE"]) == {"ae.json"} and lineage["SOURCE_ROW"].tolist() == list(range(1, len(originals["ae"]) + 1))


def test_validation_runs_on_imported_files(own_sdtm, tmp_path):
    from pipeline.validate.stage import run as validate

    folder, _ = own_sdtm
    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path / "out", sdtm=folder)
    run(ctx)
    validate(ctx, raise_on_gate=False)
    findings = pd.read_parquet(ctx.validation_dir / "findings.parquet")
    assert set(findings["dataset"].dropna()) <= {"AE", "DM", "LB", "SV", "EX", "DS", "TS", "TA", "TE", "TV", "TI", "SE"}
    assert len(findings) > 0


def test_a_folder_without_sdtm_files_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(InputError, match=f"{tmp_path}: no SDTM files"):
        read_folder_sdtm(tmp_path)


def test_a_damaged_file_is_named(tmp_path):
    (tmp_path / "dm.xpt").write_bytes(b"not an xpt file")
    with pytest.raises(InputError, match=r"dm\.xpt: cannot read xpt dataset DM"):
        read_folder_sdtm(tmp_path)
