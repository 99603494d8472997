"""Faults an operator meets at night (issue 17): a second refresh started by the scheduler, a
refresh killed during dbt, a lake locked by a stray process or damaged on disk, a build that
lost most of the published rows. None may harm the published warehouse or leave a mess that
the next refresh cannot get past."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from expectations.checks import KEY_MARTS, published_rows_drop
from ingest import lake
from tests.conftest import session_row
from tests.test_refresh import count, land_two_sessions, snapshot, toning
from toning import permissions
from toning.config import DataDir
from toning.refresh import RefreshError, refresh_lock, run_refresh

EX_TEMPFAIL = 75


def refresh_args(landing, data: DataDir, *extra: str) -> list[str]:
    return ["refresh", "--landing", str(landing.root), "--data-dir", str(data.root), *extra]


def runs(data: DataDir) -> list[tuple]:
    with duckdb.connect(str(data.lake), read_only=True) as con:
        return con.execute(
            "select run_id, status, error from ops.refresh_runs order by started_at"
        ).fetchall()


def published_by_hand(data: DataDir) -> None:
    """A data folder as a published refresh leaves it (made by hand: no dbt, seconds saved)."""
    data.state.mkdir(parents=True)
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        con.execute("insert into ops.refresh_runs (run_id, status) values ('night 1', 'published')")
    with lake.connect(data.warehouse) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_sessions as select range as id from range(2)")
    data.run_history.write_text('[{"run_id": "night 1", "status": "published"}]')
    permissions.make_private(data)  # as a refresh leaves them


def test_a_second_refresh_exits_75_and_changes_nothing(landing, data_dir):
    published_by_hand(data_dir)
    land_two_sessions(landing)
    before = (runs(data_dir), data_dir.warehouse.read_bytes(), data_dir.run_history.read_text())

    with refresh_lock(data_dir):  # a refresh running in this process; the CLI is a second one
        done = toning(*refresh_args(landing, data_dir))

    assert done.returncode == EX_TEMPFAIL, done.stderr
    assert "another refresh is running" in done.stderr
    assert "failed" not in done.stderr and "Traceback" not in done.stderr
    after = (runs(data_dir), data_dir.warehouse.read_bytes(), data_dir.run_history.read_text())
    assert after == before  # nothing recorded, nothing published
    assert not (data_dir.state / "build").exists()  # nothing built


def dbt_children(parent: int) -> list[int]:
    """Processes whose parent is `parent` and whose command line mentions dbt."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "dbt" in cmdline:
            found.append(int(entry.name))
    return found


