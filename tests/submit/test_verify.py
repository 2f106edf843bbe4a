"""manifest.json keeps hashes, sizes, record counts and versions; verify re-checks a package folder."""

import json
import shutil

import pandas as pd
import pytest

from pipeline.submit.verify import main, verify_package


@pytest.fixture
def package_copy(flagship_package, tmp_path):
    folder = tmp_path / "submission"
    shutil.copytree(flagship_package.submission_dir, folder)
    return folder


def test_manifest_lists_records_files_and_versions_of_every_dataset(flagship_package):
    ctx = flagship_package
    manifest = json.loads((ctx.submission_dir / "manifest.json").read_text())
    by_name = {d["dataset"]: d for d in manifest["datasets"]}
    for standard, source in (("sdtm", ctx.sdtm_dir), ("adam", ctx.adam_dir)):
        for parquet in sorted(source.glob("*.parquet")):
            entry = by_name[parquet.stem.upper()]
            assert entry["records"] == len(pd.read_parquet(parquet))
            assert (entry["xpt"], entry["dataset_json"]) == (f"{standard}/{parquet.stem}.xpt",
                                                             f"{standard}/datasetjson/{parquet.stem}.json")
    versions = manifest["versions"]
    assert (versions["define_xml"], versions["dataset_json"]) == ("2.1.0", "1.1.0")
    assert versions["standards"] == {"SDTMIG": "3.4", "ADaMIG": "1.3"}
    assert versions["controlled_terminology"] == "2025-03-28"
    assert versions["dictionaries"]["MEDDRA"] == "27.0"
    assert set(versions["tools"]) == {"pyreadstat", "lxml", "pandas", "pyarrow"}
    sizes = {f["path"]: f["bytes"] for f in manifest["files"]}
    assert sizes["adam/adsl.xpt"] == (ctx.submission_dir / "adam" / "adsl.xpt").stat().st_size


def test_an_untouched_package_verifies_clean(package_copy, capsys):
    assert verify_package(package_copy) == []
    assert main([str(package_copy)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {package_copy}: ")


def test_every_change_to_a_package_is_one_line_and_exit_2(package_copy, capsys):
    (package_copy / "sdtm" / "dm.xpt").write_bytes((package_copy / "sdtm" / "dm.xpt").read_bytes() + b"x")
    (package_copy / "adam" / "define.xsl").unlink()
    (package_copy / "sdtm" / "notes.txt").write_text("hello")
    manifest = json.loads((package_copy / "manifest.json").read_text())
    for entry in manifest["datasets"]:
        if entry["dataset"] == "ADSL":
            entry["records"] += 1
    (package_copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_package(package_copy)
    assert problems[0] == "adam/define.xsl: listed in the manifest but missing"
    assert any(p.startswith("sdtm/dm.xpt: ") and "bytes, the manifest says" in p for p in problems)
    assert any(p.startswith("sdtm/dm.xpt: SHA-256 ") for p in problems)
    assert "sdtm/notes.txt: not in the manifest" in problems
    adsl = [p for p in problems if "(ADSL)" in p]
    records = manifest_records = next(d["records"] for d in manifest["datasets"] if d["dataset"] == "ADSL")
    assert adsl == [f"adam/adsl.xpt: {records - 1} records, the manifest says {manifest_records} (ADSL)",
                    f"adam/datasetjson/adsl.json: {records - 1} records, the manifest says {manifest_records} (ADSL)"]
    assert main([str(package_copy)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(problems) and all(line.startswith("error: ") for line in lines)


def test_a_folder_without_manifest_is_one_clear_line(tmp_path):
    assert verify_package(tmp_path) == [f"{tmp_path / 'manifest.json'}: missing (not a submission package, "
                                        "or the manifest was not sent)"]
    assert main([str(tmp_path / "nowhere")]) == 2
