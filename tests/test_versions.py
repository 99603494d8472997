"""Kept versions, `toning rollback` and `toning status` over hand-made warehouses (no dbt): each
"warehouse" is a small DuckDB file with the tables these commands read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest import lake
from toning import config, versions
from toning.config import DataDir
from toning.refresh import _publish, refresh_lock
from toning.rollback import RollbackError, rollback

TONING = Path(sys.executable).parent / "toning"
RUNS = ["20260301T020000000000Z", "20260302T020000000000Z", "20260303T020000000000Z"]


def toning(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TONING), *args], capture_output=True, text=True, timeout=120)


def build_warehouse(data: DataDir, run_id: str, sessions: int) -> None:
    """What a refresh leaves in state/build/ before it publishes: a warehouse built by `run_id`
    (with `sessions` rows in marts.fct_sessions) and its manifest."""
    data.build_dir.mkdir(parents=True, exist_ok=True)
    target = data.build_dir / data.warehouse.name
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute("create schema marts")
        con.execute("create schema ops")
        con.execute(
            "create table marts.fct_sessions as select range as id from range(?)", [sessions]
        )
        con.execute(
            "create table ops.refresh_runs as select ? as run_id,"
            " strptime(?, '%Y%m%dT%H%M%S%fZ') as started_at,"
            " strptime(?, '%Y%m%dT%H%M%S%fZ') as finished_at, 'published' as status",
            [run_id, run_id, run_id],
        )
    (data.build_dir / data.dbt_manifest.name).write_text(json.dumps({"run": run_id}))


def publish(data: DataDir, run_id: str, sessions: int, keep: int = 3) -> None:
    build_warehouse(data, run_id, sessions)
    _publish(data, full=False, lake_readable=True, keep=keep, progress=lambda _: None)


def sessions(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select count(*) from marts.fct_sessions").fetchone()[0]


def kept(data: DataDir) -> list[str]:
    return [version.run_id for version in versions.kept_versions(data)]


@pytest.fixture
def three_published(data_dir: DataDir) -> DataDir:
    """Three publishes: RUNS[2] published (3 sessions), RUNS[0] and RUNS[1] kept."""
    data_dir.state.mkdir(parents=True)
    with lake.connect(data_dir.lake) as con:  # a rollback records itself in the lake
        lake.create_lake(con)
    for number, run_id in enumerate(RUNS, start=1):
        publish(data_dir, run_id, sessions=number)
    return data_dir


def test_a_publish_keeps_the_warehouse_it_replaces_by_hard_link(data_dir):
    publish(data_dir, RUNS[0], sessions=1)
    assert kept(data_dir) == []  # nothing was published before
    first_inode = data_dir.warehouse.stat().st_ino
    publish(data_dir, RUNS[1], sessions=2)
    assert kept(data_dir) == [RUNS[0]]
    version = versions.kept_versions(data_dir)[0]
    assert version.warehouse.stat().st_ino == first_inode  # a link, not a copy
    assert sessions(version.warehouse) == 1
    assert json.loads(version.manifest.read_text()) == {"run": RUNS[0]}
    assert version.published_at.startswith("2026-03-01T02:00:00")
    assert sessions(data_dir.warehouse) == 2


def test_only_the_newest_versions_are_kept(data_dir):
    for number, run_id in enumerate([*RUNS, "20260304T020000000000Z"], start=1):
        publish(data_dir, run_id, sessions=number, keep=2)
    assert kept(data_dir) == RUNS[1:]
    publish(data_dir, "20260305T020000000000Z", sessions=9, keep=0)
    assert kept(data_dir) == []
    assert sessions(data_dir.warehouse) == 9


def test_a_half_kept_version_left_by_a_crash_is_ignored_and_removed(data_dir):
    publish(data_dir, RUNS[0], sessions=1)
    leftover = data_dir.versions / f".{RUNS[1]}.partial"
    leftover.mkdir(parents=True)
    (leftover / "warehouse.duckdb").write_bytes(b"half")
    assert kept(data_dir) == []
    publish(data_dir, RUNS[1], sessions=2)
    assert kept(data_dir) == [RUNS[0]]
    assert not leftover.exists()


def test_rollback_puts_the_previous_version_back_and_keeps_what_it_replaced(three_published):
    data = three_published
    result = rollback(data)
    assert (result.restored, result.replaced) == (RUNS[1], RUNS[2])
    assert sessions(data.warehouse) == 2
    assert json.loads(data.dbt_manifest.read_text()) == {"run": RUNS[1]}
    assert kept(data) == RUNS  # the kept copy stays, and the replaced warehouse is kept too
    assert sessions(data.versions / RUNS[1] / "warehouse.duckdb") == 2
    # Without --to, again: one further back.
    assert rollback(data).restored == RUNS[0]
    assert sessions(data.warehouse) == 1
    # --to undoes it.
    assert rollback(data, to=RUNS[2]).restored == RUNS[2]
    assert sessions(data.warehouse) == 3
    assert not (data.root / ".rollback").exists()


def test_a_rollback_is_recorded_in_the_lake_and_the_run_history(three_published):
    data = three_published
    result = rollback(data, to=RUNS[0])
    with lake.connect(data.lake, read_only=True) as con:
        row = con.execute(
            "select status, rolled_back_to, finished_at is not null from ops.refresh_runs"
            " where run_id = ?",
            [result.run_id],
        ).fetchone()
    assert row == ("rolled_back", RUNS[0], True)
    history = json.loads(data.run_history.read_text())
    assert history[0]["run_id"] == result.run_id
    assert (history[0]["status"], history[0]["rolled_back_to"]) == ("rolled_back", RUNS[0])


def test_rollback_to_an_unknown_version_lists_the_available_ones(three_published):
    published = three_published.warehouse.read_bytes()
    with pytest.raises(RollbackError, match="no kept version 2025") as raised:
        rollback(three_published, to="20250101T000000000000Z")
    assert f"available: {RUNS[0]}, {RUNS[1]}" in str(raised.value)
    assert three_published.warehouse.read_bytes() == published
    rollback(three_published, to=RUNS[1])
    with pytest.raises(RollbackError, match="already the published"):
        rollback(three_published, to=RUNS[1])


def test_rollback_with_nothing_kept_is_a_clear_failure(data_dir):
    done = toning("rollback", "--data-dir", str(data_dir.root))
    assert done.returncode == 1
    assert "no kept versions" in done.stderr


def test_rollback_waits_for_no_refresh_it_is_refused_while_one_runs(three_published):
    published = three_published.warehouse.read_bytes()
    with refresh_lock(three_published):
        done = toning("rollback", "--data-dir", str(three_published.root))
    assert done.returncode == 75, done.stderr
    assert "another refresh is running" in done.stderr
    assert three_published.warehouse.read_bytes() == published


def test_status_of_an_empty_data_dir_says_nothing_is_published(tmp_path):
    done = toning("status", "--data-dir", str(tmp_path / "nothing"))
    assert done.returncode == 0, done.stderr
    assert "nothing published yet" in done.stdout
    assert "Refresh running now: no" in done.stdout
    assert not (tmp_path / "nothing").exists()  # status creates nothing


def test_status_shows_the_published_run_the_kept_versions_and_a_running_refresh(three_published):
    data = three_published
    rollback(data, to=RUNS[1])
    data.lake.write_bytes(b"not a lake: status must never open it")
    with refresh_lock(data):
        done = toning("status", "--data-dir", str(data.root))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"Published: run {RUNS[1]}" in out
    assert "fct_sessions 2" in out
    assert all(run_id in out for run_id in RUNS)  # kept versions
    assert f"rolled_back to {RUNS[1]}" in out
    assert f"Refresh running now: yes (pid {os.getpid()})" in out
    assert "\x1b[" not in out  # no colours when not a terminal
    assert len(out.splitlines()) < 40  # one screen


def test_the_number_of_kept_versions_comes_from_the_option_the_environment_or_the_default(
    monkeypatch,
):
    monkeypatch.delenv(config.KEEP_VERSIONS_ENV, raising=False)
    assert config.keep_versions() == config.DEFAULT_KEEP_VERSIONS == 3
    monkeypatch.setenv(config.KEEP_VERSIONS_ENV, "5")
    assert config.keep_versions() == 5
    assert config.keep_versions(1) == 1
    monkeypatch.setenv(config.KEEP_VERSIONS_ENV, "many")
    with pytest.raises(ValueError, match="TONING_KEEP_VERSIONS"):
        config.keep_versions()
    with pytest.raises(ValueError, match="0 or more"):
        config.keep_versions(-1)


def test_a_lake_made_before_stage_durations_gains_their_columns(tmp_path):
    with lake.connect(tmp_path / "old.duckdb") as con:
        con.execute("create schema ops")
        con.execute(
            "create table ops.refresh_runs (run_id varchar, started_at timestamp,"
            " finished_at timestamp, status varchar, full_rebuild boolean, files_new bigint,"
            " rows_loaded bigint, rows_quarantined bigint, rows_duplicate bigint,"
            " duration_s double, error varchar)"
        )
        con.execute("insert into ops.refresh_runs (run_id, status) values ('old', 'published')")
        lake.create_lake(con)
        columns = [row[0] for row in con.execute("describe ops.refresh_runs").fetchall()]
        assert con.execute("select run_id, dbt_s from ops.refresh_runs").fetchall() == [
            ("old", None)
        ]
    for name in config.RUN_STAGES:
        assert f"{name}_s" in columns
    assert "rolled_back_to" in columns
