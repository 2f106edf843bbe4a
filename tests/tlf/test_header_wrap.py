"""Column headers longer than their column wrap word-wise inside it (pilot: three long arm names)."""

import pytest

from pipeline.tlf.display import Display, Line
from pipeline.tlf.render_txt import layout_table_lines, render_txt, wrap_header

HEADERS = ("Placebo\n(N=86)", "Xanomeline Low Dose\n(N=84)", "Xanomeline High Dose\n(N=84)")
EXPECTED_HEADER = [
    "                                                 Xanomeline Low Xanomeline High",
    "                                    Placebo           Dose            Dose",
    "Characteristic                       (N=86)          (N=84)          (N=84)",
]


def pilot_like_display(lines: int = 3, headers=HEADERS) -> Display:
    body = tuple(Line(f"Characteristic {i}", ("1 (1.2)",) * len(headers)) for i in range(lines))
    return Display("t_demog", "Table 14.2.01", "Demographics", "ITT", "Characteristic", headers, body, ("Foot.",))


def test_long_arm_names_wrap_within_their_column_and_lines_align_at_the_bottom():
    # width 80: label column 32, three treatment columns of 16 characters, headers wrapped to 15
    header, _ = layout_table_lines(pilot_like_display(), 80)
    assert header == EXPECTED_HEADER
    assert "DoseXanomeline" not in "".join(header)


def test_every_header_part_stays_inside_its_column_with_a_space_before_the_next():
    header, _ = layout_table_lines(pilot_like_display(), 80)
    for line in header:
        for start in (32, 48, 64):  # the last character before each treatment column is blank
            assert len(line) <= start or line[start - 1] == " ", (line, start)


def test_wrapped_headers_repeat_on_every_page():
    text = render_txt(pilot_like_display(lines=40), width=80, length=30)
    pages = text.split("\f")
    assert len(pages) > 1
    for page in pages:
        assert "\n".join(EXPECTED_HEADER) in page


def test_headers_that_fit_are_unchanged():
    header, _ = layout_table_lines(pilot_like_display(headers=("Placebo\n(N=18)", "Iscalimab\n(N=39)")), 80)
    assert header == ["                                       Placebo                 Iscalimab",
                      "Characteristic                          (N=18)                   (N=39)"]


def test_wrap_header_breaks_words_and_hard_cuts_only_an_overlong_word():
    assert wrap_header("Xanomeline High Dose\n(N=84)", 15) == ["Xanomeline High", "Dose", "(N=84)"]
    assert wrap_header("Pembrolizumab-containing regimen", 10) == ["Pembrolizu", "mab-contai", "ning", "regimen"]
    assert wrap_header("", 10) == [""]
    with pytest.raises(ValueError, match="header width"):
        wrap_header("A", 0)
