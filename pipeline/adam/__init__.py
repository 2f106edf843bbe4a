"""ADaM derivations: admiral-style verbs and a spec-driven engine that builds a study's datasets.

Every verb takes a data frame (``dataset``) and returns a new one with added variables or records;
arguments are named as in admiral (``dataset_add``, ``by_vars``, ``order``, ``new_var(s)``,
``filter_add``, ``set_values_to``, ``missing_values``). One verb (or family of verbs) per module:

========================== ================================================================
verb                       adds
========================== ================================================================
derive_vars_merged         variables from another dataset (first/last by order, renamed)
derive_vars_joined         the same under a join condition between both datasets
derive_vars_dt             ``*DT`` and ``*DTF`` from ISO 8601 text, with imputation and bounds
derive_vars_dtm            ``*DTM``, ``*DTF``, ``*TMF`` (datetimes, time imputation)
derive_var_dy              one relative day (no day 0); derive_vars_dy: several
derive_var_trtemfl         TRTEMFL from start/end dates, first/last dose and a trailing window
derive_var_ablfl           ABLFL: last non-missing value on or before first dose
derive_var_base            BASE (or BASEC, ...) on every record of the group
derive_var_chg             CHG; derive_var_pchg: PCHG; derive_var_r2base: R2BASE
derive_vars_avisit         AVISIT, AVISITN, AWTARGET, AWLO, AWHI, AWTDIFF, AWU from day windows
derive_var_anl01fl         ANL01FL: the record closest to the window target
derive_locf_records        DTYPE = LOCF records for expected visits without a value
derive_var_extreme_flag    first/last record flags (AOCCFL, AOCCSFL, AOCCPFL, ...)
derive_summary_records     summary records (instrument totals); derive_param_exposure: exposure
derive_param_computed      a parameter computed from others (LUPCR = log UPCR)
derive_var_pop_flags       population flags Y/N from rules in the spec
derive_var_crit            CRITy / CRITyFL (/ CRITyFN)
derive_vars_cat            categories (AGEGR1/AGEGR1N, EOSSTT ...) from a definition table
derive_var_obs_number      ASEQ
========================== ================================================================

``pipeline.adam.engine`` runs ``specs/<study>/adam.yaml``, an ordered list of these verbs per
dataset; ``pipeline.adam.stage.run(ctx)`` writes ``<outputs>/adam/<dataset>.parquet``.

>>> import pandas as pd
>>> from pipeline.adam import derive_var_chg
>>> derive_var_chg(pd.DataFrame({"AVAL": [3.0], "BASE": [5.0]}))["CHG"].tolist()
[-2.0]
"""

from pipeline.adam.derive_locf_records import derive_locf_records
from pipeline.adam.derive_param_computed import derive_param_computed
from pipeline.adam.derive_param_exposure import derive_param_exposure
from pipeline.adam.derive_summary_records import derive_summary_records
from pipeline.adam.derive_var_base import derive_var_base
from pipeline.adam.derive_var_chg import derive_var_chg, derive_var_pchg, derive_var_r2base
from pipeline.adam.derive_var_crit import derive_var_crit
from pipeline.adam.derive_var_dy import derive_var_dy, derive_vars_dy
from pipeline.adam.derive_var_extreme_flag import derive_var_ablfl, derive_var_anl01fl, derive_var_extreme_flag
from pipeline.adam.derive_var_obs_number import derive_var_obs_number
from pipeline.adam.derive_var_pop_flags import derive_var_pop_flags
from pipeline.adam.derive_var_trtemfl import derive_var_trtemfl
from pipeline.adam.derive_vars_avisit import compute_windows, derive_vars_avisit
from pipeline.adam.derive_vars_cat import derive_vars_cat
from pipeline.adam.derive_vars_dt import compute_dt, derive_vars_dt
from pipeline.adam.derive_vars_dtm import derive_vars_dtm
from pipeline.adam.derive_vars_joined import derive_vars_joined
from pipeline.adam.derive_vars_merged import derive_vars_merged

__all__ = [
    "compute_dt", "compute_windows", "derive_locf_records", "derive_param_computed",
    "derive_param_exposure", "derive_summary_records", "derive_var_ablfl", "derive_var_anl01fl",
    "derive_var_base", "derive_var_chg", "derive_var_crit", "derive_var_dy", "derive_var_extreme_flag",
    "derive_var_obs_number", "derive_var_pchg", "derive_var_pop_flags", "derive_var_r2base",
    "derive_var_trtemfl", "derive_vars_avisit", "derive_vars_cat", "derive_vars_dt", "derive_vars_dtm", "derive_vars_dy",
    "derive_vars_joined", "derive_vars_merged",
]
