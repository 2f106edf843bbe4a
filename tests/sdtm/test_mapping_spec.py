"""Bad mapping files fail at load (or bind) time with one line naming the file and the line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mini import make_ctx  # noqa: E402

from pipeline.common.errors import ConfigError  # noqa: E402
from pipeline.sdtm.mapping.spec import load_mapping  # noqa: E402
from pipeline.sdtm.stage import run  # noqa: E402

GOOD = """\
domain: AE
sources:
  - form: ae
    files: "site_*/ae.csv"
    subject: subj
required: [USUBJID]
variables:
  STUDYID: {hardcode: {design: study.studyid}}
  DOMAIN: {hardcode: AE}
  USUBJID: {concat: {columns: [STUDYID, _site, subj], sep: "-"}}
  AETERM: {assign: term}
  AESTDTC: {iso8601: {column: start, formats: ["%d.%m.%Y"]}}
"""


def write(tmp_path: Path, text: str, name: str = "ae.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("change", "line", "message"), [
    (("AETERM: {assign: term}", "AETERM: {asign: term}"), 11, "variable AETERM: unknown algorithm 'asign'"),
    (("AETERM: {assign: term}", "AETERM: {assign: {column: term, uper: true}}"), 11, "unknown option(s) uper for assign"),
    (('formats: ["%d.%m.%Y"]', 'formats: ["%d.%q.%Y"]'), 12, "unknown token '%q'"),
    (("AETERM: {assign: term}", "aeterm: {assign: term}"), 11, "variable name 'aeterm' must be upper case"),
    (('files: "site_*/ae.csv"', 'files: "../../etc/ae.csv"'), 4, "must be a relative path inside the raw directory"),
    (("domain: AE", "domain: AEX"), 1, "domain must be a 2-letter code"),
    (("    subject: subj", "    subject: subj\n    delimiter: ';'"), 6, "source: unknown key 'delimiter'"),
    (("AETERM: {assign: term}", "AETERM: {assign: term, condition: {column: x, equal: 1}}"), 11, "exactly one of"),
    (("AETERM: {assign: term}", "AETERM: {assign: term}\n  AETERM: {assign: term}"), 12, "duplicated key 'AETERM'"),
])
def test_bad_mapping_names_file_and_line(tmp_path, change, line, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text
    assert "\n" not in text


def test_good_mapping_loads_with_applications_in_order(tmp_path):
    mapping = load_mapping(write(tmp_path, GOOD))
    assert mapping.domain == "AE"
    assert list(mapping.variables) == ["STUDYID", "DOMAIN", "USUBJID", "AETERM", "AESTDTC"]
    assert mapping.variables["AESTDTC"][0].params == {"column": "start", "formats": ["%d.%m.%Y"]}


def test_yaml_syntax_error_names_line(tmp_path):
    path = write(tmp_path, GOOD.replace("AETERM: {assign: term}", "AETERM: {assign: term"))
    with pytest.raises(ConfigError, match=r"ae.yaml:1[12]: invalid YAML"):
        load_mapping(path)


def test_missing_column_fails_before_mapping_with_mapping_line(tmp_path):
    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD.replace("AETERM: {assign: term}", "AETERM: {assign: verbatim}")})
    (ctx.raw_dir / "site_101").mkdir()
    (ctx.raw_dir / "site_101" / "ae.csv").write_text("subj,term,start\n1,Headache,01.02.2020\n")
    with pytest.raises(ConfigError) as info:
        run(ctx)
    text = str(info.value)
    assert text.startswith(f"{ctx.mappings_dir / 'ae.yaml'}:11: variable AETERM: column 'verbatim' not found in site_101/ae.csv")
    assert "columns: subj, term, start" in text
    assert not (ctx.outputs_dir / "sdtm").exists()


def test_symlink_out_of_raw_dir_is_refused(tmp_path):
    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "ae.csv").write_text("subj,term,start\n1,Headache,01.02.2020\n")
    (ctx.raw_dir / "site_101").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the raw directory"):
        run(ctx)


def test_bad_mapping_through_the_cli_exits_2_with_one_line(tmp_path):
    """The real CLI, pointed at a project copy whose ae.yaml has an unknown algorithm."""
    import os
    import shutil
    import subprocess

    from pipeline.common.study import PROJECT_ROOT

    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "specs", root / "specs")
    shutil.copytree(PROJECT_ROOT / "mappings", root / "mappings")
    ae = root / "mappings" / "iscalimab-ln" / "ae.yaml"
    lines = ae.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("  AETERM:"))
    lines[number] = "  AETERM: {asign: ae_term}"
    ae.write_text("\n".join(lines) + "\n")
    (tmp_path / "raw").mkdir()
    code = ("import sys, pathlib; import pipeline.common.study as s; s.PROJECT_ROOT = pathlib.Path(sys.argv[1]); "
            "from pipeline.cli import main; sys.argv = ['pipeline'] + sys.argv[2:]; main()")
    result = subprocess.run([sys.executable, "-c", code, str(root), "sdtm", "--raw", str(tmp_path / "raw"),
                             "--outputs", str(tmp_path / "out")], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "1000"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1
    assert f"ae.yaml:{number + 1}: variable AETERM: unknown algorithm 'asign'" in errors[0]


@pytest.mark.parametrize(("replacement", "message"), [
    ("AETERM: {assign_ct: {column: term, codelist: AETERMS}}", "unknown codelist 'AETERMS'"),
    ("AETERM: {hardcode: {design: study.nickname}}", "study.yaml has no 'study.nickname'"),
    ("AETERM: {lookup: {dataset: XY, by: {A: term}, value: B}}", "lookup dataset 'XY' is not available here"),
])
def test_unknown_references_fail_before_any_raw_file_is_read(tmp_path, replacement, message):
    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD.replace("AETERM: {assign: term}", replacement)})
    with pytest.raises(ConfigError) as info:
        run(ctx)
    assert str(info.value).startswith(f"{ctx.mappings_dir / 'ae.yaml'}:11: variable AETERM: ")
    assert message in str(info.value)


SITES = """\
sites:
  "101":
    reader: {delimiter: ";", decimal: ","}
    date_formats: ["%d.%m.%Y"]
    values: {serious: {"1": "Y"}}
  "102":
    files: "site_{site}/{form}.xlsx"
    reader: {format: xlsx, sheet: Export}
