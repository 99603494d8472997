"""The shape of the code, enforced: who may import whom, the generator's own copy of the
contract, and functions short enough to read."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from contract.feeds import FEEDS, INSTRUMENT_RANGES, TIMEPOINTS
from synthetic import codes as generated

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PRODUCT_PACKAGES = ("contract", "ingest", "expectations", "dashboards", "toning")
GENERATOR = ROOT / "synthetic"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


def test_the_import_contracts_hold_and_catch_a_forbidden_import(tmp_path):
    kept = lint_imports(ROOT)
    assert kept.returncode == 0, kept.stdout
    assert "0 broken" in kept.stdout

    for package in (*PRODUCT_PACKAGES, "synthetic"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    lake = tmp_path / "ingest" / "lake.py"
    lake.write_text(lake.read_text() + "\nfrom expectations.validate import SuiteValidator\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "The ingest never imports a stage after it" in broken.stdout
    assert "BROKEN" in broken.stdout


def test_the_generators_own_contract_matches_the_contract():
    """The generator transcribes the contract on its own (a bug shared by the ingest and the
    generator would pass every test); the two transcriptions must agree."""
    assert tuple(FEEDS) == generated.FEEDS
    for name, feed in FEEDS.items():
        assert generated.COLUMNS[name] == tuple(c.name for c in feed.columns if c.name != "voided")
    codes = {c.name: c.codes for feed in FEEDS.values() for c in feed.columns if c.codes}
    assert codes["treatment_area"] == generated.TREATMENT_AREAS
    assert codes["primary_concern"] == generated.CONCERNS
    assert codes["contraindications"] == generated.CONTRAINDICATIONS
    assert codes["decision"] == generated.DECISIONS
    assert codes["role"] == generated.ROLES
    assert codes["laser_type"] == generated.LASER_TYPES
    assert codes["status"] == generated.SESSION_STATUSES
    assert codes["reported_by"] == generated.REPORTERS
    assert codes["action"] == generated.ACTIONS
    assert codes["rater"] == generated.RATERS
    assert codes["channel"] == generated.CHANNELS
    assert codes["effect"] == generated.EFFECTS
    assert TIMEPOINTS == generated.TIMEPOINTS
    assert {
        name: (low, high) for name, (_, low, high) in generated.INSTRUMENTS.items()
    } == INSTRUMENT_RANGES


def long_functions(folder: Path, limit: int) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    return found


def test_no_function_is_longer_than_a_reader_can_hold():
    product = [line for package in PRODUCT_PACKAGES for line in long_functions(ROOT / package, 60)]
    assert product == []
    assert long_functions(GENERATOR, 100) == []
