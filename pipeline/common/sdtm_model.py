"""SDTM v2.0 model facts every stage shares: the order of the timing variables."""

from __future__ import annotations

# SDTM v2.0 timing variables in model order (the SDTMIG domain tables follow it)
MODEL_TIMING = ["VISITNUM", "VISIT", "VISITDY", "TAETORD", "EPOCH", "--DTC", "--STDTC", "--ENDTC", "--DY", "--STDY",
                "--ENDY", "--DUR", "--TPT", "--TPTNUM", "--ELTM", "--TPTREF", "--RFTDTC", "--STRF", "--ENRF", "--EVLINT",
                "--STRTPT", "--STTPT", "--ENRTPT", "--ENTPT"]


def place_model_timing(order: list[str], columns: list[str], domain: str) -> list[str]:
    """``order`` with the model timing variables of ``columns`` it lacks inserted at their model position:
    after the last listed timing variable that precedes them in the model, else before the first that follows.

    >>> place_model_timing(["STUDYID", "EXSEQ", "EPOCH", "EXSTDTC"], ["VISIT", "VISITNUM"], "EX")
    ['STUDYID', 'EXSEQ', 'VISITNUM', 'VISIT', 'EPOCH', 'EXSTDTC']
    >>> place_model_timing(["MHSTDTC", "MHDY", "MHENRF"], ["MHSTDY"], "MH")
    ['MHSTDTC', 'MHDY', 'MHSTDY', 'MHENRF']
    """
    timing = [v.replace("--", domain) for v in MODEL_TIMING]
    order = list(order)
    for i, variable in enumerate(timing):
        if variable not in columns or variable in order:
            continue
        before = [v for v in timing[:i] if v in order]
        after = [v for v in timing[i + 1:] if v in order]
        at = order.index(before[-1]) + 1 if before else (order.index(after[0]) if after else len(order))
        order.insert(at, variable)
    return order
