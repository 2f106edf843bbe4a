"""The paginator keeps blocks together where they fit and never overfills a page."""

import pytest

from pipeline.tlf.paginate import paginate


def test_block_that_does_not_fit_moves_whole_to_next_page():
    pages = paginate([1] * 6, [0, 0, 0, 1, 1, 1], capacity=4)
    assert pages == [[0, 1, 2], [3, 4, 5]]


def test_block_larger_than_a_page_is_split_where_the_page_is_full():
    pages = paginate([1] * 7, [0, 1, 1, 1, 1, 1, 1], capacity=3)
    assert pages == [[0, 1, 2], [3, 4, 5], [6]]


def test_blank_spacers_never_start_or_end_a_page():
    blank = [False, False, True, False, False, True, False]
    pages = paginate([1] * 7, [0, 0, 0, 1, 1, 1, 2], capacity=3, blank=blank)
    assert pages == [[0, 1], [3, 4], [6]]


def test_wrapped_lines_count_with_their_height():
    pages = paginate([2, 2, 2], [0, 1, 2], capacity=4)
    assert pages == [[0, 1], [2]]
    assert all(sum([2, 2, 2][i] for i in page) <= 4 for page in pages)


def test_bad_capacity_is_refused():
    with pytest.raises(ValueError, match="at least one line"):
        paginate([1], [0], capacity=0)
