"""The CDISC standards in ``specs/standards/`` and the study metadata resolved against them, read here
for every stage: :mod:`~pipeline.standards.tables` (SDTMIG/ADaMIG dataset and variable tables,
default origins), :mod:`~pipeline.standards.terminology` (the CT package, its version, ``Codelist``)
and :mod:`~pipeline.standards.study` (``StudyMetadata``: ``specs/<study>/datasets.yaml`` resolved)."""
