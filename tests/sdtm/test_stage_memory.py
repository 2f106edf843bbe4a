"""The stage writes parquet through the system allocator and restores Arrow's own allocator after it."""

from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.common.errors import InputError
from pipeline.common.study import StudyContext
from pipeline.sdtm.stage import run


def test_run_restores_arrow_memory_pool_even_when_it_fails(tmp_path: Path) -> None:
    (tmp_path / "raw" / "site_402").mkdir(parents=True)
    (tmp_path / "raw" / "site_402" / "dm.csv").write_text("Subject No,Sex\n0012,F\n")
    ctx = StudyContext.create("iscalimab-ln", raw=tmp_path / "raw", outputs=tmp_path / "out")
    before = pa.default_memory_pool().backend_name
    with pytest.raises(InputError, match="site 101 sent no 'ae' export"):
        run(ctx)
    assert pa.default_memory_pool().backend_name == before