"""


@pytest.mark.parametrize(("change", "line", "message"), [
    (('    date_formats: ["%d.%m.%Y"]', '    date_format: ["%d.%m.%Y"]'), 4, "site 101: unknown key 'date_format'"),
    (('["%d.%m.%Y"]', '["%d.%q.%Y"]'), 4, "unknown token '%q'"),
    (('values: {serious: {"1": "Y"}}', 'values: {serious: Y}'), 5, "values of 'serious' must be a mapping"),
    (('"site_{site}/{form}.xlsx"', '"site_{site}/all.xlsx"'), 7, "needs '{form}'"),
    (('"site_{site}/{form}.xlsx"', '"site_{site}/{form}_{domain}.xlsx"'), 7, "only {site} and {form} may be used"),
    (('"site_{site}/{form}.xlsx"', '"../{form}.xlsx"'), 7, "must be a relative path inside the raw directory"),
    (('    reader: {format: xlsx, sheet: Export}', '    reader: xlsx'), 8, "site 102.reader: expected a mapping (key: value), got 'xlsx'"),
    (("sites:", "site:"), 1, "sites file: unknown key 'site'"),
    (('{delimiter: ";", decimal: ","}', '{delimiter: ";", decimals: ","}'), 3, "reader: unknown key 'decimals'"),
    (("format: xlsx,", "format: xlsm,"), 8, "reader.format: one of csv, xlsx, xpt, sas7bdat, got 'xlsm'"),
])
def test_bad_sites_yaml_fails_at_load_naming_file_and_line(tmp_path, change, line, message):
    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD, "sites.yaml": SITES.replace(*change)})
    with pytest.raises(ConfigError) as info:
        run(ctx)
    text = str(info.value)
    assert text.startswith(f"{ctx.mappings_dir / 'sites.yaml'}:{line}: "), text
    assert message in text


def test_sites_yaml_is_not_a_domain_and_its_files_template_is_filled_per_form(tmp_path):
    from pipeline.sdtm.stage import load_mappings

    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD, "sites.yaml": SITES})
    mappings = load_mappings(ctx.mappings_dir)
    assert list(mappings) == ["AE"]
    source = mappings["AE"].sources[0]
    assert source.for_site("102").files == "site_102/ae.xlsx"
    assert source.for_site("102").reader == {"format": "xlsx", "sheet": "Export"}
    assert source.for_site("101").values == {"serious": {"1": "Y"}}
    assert source.for_site("103").reader == {} and source.for_site("103").date_formats == ("iso8601",)


def test_site_listed_without_settings_in_sites_yaml_reads_with_source_defaults(tmp_path):
    from pipeline.sdtm.mapping.spec import load_site_defaults

    defaults = load_site_defaults(write(tmp_path, SITES + '  "103":\n  "104": {}\n', "sites.yaml"))
    assert defaults["103"].raw == {} and defaults["103"].where.line == 9 and defaults["104"].raw == {}
    source = load_mapping(write(tmp_path, GOOD), site_defaults=defaults).sources[0]
    assert source.for_site("103").reader == {} and source.for_site("103").files == "site_*/ae.csv"


def test_domain_site_block_error_still_names_the_domain_file(tmp_path):
    bad = GOOD.replace("    subject: subj\n", "    subject: subj\n    sites:\n      '101': {date_formats: ['%d.%q']}\n")
    ctx = make_ctx(tmp_path, {"ae.yaml": bad, "sites.yaml": SITES})
    with pytest.raises(ConfigError) as info:
        run(ctx)
    assert str(info.value).startswith(f"{ctx.mappings_dir / 'ae.yaml'}:7: ")
    assert "unknown token '%q'" in str(info.value)


def test_site_known_only_to_sites_yaml_points_missing_columns_at_the_domain_source(tmp_path):
    ctx = make_ctx(tmp_path, {"ae.yaml": GOOD, "sites.yaml": "sites:\n  '101':\n    reader: {delimiter: ';'}\n"})
    (ctx.raw_dir / "site_101").mkdir()
    (ctx.raw_dir / "site_101" / "ae.csv").write_text("Subj;term;start\n1;Headache;2020-01-01\n")
    with pytest.raises(ConfigError) as info:
        run(ctx)
    assert str(info.value) == (f"{ctx.mappings_dir / 'ae.yaml'}:3: source ae: subject column 'subj' not found in "
                               "site_101/ae.csv (columns: Subj, term, start)")
