"""One home per kind of knowledge: the grep-style guards that keep it so.

One reader of the CDISC CT package and of the standard tables (``pipeline/standards/``), one
``Codelist`` type, one partial ISO 8601 date parser and one study-day formula (``pipeline/common/dates.py``),
one list of Trial Design domains (the SDTMIG dataset table) and one number-as-text rule (``pipeline/common/text.py``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"


def _sources() -> dict[str, str]:
    return {path.relative_to(PIPELINE.parent).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(PIPELINE.rglob("*.py"))}


def _code_lines(text: str):
    """Lines of code with their numbers, docstring/doctest and comment lines left out."""
    tree = ast.parse(text)
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    for number, line in enumerate(text.splitlines(), start=1):
        if number not in docs and not line.lstrip().startswith("#"):
            yield number, line


def _hits(pattern: str, allowed: set[str]) -> list[str]:
    regex = re.compile(pattern)
    return [f"{name}:{number}: {line.strip()}" for name, text in _sources().items() if name not in allowed
            for number, line in _code_lines(text) if regex.search(line)]


def _definitions(names: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                found.setdefault(node.name, []).append(name)
    return found


def test_only_the_terminology_module_opens_ct_files():
    """No other module names a ct-*.tsv / adamct-*.tsv file, globs for one or reads a standards TSV."""
    assert _hits(r"""["'][^"']*(?:adam)?ct-[^"']*\.tsv|glob\([^)]*ct-""", {"pipeline/standards/terminology.py"}) == []


def test_only_pipeline_standards_reads_the_standard_tables():
    assert _hits(r"sdtmig-|adamig-|variables\*?\.tsv|datasets\.tsv|origins\.yaml|datasets-supplement|ts-parameters"
                 r"|[\"']dictionaries[\"']\s*/", {"pipeline/standards/tables.py"}) == []
    assert _hits(r"sep=[\"']\\t[\"']", {"pipeline/standards/tables.py", "pipeline/standards/terminology.py"}) == []


def test_trial_design_domains_come_from_the_sdtmig_dataset_table():
    """No module lists the Trial Design domains itself: their class in sdtmig-3.4-datasets.tsv says which they are."""
    from pipeline.standards.tables import trial_design_domains

    assert _hits(r"[\"']TS[\"'],\s*[\"']TA[\"']|[\"']TA[\"'],\s*[\"']TE[\"']|[\"']TD[\"'],\s*[\"']TM[\"']", set()) == []
    assert trial_design_domains() == {"TS", "TA", "TE", "TV", "TI", "TD", "TM"}


def test_one_number_as_text_conversion():
    """Whole floats lose their ``.0`` in pipeline/common/text.py only (the scalar form; vectorised ones call it)."""
    assert _hits(r"is_integer\(\)\s+else\s+str\(", set()) == []
    assert _definitions({"value_text"}) == {"value_text": ["pipeline/common/text.py"]}


def test_one_codelist_type_and_one_codelist_parser():
    found = _definitions({"Codelist", "codelist_from_ct", "build_codelists", "load_controlled_terminology",
                          "read_ct_file", "load_terminology", "load_ct"})
    assert found == {"Codelist": ["pipeline/standards/terminology.py"],
                     "codelist_from_ct": ["pipeline/standards/terminology.py"],
                     "build_codelists": ["pipeline/standards/terminology.py", "pipeline/submit/define.py"],
                     "read_ct_file": ["pipeline/standards/terminology.py"],
                     "load_terminology": ["pipeline/standards/terminology.py"]}
    # define.build_codelists writes define.xml CodeList rows from the package it is given; it reads nothing
    assert "read_" not in _sources()["pipeline/submit/define.py"].split("def build_codelists", 1)[1].split("\ndef ", 1)[0]


def test_one_study_day_formula():
    """The SDTMIG/ADaMIG study day (no day 0) is computed in pipeline/common/dates.py only."""
    assert _definitions({"compute_study_day"}) == {"compute_study_day": ["pipeline/common/dates.py"]}
    # the formula's tell-tale: adding one to a day difference only when it is not negative
    assert _hits(r"\(\s*\w+\s*>=\s*0\s*\)\s*\.astype|np\.where\(\s*\w+\s*>=\s*0\s*,\s*\w+\s*\+\s*1", {"pipeline/common/dates.py"}) == []


def test_one_partial_date_parser():
    """ISO 8601 date text is split into year/month/day by pipeline/common/dates.py alone."""
    date_regex = r"""\\d\{4\}\)?-\(?\\d\{2\}|\\d\{4\}\|-|format=["']%Y-%m-%d|strptime"""
    allowed = {"pipeline/common/dates.py",
               "pipeline/standards/terminology.py",  # the package date in a CT file name
               "pipeline/validate/expectations.py",  # a date literal of expectations.yaml (GX bounds)
               "pipeline/validate/iso8601.py",  # the shape of whole ISO 8601 text (time, intervals); dates via common
               "pipeline/sdtm/mapping/dates.py",  # raw site date formats -> ISO 8601 (owned by the mapping rewrite)
               "pipeline/sdtm/mapping/algorithms.py",  # idem
               "pipeline/submit/metadata.py",  # Dataset-JSON: is a column all complete dates (shape only)
               "pipeline/simulate/formats.py"}  # writes raw dates
    assert _hits(date_regex, allowed) == []
    assert _definitions({"iso_date_parts", "parse_dtc", "iso_date_bounds", "iso_date"}) == {
        "iso_date_parts": ["pipeline/common/dates.py"], "iso_date_bounds": ["pipeline/common/dates.py"],
        "iso_date": ["pipeline/common/dates.py"], "parse_dtc": ["pipeline/adam/derive_vars_dt.py"]}


@pytest.mark.parametrize("line, caught", [
    ('table = pd.read_csv(folder / "ct-subset-2025-03-28.tsv", sep="\\t")', True),
    ('files = sorted(folder.glob("ct-*.tsv"))', True),
    ('ct = load_terminology(folder)', False),
])
def test_the_ct_guard_catches_a_second_reader(line, caught):
    assert bool(re.search(r"""["'][^"']*(?:adam)?ct-[^"']*\.tsv|glob\([^)]*ct-""", line)) is caught


STUDY_SPECS = [PIPELINE.parent / "specs" / "iscalimab-ln", PIPELINE.parent / "specs" / "cdiscpilot01",
               PIPELINE.parent / "tests" / "data" / "studies" / "drugx-edc" / "specs" / "drugx-edc"]


@pytest.mark.parametrize("specs_dir", STUDY_SPECS, ids=lambda p: p.name)
def test_each_adam_variable_is_declared_in_adam_yaml_only(specs_dir):
    """datasets.yaml says what an ADaM dataset is (class, keys); its variables live in adam.yaml alone."""
    from pipeline.common.specfile import load_spec
    from pipeline.standards.study import load_adam_variables, load_study_metadata

    datasets = (load_spec(specs_dir / "datasets.yaml") or {}).get("datasets") or {}
    assert [name for name, spec in datasets.items() if str(name).startswith("AD") and "variables" in (spec or {})] == []
    declared = load_adam_variables(specs_dir / "adam.yaml")
    meta = load_study_metadata(specs_dir, PIPELINE.parent / "specs" / "standards")
    resolved = meta.variables.set_index(["dataset", "variable"])
    for row in declared[declared["dataset"].isin(list(meta.datasets))].itertuples(index=False):
        # the metadata of define.xml and the schemas is read from the same adam.yaml line
        assert resolved.loc[(row.dataset, row.variable), "label"] == row.label
        assert int(resolved.loc[(row.dataset, row.variable), "source_line"]) == row.line


def test_an_adam_variable_declared_in_datasets_yaml_too_is_a_spec_error(tmp_path):
    import shutil

    from pipeline.common.errors import ConfigError
    from pipeline.standards.study import load_study_metadata

    study = tmp_path / "drugx-edc"
    shutil.copytree(STUDY_SPECS[2], study)
    spec = study / "datasets.yaml"
    spec.write_text(spec.read_text().replace("  ADAE: {}\n", "  ADAE:\n    variables:\n      AESER: {codelist: NY}\n"))
    with pytest.raises(ConfigError, match=r"datasets\.yaml:line \d+: dataset ADAE: its variables are declared in "
                                          r"adam\.yaml"):
        load_study_metadata(study, PIPELINE.parent / "specs" / "standards")


@pytest.mark.parametrize("spec_dir", STUDY_SPECS, ids=lambda p: p.name)
def test_adam_dataset_facts_come_from_adam_yaml(spec_dir):
    """Label, class, structure and keys of an ADaM dataset: adam.yaml alone (the engine sorts by its keys)."""
    from pipeline.standards.study import load_adam_dataset_facts, load_study_metadata

    facts = load_adam_dataset_facts(spec_dir / "adam.yaml")
    meta = load_study_metadata(spec_dir, PIPELINE.parent / "specs" / "standards")
    adam = {name: d for name, d in meta.datasets.items() if d.is_adam}
    for name, dataset in adam.items():
        assert dataset.keys == tuple(facts[name]["keys"]) and dataset.label == facts[name]["label"]
        assert not {"label", "class", "structure", "keys"} & set(meta.spec["datasets"][name] or {})


def test_an_adam_dataset_fact_in_datasets_yaml_too_is_a_spec_error(tmp_path):
    import shutil

    from pipeline.common.errors import ConfigError
    from pipeline.standards.study import load_study_metadata

    study = tmp_path / "drugx-edc"
    shutil.copytree(STUDY_SPECS[2], study)
    spec = study / "datasets.yaml"
    spec.write_text(spec.read_text().replace("  ADAE: {}\n", "  ADAE:\n    keys: [STUDYID, USUBJID]\n"))
    with pytest.raises(ConfigError, match=r"datasets\.yaml:line \d+: dataset ADAE: its keys are declared in adam\.yaml"):
        load_study_metadata(study, PIPELINE.parent / "specs" / "standards")


def test_one_reader_of_the_instrument_specs():
    """specs/standards/instruments/<name>.yaml is opened by pipeline.standards.tables.load_instrument alone."""
    assert _hits(r"""["']instruments["']\s*/|instruments/\{""", {"pipeline/standards/tables.py"}) == []
    assert _definitions({"load_instrument"}) == {"load_instrument": ["pipeline/standards/tables.py"]}


def test_one_half_away_from_zero_rounding():
    """Numbers are rounded as SAS ROUND does by pipeline/common/numbers.py (the simulator's text writer keeps
    its scaled integers: it prints digits, not a rounded float)."""
    assert _hits(r"\+\s*0\.5\s*\+\s*1e-9", {"pipeline/common/numbers.py", "pipeline/simulate/formats.py"}) == []
    assert _definitions({"round_half_away", "compute_round_half_away"}) == {
        "round_half_away": ["pipeline/common/numbers.py"]}
