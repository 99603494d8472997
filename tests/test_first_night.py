"""The first night, as a new user has it: the README's `make demo` from a fresh checkout's root,
and paths typed the way people type them (relative, `~`, spaces, quotes)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import session_row
from tests.test_dashboards import free_port, streamlit_health
from toning import config, users
from toning.config import DataDir
from toning.refresh import run_refresh

REPO_ROOT = Path(__file__).resolve().parent.parent
TONING = Path(sys.executable).parent / "toning"
# What a new user's shell does not have: the paths would not be the defaults the README shows.
NOT_IN_A_FRESH_SHELL = ("TONING_LANDING", "TONING_DATA_DIR", "TONING_SECRET", "MAKEFLAGS", "MFLAGS")


def count(warehouse: Path, sql: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def fresh_shell() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_FRESH_SHELL}
    env.pop("MAKELEVEL", None)  # `make test` runs pytest: the demo's make must not see it
    return env


def test_typed_paths_are_made_absolute(tmp_path, monkeypatch):
    here = tmp_path.resolve()
    monkeypatch.chdir(here)
    monkeypatch.setenv("HOME", str(here / "home"))
    monkeypatch.delenv(config.LANDING_ENV, raising=False)
    monkeypatch.delenv(config.DATA_DIR_ENV, raising=False)
    assert config.landing_dir() == here / "data" / "landing"
    assert config.data_dir().root == here / "data"
    assert config.data_dir(Path("~/wh")).warehouse == here / "home" / "wh" / "warehouse.duckdb"
    monkeypatch.setenv(config.DATA_DIR_ENV, "nightly/../my data")
    assert config.data_dir().root == here / "my data"
    assert config.data_dir(Path("given")).root == here / "given"  # the option wins


def test_relative_paths_and_a_quote_in_the_data_folder_publish(landing, tmp_path, monkeypatch):
    monkeypatch.delenv("TONING_SECRET", raising=False)
    landing.sessions(
        "sessions/week1.csv",
        session_row("S1"),
        session_row("S2", started_at="2026-03-16T10:00:00"),
    )
    monkeypatch.chdir(tmp_path)
    # A quote and a space: ATTACH statements, the dbt profile and Data Docs all get this path.
    result = run_refresh(Path("landing"), DataDir(Path("da'ta x")))
    published = tmp_path.resolve() / "da'ta x" / "warehouse.duckdb"
    assert result.warehouse == published
    assert count(published, "select count(*) from marts.fct_sessions") == 2
    assert (published.parent / "data_docs" / "index.html").is_file()


@pytest.mark.parametrize("option", ["--landing", "--data-dir"])
def test_a_file_given_as_a_folder_is_a_one_line_error(tmp_path, option):
    (tmp_path / "landing").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    paths = {"--landing": "landing", "--data-dir": "data", option: "a_file"}
    done = subprocess.run(
        [str(TONING), "refresh", *(arg for pair in paths.items() for arg in pair)],
        cwd=tmp_path,
        env=fresh_shell(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{tmp_path.resolve() / 'a_file'} is a file, not a folder" in done.stderr
    assert "Traceback" not in done.stderr


def demo_commands(checkout: Path, port: int) -> list[str]:
    """The `toning` lines of `make demo`'s recipe, as make expands them (`make -n` runs none)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", f"PORT={port}"],
        cwd=checkout,
        env=fresh_shell(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line.startswith(".venv/bin/toning ")]


def test_make_demo_from_a_fresh_checkout_publishes_and_serves(tmp_path):
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(checkout)], check=True)
    shutil.copy(REPO_ROOT / "Makefile", checkout)  # the Makefile being tested, even uncommitted
    (checkout / ".venv").symlink_to(sys.prefix)  # `make setup`'s venv, without a reinstall
    port = free_port()
    generate, refresh, demo_users, serve = lines = demo_commands(checkout, port)
    assert [shlex.split(line)[1:] for line in lines] == [
        ["generate", "--tier", "demo", "--out", "data/landing"],
        ["refresh", "--landing", "data/landing", "--data-dir", "data"],
        ["users", "demo", "--data-dir", "data"],
        ["serve", "--data-dir", "data", "--port", str(port)],
    ]

    for command in (generate, refresh, demo_users):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=checkout,
            env=fresh_shell(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        if command == refresh:
            refresh_output = done.stderr
    data = checkout / "data"
    # The demo's sign-ins, printed once: each works.
    printed = dict(re.findall(r"^\s+(demo-\w+)\s+password (\S+)", done.stdout, re.MULTILINE))
    registered = users.load(DataDir(data).users_file)
    assert sorted(printed) == sorted(registered) == ["demo-admin", "demo-analyst", "demo-manager"]
    assert all(registered[name].password_matches(printed[name]) for name in printed)
    assert "published" in refresh_output
    assert count(data / "warehouse.duckdb", "select count(*) from marts.fct_sessions") > 10_000
    assert (data / "data_docs" / "index.html").is_file()

    server = subprocess.Popen(
        ["bash", "-c", serve],
        cwd=checkout,
        env=fresh_shell(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # stopped below as a group, like Ctrl+C in the user's terminal
    )
    try:
        assert streamlit_health(port) == "ok"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert f"http://localhost:{port}" in output
    assert "No published warehouse" not in output
