"""`refresh --full` as the back door: whatever stops it (a file missing from the archive, Ctrl+C,
a kill), the lake and identity store in use stay as they were and the next plain refresh
publishes the same marts as before."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingest import lake
from ingest.landing import archive_path
from synthetic import generate_landing
from tests.test_refresh import count, snapshot
from toning import rebuild
from toning.config import DataDir
from toning.refresh import run_refresh

TONING = Path(sys.executable).parent / "toning"
# What --full rebuilds from the archive; the run history (refresh_runs, dq_results) only grows.
LAKE_DATA = ("raw", "ops.ingest_files", "ops.quarantine")


@dataclass(frozen=True)
class Before:
    """A data directory refreshed once, and what the tests compare against."""

    root: Path
    marts: dict
    lake: dict
    identity: bytes
    warehouse: bytes


def lake_data(path: Path) -> dict:
    tables = snapshot(path, ("raw", "ops"))
    return {name: rows for name, rows in tables.items() if name.startswith(LAKE_DATA)}


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> Before:
    root = tmp_path_factory.mktemp("full_rebuild")
    generate_landing("tiny", root / "landing", seed=7)
    data = DataDir(root / "da'ta x")  # --full attaches the lake in use: a quote must not break it
    run_refresh(root / "landing", data)
    return Before(
        root,
        snapshot(data.warehouse),
        lake_data(data.lake),
        data.identity.read_bytes(),
        data.warehouse.read_bytes(),
    )


@pytest.fixture
def copy(before, tmp_path) -> tuple[Path, DataDir]:
    """(landing, data): a copy of the refreshed data directory, for one test to break."""
    shutil.copytree(before.root, tmp_path / "copy")  # keeps mtimes: the landing stays unchanged
    return tmp_path / "copy" / "landing", DataDir(tmp_path / "copy" / "da'ta x")


def start_full(landing: Path, data: DataDir) -> subprocess.Popen:
    return subprocess.Popen(
        [str(TONING), "refresh", "--full", "--landing", str(landing), "--data-dir", str(data.root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, dbt included, as under a terminal
    )


def wait_for(process: subprocess.Popen, marker: str) -> None:
    """Read the refresh's progress until `marker` appears (its stages print as they start)."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            return
    pytest.fail(f"{marker!r} never printed; the refresh said:\n{''.join(seen)[-3000:]}")


def last_run(data: DataDir) -> tuple:
    with duckdb.connect(str(data.lake), read_only=True) as con:
        return con.execute(
            "select status, full_rebuild, error from ops.refresh_runs"
            " order by started_at desc limit 1"
        ).fetchone()


def assert_in_use_untouched(before: Before, data: DataDir) -> None:
    assert data.warehouse.read_bytes() == before.warehouse
    assert data.identity.read_bytes() == before.identity
    assert lake_data(data.lake) == before.lake


def assert_next_plain_refresh_publishes_the_same_marts(before: Before, landing, data) -> list[str]:
    said: list[str] = []
    run_refresh(landing, data, progress=said.append)
    assert count(data.warehouse, "select count(*) from marts.fct_sessions") > 100
    assert count(data.warehouse, "select count(*) from marts.dim_patients") > 100
    assert snapshot(data.warehouse) == before.marts
    assert not data.rebuild_dir.exists()
    return said


def test_a_full_rebuild_with_a_file_missing_from_the_archive_changes_nothing(before, copy):
    landing, data = copy
    with duckdb.connect(str(data.lake), read_only=True) as con:
        relpath, sha256 = con.execute(
            "select path, sha256 from ops.ingest_files where status = 'loaded' order by path"
        ).fetchone()
    archive_path(data.archive, sha256, relpath).unlink()  # a disk cleanup went too far
    done = subprocess.run(
        [str(TONING), "refresh", "--full", "--landing", str(landing), "--data-dir", str(data.root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert_in_use_untouched(before, data)
    assert f"1 received file(s) missing from the archive {data.archive} ({relpath})" in done.stderr
    assert "Traceback" not in done.stderr
    assert not data.rebuild_dir.exists()
    status, full, error = last_run(data)  # the failure is recorded in the lake in use
    assert (status, full) == ("failed", True) and "missing from the archive" in error
    assert_next_plain_refresh_publishes_the_same_marts(before, landing, data)


def test_a_full_rebuild_stopped_by_ctrl_c_in_dbt_build_changes_nothing(before, copy):
    landing, data = copy
    process = start_full(landing, data)
    wait_for(process, "dbt build: ")
    time.sleep(2)  # into dbt's run, past the moment it is being started
    os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the whole foreground group
    _, said = process.communicate(timeout=120)
    assert process.returncode == 130
    assert_in_use_untouched(before, data)
    assert "refresh interrupted" in said and "Traceback" not in said
    assert not data.rebuild_dir.exists()  # an interrupted run cleans up after itself
    assert last_run(data) == ("failed", True, "KeyboardInterrupt")
    assert_next_plain_refresh_publishes_the_same_marts(before, landing, data)


def test_a_full_rebuild_killed_in_ingest_changes_nothing(before, copy):
    landing, data = copy
    process = start_full(landing, data)
    wait_for(process, ": loaded (")  # a first file is in the new lake
    # A scheduler killing the job's group (an orphaned dbt would keep files locked: issue 17).
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert_in_use_untouched(before, data)
    assert data.rebuild_dir.exists()  # the half-built lake, left for the next start to discard
    said = assert_next_plain_refresh_publishes_the_same_marts(before, landing, data)
    assert any("discarded the half-built lake" in line for line in said)
    with duckdb.connect(str(data.lake), read_only=True) as con:
        killed = con.execute(
            "select status from ops.refresh_runs where full_rebuild order by started_at"
        ).fetchall()
    assert killed == [("interrupted",)]


def test_a_swap_cut_short_between_its_two_renames_is_finished_at_the_next_start(
    tmp_path, monkeypatch
):
    data = DataDir(tmp_path / "my data")
    data.state.mkdir(parents=True)
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        con.execute("insert into ops.refresh_runs (run_id, status) values ('old', 'published')")
    paths = rebuild.prepare(data, data.lake)
    with lake.connect(paths.lake) as con:
        con.execute("insert into ops.refresh_runs (run_id, status) values ('full', 'running')")
    rebuilt = {paths.lake.stat().st_ino, paths.identity.stat().st_ino}

    assert commit_cut_after_one_rename(data, monkeypatch) == [data.identity]

    assert rebuild.recover(data).startswith("finished swapping in")
    assert {data.lake.stat().st_ino, data.identity.stat().st_ino} == rebuilt
    assert not data.rebuild_dir.exists()
    with lake.connect(data.lake) as con:
        runs = con.execute("select run_id from ops.refresh_runs order by run_id").fetchall()
    assert runs == [("full",), ("old",)]  # the new lake, with the old one's history
    assert rebuild.recover(data) is None


def commit_cut_after_one_rename(data: DataDir, monkeypatch) -> list[Path]:
    """A --full's commit whose process dies after the first of its renames, then the failing
    run's clean-up (a committed rebuild is kept); the targets renamed."""
    renames = []

    def crash_on_the_second_rename(source, target):
        if renames:
            raise KeyboardInterrupt  # the process dies between two renames
        renames.append(target)
        os.rename(source, target)

    monkeypatch.setattr(rebuild.os, "replace", crash_on_the_second_rename)
    with pytest.raises(KeyboardInterrupt):
        rebuild.commit(data)
    rebuild.discard(data)
    monkeypatch.undo()
    return renames
