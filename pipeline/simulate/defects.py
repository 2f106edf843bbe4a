"""Inject realistic data-entry defects into rendered site files and record each one.

Each class of ``simulation.yaml: defects`` hits a random share (at least ``min``) of the eligible rows, one defect
per row; ``_protected`` rows (those that decide the published endpoints) are only eligible for ``duplicate_row``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError
from pipeline.simulate.formats import compute_format_date_parts
from pipeline.simulate.render import DATE_FIELD, SiteDialect

# (original month -> month of an impossible date, day): 30 Feb, 31 Apr/Jun/Sep/Nov
_BAD_MONTH = np.array([0, 2, 2, 2, 4, 4, 6, 6, 6, 9, 9, 11, 11])
_BAD_DAY = np.array([0, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31])


@dataclass
class RawFile:
    """A rendered site file on its way to disk.

    >>> from pipeline.simulate.config import example_inputs
    >>> inputs = example_inputs()
    >>> RawFile("102", "lab", SiteDialect("102", inputs.sim["site_dialects"]["102"], inputs), pd.DataFrame()).relpath
    'site_102/lab.xlsx'
    """

    siteid: str
    form: str
    dialect: SiteDialect
    frame: pd.DataFrame
    used: set = field(default_factory=set)        # row positions already carrying a defect
    duplicates: list = field(default_factory=list)  # positions to duplicate

    @property
    def relpath(self) -> str:
        return f"site_{self.siteid}/{self.form}.{self.dialect.spec['format']}"


def compute_impossible_date_parts(year, month) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An impossible (year, month, day) near each original month: 30 Feb or 31 of a 30-day month.

    >>> [a.tolist() for a in compute_impossible_date_parts([2024, 2023], [3, 12])]
    [[2024, 2023], [2, 11], [30, 31]]
    """
    month = np.asarray(month, dtype=int)
    return np.asarray(year, dtype=int), _BAD_MONTH[month], _BAD_DAY[month]


def _pool(files: list[RawFile], forms, mask_fn) -> pd.DataFrame:
    parts = []
    for i, f in enumerate(files):
        if f.form not in forms or f.frame.empty:
            continue
        # rows added by the visit log are never damaged (pools stay as without them); one defect per row
        pos = np.flatnonzero(mask_fn(f) & ~f.frame["_extra"].to_numpy(dtype=bool)
                             & ~np.isin(np.arange(len(f.frame)), list(f.used)))
        if len(pos):
            parts.append(pd.DataFrame({"file": i, "pos": pos}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"file": [], "pos": []}, dtype=int)


def _pick(pool: pd.DataFrame, spec: dict, rng: np.random.Generator) -> pd.DataFrame:
    if pool.empty:
        return pool
    k = min(max(int(spec.get("min", 1)), int(round(float(spec["rate"]) * len(pool)))), len(pool))
    chosen = np.sort(rng.choice(len(pool), size=k, replace=False))
    return pool.iloc[chosen].sort_values(["file", "pos"], kind="mergesort")


