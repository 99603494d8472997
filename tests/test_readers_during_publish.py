"""Real refreshes and a rollback while another process reads the published warehouse: readers
never fail; each publish keeps the warehouse it replaces; stage durations; `toning status`.

One module fixture pays for the three refreshes (dbt builds) every test here reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Landing, session_row
from toning import config, versions
from toning.config import DataDir
from toning.refresh import run_refresh

TONING = Path(sys.executable).parent / "toning"

# Opens the published warehouse read-only, counts the sessions, closes; again and again until
# the stop file appears. Writes every distinct answer in the order seen, and every error.
READER = """
import json, sys, time
from pathlib import Path
import duckdb
warehouse, stop, out = sys.argv[1:]
answers, errors, queries = [], [], 0
while not Path(stop).exists():
    try:
        with duckdb.connect(warehouse, read_only=True) as con:
            count = con.execute("select count(*) from marts.fct_sessions").fetchone()[0]
        queries += 1
        if not answers or answers[-1] != count:
            answers.append(count)
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
    time.sleep(0.005)
Path(out).write_text(json.dumps({"answers": answers, "errors": errors, "queries": queries}))
"""


@dataclass
class Night:
    data: DataDir
    run_ids: list[str]  # the three refreshes, oldest first
    rollback: subprocess.CompletedProcess
    reader: dict


def toning(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TONING), *args], capture_output=True, text=True, timeout=600)


def week(landing: Landing, number: int, *session_ids: str) -> None:
    started = f"2026-03-{2 + 7 * (number - 1):02d}T10:00:00"
    rows = [session_row(sid, started_at=started, updated_at=started) for sid in session_ids]
    landing.sessions(f"sessions/week{number}.csv", *rows)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Night:
    """Refresh A (2 sessions); a reader starts; refresh B (3), refresh C (4, from the command
    line, keeping 2), rollback to B; the reader stops once it has seen B again."""
    root = tmp_path_factory.mktemp("readers")
    landing, data = Landing(root / "landing"), DataDir(root / "data")
    week(landing, 1, "S1", "S2")
    run_ids = [run_refresh(landing.root, data).run_id]
    stop, out = root / "stop", root / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(data.warehouse), str(stop), out])
    try:
        week(landing, 2, "S3")
        run_ids.append(run_refresh(landing.root, data).run_id)
        week(landing, 3, "S4")
        done = toning("refresh", "--landing", str(landing.root), "--data-dir", str(data.root),
                      "--keep", "2")  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_ids.append(versions.published_run(data.warehouse).run_id)
        rolled = toning("rollback", "--data-dir", str(data.root))
        time.sleep(1)  # a few hundred more reads of the rolled-back warehouse
    finally:
        stop.touch()
        reader.wait(timeout=60)
    return Night(data, run_ids, rolled, json.loads(out.read_text()))


def test_readers_in_another_process_never_fail_and_see_each_publish(night):
    assert night.rollback.returncode == 0, night.rollback.stderr
    assert night.reader["errors"] == []
    assert night.reader["queries"] > 100
    # A's answer, B's, C's, then B's again after the rollback: old or new, never an error.
    assert night.reader["answers"] == [2, 3, 4, 3]


def test_each_publish_kept_the_warehouse_it_replaced(night):
    a, b, c = night.run_ids
    assert [v.run_id for v in versions.kept_versions(night.data)] == [a, b, c]
    assert versions.published_run(night.data.warehouse).run_id == b
    for version in versions.kept_versions(night.data):
        assert version.manifest.is_file()


def test_each_refresh_records_the_duration_of_every_stage(night):
    with duckdb.connect(str(night.data.lake), read_only=True) as con:
        cursor = con.execute(
            "select * from ops.refresh_runs where status = 'published' order by started_at"
        )
        names = [column[0] for column in cursor.description]
        runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert [run["run_id"] for run in runs] == night.run_ids
    for run in runs:
        stages = [run[f"{name}_s"] for name in config.RUN_STAGES]
        assert all(seconds is not None and seconds >= 0 for seconds in stages), run
        assert run["dbt_s"] > 1
        assert sum(stages) <= run["duration_s"] + 0.01
    history = json.loads(night.data.run_history.read_text())
    assert history[0]["status"] == "rolled_back"
    assert history[0]["rolled_back_to"] == night.run_ids[1]
    assert history[1]["dbt_s"] == runs[-1]["dbt_s"]


def test_status_shows_what_is_published_kept_and_run(night):
    done = toning("status", "--data-dir", str(night.data.root))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    a, b, c = night.run_ids
    assert f"Published: run {b}" in out
    assert "fct_sessions 3" in out and "fct_courses 1" in out
    assert "Kept versions (3" in out and all(run_id in out for run_id in night.run_ids)
    assert f"rolled_back to {b}" in out and "published" in out
    assert "Refresh running now: no" in out
    assert f"Stages of the last refresh ({c}): ingest" in out
    assert "dbt" in out and "publish" in out
    print(out)  # what an operator sees (pytest -s)
