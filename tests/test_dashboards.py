"""What a clinic manager sees: the overview page over a published warehouse, and the server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import CLINICS_CSV, SESSION_HEADER, session_row
from toning.config import DataDir
from toning.refresh import run_refresh

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
TONING = Path(sys.executable).parent / "toning"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("dashboard")
    landing = root / "landing"
    (landing / "clinics").mkdir(parents=True)
    (landing / "sessions").mkdir()
    (landing / "clinics" / "clinics.csv").write_text(CLINICS_CSV)
    rows = [session_row(f"S{i}", started_at=f"2026-03-{i + 1:02d}T10:00:00") for i in range(3)]
    rows.append(session_row("S9", treatment_area="scalp"))  # quarantined at the door
    (landing / "sessions" / "s.csv").write_text("\n".join([SESSION_HEADER, *rows]) + "\n")
    data = DataDir(root / "data")
    run_refresh(landing, data)
    return data


def test_the_overview_shows_what_the_warehouse_holds(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = AppTest.from_file(APP, default_timeout=30).run()
    assert not page.exception
    metrics = {metric.label: metric.value for metric in page.metric}
    assert metrics["Completed sessions"] == "3"
    assert metrics["Treatment courses"] == "1"
    table = page.dataframe[0].value
    sessions = table[(table["schema"] == "marts") & (table["table"] == "fct_sessions")]
    assert sessions["rows"].tolist() == [3]
    assert "Last published refresh" in page.caption[0].value


def test_the_data_quality_page_shows_findings_and_quarantine(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = AppTest.from_file(APP, default_timeout=30).run()
    page.switch_page("app_pages/data_quality.py").run()
    assert not page.exception
    assert page.title[0].value == "Data quality"
    metrics = {metric.label: metric.value for metric in page.metric}
    findings = page.dataframe[0].value
    # The sessions' patients never arrived (a warning), and one session was quarantined.
    assert metrics["Warnings"] == str(len(findings)) and len(findings) >= 2
    assert "orphan_sessions_share" in findings["check_name"].tolist()
    [suite] = findings[findings["source"] == "gx"].to_dict("records")
    assert suite["check_name"] == "expect_column_values_to_be_in_set(treatment_area)"
    assert (suite["subject"], suite["observed"], suite["change"]) == (
        "sessions",
        1.0,
        "first check",
    )
    quarantined = page.dataframe[-1].value
    assert quarantined[["feed", "reason_code", "latest_run"]].values.tolist() == [
        ["sessions", "unknown_code", 1]
    ]


def test_the_overview_says_when_nothing_is_published_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(tmp_path))
    page = AppTest.from_file(APP, default_timeout=30).run()
    assert not page.exception
    assert "run `toning refresh` first" in page.warning[0].value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def streamlit_health(port: int, timeout_s: float = 60) -> str | None:
    """What Streamlit's health check answers once the server is up (None if it never is)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            time.sleep(0.5)
    return None


def test_serve_prints_the_url_and_serves_the_app(published):
    port = free_port()
    server = subprocess.Popen(
        [str(TONING), "serve", "--data-dir", str(published.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert streamlit_health(port) == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert "<title>Streamlit</title>" in answer.read().decode()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"http://localhost:{port}" in output
