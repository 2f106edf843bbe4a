"""Stage package: validate SDTM (and ADaM when present) against the study's specs and the standards.

Four check sources feed one findings table (``validation/findings.parquet`` / ``.csv``):

- ``specs``: :mod:`pipeline.validate.specs_check` checks ``specs/<study>/datasets.yaml`` and
  ``expectations.yaml`` against ``specs/standards/`` before any data is read (``make specs-check``).
- ``pandera``: :mod:`pipeline.validate.schemas` builds one schema per dataset at run time from
  the resolved metadata (:mod:`pipeline.standards.study`): presence, nulls, types, lengths,
  codelists, ISO 8601, keys, --SEQ, --STRESC/--STRESN.
- ``conformance``: :mod:`pipeline.validate.conformance` cross-dataset rules (CDISC CORE / FDA ids
  where the check is the same, project ids ISL-01xx otherwise), including ADaM traceability.
- ``great_expectations``: :mod:`pipeline.validate.expectations` data-quality suites built from
  ``specs/<study>/expectations.yaml`` (plausibility, completeness per visit, study period, visit order).

Every rule is one :class:`pipeline.validate.rules.Rule` (id, title, description, message, severity,
citation, check); ``validation/rules.csv`` is the catalogue of the rules that ran. The severity
gate (study.yaml ``validation.gate``) raises :class:`pipeline.common.errors.GateFailed` (exit 1).

Public entry points: ``stage.run(ctx, raise_on_gate=True)``, ``specs_check.run(ctx)``,
``traceability.findings_with_raw_source``; the metadata the rules check is
:class:`pipeline.standards.study.StudyMetadata`.
"""
