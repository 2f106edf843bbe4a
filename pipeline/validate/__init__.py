"""Stage package: validate SDTM (and ADaM when present) against the study's specs and the standards.

Check sources, outputs and entry points: ``pipeline/validate/README.md``; every rule is one :class:`.rules.Rule`.
"""
