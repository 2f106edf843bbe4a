"""Re-check a submission package folder against its ``manifest.json`` (what is checked: docs/submission-package.md);
one line per problem, exit 0 when the package matches, 2 otherwise::

    python -m pipeline.submit.verify outputs/iscalimab-ln/submission
    make verify-submission [DIR=path/to/submission]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.common.errors import EXIT_BAD_INPUT, EXIT_OK
from pipeline.common.logs import safe_text
from pipeline.common.io import sha256_file

MANIFEST = "manifest.json"
_LEAF = "{http://www.cdisc.org/ns/def/v2.1}leaf"
_HREF = "{http://www.w3.org/1999/xlink}href"


def _xpt_records(path: Path) -> int:
    import pyreadstat

    _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
    if meta.number_rows is not None:
        return int(meta.number_rows)
    data, _ = pyreadstat.read_xport(str(path))
    return int(len(data))


def verify_package(folder: str | Path) -> list[str]:
    """Every difference between ``folder`` and its ``manifest.json``, one readable line each.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("x")
    >>> _ = (folder / MANIFEST).write_text(json.dumps({"files": [{"path": "notes.txt", "bytes": 1,
    ...     "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}], "datasets": []}))
    >>> verify_package(folder)
    []
    >>> _ = (folder / "notes.txt").write_text("y")
    >>> verify_package(folder)[0]
    'notes.txt: SHA-256 a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa differs from the manifest (2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881)'
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: not a folder"]
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return [f"{manifest_path}: missing (not a submission package, or the manifest was not sent)"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{manifest_path}: not readable JSON ({exc})"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        return [f"{manifest_path}: no 'files' list"]
    problems: list[str] = []
    listed = set()
    for entry in files:
        relative = str(entry.get("path", ""))
        listed.add(relative)
        path = folder / relative
        if not relative or not path.is_file():
            problems.append(f"{relative or '(entry without path)'}: listed in the manifest but missing")
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            problems.append(f"{relative}: {size} bytes, the manifest says {entry.get('bytes')}")
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{relative}: SHA-256 {digest} differs from the manifest ({entry.get('sha256')})")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != MANIFEST and not path.name.startswith(".") and relative not in listed:
            problems.append(f"{relative}: not in the manifest")
    for dataset in manifest.get("datasets") or []:
        expected = dataset.get("records")
        for key in ("xpt", "dataset_json"):
            relative = dataset.get(key)
            if not relative or not (folder / relative).is_file():
                continue  # a missing file is reported above
            try:
                if key == "xpt":
                    count = _xpt_records(folder / relative)
                else:
                    obj = json.loads((folder / relative).read_text(encoding="utf-8"))
                    count = obj.get("records")
                    if count != len(obj.get("rows") or []):
                        problems.append(f"{relative}: records = {count} but {len(obj.get('rows') or [])} rows")
            except Exception as exc:  # a damaged file: name it, keep checking the others
                problems.append(f"{relative}: cannot be read ({exc.__class__.__name__}: {exc})")
                continue
            if count != expected:
                problems.append(f"{relative}: {count} records, the manifest says {expected} ({dataset.get('dataset')})")
    problems.extend(_check_define_leaves(folder))
    return problems


def _check_define_leaves(folder: Path) -> list[str]:
    from lxml import etree

    problems = []
    for define in sorted(folder.rglob("define.xml")):
        try:
            tree = etree.parse(str(define))
        except etree.XMLSyntaxError as exc:
            problems.append(f"{define.relative_to(folder).as_posix()}: not well-formed XML ({exc})")
            continue
        for leaf in tree.iter(_LEAF):
            href = leaf.get(_HREF) or ""
            if href and not (define.parent / href).is_file():
                problems.append(f"{define.relative_to(folder).as_posix()}: def:leaf {leaf.get('ID')} points to "
                                f"{href}, which is not in the package")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.submit.verify [DIR]``: print one line per problem; exit 0 or 2."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m pipeline.submit.verify SUBMISSION_DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    folder = Path(args[0])
    problems = verify_package(folder)
    if problems:
        for line in problems:
            print(f"error: {safe_text(line)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    print(f"ok: {folder}: {len(manifest.get('files') or [])} files and {len(manifest.get('datasets') or [])} "
          "datasets match manifest.json")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
