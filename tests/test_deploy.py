"""The scheduling files in deploy/ (issue 17): a hardened oneshot service that runs
`toning refresh`, a timer that catches up a missed night, an environment file and a crontab
line that agree with them."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
REPO = DEPLOY.parent
INSTALLED = "/opt/toning"  # where the units expect the code (README install steps)


def unit(name: str) -> configparser.ConfigParser:
    # systemd allows repeated keys and values with '%' and '$': no interpolation, not strict.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_the_service_runs_the_refresh_as_its_own_user_with_the_filesystem_read_only():
    service = unit("toning-refresh.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["User"] == "toning"
    assert service["EnvironmentFile"] == "/etc/toning/refresh.env"
    command = service["ExecStart"].split()
    assert command[:2] == [f"{INSTALLED}/.venv/bin/toning", "refresh"]
    assert "${TONING_DATA_DIR}" in command and "${TONING_LANDING}" in command
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == service["PrivateTmp"] == service["NoNewPrivileges"] == "true"
    # Writable: the data folder, nothing else; it is the one the example environment names.
    assert service["ReadWritePaths"].split() == [example_environment()["TONING_DATA_DIR"]]
    assert "SuccessExitStatus" not in service  # 75 (another refresh running) is no success


def test_the_timer_runs_nightly_and_catches_up_a_missed_night():
    timer = unit("toning-refresh.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:30"
    assert timer["Timer"]["Persistent"] == "true"
    assert re.fullmatch(r"\d+(min|s)", timer["Timer"]["RandomizedDelaySec"])
    assert timer["Timer"]["Unit"] == "toning-refresh.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


def example_environment() -> dict[str, str]:
    lines = (DEPLOY / "refresh.env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return dict(pairs)


def test_the_example_environment_and_the_crontab_line_agree_with_the_service():
    environment = example_environment()
    assert set(environment) == {"TONING_LANDING", "TONING_DATA_DIR"}
    [line] = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert line.startswith("30 2 * * * ")
    assert f"cd {INSTALLED} &&" in line and ". /etc/toning/refresh.env" in line
    assert ".venv/bin/toning refresh" in line and "flock" not in line
    assert r"$(date +\%F)" in line  # cron reads a bare % as a newline


def test_the_dashboards_run_as_the_refreshs_user_on_localhost():
    """They read the users file and the identity store, private to the user `toning`."""
    service = unit("toning-dashboards.service")["Service"]
    assert (service["User"], service["Type"], service["UMask"]) == ("toning", "simple", "0077")
    command = service["ExecStart"].split()
    assert command[:2] == [f"{INSTALLED}/.venv/bin/toning", "serve"]
    assert "${TONING_DATA_DIR}" in command
    assert command[command.index("--address") + 1] == "127.0.0.1"
    assert service["ReadWritePaths"].split() == [example_environment()["TONING_DATA_DIR"]]


def test_systemd_accepts_every_unit(tmp_path):
    """systemd's own parser, with the code's place made this checkout (it checks that the
    command exists); it exits 0 on unknown keys too, so any message fails the test."""
    assert shutil.which("systemd-analyze"), "systemd-analyze is installed on this machine kind"
    units = ("toning-refresh.service", "toning-refresh.timer", "toning-dashboards.service")
    for name in units:
        text = (DEPLOY / name).read_text().replace(INSTALLED, str(REPO))
        (tmp_path / name).write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", *units],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
