"""Our own paginator: lines into pages, keeping the lines of one block together where they fit.

Both RTF and TXT pages come from here, so "Page x of n" is known when the page is written (no
word-processor fields).
"""

from __future__ import annotations

from itertools import groupby
from typing import Sequence


def paginate(heights: Sequence[int], blocks: Sequence[int], capacity: int,
             blank: Sequence[bool] | None = None) -> list[list[int]]:
    """Indices of the lines on each page.

    ``heights`` are line heights in page lines (a wrapped label takes more than one);
    consecutive lines with the same ``blocks`` value stay on one page when they fit on an
    empty page, otherwise the block is split where the page is full. ``blank`` lines are spacers:
    dropped at the top and bottom of a page and never the reason for a page break.

    >>> paginate([1, 1, 1, 1, 1], [0, 0, 1, 1, 1], capacity=4)
    [[0, 1], [2, 3, 4]]
    >>> paginate([1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], capacity=4)
    [[0, 1, 2, 3], [4, 5]]
    >>> paginate([1, 1, 1, 1], [0, 0, 1, 1], capacity=2, blank=[False, True, False, False])
    [[0], [2, 3]]
    """
    count = len(heights)
    if len(blocks) != count or (blank is not None and len(blank) != count):
        raise ValueError("heights, blocks and blank must have the same length")
    if capacity < 1:
        raise ValueError(f"page capacity must be at least one line, got {capacity}")
    blank = list(blank) if blank is not None else [False] * count
    pages: list[list[int]] = [[]]
    used = 0

    def place(index: int) -> None:
        nonlocal used
        if blank[index] and not pages[-1]:
            return
        if used + heights[index] > capacity and pages[-1]:
            if blank[index]:
                return
            pages.append([])
            used = 0
        pages[-1].append(index)
        used += heights[index]

    for _, members in groupby(range(count), key=lambda i: blocks[i]):
        lines = list(members)
        solid = [i for i in lines if not blank[i]]
        need = sum(heights[i] for i in solid)
        if pages[-1] and used + need > capacity and need <= capacity:
            pages.append([])
            used = 0
        for index in lines:
            place(index)
    for page in pages:
        while page and blank[page[-1]]:
            page.pop()
    return [page for page in pages if page] or [[]]
