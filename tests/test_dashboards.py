"""What a clinic manager sees: the overview page over a published warehouse, and the server."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app_testing import PAGE_FILES, WAREHOUSE_PAGES, downloaded, signed_in
from tests.conftest import CLINICS_CSV, SESSION_HEADER, session_row
from toning.config import DataDir
from toning.refresh import RefreshError, run_refresh
from toning.rollback import rollback

TONING = Path(sys.executable).parent / "toning"


# A clinic id a spreadsheet would run as a formula: it must reach every CSV download as text.
FORMULA_CLINIC = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("dashboard")
    landing = root / "landing"
    (landing / "clinics").mkdir(parents=True)
    (landing / "sessions").mkdir()
    quoted = '"' + FORMULA_CLINIC.replace('"', '""') + '"'
    (landing / "clinics" / "clinics.csv").write_text(
        CLINICS_CSV + f"{quoted},Formula Clinic,Nowhere,UTC,iso,2020-01-01,2026-01-01T00:00:00Z\n"
    )
    rows = [session_row(f"S{i}", started_at=f"2026-03-{i + 1:02d}T10:00:00") for i in range(3)]
    rows.append(session_row("S9", treatment_area="scalp"))  # quarantined at the door
    rows.append(session_row("S8", clinic_id=quoted, patient_ref="MRN-8"))
    (landing / "sessions" / "s.csv").write_text("\n".join([SESSION_HEADER, *rows]) + "\n")
    # A one-row addendum whose only row has an unknown laser type: a warning, not a block.
    (landing / "devices").mkdir()
    (landing / "devices" / "addendum.csv").write_text(
        "device_id,clinic_id,laser_type,wavelength_nm,updated_at\n"
        "D9,C01,diode,810,2026-01-01T00:00:00Z\n"
    )
    # A role no metric needs, in a spelling we do not know: loaded, the role set aside.
    (landing / "providers").mkdir()
    (landing / "providers" / "p.csv").write_text(
        "provider_id,clinic_id,role,updated_at\nP1,C01,therapist,2026-01-01T00:00:00Z\n"
    )
    data = DataDir(root / "data")
    run_refresh(landing, data)
    return data


def test_the_overview_shows_the_period_and_the_refresh(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = signed_in(timeout=30)
    assert not page.exception
    metrics = {metric.label: metric.value for metric in page.metric}
    # Four completed sessions of two patients: small counts, shown as <11 to a manager.
    assert metrics["Completed sessions"] == "<11"
    assert metrics["Courses started"] == "<11"
    assert metrics["Completion rate"] == "–"  # no finished course, no rate
    assert "Data as of the refresh" in page.caption[0].value


def test_every_csv_download_is_safe_in_a_spreadsheet(published, monkeypatch, downloads):
    """Every page's every download: no cell a spreadsheet would run as a formula, and the
    landing zone's formula-like clinic id arrives as plain text."""
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = signed_in(timeout=60)
    for page_file in PAGE_FILES:
        page.switch_page(page_file).run()
        assert not page.exception, page_file
        if page_file.endswith("data_quality.py"):
            freshness = downloaded(page, "Download freshness as CSV", downloads)
    assert len(downloads) >= len(PAGE_FILES)
    formula_starts = ("=", "+", "-", "@", "\t", "\r")
    for served in downloads.values():
        text = served.decode() if isinstance(served, bytes) else served
        cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
        live = [cell for cell in cells if cell.startswith(formula_starts) and not _number(cell)]
        assert not live, live[:3]
    assert "'" + FORMULA_CLINIC in freshness.replace('""', '"')


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_the_data_quality_page_shows_findings_and_quarantine(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = signed_in(timeout=30)
    page.switch_page("app_pages/data_quality.py").run()
    assert not page.exception
    assert page.title[0].value == "Data quality"
    metrics = {metric.label: metric.value for metric in page.metric}
    findings = next(f.value for f in page.dataframe if "check_name" in f.value.columns)
    # The sessions' patients never arrived (a warning), and one session was quarantined.
    assert metrics["Warnings"] == str(len(findings)) and len(findings) >= 2
    assert "orphan_sessions_share" in findings["check_name"].tolist()
    suites = findings[findings["source"] == "gx"].set_index("subject")
    assert suites.loc["sessions", "check_name"] == (
        "expect_column_values_to_be_in_set(treatment_area)"
    )
    assert (suites.loc["sessions", "observed"], suites.loc["sessions", "change"]) == (
        1.0,
        "first check",
    )
    # The one-row addendum is a warning on the page, and the refresh published.
    [small] = findings[findings["check_name"] == "small_batch_fully_rejected"].to_dict("records")
    assert (small["severity"], small["observed"]) == ("warn", 1.0)
    assert "devices/addendum.csv" in small["detail"]
    tables = {tuple(frame.value.columns): frame.value for frame in page.dataframe}
    quarantined = next(t for columns, t in tables.items() if "expectation" in columns)
    assert sorted(quarantined[["feed", "reason_code", "latest_run"]].values.tolist()) == [
        ["devices", "unknown_code", 1],
        ["sessions", "unknown_code", 1],
    ]
    set_aside = next(t for columns, t in tables.items() if "column_name" in columns)
    assert set_aside[["feed", "column_name", "latest_run", "example"]].values.tolist() == [
        ["providers", "role", 1, "unknown_code: role 'therapist'"]
    ]


def test_every_page_says_what_to_do_when_nothing_is_published_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(tmp_path))
    page = signed_in(timeout=30)
    for page_file in WAREHOUSE_PAGES:
        page.switch_page(page_file).run()
        assert not page.exception, page_file
        said = [element.value for element in [*page.warning, *page.info]]
        assert any("toning refresh" in sentence for sentence in said), (page_file, said)


