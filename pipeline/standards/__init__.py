"""The CDISC standards in ``specs/standards/`` and the study metadata resolved against them, read here
for every stage: :mod:`~pipeline.standards.tables` (SDTMIG/ADaMIG dataset and variable tables,
default origins), :mod:`~pipeline.standards.terminology` (the CT package, its version, ``Codelist``)
and :mod:`~pipeline.standards.study` (``StudyMetadata``: ``specs/<study>/datasets.yaml`` resolved)."""

from pathlib import Path


def standards_home() -> Path:
    """The standards shipped with the pipeline: ``bundled/`` beside this file (a link to the repository's
    ``specs/standards`` in a checkout, a copy inside an installed wheel; pyproject.toml package data).

    >>> (standards_home() / "sdtmig-3.4-variables.tsv").is_file()
    True
    """
    here = Path(__file__).resolve().parent
    bundled = here / "bundled"
    return bundled.resolve() if bundled.is_dir() else here.parents[1] / "specs" / "standards"
