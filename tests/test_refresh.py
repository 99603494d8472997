"""The nightly refresh as the scheduler sees it: publish, idempotence, failures, one at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import session_row
from toning import memory
from toning.config import DBT_MEMORY_ENV, RUN_STAGES, DataDir, dbt_memory_limit
from toning.dbt import DBT_PROJECT_DIR, NodeProgress
from toning.refresh import RefreshError, StageClock, refresh_lock, run_refresh

TONING = Path(sys.executable).parent / "toning"
MIB = 1 << 20


def snapshot(warehouse: Path, schemas: tuple[str, ...] = ("staging", "marts")) -> dict:
    """Every row of every table in the given schemas, order-independent."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            f" where table_schema in {schemas!r} order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": sorted(
                con.execute(f"select * from {schema}.{name}").fetchall(), key=repr
            )
            for schema, name in tables
        }


def count(warehouse: Path, sql: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def land_two_sessions(landing) -> None:
    landing.sessions(
        "sessions/week1.csv",
        session_row("S1"),
        session_row("S2", started_at="2026-03-16T10:00:00"),
        session_row("BAD", treatment_area="scalp"),
    )


def toning(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TONING), *args], capture_output=True, text=True, timeout=300)


def test_refresh_publishes_the_marts_and_the_ingest_records(landing, data_dir):
    land_two_sessions(landing)
    done = toning("refresh", "--landing", str(landing.root), "--data-dir", str(data_dir.root))
    assert done.returncode == 0, done.stderr
    assert "published" in done.stderr
    warehouse = data_dir.warehouse
    assert count(warehouse, "select count(*) from marts.fct_sessions") == 2
    assert count(warehouse, "select count(*) from marts.fct_courses") == 1
    assert count(warehouse, "select count(*) from ops.quarantine") == 1
    assert count(warehouse, "select count(*) from ops.ingest_files") == 2
    assert count(warehouse, "select count(*) from ops.refresh_runs where status = 'published'") == 1


def test_each_stages_peak_memory_is_recorded_and_shown(landing, data_dir):
    """The run history keeps each stage's peak resident memory; the dbt stage's adds the dbt
    process's own to the refresh's (both are resident then). `toning status` shows them."""
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    [run] = json.loads(data_dir.run_history.read_text())
    peaks = {name: run[f"{name}_peak_bytes"] for name in RUN_STAGES}
    assert all(peaks.values()), peaks
    # dbt is a Python process that imported dbt and DuckDB: well over 100 MiB of its own.
    assert peaks["dbt"] - peaks["checks"] > 100 * MIB, peaks
    shown = toning("status", "--data-dir", str(data_dir.root)).stdout
    assert f"dbt {run['dbt_s']:.1f} s (full) peak " in shown


def test_a_stage_measures_its_own_peak_memory_not_an_earlier_ones():
    stages = StageClock()
    with stages.stage("ingest"):
        held = bytearray(300 * MIB)
        held[::4096] = b"x" * len(held[::4096])  # touched: resident, not just reserved
        del held
    with stages.stage("checks"):
        pass
    # The test process was already large: compare the stages, not an absolute size.
    assert stages.peak_bytes["ingest"] - stages.peak_bytes["checks"] > 250 * MIB


def test_memory_freed_by_the_ingest_is_given_back_before_dbts_build():
    """Freed blocks stay in the refresh's heap for reuse; waiting on dbt, the refresh hands them
    back, or the machine would hold them and dbt's memory at once."""
    blocks = [bytes(8000) + bytes([number % 256]) for number in range(40_000)]  # malloc's heap
    # One block above the freed ones still in use, as in a refresh: free() alone then returns
    # nothing (it trims only a free top of the heap).
    survivor = blocks[-1]
    del blocks
    memory.reset_peak()  # the peak starts again from what is resident now
    before = memory.peak_bytes()
    memory.give_back()
    memory.reset_peak()
    assert before - memory.peak_bytes() > 200 * MIB
    assert survivor[-1] == 39_999 % 256


def test_a_second_refresh_over_the_same_landing_changes_nothing(landing, data_dir):
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    first = snapshot(data_dir.warehouse, ("staging", "marts", "ops"))
    result = run_refresh(landing.root, data_dir)
    second = snapshot(data_dir.warehouse, ("staging", "marts", "ops"))
    assert result.ingest.files == []
    # Run history grows by one run; everything else stays exactly as it was.
    runs = second.pop("ops.refresh_runs")
    first.pop("ops.refresh_runs")
    earlier_checks = first.pop("ops.dq_results")
    checks = second.pop("ops.dq_results")
    assert set(earlier_checks) < set(checks)  # the first run's results kept, the second's added
    assert second == first
    assert len(runs) == 2


