"""The RTF opens in LibreOffice (PDF text holds the numbers); the HTML renders in headless Chromium.

Both run when the binaries exist (apt: libreoffice-writer-nogui poppler-utils chromium) and skip
with the reason otherwise. One conversion each: they are slow.
"""

import shutil
import subprocess

import pytest

from pipeline.analysis.ard import write_ard
from pipeline.tlf.stage import render_output


@pytest.fixture(scope="module")
def table2_files(example_shell_, example_ards, long_soc_pt, tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    write_ard(example_ards["table2"], root / "ard", "table2")
    render_output(example_shell_, "table2", root / "ard", root / "tlf")
    write_ard(long_soc_pt, root / "ard", "t_teae_soc_pt")
    render_output(example_shell_, "t_teae_soc_pt", root / "ard", root / "tlf")
    return root


def _need(*binaries):
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install libreoffice-writer-nogui poppler-utils chromium)")


def test_rtf_converts_to_pdf_with_libreoffice_with_our_pages_and_numbers(table2_files):
    _need("libreoffice", "pdftotext")
    out = table2_files / "pdf"
    rtfs = [str(table2_files / "tlf" / f"{name}.rtf") for name in ("table2", "t_teae_soc_pt")]
    result = subprocess.run(
        ["libreoffice", f"-env:UserInstallation=file://{table2_files / 'lo-profile'}", "--headless",
         "--convert-to", "pdf", "--outdir", str(out), *rtfs], capture_output=True, text=True, timeout=240)
    assert (out / "table2.pdf").exists() and (out / "t_teae_soc_pt.pdf").exists(), result.stderr

    text = subprocess.run(["pdftotext", "-layout", str(out / "table2.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Page 1 of 1" in text
    sae = next(line for line in text.splitlines() if "Any serious TEAE" in line)
    assert sae.split()[-6:] == ["2", "(40.0)", "1", "(33.3)", "3", "(37.5)"]
    assert "Active" in text and "(N=5)" in text

    # a multi-page table: LibreOffice makes exactly our pages, each with its own "Page x of n"
    ours = (table2_files / "tlf" / "t_teae_soc_pt.rtf").read_text().count("\\sectd")
    long_text = subprocess.run(["pdftotext", "-layout", str(out / "t_teae_soc_pt.pdf"), "-"],
                               capture_output=True, text=True, check=True).stdout
    pages = long_text.rstrip("\f").split("\f")
    assert ours >= 2 and len(pages) == ours
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {ours}" in page
        assert "Preferred term" in page  # column headers repeated


def test_html_renders_in_headless_chromium(table2_files):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        _need("chromium")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={table2_files / 'chromium-profile'}", "--dump-dom",
         (table2_files / "tlf" / "table2.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Any serious TEAE" in result.stdout
    assert "2 (40.0)" in result.stdout and "Total\n(N=8)" in result.stdout
