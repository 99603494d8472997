"""The lake's schema version, and the migrations that bring a lake made by an earlier version of
the code up to it.

A new table is simply created where missing (`lake.OPS_TABLES`); a change to a table that an
older lake already has (a new column, a new meaning) is a migration here: numbered, in order,
idempotent (a half-applied one can run again), applied under the refresh lock and recorded in
`ops.schema_migrations`. A lake recorded at a higher version than this code knows was made by a
newer release: it is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

STAGE_COLUMNS = ("ingest_s", "validation_s", "dbt_s", "checks_s", "publish_s")
PEAK_COLUMNS = (
    "ingest_peak_bytes",
    "validation_peak_bytes",
    "dbt_peak_bytes",
    "checks_peak_bytes",
    "publish_peak_bytes",
)


@dataclass(frozen=True)
class Migration:
    version: int
    change: str
    statements: tuple[str, ...]


MIGRATIONS = (
    Migration(
        1,
        "ops.quarantine.expectation: the expectation a quarantined record broke",
        ("alter table ops.quarantine add column if not exists expectation varchar",),
    ),
    Migration(
        2,
        "ops.refresh_runs: each stage's duration, and the run a rollback put back",
        tuple(
            f"alter table ops.refresh_runs add column if not exists {column} double"
            for column in STAGE_COLUMNS
        )
        + ("alter table ops.refresh_runs add column if not exists rolled_back_to varchar",),
    ),
    Migration(
        3,
        "ops.refresh_runs: how dbt built the run's warehouse (incremental or full), and what with",
        (
            "alter table ops.refresh_runs add column if not exists dbt_build varchar",
            "alter table ops.refresh_runs add column if not exists dbt_fingerprint varchar",
        ),
    ),
    Migration(
        4,
        "ops.refresh_runs: each stage's peak resident memory (dbt's stage adds the dbt process)",
        tuple(
            f"alter table ops.refresh_runs add column if not exists {column} bigint"
            for column in PEAK_COLUMNS
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


class LakeTooNew(Exception):
    """The lake was made by a newer release of the code than this one."""


def lake_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration recorded in the lake; 0 for a lake made before versioning."""
    con.execute(
        "create table if not exists ops.schema_migrations"
        " (version integer, change varchar, applied_at timestamp)"
    )
    return con.execute("select coalesce(max(version), 0) from ops.schema_migrations").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, new_lake: bool = False) -> list[Migration]:
    """Apply the migrations the lake lacks, each in its own transaction; the ones applied.
    A new lake was created in the latest shape: it is recorded at the latest version as is."""
    current = lake_version(con)
    if new_lake and current == 0:
        con.executemany(
            "insert into ops.schema_migrations values (?, ?, current_timestamp::timestamp)",
            [[migration.version, migration.change] for migration in MIGRATIONS],
        )
        return []
    if current > SCHEMA_VERSION:
        raise LakeTooNew(
            f"the lake is at schema version {current}, made by a newer release of toning than"
            f" this one (which knows up to {SCHEMA_VERSION}): run the newer release, or"
            " rebuild the lake with this one from the raw archive: toning refresh --full"
        )
    pending = [migration for migration in MIGRATIONS if migration.version > current]
    for migration in pending:
        con.execute("begin")
        for statement in migration.statements:
            con.execute(statement)
        con.execute(
            "insert into ops.schema_migrations values (?, ?, current_timestamp::timestamp)",
            [migration.version, migration.change],
        )
        con.execute("commit")
    return pending