def inject_defects(files: list[RawFile], spec: dict, rng: np.random.Generator) -> list[dict]:
    """Apply every defect class to ``files`` (in place) and return one record per defect.

    Records hold ``file_index`` and ``pos`` (position before duplicates are inserted); the caller
    turns them into final row numbers with :func:`finalise_rows`.

    >>> from pipeline.simulate.config import example_inputs, rng_for
    >>> from pipeline.simulate.stage import example_truth, render_files
    >>> inputs = example_inputs()
    >>> files = render_files(example_truth(), inputs)
    >>> records = inject_defects(files, inputs.sim["defects"], rng_for(inputs.seed, "defects"))
    >>> sorted({r["defect_class"] for r in records})[:3], any(files[r["file_index"]].frame["_protected"].iat[r["pos"]]
    ...     and r["defect_class"] not in ("duplicate_row", "unknown_code") for r in records)
    (['ae_end_before_start', 'duplicate_row', 'impossible_date'], False)
    """
    records: list[dict] = []
    unit_factors = spec.get("unit_mismatch_factors", {})

    def record(f_idx, pos, cls, fld, original, injected):
        f = files[f_idx]
        column = f.dialect.column(f.form, fld) if fld else ""
        records.append({"file_index": f_idx, "pos": int(pos), "defect_class": cls, "column": column,
                        "usubjid": f.frame["_usubjid"].iat[pos], "original_value": original,
                        "injected_value": injected, "expected_handling": spec[cls]["handling"]})
        f.used.add(int(pos))

    def set_cells(cls, picks, fld, new_values_fn):
        for f_idx, part in picks.groupby("file", sort=True):
            f = files[int(f_idx)]
            field = fld or DATE_FIELD[f.form]
            col = f.dialect.column(f.form, field)
            pos = part["pos"].to_numpy()
            original = f.frame[col].iloc[pos].astype(str).to_numpy()
            injected = np.asarray(new_values_fn(f, pos), dtype=object)
            f.frame.iloc[pos, f.frame.columns.get_loc(col)] = injected
            for p, o, v in zip(pos, original, injected):
                record(int(f_idx), p, cls, field, o, v)

    def free(f):
        return ~f.frame["_protected"].to_numpy(dtype=bool)

    def written(f, fld):
        return f.frame[f.dialect.column(f.form, fld)].astype(str).to_numpy() != ""

    def day_precise(f):
        return free(f) & (f.frame["_date_precision"].to_numpy() == "D")

    def measured(f):
        return free(f) & ~f.frame["_censored"].to_numpy(dtype=bool)

    def blank(f, pos):
        return [""] * len(pos)

    def impossible(f, pos):
        d = pd.to_datetime(pd.Series(f.frame["_date"].to_numpy()[pos]))
        y, m, dd = compute_impossible_date_parts(d.dt.year.to_numpy(), d.dt.month.to_numpy())
        return compute_format_date_parts(y, m, dd, f.dialect.spec["date"])

    def before_start(f, pos):
        start = f.frame["_date"].to_numpy(dtype="datetime64[D]")[pos]
        return f.dialect.dates(start - rng.integers(1, 11, len(pos)) * np.timedelta64(1, "D"))

    def implausible(f, pos):
        rows = f.frame.iloc[pos]
        return f.dialect.numbers(rows["_value"] * rows["_factor"] * oor_factor, rows["_decimals"])

    def other_unit(f, pos):
        rows = f.frame.iloc[pos]
        alt = rows["_test"].map(unit_factors).to_numpy(dtype=float)
        value = rows["_value"].to_numpy() * np.where(np.isclose(rows["_factor"].to_numpy(), 1.0), alt, 1.0)
        return f.dialect.numbers(value, np.where(value >= 100, 0, 2))

    def wrong_total(f, pos):
        total = pd.to_numeric(f.frame[f.dialect.column(f.form, "total")].iloc[pos], errors="coerce").to_numpy(float)
        step = rng.choice([-4, -2, -1, 1, 2, 4], len(pos))
        step = np.where(total + step < 0, np.abs(step), step)
        return f.dialect.numbers(total + step, 0)

    oor_factor = float(spec.get("out_of_range_factor", 1000))
    units = list(spec.get("unknown_units", ["??"]))
    rules = {  # class -> (eligible rows, field (None: the form's date field), injected values)
        "impossible_date": (lambda f: day_precise(f) & written(f, DATE_FIELD[f.form]), None, impossible),
        "ae_end_before_start": (lambda f: day_precise(f) & f.frame["_has_end"].to_numpy(dtype=bool), "end_date",
                                before_start),
        "missing_subject_id": (free, "subject", blank),
        "missing_result": (lambda f: free(f) & written(f, "result"), "result", blank),
        "out_of_range_lab": (measured, "result", implausible),
        "unit_mismatch": (lambda f: measured(f) & f.frame["_test"].isin(list(unit_factors)).to_numpy(), "result",
                          other_unit),
        "unknown_unit": (free, "unit", lambda f, pos: rng.choice(units, len(pos))),
        "sledai_total_mismatch": (lambda f: free(f) & written(f, "total"), "total", wrong_total),
    }
    for cls in [k for k in spec if isinstance(spec[k], dict) and "handling" in spec[k]]:
        cfg = spec[cls]
        forms = set(cfg["forms"])
        if cls in rules:
            eligible, fld, new_values = rules[cls]
            set_cells(cls, _pick(_pool(files, forms, eligible), cfg, rng), fld, new_values)
        elif cls == "duplicate_row":
            picks = _pick(_pool(files, forms, lambda f: np.ones(len(f.frame), dtype=bool)), cfg, rng)
            for f_idx, pos in zip(picks["file"], picks["pos"]):
                files[int(f_idx)].duplicates.append(int(pos))
                record(int(f_idx), pos, cls, None, "", "")
        elif cls == "missing_date":  # at least one per form
            for form in sorted(forms):
                pool = _pool(files, {form}, lambda f: free(f) & written(f, DATE_FIELD[f.form]))
                set_cells(cls, _pick(pool, dict(cfg, min=1), rng), None, blank)
        elif cls == "unknown_code":
            codes = spec.get("unknown_codes", {})
            targets = {"dm": ("sex", lambda f: np.ones(len(f.frame), dtype=bool)), "ae": ("severity", free)}
            for form in sorted(forms):
                if form not in targets:
                    raise ConfigError(f"defects.unknown_code: form '{form}' not supported (dm, ae)")
                fld, mask_fn = targets[form]
                value = codes.get(fld)
                if value is None:
                    raise ConfigError(f"defects.unknown_codes needs a value for '{fld}'")
                picks = _pick(_pool(files, {form}, mask_fn), dict(cfg, min=1), rng)
                set_cells(cls, picks, fld, lambda f, pos, v=value: [v] * len(pos))
        else:
            raise ConfigError(f"defects: unknown class '{cls}'")
    return records


