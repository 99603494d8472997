"""A data directory made by an earlier version of the code is migrated by the next refresh:
ordered, idempotent migrations, applied under the lock and recorded; a lake from a newer
release is left alone with a message that says what to run."""

from __future__ import annotations

import duckdb
import pytest

from contract.feeds import FEEDS, raw_columns
from ingest import lake
from ingest.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from tests.conftest import session_row
from toning import permissions
from toning.refresh import RefreshError, run_refresh

# The two ops tables as the release before schema versioning created them.
PREVIOUS_OPS_TABLES = {
    "quarantine": """
        file_sha256 varchar, path varchar, feed varchar, record_number bigint,
        reason_code varchar, reason varchar, record json, run_id varchar
    """,
    "refresh_runs": """
        run_id varchar, started_at timestamp, finished_at timestamp, status varchar,
        full_rebuild boolean, files_new bigint, rows_loaded bigint, rows_quarantined bigint,
        rows_duplicate bigint, duration_s double, error varchar
    """,
}


def create_previous_lake(path) -> None:
    """A lake in the shape the previous release left it: no schema version, older ops tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        con.execute("create schema ops")
        for feed in FEEDS.values():
            columns = ", ".join(f"{name} {dtype}" for name, dtype in raw_columns(feed).items())
            con.execute(f"create table raw.{feed.name} ({columns})")
        con.execute(
            "create table raw.consultation_age_bands (consultation_id varchar, age_band varchar)"
        )
        for name, columns in lake.OPS_TABLES.items():
            if name in ("dq_open_fatals",):
                continue  # a table that release did not have yet
            con.execute(f"create table ops.{name} ({PREVIOUS_OPS_TABLES.get(name, columns)})")
        con.execute(
            "insert into ops.refresh_runs (run_id, started_at, finished_at, status)"
            " values ('20250101T000000000000Z', '2025-01-01', '2025-01-01', 'published')"
        )


def columns_of(path, table: str) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [row[0] for row in con.execute(f"describe ops.{table}").fetchall()]


def test_a_lake_of_the_previous_release_is_migrated_by_the_next_refresh(landing, data_dir):
    create_previous_lake(data_dir.lake)
    # Made private, as the refresh asks of an older data folder (test_keys_and_permissions.py).
    permissions.make_private(data_dir)
    landing.sessions("sessions/s.csv", session_row("S1"), session_row("S2", treatment_area="scalp"))
    said: list[str] = []
    run_refresh(landing.root, data_dir, progress=said.append)

    assert [line for line in said if line.startswith("lake migrated")] == [
        f"lake migrated to schema version {m.version}: {m.change}" for m in MIGRATIONS
    ]
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        recorded = con.execute("select version from ops.schema_migrations order by 1").fetchall()
        runs = con.execute("select run_id, status from ops.refresh_runs order by 1").fetchall()
        quarantined = con.execute("select expectation from ops.quarantine").fetchall()
    assert [version for (version,) in recorded] == [m.version for m in MIGRATIONS]
    assert runs[0] == ("20250101T000000000000Z", "published")  # the history survives
    assert runs[1][1] == "published"
    assert quarantined == [("expect_column_values_to_be_in_set(treatment_area)",)]
    assert {
        "ingest_s",
        "dbt_s",
        "publish_s",
        "rolled_back_to",
        "dbt_build",
        "dbt_fingerprint",
        "dbt_peak_bytes",
    } <= set(columns_of(data_dir.lake, "refresh_runs"))
    # The next night has nothing to migrate.
    said.clear()
    run_refresh(landing.root, data_dir, progress=said.append)
    assert not [line for line in said if line.startswith("lake migrated")]


def test_a_migration_cut_short_runs_again(tmp_path):
    path = tmp_path / "lake.duckdb"
    create_previous_lake(path)
    with duckdb.connect(str(path)) as con:
        assert [m.version for m in migrate(con)] == [m.version for m in MIGRATIONS]
        assert migrate(con) == []
        # As if the process died after the last migration's changes, before its record.
        con.execute("delete from ops.schema_migrations where version = ?", [SCHEMA_VERSION])
        assert [m.version for m in migrate(con)] == [SCHEMA_VERSION]


def test_a_lake_from_a_newer_release_is_left_alone(landing, data_dir):
    landing.sessions("sessions/s.csv", session_row("S1"))
    said: list[str] = []
    run_refresh(landing.root, data_dir, progress=said.append)
    # A first night's lake is made in the latest shape: nothing to migrate, nothing said.
    assert not [line for line in said if line.startswith("lake migrated")]
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        [(version,)] = con.execute("select max(version) from ops.schema_migrations").fetchall()
    assert version == SCHEMA_VERSION
    published = data_dir.warehouse.read_bytes()
    with duckdb.connect(str(data_dir.lake)) as con:
        con.execute("insert into ops.schema_migrations values (99, 'from the future', now())")
    landing.sessions("sessions/t.csv", session_row("S2", started_at="2026-03-09T10:00:00"))
    with pytest.raises(RefreshError, match=r"schema version 99.*toning refresh --full"):
        run_refresh(landing.root, data_dir)
    assert data_dir.warehouse.read_bytes() == published
