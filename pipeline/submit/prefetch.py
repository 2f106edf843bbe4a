"""Compute the next chunk of a large file while the current one is written: writing releases the GIL, and so
do the numpy and Arrow gathers that build XPT records and Dataset-JSON rows, so the two overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

AHEAD = 1   # chunks waiting for the writer (each is at most a few tens of MB)
_END = object()


def iter_ahead(chunks: Iterable, ahead: int = AHEAD) -> Iterator:
    """The items of ``chunks`` in order, computed by a background thread at most ``ahead`` items before the
    consumer. An exception of ``chunks`` is raised to the consumer where it would have been; a consumer that stops
    early (its own error) stops the thread.

    >>> list(iter_ahead(iter([b"a", b"b", b"c"])))
    [b'a', b'b', b'c']
    >>> def broken():
    ...     yield b"a"
    ...     raise ValueError("bad chunk")
    >>> items = iter_ahead(broken())
    >>> next(items)
    b'a'
    >>> next(items)
    Traceback (most recent call last):
    ...
    ValueError: bad chunk
    """
    waiting: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer((chunk, None)):
                    return
            offer((_END, None))
        except BaseException as exc:   # handed to the consumer, raised there
            offer((None, exc))

    thread = threading.Thread(target=produce, name="iter_ahead", daemon=True)
    thread.start()
    try:
        while True:
            chunk, error = waiting.get()
            if error is not None:
                raise error
            if chunk is _END:
                return
            yield chunk
    finally:
        stop.set()
        thread.join()