def finalise_rows(files: list[RawFile], records: list[dict]) -> pd.DataFrame:
    """Insert duplicate rows (right after their original) and give each defect its final 1-based row.

    >>> from pipeline.simulate.config import example_inputs
    >>> inputs = example_inputs()
    >>> f = RawFile("402", "sv", SiteDialect("402", inputs.sim["site_dialects"]["402"], inputs),
    ...             pd.DataFrame({"Visit": ["Screening", "Baseline"], "_usubjid": ["S1", "S1"]}))
    >>> f.duplicates.append(0)
    >>> rec = [{"file_index": 0, "pos": 1, "defect_class": "missing_date", "column": "Visit Date", "usubjid": "S1",
    ...         "original_value": "2024-01-02", "injected_value": "", "expected_handling": "quarantine"}]
    >>> out = finalise_rows([f], rec)
    >>> f.frame["Visit"].tolist(), out["row"].tolist()
    (['Screening', 'Screening', 'Baseline'], [3])
    """
    new_pos: dict[int, np.ndarray] = {}
    for i, f in enumerate(files):
        n = len(f.frame)
        dup = np.zeros(n, dtype=int)
        if f.duplicates:
            dup[np.asarray(f.duplicates)] = 1
            f.frame = f.frame.iloc[np.repeat(np.arange(n), 1 + dup)].reset_index(drop=True)
        new_pos[i] = np.arange(n) + np.cumsum(dup) - dup  # each row moves down by the duplicates before it
    copied = ["column", "usubjid", "original_value", "injected_value", "expected_handling"]
    rows = [{"defect_class": r["defect_class"], "file": files[r["file_index"]].relpath,
             "row": int(new_pos[r["file_index"]][r["pos"]]) + 1 + int(r["defect_class"] == "duplicate_row"),
             **{k: r[k] for k in copied}} for r in records]
    out = pd.DataFrame(rows, columns=["defect_class", "file", "row", *copied])
    out = out.sort_values(["file", "row", "defect_class"], kind="mergesort").reset_index(drop=True)
    out.insert(0, "defect_id", [f"DEF{k + 1:05d}" for k in range(len(out))])
    return out