def is_alive(pid: int) -> bool:
    """Running (a zombie holds no file and no lock: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def holds_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"after {seconds} s: {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl is Linux")
def test_a_refresh_killed_during_dbt_takes_dbt_with_it(landing, data_dir, tmp_path):
    land_two_sessions(landing)
    with open(tmp_path / "refresh.log", "w") as log:
        refresh = subprocess.Popen(
            [str(Path(sys.executable).parent / "toning"), *refresh_args(landing, data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # away from pytest's group; only the refresh is killed
        )
    dbt: list[int] = []
    try:

        def dbt_has_the_lake_open() -> bool:
            dbt[:] = dbt_children(refresh.pid)
            return any(holds_open(pid, data_dir.lake) for pid in dbt)

        wait_until(dbt_has_the_lake_open, 120, "dbt never opened the lake")
        refresh.send_signal(signal.SIGKILL)  # the refresh alone: it cannot clean up after itself
        refresh.wait(timeout=10)
        wait_until(lambda: not any(map(is_alive, dbt)), 5, f"dbt {dbt} outlived the refresh")
    finally:  # whatever failed, leave no process of this test running
        if refresh.poll() is None:
            os.killpg(refresh.pid, signal.SIGKILL)
        for pid in filter(is_alive, dbt):
            os.kill(pid, signal.SIGKILL)

    done = toning(*refresh_args(landing, data_dir))
    assert done.returncode == 0, done.stderr
    assert count(data_dir.warehouse, "select count(*) from marts.fct_sessions") == 2
    (_, status, error), (_, last, _) = runs(data_dir)  # the killed run, then the next one
    assert status == "interrupted" and "ended before the run did" in error
    assert last == "published"


def test_a_lake_locked_by_another_process_is_named_in_one_line(landing, data_dir):
    land_two_sessions(landing)
    data_dir.state.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]);"
            " print('holding', flush=True); time.sleep(120)",
            str(data_dir.lake),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        permissions.make_private(data_dir)  # the lake it created, as a refresh leaves it
        done = toning(*refresh_args(landing, data_dir))
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Conflicting lock" not in done.stderr
    failure = next(line for line in done.stderr.splitlines() if "refresh failed" in line)
    assert f"the lake {data_dir.lake} is locked by another process" in failure
    assert f"(PID {holder.pid})" in failure and f"kill {holder.pid}" in failure
    assert not data_dir.warehouse.exists()


def damage(lake: Path, how: str) -> None:
    if how == "truncated":
        os.truncate(lake, lake.stat().st_size // 2)
    elif how == "garbage header":
        with open(lake, "r+b") as handle:
            handle.write(os.urandom(8192))
    else:  # emptied
        os.truncate(lake, 0)


@pytest.mark.parametrize("how", ["truncated", "garbage header", "emptied"])
def test_a_damaged_lake_fails_with_the_recovery_and_touches_nothing(landing, data_dir, how):
    data_dir.state.mkdir(parents=True)
    with duckdb.connect(str(data_dir.lake)) as con:  # a lake with some history
        con.execute("create table filler as select range as n from range(300000)")
    damage(data_dir.lake, how)
    permissions.make_private(data_dir)  # as a refresh leaves it
    damaged = data_dir.lake.read_bytes()
    with pytest.raises(RefreshError) as failure:
        run_refresh(landing.root, data_dir)
    message = str(failure.value)
    assert "\n" not in message
    assert f"the lake {data_dir.lake} cannot be read" in message
    assert "`toning refresh --full` rebuilds the lake from the raw archive" in message
    assert data_dir.lake.read_bytes() == damaged  # kept for --full to set aside
    assert not data_dir.warehouse.exists()


def test_full_rebuilds_a_truncated_lake_from_the_archive_without_opening_it(landing, data_dir):
    land_two_sessions(landing)
    run_refresh(landing.root, data_dir)
    first_marts = snapshot(data_dir.warehouse)
    published = data_dir.warehouse.read_bytes()
    damage(data_dir.lake, "truncated")
    damaged = data_dir.lake.read_bytes()

    done = toning(*refresh_args(landing, data_dir))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "toning refresh --full" in done.stderr
    assert data_dir.warehouse.read_bytes() == published

    (landing.root / "sessions" / "week1.csv").unlink()  # only the archive has it now
    said: list[str] = []
    run_refresh(landing.root, data_dir, full=True, progress=said.append)

    assert snapshot(data_dir.warehouse) == first_marts
    assert count(data_dir.warehouse, "select count(*) from marts.fct_sessions") == 2
    assert any("full rebuild without the lake in use" in line for line in said)
    [kept] = data_dir.state.glob("lake.corrupt-*.duckdb")
    assert kept.read_bytes() == damaged
    # The new lake holds the history the published warehouse had, and this run.
    assert [status for _, status, _ in runs(data_dir)] == ["published", "published"]
    history = json.loads(data_dir.run_history.read_text())
    assert [run["full_rebuild"] for run in history] == [True, False]


def small_warehouse(path: Path, rows: dict[str, int]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for mart, n in rows.items():
            con.execute(f"create table marts.{mart} as select range as id from range({n})")
    return path


def drop_results(tmp_path: Path, new: dict[str, int], old: dict[str, int] | None) -> dict:
    build = small_warehouse(tmp_path / "build" / "warehouse.duckdb", new)
    published = tmp_path / "warehouse.duckdb"
    if old is not None:
        small_warehouse(published, old)
    with duckdb.connect(str(build)) as con:
        results = published_rows_drop(con, published)
    return {result.subject: result for result in results}


def test_published_rows_drop_fails_a_mart_that_lost_more_than_half(tmp_path):
    (tmp_path / "build").mkdir()
    old = {mart: 100 for mart in KEY_MARTS}
    new = {"fct_sessions": 49, "fct_courses": 50, "fct_course_outcomes": 140}  # no side effects
    results = drop_results(tmp_path, new, old)
    assert set(results) == set(KEY_MARTS)
    assert {mart for mart, result in results.items() if not result.passed} == {
        "fct_sessions",
        "fct_side_effects",
    }
    sessions = results["fct_sessions"]
    assert sessions.severity == "fatal" and sessions.observed == pytest.approx(0.51)
    hint = "; if this drop is expected, run refresh --accept-drop once"
    assert sessions.threshold == 0.5
    assert sessions.detail == "49 rows, 100 published: 51.0% fewer" + hint
    assert results["fct_course_outcomes"].observed == 0.0  # growth is no drop
    assert results["fct_side_effects"].detail == "0 rows, 100 published: 100.0% fewer" + hint


def test_published_rows_drop_passes_the_first_night(tmp_path):
    (tmp_path / "build").mkdir()
    [result] = drop_results(tmp_path, {"fct_sessions": 3}, None).values()
    assert result.passed and "first night" in result.detail


def test_a_night_that_voids_most_sessions_is_not_published(landing, data_dir):
    sessions = [
        session_row(f"S{day}", started_at=f"2026-03-{day:02d}T10:00:00") for day in range(2, 10)
    ]
    landing.sessions("sessions/week1.csv", *sessions)
    run_refresh(landing.root, data_dir)
    published = data_dir.warehouse.read_bytes()
    assert count(data_dir.warehouse, "select count(*) from marts.fct_sessions") == 8
    voids = [
        session_row(
            f"S{day}",
            started_at=f"2026-03-{day:02d}T10:00:00",
            status="voided",
            updated_at="2026-03-20T09:00:00",
        )
        for day in range(2, 8)
    ]
    landing.sessions("sessions/voids.csv", *voids)  # a clinic system voided 6 of 8 by mistake

    with pytest.raises(RefreshError, match=r"published_rows_drop \[fct_sessions\]: 2 rows, 8"):
        run_refresh(landing.root, data_dir)

    assert data_dir.warehouse.read_bytes() == published
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        recorded = con.execute(
            "select severity, status, observed from ops.dq_results"
            " where check_name = 'published_rows_drop' and subject = 'fct_sessions'"
            " order by checked_at"
        ).fetchall()
    assert recorded == [("fatal", "fail", 0.75)]  # the first night had nothing to compare

    # The next night still blocks; an operator who knows the voids are right accepts the drop.
    with pytest.raises(RefreshError, match="refresh --accept-drop"):
        run_refresh(landing.root, data_dir)
    run_refresh(landing.root, data_dir, accept_drop=True)
    assert count(data_dir.warehouse, "select count(*) from marts.fct_sessions") == 2
