"""Stage package: validate SDTM (and ADaM when present) against the study's specs and the standards.

Four check sources (specs, pandera, conformance, great_expectations: ``pipeline/validate/README.md``)
feed one findings table; every rule is one :class:`pipeline.validate.rules.Rule`. Public entry points:
``stage.run(ctx, raise_on_gate=True)``, ``specs_check.run(ctx)``, ``traceability.findings_with_raw_source``;
the metadata the rules check is :class:`pipeline.standards.study.StudyMetadata`.
"""
