"""`toning refresh --engine spark` on a machine without the Spark extra: it fails at once, says
how to install what is missing, and leaves the published warehouse and the lake as they were.

"Without the extra" is made real for the refresh's process whether or not this machine has it:
the child Python starts with pyspark and dbt-spark unimportable (their sys.modules entries set to
None, which is how Python marks a module that cannot be imported).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toning import spark
from toning.config import DataDir

WITHOUT_THE_EXTRA = (
    "import sys\n"
    "for module in ('pyspark', 'dbt.adapters.spark'):\n"
    "    sys.modules[module] = None\n"
    "from toning.cli import app\n"
    "app(prog_name='toning')\n"
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(demo_warehouse, tmp_path: Path) -> tuple[Path, DataDir]:
    """A copy of the demo chain's landing zone and published data folder, one more day landed."""
    landing, data = demo_warehouse
    copy = DataDir(tmp_path / "data")
    shutil.copytree(data.root, copy.root)
    (copy.state / "refresh.lock").unlink(missing_ok=True)
    new_landing = tmp_path / "landing"
    shutil.copytree(landing, new_landing)
    return new_landing, copy


def refresh(landing: Path, data: DataDir, *options: str, env: dict | None = None):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_THE_EXTRA,
            "refresh",
            "--landing",
            str(landing),
            "--data-dir",
            str(data.root),
            *options,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_spark_refresh_without_the_extra_stops_before_touching_anything(published, how):
    landing, data = published
    before = {path: digest(path) for path in (data.warehouse, data.lake)}
    if how == "option":
        result = refresh(landing, data, "--engine", "spark")
    else:
        result = refresh(landing, data, env={"TONING_ENGINE": "spark"})
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "pyspark" in said and "dbt-spark" in said
    assert "make setup-spark" in said
    assert "ingest:" not in said  # it stopped before the ingest
    assert {path: digest(path) for path in before} == before


def test_an_unknown_engine_is_refused_with_the_choices(published):
    landing, data = published
    result = refresh(landing, data, "--engine", "oracle")
    said = result.stdout + result.stderr
    assert result.returncode == 2, said
    assert "duckdb, spark" in said


def test_java_is_named_when_it_is_missing(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no java on it
    assert "Java 17" in spark.missing()
    with pytest.raises(spark.SparkUnavailable, match="openjdk-17-jre-headless"):
        spark.require()


def test_the_suites_load_in_a_process_started_with_python_c():
    """With the Spark extra installed, importing Great Expectations under `python -c` (or in a
    pytest-xdist worker) once ended the process with exit status 0, silently."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from expectations.validate import SuiteValidator\n"
            "SuiteValidator().ready()\n"
            "print('the suites loaded')",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "the suites loaded" in loaded.stdout, loaded.stderr
