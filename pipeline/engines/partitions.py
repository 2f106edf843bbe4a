"""Subject slices of ingested raw files (a site block larger than a partition is read once and written
as slices, each mapped by its own partition): the part of the dask engine the SDTM stage calls."""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path
from typing import Any


def normalise_subject(value: Any) -> str:
    """A raw subject number as one key whatever the form wrote (``0012``, `` 12``, ``12``).

    >>> [normalise_subject(v) for v in ("0012", " 12", "12", "A-7", None)]
    ['12', '12', '12', 'A-7', '']
    """
    text = "" if value is None else str(value).strip()
    return (text.lstrip("0") or "0") if text.isdigit() else text


def compute_subject_slice(subjects: Any, part: int, parts: int) -> set[str]:
    """The ``part``-th of ``parts`` consecutive slices of the sorted distinct subjects (numbers in
    numeric order); rows without a subject belong to slice 0.

    >>> sorted(compute_subject_slice(["3", "1", "10", "2", ""], 1, 2))
    ['10', '3']
    """
    distinct = sorted({s for s in subjects if s}, key=lambda s: (not s.isdigit(), len(s) if s.isdigit() else 0, s))
    size = math.ceil(len(distinct) / parts) if distinct else 0
    chosen = set(distinct[part * size:(part + 1) * size])
    return chosen | {""} if part == 0 else chosen


def restrict_to_subject_block(ingested: dict[str, list[Any]], manifest: dict[str, dict[str, Any]], part: int,
                              parts: int) -> tuple[dict[str, list[Any]], dict[str, dict[str, Any]]]:
    """Keep the rows of one subject slice in every ingested file (lineage row numbers unchanged);
    each file's rows_read becomes the rows kept, so the block's ledger balances on its own."""
    subjects = [normalise_subject(v) for files in ingested.values() for item in files for v in item.frame["_subject"]]
    chosen = compute_subject_slice(subjects, part, parts)
    out: dict[str, list[Any]] = {}
    manifest = {k: dict(v) for k, v in manifest.items()}
    for domain, files in ingested.items():
        out[domain] = []
        for item in files:
            keep = item.frame["_subject"].map(normalise_subject).isin(chosen).to_numpy()
            frame = item.frame[keep]
            # the raw rows as read, by their labels (row n is label n - 1): the quarantine shows a slice's own
            original = None if item.original is None else item.original.loc[frame["_row"].to_numpy() - 1]
            out[domain].append(dataclasses.replace(item, frame=frame, original=original, rows_read=int(keep.sum())))
            if item.relative in manifest:
                manifest[item.relative]["rows_read"] = int(keep.sum())
    return out, manifest


def slice_path(folder: str | Path, part: int) -> Path:
    """Where :func:`write_ingested_slices` puts slice ``part``."""
    return Path(folder) / f"slice-{part:03d}.pickle"


def write_ingested_slices(ingested: dict[str, list[Any]], manifest: dict[str, dict[str, Any]], parts: int,
                          folder: str) -> None:
    """Write the ``parts`` subject slices of a site block's ingested files: this run's own intermediate
    (pickle of our dataclasses, read back only by :func:`read_ingested_slice`), never user input."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        kept = restrict_to_subject_block(ingested, manifest, part, parts)
        with slice_path(folder, part).open("wb") as handle:
            pickle.dump(kept, handle, protocol=pickle.HIGHEST_PROTOCOL)


def read_ingested_slice(path: str | Path) -> tuple[dict[str, list[Any]], dict[str, dict[str, Any]]]:
    """One slice written by :func:`write_ingested_slices`: (ingested files by domain, manifest)."""
    with Path(path).open("rb") as handle:
        return pickle.load(handle)
