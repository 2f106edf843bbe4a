"""Atomic, deterministic writers and safe readers used by every stage."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.common.errors import ConfigError, InputError


# Fault injection, for tests only (tests/common/test_crash_consistency.py): with the environment
# variable PIPELINE_FAULT_AFTER_WRITES=N the process kills itself with SIGKILL once the N-th file of
# this process is written to its temporary name, before the rename, as a crash or `kill -9` would.
FAULT_ENV = "PIPELINE_FAULT_AFTER_WRITES"
_writes_done = 0


def _fault_point() -> None:
    global _writes_done
    limit = os.environ.get(FAULT_ENV)
    if not limit:
        return
    _writes_done += 1
    if _writes_done >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def _atomic_path(path: Path) -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` (mode 644) only on success.

    An interrupted run never leaves a half-written file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        _fault_point()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    return write_text_atomic(path, text)


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame) -> Path:
    """Parquet without the pandas index and without volatile metadata, so reruns are byte-identical."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    with _atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    return path


def write_csv_atomic(path: str | Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    text = frame.to_csv(index=False, lineterminator="\n", **kwargs)
    return write_text_atomic(path, text)


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run the stage that writes it first)")
    return pd.read_parquet(path)


def load_yaml(path: str | Path) -> Any:
    """Read YAML with the safe loader; a syntax error names the file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{path}:{where}: invalid YAML: {exc.problem}") from None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
