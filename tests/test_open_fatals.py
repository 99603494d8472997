"""A fatal finding stays open, blocking every publish, until an operator acknowledges it or its
cause is gone (issue 17): a broken file must not slip through on the next night merely because
its rows are already quarantined."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from expectations.checks import CheckResult
from expectations.open_findings import acknowledge, open_fatals, update_open_fatals
from ingest import lake
from tests.app_testing import open_page, published_frame, shown_table
from tests.conftest import Landing, session_row
from tests.test_alerts import Receiver
from toning.cli import app
from toning.config import DataDir
from toning.refresh import RefreshError, run_refresh

PATIENTS = "patient_ref,clinic_id,fitzpatrick,updated_at\nMRN-1,C01,III,2026-01-01T00:00:00Z\n"
BROKEN_FILE = "sessions/week2.csv"


def result(check: str, passed: bool, source: str = "warehouse", subject=None) -> CheckResult:
    return CheckResult(source, check, subject, "fatal", passed, 0.0, 0.0, f"{check} detail")


def test_a_warehouse_finding_closes_when_it_passes_a_batch_finding_only_when_acknowledged(
    tmp_path,
):
    with lake.connect(tmp_path / "lake.duckdb") as con:
        lake.create_lake(con)
        night1 = [
            result("batch_fully_rejected", False),
            result("orphan_sessions_share", False, subject="C01"),
        ]
        assert len(update_open_fatals(con, "run-1", night1)) == 2
        night2 = [
            result("batch_fully_rejected", True),
            result("orphan_sessions_share", True, subject="C01"),
        ]
        [still] = update_open_fatals(con, "run-2", night2)
        assert (still.check, still.first_seen_run, still.last_seen_run) == (
            "batch_fully_rejected",
            "run-1",
            "run-1",
        )
        assert acknowledge(con, "orphan_sessions_share", None, "ops", datetime.now(), None) == []
        [done] = acknowledge(con, "batch_fully_rejected", None, "ops", datetime.now(), "resent")
        assert done == still
        assert open_fatals(con) == []
        # A later broken file is a new finding, not the acknowledged one again.
        [new] = update_open_fatals(con, "run-3", [result("batch_fully_rejected", False)])
        assert new.first_seen_run == "run-3"


def test_a_warehouse_finding_failing_again_stays_one_finding(tmp_path):
    with lake.connect(tmp_path / "lake.duckdb") as con:
        lake.create_lake(con)
        failing = [result("dbt_tests", False, source="dbt", subject="unique_fct_sessions")]
        update_open_fatals(con, "run-1", failing)
        [finding] = update_open_fatals(con, "run-2", failing)
    assert (finding.scope, finding.first_seen_run, finding.last_seen_run) == (
        "warehouse",
        "run-1",
        "run-2",
    )


@pytest.fixture(scope="module")
def blocked_twice(tmp_path_factory) -> tuple[Landing, DataDir, list[str], bytes]:
    """A published night, then a 200-row sessions file whose every row fails, refreshed on two
    nights (the second with nothing new): (landing, data, the two errors, the published bytes)."""
    root = tmp_path_factory.mktemp("blocked")
    landing = Landing(root / "landing")
    landing.write("patients/p.csv", PATIENTS)
    landing.sessions("sessions/week1.csv", session_row("S1"))
    data = DataDir(root / "data")
    run_refresh(landing.root, data)
    published = data.warehouse.read_bytes()
    landing.sessions(
        BROKEN_FILE,
        *(
            session_row(f"B{i}", **({"fluence_j_cm2": "40"} if i % 2 else {"treatment_area": "x"}))
            for i in range(200)
        ),
    )
    errors = []
    for _night in range(2):  # every row fails: batch_fully_rejected and feed_rejected_share
        with pytest.raises(RefreshError) as blocked:
            run_refresh(landing.root, data)
        errors.append(str(blocked.value))
    return landing, data, errors, published


def test_the_next_night_still_blocks_with_the_acknowledge_command(blocked_twice):
    _, data, (night1, night2), published = blocked_twice
    ack = f"toning dq ack batch_fully_rejected --note '<what was done>' --data-dir {data.root}"
    assert f"every row of {BROKEN_FILE} failed validation" in night1
    assert ack in night1
    # Nothing new arrived and batch_fully_rejected passed: the finding of night 1 still blocks.
    assert "open fatal finding(s) of earlier runs, not acknowledged: batch_fully_rejected" in night2
    assert f"every row of {BROKEN_FILE} failed validation" in night2
    assert ack in night2
    assert data.warehouse.read_bytes() == published
    with duckdb.connect(str(data.lake), read_only=True) as con:
        statuses = con.execute("select status from ops.refresh_runs order by started_at").fetchall()
    assert statuses == [("published",), ("failed",), ("failed",)]


def test_dq_list_shows_the_open_finding(blocked_twice):
    _, data, _, _ = blocked_twice
    listed = CliRunner().invoke(app, ["dq", "list", "--data-dir", str(data.root)])
    assert listed.exit_code == 0, listed.output
    assert f"batch_fully_rejected: every row of {BROKEN_FILE} failed validation" in listed.stdout
    assert "toning dq ack batch_fully_rejected" in listed.stdout


def test_the_data_quality_page_shows_the_open_fatal_at_the_top(blocked_twice, monkeypatch):
    _, data, _, _ = blocked_twice
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    page = open_page("app_pages/data_quality.py")
    assert "2 open fatal finding(s)" in page.error[0].value
    shown = shown_table(page, "first_seen_run").set_index("check")
    assert sorted(shown.index) == ["batch_fully_rejected", "feed_rejected_share"]
    assert BROKEN_FILE in shown.loc["batch_fully_rejected", "detail"]
    assert shown.loc["feed_rejected_share", "subject"] == "sessions"


def test_after_an_acknowledgement_the_next_night_publishes(blocked_twice, tmp_path, monkeypatch):
    landing, blocked, _, _ = blocked_twice
    data = DataDir(tmp_path / "data")  # a copy: the other tests read the blocked folder
    shutil.copytree(blocked.root, data.root)
    monkeypatch.setenv("LOGNAME", "night-operator")  # getpass.getuser() reads it first

    note = ["--note", "clinic re-exports week 2", "--data-dir", str(data.root)]
    acked = CliRunner().invoke(app, ["dq", "ack", "batch_fully_rejected", *note])
    assert acked.exit_code == 0, acked.output
    assert "acknowledged by night-operator" in acked.output
    again = CliRunner().invoke(app, ["dq", "ack", "batch_fully_rejected", *note])
    assert again.exit_code == 1 and "no open fatal finding of batch_fully_rejected" in again.output
    # The same file broke the feed's rejected share: one more finding, about the sessions feed.
    listed = CliRunner().invoke(app, ["dq", "list", "--data-dir", str(data.root)])
    assert listed.stdout.startswith("feed_rejected_share [sessions]: 200 of 200 record(s)")
    assert "toning dq ack feed_rejected_share sessions --note" in listed.stdout
    acked = CliRunner().invoke(app, ["dq", "ack", "feed_rejected_share", "sessions", *note])
    assert acked.exit_code == 0, acked.output

    webhook = Receiver()
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", webhook.url)
    try:
        run_refresh(landing.root, data)
    finally:
        webhook.server.shutdown()
        webhook.server.server_close()
    [alert] = webhook.bodies  # the all-clear after the failed nights
    assert alert["status"] == "published"
    assert "published again after a run that failed" in alert["reasons"]
    recorded = published_frame(data, "select * from ops.dq_open_fatals order by check_name")
    assert recorded["acknowledged_by"].tolist() == ["night-operator"] * 2
    assert recorded["note"].tolist() == ["clinic re-exports week 2"] * 2
    assert recorded["acknowledged_at"].notna().all() and recorded["resolved_run"].isna().all()
    assert published_frame(data, "select count(*) as n from marts.fct_sessions")["n"][0] == 1
    assert Path(data.open_fatals).read_text().strip() == "[]"
