"""The analysts' SQL console: one read-only SELECT in a sandboxed process, and the page over it.

Everything runs against a real published warehouse (one small refresh for the module) through
the real child process: nothing is mocked.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import sql_sandbox
from dashboards.sql_sandbox import Limits, run_query
from tests.conftest import CLINICS_CSV, SESSION_HEADER, session_row
from toning.config import DataDir
from toning.refresh import run_refresh

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
OUTSIDE = (
    "Refused: this console reads only the published warehouse; "
    "files, ATTACH, COPY, INSTALL/LOAD and settings are off"
)
READ_ONLY = "Refused: the console is read-only; only SELECT queries run"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("sql_console")
    landing = root / "landing"
    (landing / "clinics").mkdir(parents=True)
    (landing / "sessions").mkdir()
    (landing / "clinics" / "clinics.csv").write_text(CLINICS_CSV)
    rows = [session_row(f"S{i}", started_at=f"2026-03-{i + 1:02d}T10:00:00") for i in range(3)]
    (landing / "sessions" / "s.csv").write_text("\n".join([SESSION_HEADER, *rows]) + "\n")
    data = DataDir(root / "data")
    run_refresh(landing, data)
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_select_returns_the_marts_rows(published):
    result = run_query(
        "select session_id, clinic_id from marts.fct_sessions order by session_id",
        warehouse=published.warehouse,
    )
    assert result.error is None
    assert result.rows.to_dict("records") == [
        {"session_id": f"S{i}", "clinic_id": "C01"} for i in range(3)
    ]
    assert result.truncated is False
    assert result.elapsed_s >= 0
    # The Parquet download holds the same rows, with DuckDB's types.
    parquet = pq.read_table(io.BytesIO(sql_sandbox.parquet_bytes(result.table)))
    assert parquet.equals(result.table)


def test_the_row_cap_truncates_and_says_so(published):
    capped = run_query("select * from range(25)", Limits(row_cap=10), published.warehouse)
    assert (capped.error, len(capped.rows), capped.truncated) == (None, 10, True)
    exact = run_query("select * from range(10)", Limits(row_cap=10), published.warehouse)
    assert (len(exact.rows), exact.truncated) == (10, False)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from read_csv('/etc/passwd')", OUTSIDE),
        ("ATTACH '{tmp}/x.duckdb'", OUTSIDE),
        ("COPY (select 1) TO '{tmp}/out.csv'", OUTSIDE),
        ("INSTALL httpfs", OUTSIDE),
        ("LOAD httpfs", OUTSIDE),
        ("SET memory_limit='10GB'", OUTSIDE),
        ("PRAGMA enable_profiling", "Refused: PRAGMA statements are off"),
        ("explain analyze pragma enable_profiling", "Refused: EXPLAIN runs here only for a SELECT"),
        ("create table t as select 1", f"{READ_ONLY} (this is CREATE)"),
        ("insert into marts.fct_sessions select * from marts.fct_sessions", READ_ONLY),
        ("update marts.dim_clinics set region = 'x'", READ_ONLY),
        ("delete from marts.dim_clinics", READ_ONLY),
        ("drop table marts.fct_sessions", f"{READ_ONLY} (this is DROP)"),
        ("select 1; select 2", "Refused: only one SELECT statement at a time (found 2 statements)"),
    ],
)
def test_anything_but_one_select_is_refused_clearly(published, tmp_path, sql, message):
    result = run_query(sql.format(tmp=tmp_path), warehouse=published.warehouse)
    assert result.error is not None and result.error.startswith(message), result.error
    assert result.rows.empty
    assert list(tmp_path.iterdir()) == []  # neither the attached file nor the copy was written


def test_a_mistake_in_the_query_is_one_readable_line(published):
    result = run_query("select * from fct_session", warehouse=published.warehouse)
    assert result.error.startswith("Query error: Catalog Error: Table with name fct_session")
    assert 'Did you mean "marts.fct_sessions"' in result.error
    assert "\n" not in result.error


def test_a_runaway_query_is_stopped_by_the_time_limit(published):
    result = run_query(
        "select count(*) from range(100000000) a, range(100000000) b",
        Limits(time_limit_s=2),
        published.warehouse,
    )
    assert result.error == "Stopped: the query ran longer than 2 s"
    assert result.rows.empty


def test_a_child_that_does_not_answer_is_killed(published, monkeypatch):
    # No margin and 50 ms: the parent's deadline passes before the child can even start.
    monkeypatch.setattr(sql_sandbox, "START_UP_MARGIN_S", 0.0)
    result = run_query("select 1", Limits(time_limit_s=0.05), published.warehouse)
    assert result.error == "Stopped: the query ran longer than 0.05 s"


def test_the_published_warehouse_is_untouched(published):
    before = sha256(published.warehouse)
    beside = sorted(published.root.iterdir())
    # A sort past the memory limit spills to disk: into the sandbox's own folder, not beside
    # the warehouse (DuckDB's default is <db>.tmp next to the file, left there if killed).
    spilled = run_query(
        "select md5(i::varchar) as m from range(5000000) r(i) order by m",
        Limits(memory_limit="64MB", threads=1, time_limit_s=60, row_cap=1),
        published.warehouse,
    )
    assert spilled.error is None and spilled.truncated
    setting = "select current_setting('temp_directory') as spill"
    spill = run_query(setting, warehouse=published.warehouse).rows["spill"].iloc[0]
    assert not Path(spill).is_relative_to(published.root)
    for sql in ["select * from checkpoint()", "drop table marts.fct_sessions", "vacuum"]:
        run_query(sql, warehouse=published.warehouse)
    assert sha256(published.warehouse) == before
    assert sorted(published.root.iterdir()) == beside  # no .wal, no .tmp


def test_the_console_page_runs_a_query_and_refuses_another(published, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    page = AppTest.from_file(APP, default_timeout=60).run()
    page.switch_page("app_pages/sql_console.py").run()
    assert not page.exception
    assert page.title[0].value == "SQL console"
    assert "exact" in page.caption[0].value and "10,000 rows" in page.caption[0].value

    page.selectbox(key="sql_console_table").set_value("fct_sessions").run()
    columns = page.table[0].value
    assert columns.loc["session_id", "type"] == "VARCHAR"
    assert "session" in columns.loc["session_id", "meaning"].lower()

    page.text_area(key="sql_console_sql").input(
        "select session_id from marts.fct_sessions order by 1"
    )
    page.button[0].click().run()
    assert not page.exception
    assert page.dataframe[0].value["session_id"].tolist() == ["S0", "S1", "S2"]
    assert "3 rows" in page.caption[-1].value

    # Types pandas cannot hold (a UNION, a date at infinity) are shown, not a traceback.
    page.text_area(key="sql_console_sql").input(
        "select union_value(k := 1) as u, 'infinity'::date as d, '=1+1' as formula"
    )
    page.button[0].click().run()
    assert not page.exception
    assert page.dataframe[0].value["formula"].tolist() == ["=1+1"]

    page.text_area(key="sql_console_sql").input("drop table marts.fct_sessions")
    page.button[0].click().run()
    assert not page.exception
    assert page.error[0].value.startswith(f"{READ_ONLY} (this is DROP)")
    assert len(page.dataframe) == 0  # the previous answer is gone


def test_the_console_page_says_when_nothing_is_published_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(tmp_path))
    page = AppTest.from_file(APP, default_timeout=30).run()
    page.switch_page("app_pages/sql_console.py").run()
    assert not page.exception
    assert "run `toning refresh` first" in page.warning[0].value