def test_a_failed_build_leaves_the_published_warehouse_untouched(landing, data_dir, tmp_path):
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    published = data_dir.warehouse.read_bytes()

    broken = tmp_path / "dbt_broken"
    shutil.copytree(DBT_PROJECT_DIR, broken, ignore=shutil.ignore_patterns("target", "logs"))
    (broken / "models" / "marts" / "broken.sql").write_text("select * from no_such_table\n")
    landing.sessions("sessions/week2.csv", session_row("S3", started_at="2026-03-30T10:00:00"))
    with pytest.raises(RefreshError, match="dbt build failed"):
        run_refresh(landing.root, data_dir, dbt_project=broken)

    assert data_dir.warehouse.read_bytes() == published
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        status, error = con.execute(
            "select status, error from ops.refresh_runs order by started_at desc limit 1"
        ).fetchone()
    assert status == "failed"
    assert error.startswith("dbt build failed")
    # The next good refresh publishes what the failed one could not.
    run_refresh(landing.root, data_dir)
    assert count(data_dir.warehouse, "select count(*) from marts.fct_sessions") == 3


def children() -> set[int]:
    """This process's child processes, exited but not yet reaped ones included."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if int(fields[1]) == os.getpid():
            pids.add(int(stat.parent.name))
    return pids


def test_a_refresh_stopped_before_its_build_leaves_no_dbt_behind(landing, data_dir):
    """dbt starts with the ingest, to import while it runs: a refresh stopped before the build
    ends it."""
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    before = children()
    shutil.rmtree(data_dir.archive)  # a disk cleanup went too far: a --full cannot replay
    with pytest.raises(RefreshError, match="missing from the archive"):
        run_refresh(landing.root, data_dir, full=True)
    assert children() == before


def test_only_one_refresh_runs_at_a_time(landing, data_dir):
    land_two_sessions(landing)
    with refresh_lock(data_dir):
        done = toning("refresh", "--landing", str(landing.root), "--data-dir", str(data_dir.root))
    assert done.returncode == 75  # EX_TEMPFAIL: a scheduler tells it from a failure
    assert "another refresh is running" in done.stderr
    assert not data_dir.warehouse.exists()


def test_a_wrong_dbt_memory_setting_fails_at_once_before_the_ingest(landing, data_dir, monkeypatch):
    land_two_sessions(landing)
    monkeypatch.setenv("TONING_DBT_MEMORY_LIMIT", "lots")
    with pytest.raises(RefreshError, match="TONING_DBT_MEMORY_LIMIT must be a size such as 5GB"):
        run_refresh(landing.root, data_dir)
    assert not data_dir.lake.exists()


def test_dbts_memory_follows_the_size_of_the_lake_it_builds_from(tmp_path, monkeypatch):
    monkeypatch.delenv(DBT_MEMORY_ENV, raising=False)
    lake = tmp_path / "lake.duckdb"
    assert dbt_memory_limit(lake) == "1000MB"  # no lake yet: the floor
    for size, limit in [
        (10_000_000, "1000MB"),  # the demo tier: the floor
        (320_000_000, "1500MB"),  # the 1m tier: four times the lake, up to a 500 MB step
        (370_000_000, "1500MB"),  # a lake grown by nights keeps it, and dbt its parsed project
        (3_000_000_000, "4000MB"),  # the ceiling
    ]:
        with lake.open("wb") as sized:
            sized.truncate(size)
        assert dbt_memory_limit(lake) == limit
    monkeypatch.setenv(DBT_MEMORY_ENV, "700MB")  # a setting wins
    assert dbt_memory_limit(lake) == "700MB"


def test_a_missing_landing_folder_is_a_clear_failure(tmp_path):
    data = DataDir(tmp_path / "data")
    done = toning("refresh", "--landing", str(tmp_path / "nowhere"), "--data-dir", str(data.root))
    assert done.returncode == 1
    assert "landing folder" in done.stderr and "does not exist" in done.stderr


def test_a_full_rebuild_from_the_archive_equals_the_incremental_warehouse(landing, data_dir):
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    landing.sessions(
        "sessions/week2.csv",
        session_row("S3", started_at="2026-03-30T10:00:00"),
        session_row("S1", fluence_j_cm2="1.5", updated_at="2026-03-31T09:00:00"),
    )
    run_refresh(landing.root, data_dir)
    incremental = snapshot(data_dir.warehouse)
    # A clinic cleaned its landing folder: the archive still has every file.
    (landing.root / "sessions" / "week1.csv").unlink()
    run_refresh(landing.root, data_dir, full=True)
    assert snapshot(data_dir.warehouse) == incremental
    assert count(data_dir.warehouse, "select count(*) from ops.refresh_runs") == 3


def test_the_dbt_stage_reports_how_many_models_and_tests_are_done():
    said: list[str] = []
    on_line = NodeProgress(said.append, "dbt build", every_s=0)
    for line in (
        "02:10:07  Concurrency: 2 threads (target='duckdb')",
        "02:10:07  2 of 3 START sql table model staging.stg_lake__clinics .... [RUN]",
        "02:10:07  1 of 3 START sql table model staging.stg_lake__devices .... [RUN]",
        "02:10:08  2 of 3 OK created sql table model staging.stg_lake__clinics [OK in 0.10s]",
        "02:10:08  1 of 3 ERROR creating sql table model staging.stg_lake__devices [ERROR]",
        "02:10:08  3 of 3 PASS unique_stg_lake__clinics_clinic_id ... [PASS in 0.02s]",
        "02:10:09  Done. PASS=2 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=3",
    ):
        on_line(line)
    # Threads finish nodes out of order: the count is of finished nodes, not their numbers.
    assert said == [f"dbt build: {done} of 3 models and tests done" for done in (1, 2, 3)]
