"""The committed lock decides what a machine installs: every third-party package the project imports,
and every dependency pyproject.toml declares, must be pinned there with hashes."""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CODE_FOLDERS = ("pipeline", "tests", "bench")


def normalise(name: str) -> str:
    """PEP 503 name: case and runs of '-', '_', '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_packages() -> dict[str, list[str]]:
    """Locked distribution name -> the pinned requirement lines (one per environment marker)."""
    pins: dict[str, list[str]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            pins.setdefault(normalise(match[1]), []).append(line.rstrip(" \\"))
    return pins


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module imported anywhere in the project's code -> one file that imports it."""
    found: dict[str, str] = {}
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def own_module_names() -> set[str]:
    """Names the project's own files answer to (tests import sibling helper modules by name)."""
    names = set(CODE_FOLDERS)
    for folder in CODE_FOLDERS:
        names |= {p.stem for p in (ROOT / folder).rglob("*.py")} | {p.name for p in (ROOT / folder).rglob("*") if p.is_dir()}
    return names


def test_every_line_of_the_lock_is_pinned_with_a_hash():
    text = LOCK.read_text(encoding="utf-8")
    requirements = re.findall(r"^([A-Za-z0-9][^\s\\]*)[^\n]*\\\n((?:\s+--hash=sha256:[0-9a-f]{64}[ \\]*\n?)+)", text, re.M)
    names = [r[0] for r in requirements]
    assert len(names) == sum(len(v) for v in locked_packages().values()) > 20
    assert all("==" in name for name in names)


def test_every_imported_third_party_package_is_in_the_lock():
    pins = locked_packages()
    distributions = packages_distributions()
    own = own_module_names()
    missing = []
    for module, where in sorted(imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in own or module == "__future__":
            continue
        owners = [normalise(d) for d in distributions.get(module, [])]
        if not owners or not any(owner in pins for owner in owners):
            missing.append(f"{module} (imported in {where}; distributions {owners or 'none installed'})")
    assert missing == []


def test_every_declared_dependency_is_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = locked_packages()
    names = [normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in declared]
    assert [n for n in names if n not in pins] == []


@pytest.mark.parametrize("build_tool", ["setuptools", "wheel"])
def test_the_build_tools_of_the_editable_install_are_locked(build_tool):
    assert build_tool in locked_packages()


def dry_run_install(*arguments: str) -> str:
    """What `make install` would do now, without doing it."""
    import subprocess
    done = subprocess.run(["make", "-n", "--no-print-directory", "install", *arguments], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_a_changed_lock_rebuilds_the_venv_from_it():
    plan = dry_run_install(f"PYTHON={sys.executable}", "-W", "requirements.lock")
    assert "rm -rf .venv" in plan
    assert "--require-hashes --no-deps -r requirements.lock" in plan


def test_another_interpreter_rebuilds_the_venv(tmp_path):
    other = tmp_path / "python3.99"
    other.write_text("#!/bin/sh\necho 3.99.1\n")
    other.chmod(0o755)
    plan = dry_run_install(f"PYTHON={other}")
    assert "rm -rf .venv" in plan and f"{other} -m venv .venv" in plan
