"""Alerts (issue 17): a failed refresh, or a check whose status changed, sends the run's JSON
summary to the configured webhook and command; a quiet night sends nothing; an alert that
cannot be delivered is logged and changes nothing about the refresh."""

from __future__ import annotations

import json
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Landing, session_row
from toning.refresh import RefreshError, RefreshLocked, refresh_lock, run_refresh

PATIENTS = "patient_ref,clinic_id,fitzpatrick,updated_at\nMRN-1,C01,III,2026-01-01T00:00:00Z\n"


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # the test's output stays readable
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/toning"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.server.shutdown()
    webhook.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/toning"  # nothing listens there any more


def python_command(tmp_path: Path, name: str, code: str, *args: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    return shlex.join([sys.executable, str(script), *args])


RECORD = """import sys
with open(sys.argv[1], "ab") as f:
    f.write(sys.stdin.buffer.read() + b"\\n")
"""
FAIL = "import sys\nsys.stdin.read()\nprint('pager down', file=sys.stderr)\nsys.exit(3)\n"
HANG = "import time\ntime.sleep(60)\n"


def broken_sessions(landing: Landing) -> None:
    """200 rows, every one failing validation: a fatal finding."""
    landing.sessions(
        "sessions/broken.csv", *(session_row(f"B{i}", treatment_area="x") for i in range(200))
    )


def test_a_failed_refresh_sends_its_summary_and_a_failing_command_changes_nothing(
    landing, data_dir, receiver, tmp_path, monkeypatch
):
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", receiver.url)
    monkeypatch.setenv("TONING_ALERT_COMMAND", python_command(tmp_path, "pager", FAIL))
    broken_sessions(landing)
    said: list[str] = []
    with pytest.raises(RefreshError, match="data-quality gate: batch_fully_rejected"):
        run_refresh(landing.root, data_dir, progress=said.append)

    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        [(run_id, status, error)] = con.execute(
            "select run_id, status, error from ops.refresh_runs"
        ).fetchall()
    assert status == "failed" and not data_dir.warehouse.exists()
    [alert] = receiver.bodies
    assert (alert["run_id"], alert["status"], alert["error"]) == (run_id, "failed", error)
    assert alert["error"].startswith("data-quality gate: batch_fully_rejected")
    assert alert["reasons"][0] == "the refresh failed: nothing was published"
    assert alert["counts"]["files_new"] == 2  # the clinics and the broken sessions
    assert alert["counts"]["rows_quarantined"] == 200
    assert alert["counts"]["checks_failed_fatal"] == 2  # the file, and the feed's share
    assert len(alert["open_fatal_findings"]) == 2
    assert (alert["data_dir"], alert["host"]) == (str(data_dir.root), socket.gethostname())
    program = Path(sys.executable).name  # logged without its arguments: they may hold a token
    assert f"alert: command {program} failed: exit 3: pager down" in said
    assert f"alert: webhook 127.0.0.1:{receiver.server.server_port} sent" in said


def test_a_changed_warning_alerts_and_a_quiet_night_does_not(
    landing, data_dir, receiver, tmp_path, monkeypatch
):
    recorded = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", receiver.url)
    monkeypatch.setenv(
        "TONING_ALERT_COMMAND", python_command(tmp_path, "rec", RECORD, str(recorded))
    )
    landing.sessions("sessions/week1.csv", session_row("S1"))
    run_refresh(landing.root, data_dir)  # the patient has not arrived: orphan sessions warn
    [first] = receiver.bodies
    assert first["status"] == "published" and first["error"] is None
    orphans = {c["check_name"]: c for c in first["changed_checks"]}["orphan_sessions_share"]
    assert (orphans["status"], orphans["previous_status"]) == ("fail", None)
    assert [json.loads(line) for line in recorded.read_text().splitlines()] == [first]

    landing.write("patients/p.csv", PATIENTS)  # the patient arrives: the warning is fixed
    run_refresh(landing.root, data_dir)
    second = receiver.bodies[1]
    orphans = {c["check_name"]: c for c in second["changed_checks"]}["orphan_sessions_share"]
    assert (orphans["severity"], orphans["status"], orphans["previous_status"]) == (
        "warn",
        "pass",
        "fail",
    )

    run_refresh(landing.root, data_dir)  # nothing new, nothing changed
    assert len(receiver.bodies) == 2
    assert len(recorded.read_text().splitlines()) == 2


def test_an_unreachable_webhook_and_a_hung_command_leave_a_publish_alone(
    landing, data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", closed_port_url())
    monkeypatch.setenv("TONING_ALERT_COMMAND", python_command(tmp_path, "hang", HANG))
    monkeypatch.setenv("TONING_ALERT_TIMEOUT", "1")
    landing.sessions("sessions/week1.csv", session_row("S1"))  # an orphan: an alert is due
    said: list[str] = []
    started = time.monotonic()
    result = run_refresh(landing.root, data_dir, progress=said.append)

    assert result.warehouse.exists()
    assert time.monotonic() - started < 60  # the hung command was killed at its timeout
    with duckdb.connect(str(data_dir.lake), read_only=True) as con:
        assert con.execute("select status from ops.refresh_runs").fetchall() == [("published",)]
    program = Path(sys.executable).name
    assert f"alert: command {program} failed: no answer within 1 s (killed)" in said
    [webhook] = [line for line in said if line.startswith("alert: webhook")]
    assert "failed: URLError" in webhook and "Connection refused" in webhook


def test_a_refresh_that_fails_before_recording_a_run_still_alerts(
    landing, data_dir, receiver, tmp_path, monkeypatch
):
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", receiver.url)
    missing = tmp_path / "mount-gone" / "landing"  # e.g. the clinics' share did not mount
    with pytest.raises(RefreshError, match="does not exist"):
        run_refresh(missing, data_dir)
    # A lake that cannot be opened: the refresh stops before its run has a row anywhere.
    landing.sessions("sessions/week1.csv", session_row("S1"))
    run_refresh(landing.root, data_dir)
    data_dir.lake.write_bytes(b"not a database" * 1000)
    said: list[str] = []
    with pytest.raises(RefreshError, match="--full"):
        run_refresh(landing.root, data_dir, progress=said.append)

    gone, published, damaged = receiver.bodies
    assert published["status"] == "published" and published["recorded"]
    for alert, cause in ((gone, str(missing)), (damaged, str(data_dir.lake))):
        assert (alert["status"], alert["recorded"], alert["run_id"]) == ("failed", False, None)
        assert cause in alert["error"] and alert["text"].endswith(alert["error"])
        assert alert["reasons"] == ["the refresh failed: nothing was published"]
        assert alert["data_dir"] == str(data_dir.root)
    assert f"alert: webhook 127.0.0.1:{receiver.server.server_port} sent" in said


def test_another_refresh_running_is_no_failure_and_sends_nothing(
    landing, data_dir, receiver, monkeypatch
):
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", receiver.url)
    landing.sessions("sessions/week1.csv", session_row("S1"))
    with refresh_lock(data_dir), pytest.raises(RefreshLocked):
        run_refresh(landing.root, data_dir)
    assert receiver.bodies == []
