"""Stage package: simulate realistic multi-site raw exports of the flagship study.

Flow (``stage.run``): ``config`` reads study.yaml + simulation.yaml -> ``subjects`` (who, where,
arm, dates, disposition) -> ``labs`` (calibrated UPCR, CKD-EPI-consistent creatinine/eGFR) ->
``sledai`` (items from labs, exact Week-24 change) -> ``events`` (EX, VS, AE, CM, MH, IE, DS, DV)
-> ``visit_log`` (unscheduled visits) -> ``render`` (each site's dialect) -> ``defects``
(documented data-entry errors) -> ``visit_log`` (missed visits) -> ``writers`` (CSV, XLSX, SAS
XPORT v5, byte-identical for a seed). Contract: docs/raw-exports.md.
"""
