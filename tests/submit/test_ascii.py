import pandas as pd
import pytest

from pipeline.common.errors import ConfigError
from pipeline.submit.ascii import TextConversion, convert_ascii_text, derive_vars_ascii, load_text_conversion


@pytest.mark.parametrize("original, expected", [
    ("\u00b5mol/L", "umol/L"),
    ("Ren\u00e9e M\u00fcller", "Renee Muller"),
    ("Alzheimer\u2019s", "Alzheimer's"),
    ("\u201cquoted\u201d", '"quoted"'),
    ("10\u00a0mg", "10 mg"),
    ("2\u20133 days", "2-3 days"),
    ("\u2265 60", ">= 60"),
    ("Stra\u00dfe", "Strasse"),
    ("line\nbreak", "line break"),
    ("plain ASCII", "plain ASCII"),
])
def test_convert_ascii_text_spells_each_character(original, expected):
    assert convert_ascii_text(original)[0] == expected


def test_derive_vars_ascii_reports_every_changed_value_with_its_record_number():
    frame = pd.DataFrame({
        "USUBJID": ["01", "02", "03"],
        "AETERM": ["Kopfschmerz", "\u00dcbelkeit", None],
        "LBORRESU": ["\u00b5mol/L", "\u00b5mol/L", "g/L"],
        "AESEQ": [1.0, 2.0, 3.0],
    })
    new, report = derive_vars_ascii(frame, "AE")
    assert new["AETERM"].tolist() == ["Kopfschmerz", "Ubelkeit", None]
    assert new["LBORRESU"].tolist() == ["umol/L", "umol/L", "g/L"]
    assert report[["dataset", "variable", "row", "original", "replacement"]].values.tolist() == [
        ["AE", "AETERM", 2, "\u00dcbelkeit", "Ubelkeit"],
        ["AE", "LBORRESU", 1, "\u00b5mol/L", "umol/L"],
        ["AE", "LBORRESU", 2, "\u00b5mol/L", "umol/L"],
    ]


def test_derive_vars_ascii_does_not_mutate_the_callers_frame():
    frame = pd.DataFrame({"AETERM": ["\u00e9"]})
    derive_vars_ascii(frame, "AE")
    assert frame["AETERM"].iloc[0] == "\u00e9"


def test_derive_vars_ascii_on_clean_data_reports_nothing():
    frame = pd.DataFrame({"A": ["x", None], "B": [None, None]})
    new, report = derive_vars_ascii(frame, "XX")
    assert report.empty
    pd.testing.assert_frame_equal(new, frame)


@pytest.mark.parametrize("original", ["\u4e2d", "\u0416\u0443\u043a", "ab\u03b1", "\u8ca7\u8840 (Anaemia)"])
def test_a_character_without_ascii_spelling_is_never_a_question_mark(original):
    text, reason = convert_ascii_text(original)
    assert text is None and reason.startswith("no ASCII spelling for")


def test_unconvertible_values_keep_their_text_and_are_reported_without_replacement():
    frame = pd.DataFrame({"SVREASOC": ["\u88ab\u9a13\u8005\u306e\u90fd\u5408", None, "Caf\u00e9"]})
    new, report = derive_vars_ascii(frame, "SV")
    assert new["SVREASOC"].tolist() == ["\u88ab\u9a13\u8005\u306e\u90fd\u5408", None, "Cafe"]
    assert report[["row", "replacement"]].values.tolist() == [[1, None], [3, "Cafe"]]
    assert "?" not in "".join(str(v) for v in new["SVREASOC"].dropna())


def test_sponsor_dictionary_comes_first_then_characters_then_latin_transliteration():
    conversion = TextConversion(values={"\u8ca7\u8840": "Anaemia", "Beinodeme": "Leg oedema"},
                                characters={"\u00f6": "oe"})
    frame = pd.DataFrame({"AETERM": ["\u8ca7\u8840", "Bein\u00f6deme", "Diarrh\u00e9e", "Beinodeme", "Nausea"]})
    new, report = derive_vars_ascii(frame, "AE", conversion)
    assert new["AETERM"].tolist() == ["Anaemia", "Beinoedeme", "Diarrhee", "Leg oedema", "Nausea"]
    assert report[["row", "original", "replacement", "rule"]].values.tolist() == [
        [1, "\u8ca7\u8840", "Anaemia", "sponsor dictionary"],
        [2, "Bein\u00f6deme", "Beinoedeme", "transliteration"],
        [3, "Diarrh\u00e9e", "Diarrhee", "transliteration"],
        [4, "Beinodeme", "Leg oedema", "sponsor dictionary"],
    ]


def test_transliterate_none_refuses_even_latin_accents():
    text, reason = convert_ascii_text("Diarrh\u00e9e", TextConversion(transliterate_latin=False))
    assert text is None and "LATIN SMALL LETTER E WITH ACUTE" in reason


def test_text_conversion_rule_is_loaded_and_checked(tmp_path):
    (tmp_path / "submission.yaml").write_text(
        "text_conversion:\n  transliterate: none\n  values: {\"\u9ad8\u8840\u5727\": Hypertension}\n", encoding="utf-8")
    conversion = load_text_conversion(tmp_path)
    assert conversion.values == {"\u9ad8\u8840\u5727": "Hypertension"} and conversion.transliterate_latin is False
    (tmp_path / "submission.yaml").write_text("text_conversion:\n  values: {a: \"\u00e9\"}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"submission\.yaml:2: text_conversion\.values\['a'\] = 'é' is not"):
        load_text_conversion(tmp_path)
    (tmp_path / "submission.yaml").write_text("text_conversion:\n  transliterate: greek\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"submission\.yaml:2: text_conversion\.transliterate 'greek': expected"):
        load_text_conversion(tmp_path)
    (tmp_path / "submission.yaml").write_text("text_conversion:\n  spelling: latin\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"submission\.yaml:2: text_conversion: unknown key 'spelling'"):
        load_text_conversion(tmp_path)


def test_flagship_dictionary_covers_every_japanese_term_of_the_simulator(project_root):
    """Every Japanese text the simulator can write has the sponsor's ASCII text (else make all stops)."""
    import yaml

    conversion = load_text_conversion(project_root / "specs" / "iscalimab-ln")
    simulation = yaml.safe_load((project_root / "specs" / "iscalimab-ln" / "simulation.yaml").read_text(encoding="utf-8"))
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("ja"), str):
                found.append(node["ja"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(simulation)
    assert len(found) >= 40
    assert [term for term in found if convert_ascii_text(term, conversion)[0] is None] == []
