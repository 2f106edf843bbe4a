"""define.xml against the specs it came from: value-level metadata for every parameterised dataset,
and a round trip through odmlib's Define-XML 2.1 model that loses nothing."""

import pandas as pd
import pytest
from lxml import etree

from pipeline.common.specfile import load_spec
from pipeline.submit.metadata import load_adam_variables

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
odmlib = pytest.importorskip("odmlib")


def _by_variable(frame: pd.DataFrame, dataset: str):
    """The variable that parameterises a dataset and the result variables it qualifies."""
    prefix = dataset[:2]
    if dataset.startswith("SUPP"):
        return "QNAM", ["QVAL"]
    if f"{prefix}TESTCD" in frame.columns:
        return f"{prefix}TESTCD", [c for c in (f"{prefix}ORRES", f"{prefix}STRESC", f"{prefix}STRESN") if c in frame.columns]
    if f"{prefix}PARMCD" in frame.columns:
        return f"{prefix}PARMCD", [f"{prefix}VAL"]
    if "PARAMCD" in frame.columns:
        return "PARAMCD", [c for c in ("AVAL", "AVALC") if c in frame.columns]
    return None, []


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_every_parameterised_dataset_has_a_value_list_and_where_clause_per_code(flagship_package, standard):
    ctx = flagship_package
    tree = etree.parse(str(ctx.submission_dir / standard / "define.xml"))
    source = ctx.sdtm_dir if standard == "sdtm" else ctx.adam_dir
    checked = 0
    for parquet in sorted(source.glob("*.parquet")):
        name = parquet.stem.upper()
        frame = pd.read_parquet(parquet)
        by, targets = _by_variable(frame, name)
        if not by:
            continue
        for target in targets:
            codes = sorted(frame.loc[frame[target].notna() & (frame[target].astype(str) != ""), by].dropna().unique())
            if not codes:
                continue
            value_list = tree.find(f".//def:ValueListDef[@OID='VL.{name}.{target}']", NS)
            assert value_list is not None, f"{name}.{target}: no ValueListDef"
            assert tree.find(f".//odm:ItemDef[@OID='IT.{name}.{target}']/def:ValueListRef", NS).get("ValueListOID") \
                == f"VL.{name}.{target}"
            clauses = [ref.find("def:WhereClauseRef", NS).get("WhereClauseOID") for ref in value_list.findall("odm:ItemRef", NS)]
            assert clauses == [f"WC.{name}.{by}.{code}" for code in codes], f"{name}.{target}"
            for code in codes:
                check = tree.find(f".//def:WhereClauseDef[@OID='WC.{name}.{by}.{code}']/odm:RangeCheck", NS)
                assert (check.get(f"{{{NS['def']}}}ItemOID"), check.get("Comparator"),
                        [v.text for v in check.findall("odm:CheckValue", NS)]) == (f"IT.{name}.{by}", "EQ", [code])
            checked += 1
    assert checked >= (10 if standard == "sdtm" else 5)


def _load(path):
    import odmlib.define_loader as define_loader
    import odmlib.loader as loader

    document = loader.ODMLoader(define_loader.XMLDefineLoader(model_package="define_2_1",
                                                               ns_uri="http://www.cdisc.org/ns/def/v2.1"))
    document.open_odm_document(str(path))
    return document.root()


def _summary(odm) -> dict:
    """Everything a reviewer reads in define.xml, from odmlib's model."""
    mdv = odm.Study.MetaDataVersion
    text = lambda element: element.Description.TranslatedText[0]._content if element.Description else ""  # noqa: E731
    return {
        "datasets": [(ig.OID, ig.Name, text(ig), ig.Structure, ig.Class.Name if ig.Class else "",
                      [(r.ItemOID, r.OrderNumber, r.Mandatory, r.KeySequence, r.MethodOID) for r in ig.ItemRef])
                     for ig in mdv.ItemGroupDef],
        "items": [(it.OID, it.Name, it.DataType, it.Length, it.DisplayFormat, text(it),
                   [(o.Type, o.Source) for o in it.Origin], it.CodeListRef.CodeListOID if it.CodeListRef else "")
                  for it in mdv.ItemDef],
        "methods": [(m.OID, m.Name, text(m)) for m in mdv.MethodDef],
        "codelists": [(c.OID, c.Name, [i.CodedValue for i in c.CodeListItem] + [i.CodedValue for i in c.EnumeratedItem])
                      for c in mdv.CodeList],
        "value_lists": [(v.OID, [r.ItemOID for r in v.ItemRef]) for v in mdv.ValueListDef],
        "where_clauses": [(w.OID, [(r.ItemOID, r.Comparator, [c._content for c in r.CheckValue]) for r in w.RangeCheck])
                          for w in mdv.WhereClauseDef],
    }


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_define_round_trips_through_odmlib_and_matches_the_specs(flagship_package, standard, tmp_path):
    ctx = flagship_package
    path = ctx.submission_dir / standard / "define.xml"
    first = _summary(_load(path))
    _load(path).write_xml(str(tmp_path / "again.xml"))
    assert _summary(_load(tmp_path / "again.xml")) == first  # nothing lost writing it back

    metadata = pd.read_csv(ctx.submission_dir / standard / "metadata.csv", keep_default_na=False)
    items = {oid: (name, data_type, length, display, label) for oid, name, data_type, length, display, label, *_ in first["items"]}
    assert len(metadata) == sum(len(d[5]) for d in first["datasets"])
    for row in metadata.itertuples(index=False):
        name, data_type, length, display, label = items[f"IT.{row.dataset}.{row.variable}"]
        assert (name, data_type, label) == (row.variable, row.define_type, row.label)
        assert (display or "") == row.display_format
        if data_type in ("text", "integer", "float"):  # ISO 8601 date/datetime items carry no Length
            assert length == int(row.length), f"{row.dataset}.{row.variable}"
    methods = {oid: description for oid, _, description in first["methods"]}
    method_of = {(oid.split(".")[1], oid.split(".")[2]): method_oid for ig in first["datasets"]
                 for oid, _, _, _, method_oid in ig[5] if method_oid}
    derived = metadata[metadata["origin"] == "Derived"]
    assert {(r.dataset, r.variable): r.method for r in derived.itertuples()} == \
        {key: methods[oid] for key, oid in method_of.items()}
    if standard == "adam":  # labels and types of adam.yaml arrive in define.xml
        spec = load_adam_variables(ctx.specs_dir / "adam.yaml")
        kinds = {"text": ("text",), "integer": ("integer",), "float": ("float", "integer"), "date": ("integer",),
                 "datetime": ("integer",)}
        formats = {"date": "DATE9.", "datetime": "DATETIME20."}
        for row in spec.itertuples(index=False):
            oid = f"IT.{row.dataset}.{row.variable}"
            if oid not in items:
                continue  # optional variable the study does not have
            name, data_type, length, display, label = items[oid]
            assert label == row.label[:40]
            iso_text = ("date", "datetime", "partialDate", "partialDatetime", "incompleteDatetime") \
                if row.attributes.get("format") == "ISO 8601" else ()  # an --DTC copied from SDTM
            assert data_type in kinds[row.type] + iso_text, f"{oid}: {data_type} for a {row.type} variable"
            assert (display or "") == formats.get(row.type, display or ""), oid
        assert load_spec(ctx.specs_dir / "adam.yaml")["standard"] == "ADaMIG 1.3"
