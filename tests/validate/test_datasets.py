"""Reading the datasets to validate: each file is prepared as soon as it is read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.validate.datasets import read_dataset_dir
from pipeline.validate.frames import prepare_dataset


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_parquet(folder / f"{name}.parquet")


def test_read_dataset_dir_prepares_each_file_before_reading_the_next(tmp_path: Path) -> None:
    _write(tmp_path, "dm", pd.DataFrame({"USUBJID": ["S-1", " "]}))
    _write(tmp_path, "ae", pd.DataFrame({"USUBJID": ["S-1"], "AESEQ": [1]}))
    order = []

    def prepare(frame: pd.DataFrame) -> pd.DataFrame:
        order.append(list(frame.columns))
        return prepare_dataset(frame)

    datasets = read_dataset_dir(tmp_path, prepare)
    assert list(datasets) == ["AE", "DM"]
    assert order == [["USUBJID", "AESEQ"], ["USUBJID"]]
    assert datasets["DM"]["USUBJID"].isna().tolist() == [False, True]


def test_read_dataset_dir_without_prepare_keeps_the_text_as_read(tmp_path: Path) -> None:
    _write(tmp_path, "dm", pd.DataFrame({"USUBJID": ["S-1", " "]}))
    assert read_dataset_dir(tmp_path)["DM"]["USUBJID"].tolist() == ["S-1", " "]
