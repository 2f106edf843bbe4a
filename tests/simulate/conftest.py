"""Read the simulated raw exports back the way docs/raw-exports.md describes them.

This is an independent, test-only reader: it uses only the written files plus the documented
dialect tables in simulation.yaml, so the calibration tests check the files, not the generator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.common.specfile import load_spec
from pipeline.common.study import StudyContext

MONTHS = {m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DATE_RX = {
    "DD.MM.YYYY": r"^(?P<d>\d\d)\.(?P<m>\d\d)\.(?P<y>\d{4})$",
    "DD/MM/YYYY": r"^(?P<d>\d\d)/(?P<m>\d\d)/(?P<y>\d{4})$",
    "DD-MON-YYYY": r"^(?P<d>\d\d)-(?P<mon>[A-Z]{3})-(?P<y>\d{4})$",
    "MM-DD-YYYY": r"^(?P<m>\d\d)-(?P<d>\d\d)-(?P<y>\d{4})$",
    "YYYY-MM-DD": r"^(?P<y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d)$",
    "YYYY/MM/DD": r"^(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)$",
}


def read_raw_file(path: Path, dialect: dict) -> pd.DataFrame:
    """A raw file as a frame of strings ('' for missing), whatever its format."""
    fmt = dialect["format"]
    if fmt == "csv":
        frame = pd.read_csv(path, sep=dialect.get("delimiter", ","), encoding=dialect.get("encoding", "utf-8"),
                            dtype=str, keep_default_na=False)
    elif fmt == "xlsx":
        frame = pd.read_excel(path, dtype=str, sheet_name=dialect.get("sheet", 0)).fillna("")
    elif fmt == "xpt":
        import pyreadstat

        frame, _meta = pyreadstat.read_xport(str(path))
        for col in frame.columns:
            if frame[col].dtype.kind == "f":
                frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else f"{v:g}")
        frame = frame.astype(str)
    else:
        raise AssertionError(f"unknown format {fmt}")
    return frame


def parse_dates(values: pd.Series, pattern: str) -> pd.Series:
    """Complete, valid dates only; anything else (partial, impossible, empty) becomes NaT."""
    parts = values.str.extract(_DATE_RX[pattern])
    if "mon" in parts:
        parts["m"] = parts["mon"].map(MONTHS).astype("Int64").astype("string")
    text = parts["y"] + "-" + parts["m"].astype("string").str.zfill(2) + "-" + parts["d"]
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


@dataclass
class RawData:
    """The simulated raw folder plus the specs needed to read it."""

    ctx: StudyContext
    sim: dict
    design: dict
    instrument: dict

    @property
    def raw_dir(self) -> Path:
        return Path(self.ctx.raw_dir)

    @property
    def sites(self) -> list[str]:
        return [str(s["siteid"]) for s in self.design["sites"]]

    def dialect(self, site: str) -> dict:
        return self.sim["site_dialects"][site]

    def path(self, site: str, form: str) -> Path:
        return self.raw_dir / f"site_{site}" / f"{form}.{self.dialect(site)['format']}"

    def manifest(self) -> dict:
        return json.loads((self.raw_dir / "_truth" / "manifest.json").read_text(encoding="utf-8"))

    def defects(self) -> pd.DataFrame:
        return pd.read_csv(self.raw_dir / "_truth" / "defects.csv", dtype=str, keep_default_na=False)

    def column_map(self, site: str, form: str) -> dict[str, str]:
        idx = self.sim["column_styles"].index(self.dialect(site)["columns"])
        return {names[idx]: fld for fld, names in self.sim["forms"][form].items()}

    def sledai_columns(self, site: str) -> dict[str, str]:
        """Descriptor column name -> test code, by the naming rule of docs/raw-exports.md."""
        style = self.dialect(site)["columns"]
        out = {}
        for it in self.instrument["items"]:
            label = it["test"].split("-", 1)[1]
            words = re.findall(r"[A-Za-z0-9]+", label)
            name = {"title": label, "snake": "_".join(w.lower() for w in words), "sas": f"SLED{it['num']:02d}",
                    "camel": "".join(w[0].upper() + w[1:] for w in words)}[style]
            out[name] = it["testcd"]
        return out

    def read(self, site: str, form: str, canonical: bool = True) -> pd.DataFrame:
        """One file; with ``canonical`` the fields get their canonical names; adds ``_row`` and ``_site``."""
        frame = read_raw_file(self.path(site, form), self.dialect(site))
        if canonical:
            frame = frame.rename(columns=self.column_map(site, form))
            if form == "sledai":
                frame = frame.rename(columns=self.sledai_columns(site))
        frame["_row"] = np.arange(1, len(frame) + 1)
        frame["_site"] = site
        return frame

    def read_all(self, form: str) -> pd.DataFrame:
        frames = []
        for site in self.sites:
            frame = self.read(site, form)
            frame["usubjid"] = self.usubjid(site, frame["subject"])
            frame["date_parsed"] = parse_dates(frame[self._date_field(form)], self.dialect(site)["date"]) \
                if self._date_field(form) in frame else pd.NaT
            if "visit" in frame:
                frame["visit_name"] = self.visit_names(site, frame["visit"])
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _date_field(form: str) -> str:
        return {"dm": "consent_date", "rand": "rand_date", "ae": "start_date", "cm": "start_date",
                "mh": "start_date"}.get(form, "date")

    def usubjid(self, site: str, subject: pd.Series) -> pd.Series:
        """The documented rule: part after the last '-', integer, zero-padded to 4 digits."""
        number = subject.str.split("-").str[-1]
        valid = number.str.fullmatch(r"\d+").fillna(False)
        subjid = number.where(valid, "").map(lambda s: str(int(s)).zfill(4) if s else "")
        studyid = self.design["study"]["studyid"]
        return (studyid + "-" + site + "-" + subjid).where(valid, "")

    def visit_names(self, site: str, visit: pd.Series) -> pd.Series:
        by_num = {f"V{v['visitnum']}": v["visit"] for v in self.design["visits"]}
        style = self.dialect(site)["visit"]
        if style == "code":
            return visit.map(by_num)
        return visit.str.upper()

    def decode(self, site: str, codelist: str, values: pd.Series) -> pd.Series:
        """Site codes back to CDISC-style values (unknown codes stay as written)."""
        style = self.dialect(site)["codes"]
        table = self.sim["codelists"][codelist].get(style) or self.sim["codelists"][codelist]["cdisc"]
        reverse = {v: k for k, v in table.items()}
        return values.map(lambda v: reverse.get(v, v))

    def number(self, site: str, values: pd.Series) -> pd.Series:
        decimal = self.dialect(site).get("decimal", ".")
        text = values.str.replace(decimal, ".", regex=False) if decimal != "." else values
        return pd.to_numeric(text, errors="coerce")

    def parse_dates(self, values: pd.Series, site: str) -> pd.Series:
        return parse_dates(values, self.dialect(site)["date"])

    def clean(self, frame: pd.DataFrame, form: str) -> pd.DataFrame:
        """Rows of a read()/read_all() frame that carry no injected defect (duplicates' copies removed)."""
        d = self.defects()
        bad = set(zip(d["file"], d["row"].astype(int)))
        relpath = "site_" + frame["_site"] + f"/{form}." + frame["_site"].map(lambda s: self.dialect(s)["format"])
        keep = np.array([(f, int(r)) not in bad for f, r in zip(relpath, frame["_row"])], dtype=bool)
        return frame[keep]

    def arms(self) -> pd.DataFrame:
        """usubjid -> armcd from the randomisation files."""
        trtn = {str(a["trtn"]): a["armcd"] for a in self.design["arms"]}
        frames = []
        for site in self.sites:
            rand = self.read(site, "rand")
            code = rand["treatment"]
            if self.dialect(site)["treatment"] == "trtn":
                code = code.map(trtn)
            frames.append(pd.DataFrame({"usubjid": self.usubjid(site, rand["subject"]), "armcd": code}))
        return pd.concat(frames, ignore_index=True)

    def labs(self) -> pd.DataFrame:
        """All lab rows with test key and the result converted to canonical units."""
        frames = []
        for site in self.sites:
            lab = self.read(site, "lab")
            d = self.dialect(site)
            names = self.sim["lab"]["test_names"][d["lab_names"]]
            profile = self.sim["lab"]["unit_profiles"][d["lab_units"]]
            lab["test_key"] = lab["test"].map({v: k for k, v in names.items()})
            unit_ok = lab["unit"] == lab["test_key"].map({k: v[0] for k, v in profile.items()})
            factor = lab["test_key"].map({k: float(v[1]) for k, v in profile.items()})
            lab["value"] = self.number(site, lab["result"]) / factor
            lab.loc[~unit_ok, "value"] = np.nan
            lab["usubjid"] = self.usubjid(site, lab["subject"])
            lab["visit_name"] = self.visit_names(site, lab["visit"])
            lab["date_parsed"] = parse_dates(lab["date"], d["date"])
            frames.append(lab)
        return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def raw(simulated: StudyContext) -> RawData:
    """The default simulation (session fixture of tests/conftest.py) with readers."""
    return RawData(ctx=simulated, sim=load_spec(simulated.specs_dir / "simulation.yaml"), design=simulated.design,
                   instrument=load_spec(simulated.standards_dir / "instruments" / "selena-sledai.yaml"))
