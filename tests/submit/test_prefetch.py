"""iter_ahead: chunks of a file computed one ahead of the writer, in order, errors where they happen."""

import threading

import pytest

from pipeline.submit.prefetch import iter_ahead


def test_items_come_in_order_and_all_of_them():
    assert list(iter_ahead(iter(range(1000)), ahead=1)) == list(range(1000))
    assert list(iter_ahead(iter([]))) == []


def test_an_error_of_the_chunks_reaches_the_consumer_after_the_good_chunks():
    def chunks():
        yield b"head"
        yield b"row"
        raise ValueError("XPT column AETERM: text longer than 200 bytes")

    seen = []
    with pytest.raises(ValueError, match="AETERM: text longer than 200 bytes"):
        for chunk in iter_ahead(chunks()):
            seen.append(chunk)
    assert seen == [b"head", b"row"]


def test_a_consumer_that_stops_early_stops_the_thread():
    produced = []

    def chunks():
        for number in range(10_000):
            produced.append(number)
            yield number

    before = threading.active_count()
    items = iter_ahead(chunks())
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
    assert len(produced) < 10
