"""The Spark engine (dbt-spark, Spark in local mode, in-process): the same dbt project gives the
same published warehouse as DuckDB, night by night, on the generator's chain and on a chain we do
not control; its dbt unit tests pass on Spark too; and Spark writes nothing outside the data
folder. Needs the `.[spark]` extra, which `make test` installs (`make setup-spark`).

One Spark build costs 1-2 minutes here, so the checks share two fixtures:
- the demo chain refreshed on Spark night by night (the base files, then one more day), against
  DuckDB refreshed once over the same files: equal marts prove the engines agree AND that
  Spark's nightly refreshes equal a full build (DuckDB's own incremental = full is
  test_incremental.py's);
- the foreign-chain sample through `toning.parity.compare_engines`, which takes any landing
  folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synthetic import generate_landing
from toning import spark
from toning.config import REPO_ROOT, DataDir
from toning.dbt import run_dbt
from toning.parity import compare_engines, compare_warehouses, share_key
from toning.refresh import run_refresh

pytestmark = pytest.mark.slow

FOREIGN_CHAIN = REPO_ROOT.parent / "shared" / "samples" / "foreign-chain" / "landing"
# What Spark, Hive's Derby metastore and the JVM leave behind when their folders are not set.
LITTER = ("metastore_db", "spark-warehouse", "derby", "hsperfdata", "spark-", "blockmgr", "hive")


def litter(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.name.startswith(LITTER)}


@pytest.fixture(scope="module")
def demo_nights(tmp_path_factory, monkeypatch_module) -> tuple[DataDir, DataDir, set[str]]:
    """(DuckDB's data folder, Spark's, what appeared in /tmp and the working folder)."""
    spark.require()
    root = tmp_path_factory.mktemp("spark_demo")
    cwd = root / "cwd"
    cwd.mkdir()
    monkeypatch_module.chdir(cwd)
    before = litter(Path("/tmp"))
    landing = root / "landing"
    on_spark, on_duckdb = DataDir(root / "spark"), DataDir(root / "duckdb")
    generate_landing("demo", landing, seed=42)
    run_refresh(landing, on_spark, engine="spark")
    generate_landing("demo", landing, seed=42, days=1)  # the next night's files land
    run_refresh(landing, on_spark, engine="spark")
    share_key(on_spark, on_duckdb)
    run_refresh(landing, on_duckdb)
    left = (litter(Path("/tmp")) - before) | litter(cwd) | litter(REPO_ROOT)
    return on_duckdb, on_spark, left


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_spark_night_by_night_publishes_what_duckdb_publishes(demo_nights):
    on_duckdb, on_spark, _ = demo_nights
    parity = compare_warehouses(on_duckdb.warehouse, on_spark.warehouse)
    assert parity.differences == []
    assert "marts.fct_sessions" in parity.tables and len(parity.tables) > 40


def test_the_published_warehouse_says_spark_built_it(demo_nights):
    _, on_spark, _ = demo_nights
    history = json.loads(on_spark.run_history.read_text())  # newest first
    assert [(run["status"], run["dbt_build"]) for run in history] == [
        ("published", "full on spark"),
        ("published", "full on spark"),
    ]


def test_spark_writes_nothing_outside_the_data_folder(demo_nights):
    _, on_spark, left = demo_nights
    assert left == set()
    assert (on_spark.state / "spark" / "spark-warehouse").is_dir()


def test_the_dbt_unit_tests_pass_on_spark(demo_nights):
    _, on_spark, _ = demo_nights
    work = on_spark.state / "spark"
    result = run_dbt(
        ["test", "--target", "spark", "--select", "test_type:unit"],
        lake_path=on_spark.lake,
        build_path=on_spark.build_dir / "unused.duckdb",
        work_dir=work / "unit-tests",
        extra_env={spark.WORK_DIR_ENV: str(work), spark.LAKE_DIR_ENV: str(work / "lake")},
    )
    assert result.ok, result.output_tail
    passed = [line for line in result.output_tail.splitlines() if "PASS=" in line]
    assert passed and "ERROR=0" in passed[-1], passed


@pytest.mark.skipif(
    not FOREIGN_CHAIN.is_dir(), reason=f"no foreign-chain sample at {FOREIGN_CHAIN}"
)
def test_a_chain_we_do_not_control_gives_the_same_warehouse_on_both_engines(tmp_path: Path):
    landing = tmp_path / "landing"
    shutil.copytree(FOREIGN_CHAIN, landing)  # never refresh in place: the sample is read-only
    for path in landing.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    parity = compare_engines(landing, tmp_path / "parity")
    assert parity.differences == []
    assert "marts.expected_course_outcomes" in parity.tables
