"""Files of the package written from consecutive buffers, so a large XPT or Dataset-JSON file is never held whole."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline.common.io import _atomic_path


def write_chunks_atomic(path: str | Path, chunks: Iterable) -> Path:
    """Write the bytes-like ``chunks`` one after another to ``path``, through a temporary file and a rename
    (as :func:`pipeline.common.io.write_bytes_atomic`: an interrupted write leaves no partial file).

    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_chunks_atomic(path, [b"[", memoryview(b"1"), np.frombuffer(b"2]", dtype=np.uint8)]).read_bytes()
    b'[12]'
    """
    path = Path(path)
    with _atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    return path
