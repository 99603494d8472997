"""The Spark engine: the same dbt project built by Apache Spark through dbt-spark.

Spark runs in-process in local mode (dbt-spark `method: session`), offline. It is optional:
pyspark and dbt-spark come with the `.[spark]` extra (`make setup-spark`) and need Java 17, so
a refresh asked to use Spark checks for them before it touches anything.

A build on Spark: the lake's raw tables are written as Parquet files (the feeds Spark reads as
the dbt sources), dbt builds every model on the `spark` target, and the tables Spark wrote are
copied into the DuckDB build file, where the DuckDB-only SQL functions are then published; the
quality gate and the publish that follow do not know which engine ran. Everything Spark writes
(its warehouse, its metastore, its temporary files) stays in the build's work folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from ingest import lake
from toning.dbt import DBT_PROJECT_DIR, DbtResult, run_dbt

INSTALL_HINT = (
    "install it with `make setup-spark` (pip install -c constraints.txt -e '.[spark]') and"
    " Java 17 (Debian: apt-get install openjdk-17-jre-headless)"
)
# The modules of the extra, and what each is called in pip.
EXTRA_MODULES = {"pyspark": "pyspark", "dbt.adapters.spark": "dbt-spark"}


class SparkUnavailable(Exception):
    """The Spark engine cannot run on this machine; the message says what to install."""


def java_executable() -> Path | None:
    """$JAVA_HOME/bin/java, else `java` on the PATH (what pyspark itself starts)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return Path(home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


def missing() -> list[str]:
    """What the Spark engine lacks here: pip packages of the extra, and Java."""
    lacking = [package for module, package in EXTRA_MODULES.items() if not _importable(module)]
    if java_executable() is None:
        lacking.append("Java 17")
    return lacking


def require() -> None:
    """Raise SparkUnavailable, naming what is missing and how to install it, unless the Spark
    engine can run here."""
    lacking = missing()
    if lacking:
        raise SparkUnavailable(
            f"the Spark engine needs {', '.join(lacking)}, missing on this machine: "
            f"{INSTALL_HINT}. Or refresh with --engine duckdb."
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        return False


# The dbt profile's spark output reads these (dbt_project/profiles.yml).
WORK_DIR_ENV = "TONING_SPARK_WORK_DIR"
LAKE_DIR_ENV = "TONING_SPARK_LAKE_DIR"  # a folder per feed (dbt_project/macros/lake_sources.sql)
LAKE_SCHEMA = "raw"  # the sources' schema on Spark (the dbt var lake_schema): not copied back
WAREHOUSE_FOLDER = "spark-warehouse"  # spark.sql.warehouse.dir, under the work folder


def build(
    *,
    lake_path: Path,
    build_path: Path,
    work_dir: Path,
    dbt_vars: Mapping[str, object],
    project_dir: Path = DBT_PROJECT_DIR,
    on_line: Callable[[str], None] | None = None,
) -> DbtResult:
    """Every model built on Spark from the lake, then copied into the DuckDB file `build_path`.
    Always from scratch: the work folder (Spark's metastore and warehouse) is emptied first."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    feeds = export_feeds(lake_path, work_dir / "lake")
    env = {WORK_DIR_ENV: str(work_dir.resolve()), LAKE_DIR_ENV: str(feeds.resolve())}
    result = run_dbt(
        [
            "build",
            "--target",
            "spark",
            "--full-refresh",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            json.dumps(dict(dbt_vars)),
        ],
        lake_path=lake_path,
        build_path=build_path,
        work_dir=work_dir / "dbt",
        project_dir=project_dir,
        on_line=on_line,
        extra_env=env,
    )
    if not result.ok:
        return result
    copy_tables(work_dir / WAREHOUSE_FOLDER, build_path)
    published = run_dbt(
        ["run-operation", "publish_statistics_functions", "--vars", json.dumps(dict(dbt_vars))],
        lake_path=lake_path,
        build_path=build_path,
        work_dir=work_dir / "dbt-duckdb",
        project_dir=project_dir,
        on_line=on_line,
    )
    return result if published.ok else published


def export_feeds(lake_path: Path, folder: Path) -> Path:
    """Each raw table of the lake as Parquet, in a folder of its own: `<folder>/<table>/`."""
    folder.mkdir(parents=True, exist_ok=True)
    with lake.connect(lake_path, read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        for table in tables:
            (folder / table).mkdir()
            target = str(folder / table / "data.parquet").replace("'", "''")
            con.execute(f"copy raw.{table} to '{target}' (format parquet)")
    return folder


def copy_tables(spark_warehouse: Path, build_path: Path) -> list[str]:
    """Every table Spark wrote (`<schema>.db/<table>/` folders of Parquet files) into the same
    schema and name in the DuckDB file; returns their `schema.table` names."""
    copied = []
    with lake.connect(build_path) as con:
        for schema_dir in sorted(spark_warehouse.glob("*.db")):
            schema = schema_dir.name.removesuffix(".db")
            if schema == LAKE_SCHEMA:
                continue
            con.execute(f"create schema if not exists {schema}")
            for table_dir in sorted(path for path in schema_dir.iterdir() if path.is_dir()):
                files = str(table_dir / "*.parquet").replace("'", "''")
                con.execute(
                    f"create or replace table {schema}.{table_dir.name} as"
                    f" select * from read_parquet('{files}')"
                )
                copied.append(f"{schema}.{table_dir.name}")
    return copied
