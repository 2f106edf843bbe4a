"""Stage package ``submission``: SDTM and ADaM as a regulator-ready package.

Modules: :mod:`.metadata` (dataset/variable metadata from the study spec, the standards and the
data), :mod:`.ascii` (printable-ASCII transliteration with a change report), :mod:`.xpt` (SAS XPORT
v5 writer with limits, fixed header stamps and a read-back check), :mod:`.datasetjson`
(Dataset-JSON v1.1 writer and validator), :mod:`.define` (Define-XML 2.1 + an HTML rendering),
:mod:`.stage` (``run(ctx)``).
"""