def test_a_clinic_without_sessions_in_the_period_gets_a_sentence(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = signed_in(timeout=30)
    page.sidebar.multiselect[0].set_value(["C02"]).run()  # C02 sent no session
    assert not page.exception
    assert "No completed sessions in this period" in page.info[0].value


def test_a_failed_refresh_is_shown_with_what_stayed_published(published, tmp_path, monkeypatch):
    data = DataDir(tmp_path / "data")
    shutil.copytree(published.root, data.root)
    published_run = json.loads(data.run_history.read_text())[0]["run_id"]
    broken = tmp_path / "landing" / "sessions"
    broken.mkdir(parents=True)
    (broken / "week2.csv").write_text(
        "\n".join([SESSION_HEADER, *(session_row(f"B{i}", fluence_j_cm2="99") for i in range(50))])
        + "\n"
    )
    with pytest.raises(RefreshError):
        run_refresh(tmp_path / "landing", data)
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    page = signed_in(timeout=30)
    assert not page.exception
    [error] = page.error
    assert "failed" in error.value and "batch_fully_rejected" in error.value
    assert f"still show the warehouse of the refresh {published_run}" in error.value
    assert page.metric  # the published figures are still shown under it


def test_a_rollback_is_shown_with_the_warehouse_put_back(published, tmp_path, monkeypatch):
    data = DataDir(tmp_path / "data")
    shutil.copytree(published.root, data.root)
    first_run = json.loads(data.run_history.read_text())[0]["run_id"]
    more = tmp_path / "landing" / "sessions"
    more.mkdir(parents=True)
    (more / "week2.csv").write_text("\n".join([SESSION_HEADER, session_row("S20")]) + "\n")
    run_refresh(tmp_path / "landing", data)
    rollback(data, to=first_run)
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    page = signed_in(timeout=30)
    assert not page.exception
    [warning] = page.warning
    assert f"show the warehouse published by the refresh {first_run}" in warning.value


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


def test_the_bench_times_every_page_of_the_navigation(published):
    """`toning bench`'s page timing runs each real page in its own process and times its data."""
    timings = json.loads(
        subprocess.run(
            [sys.executable, "-m", "dashboards.timing", str(published.root)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
    )
    assert list(timings) == [Path(page).stem for page in PAGE_FILES]
    assert not [page for page, timing in timings.items() if timing["raised"]]
    assert timings["overview"]["first_visit_ms"] > 0
