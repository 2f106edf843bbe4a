"""Stage package ``submission``: SDTM and ADaM as a regulator-ready package (docs/submission-package.md).

:mod:`.stage` (``run(ctx)``) drives it; each other module is one part of the package: metadata,
ASCII text, XPT, Dataset-JSON, define.xml with its method texts and ARM, the cSDRG, and the check
of a package that comes back (:mod:`.verify`).
"""
