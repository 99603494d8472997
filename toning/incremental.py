"""Whether tonight's dbt build may start from the published warehouse, and what proves it may.

An incremental build copies the published warehouse into the build folder and lets dbt's
incremental models recompute only the patients the new files touch (see
dbt_project/macros/changed_patients.sql). That is only right when the published warehouse was
built by the same dbt project, with the same variables, from this lake, under its
pseudonymisation key: each build records a fingerprint of what made it
(`ops.refresh_runs.dbt_fingerprint`), and anything that differs, or any doubt, means a build
from scratch, which gives the same marts, only slower.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

import duckdb

from ingest import key_check, lake
from ingest.migrations import SCHEMA_VERSION
from toning import versions

# Written by dbt, never read by it: they do not change what a build makes.
NOT_THE_PROJECT = {"target", "logs", "dbt_packages", "__pycache__"}
PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")


def fingerprint(project_dir: Path, dbt_vars: Mapping[str, object]) -> str:
    """What decides a build's output besides the lake: every file of the dbt project, the
    variables it is run with, the versions of dbt, its adapter and DuckDB, and the lake's
    schema version (a migration can rewrite loaded rows)."""
    digest = hashlib.sha256()
    project_dir = Path(project_dir)
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_file() and not NOT_THE_PROJECT.intersection(relative.parts):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(dict(dbt_vars), sort_keys=True, default=str).encode())
    digest.update(json.dumps({name: version(name) for name in PACKAGES}).encode())
    digest.update(f"lake schema {SCHEMA_VERSION}".encode())
    return digest.hexdigest()


def why_not_incremental(published: Path, lake_path: Path, project_fingerprint: str) -> str | None:
    """None when a build may start from the published warehouse; otherwise why not, in words."""
    if not published.exists():
        return "no warehouse is published yet"
    built_by = versions.published_run(published)
    if built_by is None:
        return "the published warehouse records no published run"
    try:
        with lake.connect(published, read_only=True) as con:
            built = _recorded_fingerprint(con, built_by.run_id)
            seen = _loaded_files(con)
        with lake.connect(lake_path, read_only=True) as con:
            in_lake = _loaded_files(con)
            lake_key = key_check.recorded(con)
    except duckdb.Error as error:
        return f"the published warehouse cannot be read ({str(error).splitlines()[0]})"
    if built is None:
        return "the published warehouse records no build fingerprint (made by an older release)"
    if built != _with_key(project_fingerprint, lake_key):
        return (
            "the dbt project, its variables, dbt's version, the lake's schema or its"
            " pseudonymisation key changed since the published warehouse was built"
        )
    if not seen <= in_lake:
        missing = len(seen - in_lake)
        return f"the lake lacks {missing} file(s) the published warehouse was built from"
    return None


def start_from_published(published: Path, build_path: Path) -> None:
    """The published warehouse, copied to be built on (readers keep the original)."""
    shutil.copyfile(published, build_path)


def record_build(lake_path: Path, run_id: str, how: str, project_fingerprint: str) -> None:
    """How this run's dbt build went (`incremental` or `full`) and what made it, in the run's
    row of `ops.refresh_runs`: the published warehouse's copy is what the next night reads."""
    with lake.connect(lake_path) as con:
        built = _with_key(project_fingerprint, key_check.recorded(con))
        con.execute(
            "update ops.refresh_runs set dbt_build = ?, dbt_fingerprint = ? where run_id = ?",
            [how, built, run_id],
        )


def _with_key(project_fingerprint: str, lake_key: str | None) -> str:
    """A build's fingerprint: the project's, and the lake's key (by its fingerprint, which gives
    nothing of the key away). After a `rotate-key` cut short between the swap of the stores and
    the publish, the published warehouse holds the old key's pseudonyms: never a base."""
    return hashlib.sha256(f"{project_fingerprint} {lake_key}".encode()).hexdigest()


def _recorded_fingerprint(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The fingerprint the run that built the open warehouse recorded (None: a release older
    than fingerprints built it)."""
    if "dbt_fingerprint" not in _columns(con, "refresh_runs"):
        return None
    row = con.execute(
        "select dbt_fingerprint from ops.refresh_runs where run_id = ?", [run_id]
    ).fetchone()
    return row[0] if row else None


def _loaded_files(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The files whose rows went into the lake (from its records, or the warehouse's copy)."""
    if not _columns(con, "ingest_files"):
        return set()
    rows = con.execute(
        "select distinct sha256 from ops.ingest_files where rows_loaded > 0"
    ).fetchall()
    return {sha256 for (sha256,) in rows}


def _columns(con: duckdb.DuckDBPyConnection, ops_table: str) -> set[str]:
    """The columns of an `ops` table of the open file (none when it has no such table)."""
    rows = con.execute(
        "select column_name from duckdb_columns() where schema_name = 'ops' and table_name = ?"
        " and database_name = current_database()",
        [ops_table],
    ).fetchall()
    return {name for (name,) in rows}
