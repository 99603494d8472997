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

from dashboards import sql_sandbox
from dashboards.sql_sandbox import Limits, run_query
from tests.app_testing import signed_in
from tests.conftest import CLINICS_CSV, SESSION_HEADER, session_row
from toning import audit
from toning.config import DataDir
from toning.refresh import run_refresh
from toning.users import ANALYST

OUTSIDE = (
    "Refused: this console reads only the published warehouse; "
    "files, ATTACH, COPY, INSTALL/LOAD and settings are off"
)
READ_ONLY = "Refused: the console is read-only; only SELECT queries run"
REFUSED_PRAGMA = "Refused: PRAGMA statements are off in this console"


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


def test_a_mistake_in_the_query_is_one_readable_line(published):
    result = run_query("select * from fct_session", warehouse=published.warehouse)
    assert result.error.startswith("Query error: Catalog Error: Table with name fct_session")
    assert 'Did you mean "marts.fct_sessions"' in result.error
    assert "\n" not in result.error


def test_a_child_that_does_not_answer_is_killed(published, monkeypatch):
    # No margin and 50 ms: the parent's deadline passes before the child can even start.
    monkeypatch.setattr(sql_sandbox, "START_UP_MARGIN_S", 0.0)
    result = run_query("select 1", Limits(time_limit_s=0.05), published.warehouse)
    assert result.error == "Stopped: the query ran longer than 0.05 s"


# ---------------------------------------------------------------------------------------------
# The attack suite: what an analyst (or someone with an analyst's login) might try. Each attack
# is refused or stopped in one line an analyst understands, and changes nothing: no file in the
# test's own folder or in the data dir, the warehouse byte for byte the same. In the SQL,
# {tmp} is the test's empty folder and {data}, {warehouse}, {identity}, {lake}, {key} are the
# published data dir's real paths.


def snapshot(data: DataDir) -> dict[str, tuple[int, int] | None]:
    """Every file (size, modification time) and folder under the data dir."""
    return {
        str(path.relative_to(data.root)): (
            (path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else None
        )
        for path in data.root.rglob("*")
    }


def attack(published: DataDir, tmp_path: Path, sql: str, limits: Limits | None = None):
    """Run one attack and check that it left nothing behind; its result, for the message."""
    before, warehouse = snapshot(published), sha256(published.warehouse)
    paths = {
        "tmp": tmp_path,
        "data": published.root,
        "warehouse": published.warehouse,
        "identity": published.identity,
        "lake": published.lake,
        "key": published.key_file,
    }
    result = run_query(sql.format(**paths), limits or Limits(), published.warehouse)
    assert result.rows.empty
    assert list(tmp_path.iterdir()) == []
    assert snapshot(published) == before
    assert sha256(published.warehouse) == warehouse
    return result


def assert_refused(result, message: str) -> None:
    assert result.error is not None and result.error.startswith(message), result.error
    assert "\n" not in result.error


def test_the_attacks_target_real_files(published):
    # Otherwise a refusal could be DuckDB not finding the file.
    for path in (published.identity, published.lake, published.key_file):
        assert path.is_file(), path


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("select * from read_csv('/etc/passwd')", id="read_csv"),
        pytest.param("select * from '/etc/passwd'", id="from-a-path"),
        pytest.param("from '/etc/*'", id="from-a-glob"),
        pytest.param("select * from '/etc/passwd.csv'", id="from-a-csv-path"),
        pytest.param("select * from glob('/etc/*')", id="glob"),
        pytest.param("select * from glob('{data}/**')", id="glob-the-data-dir"),
        pytest.param("select * from read_text('/etc/passwd')", id="read_text"),
        pytest.param("select * from read_blob('/etc/passwd')", id="read_blob"),
        pytest.param("select * from read_json('/etc/passwd')", id="read_json"),
        pytest.param("select * from sniff_csv('/etc/passwd')", id="sniff_csv"),
        pytest.param("select * from read_text('{key}')", id="read_text-the-key"),
        pytest.param("select * from read_blob('{identity}')", id="read_blob-the-identity-store"),
        pytest.param(
            "select * from read_duckdb('{identity}')", id="read_duckdb-the-identity-store"
        ),
        pytest.param("select * from '{identity}'", id="from-the-identity-store"),
        pytest.param("select * from read_parquet('{lake}')", id="read_parquet-the-lake"),
        pytest.param("select * from '{lake}'", id="from-the-lake"),
        pytest.param("select * from read_csv('data:text/plain,a')", id="read_csv-a-data-url"),
    ],
)
def test_reading_files_is_refused(published, tmp_path, sql):
    assert_refused(attack(published, tmp_path, sql), OUTSIDE)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("COPY (select 1) TO '{tmp}/out.csv'", id="copy-to"),
        pytest.param("COPY marts.dim_clinics TO '{data}/clinics.parquet'", id="copy-beside"),
        pytest.param("EXPORT DATABASE '{tmp}/export'", id="export-database"),
    ],
)
def test_writing_files_is_refused(published, tmp_path, sql):
    assert_refused(attack(published, tmp_path, sql), OUTSIDE)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("ATTACH '{identity}' AS identity (READ_ONLY)", id="attach-the-identity-store"),
        pytest.param("ATTACH '{lake}' AS lake (READ_ONLY)", id="attach-the-lake"),
        pytest.param("ATTACH '{tmp}/new.duckdb'", id="attach-a-new-file"),
        pytest.param("ATTACH ':memory:' AS scratch", id="attach-memory"),
        pytest.param("DETACH warehouse", id="detach"),
        pytest.param("USE memory", id="use"),
    ],
)
def test_other_databases_cannot_be_attached(published, tmp_path, sql):
    assert_refused(attack(published, tmp_path, sql), OUTSIDE)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("INSTALL httpfs", id="install"),
        pytest.param("FORCE INSTALL httpfs", id="force-install"),
        pytest.param("LOAD httpfs", id="load"),
        pytest.param("LOAD '{tmp}/evil.duckdb_extension'", id="load-a-file"),
        pytest.param("select * from duckdb_extensions()", id="list-extensions"),
    ],
)
def test_extensions_cannot_be_installed_or_loaded(published, tmp_path, sql):
    assert_refused(attack(published, tmp_path, sql), OUTSIDE)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        pytest.param("SET memory_limit='100GB'", OUTSIDE, id="set-memory"),
        pytest.param("SET threads=8", OUTSIDE, id="set-threads"),
        pytest.param("RESET memory_limit", OUTSIDE, id="reset-memory"),
        pytest.param("SET GLOBAL memory_limit='100GB'", OUTSIDE, id="set-global"),
        pytest.param("SET enable_external_access=true", OUTSIDE, id="set-external-access"),
        pytest.param("SET lock_configuration=false", OUTSIDE, id="unlock"),
        pytest.param("PRAGMA memory_limit='100GB'", OUTSIDE, id="pragma-memory"),
        pytest.param("PRAGMA threads=8", OUTSIDE, id="pragma-threads"),
        pytest.param("SET VARIABLE x = 1", OUTSIDE, id="set-variable"),
        pytest.param("PRAGMA enable_profiling", REFUSED_PRAGMA, id="pragma"),
        pytest.param(
            "explain analyze pragma enable_profiling",
            "Refused: EXPLAIN runs here only for a SELECT",
            id="explain-a-pragma",
        ),
    ],
)
def test_settings_and_limits_cannot_be_changed(published, tmp_path, sql, message):
    assert_refused(attack(published, tmp_path, sql), message)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        pytest.param("create table t as select 1", "CREATE", id="create-table"),
        pytest.param("create temp table t as select 1", "CREATE", id="create-temp-table"),
        pytest.param("create view v as select 1", "CREATE", id="create-view"),
        pytest.param("create temp macro m(x) as x + 1", "CREATE", id="create-macro"),
        pytest.param("create sequence s", "CREATE", id="create-sequence"),
        pytest.param("create schema s", "CREATE", id="create-schema"),
        pytest.param("create type mood as enum ('ok')", "CREATE", id="create-type"),
        pytest.param(
            "create secret s (type s3, key_id 'k', secret 'v')", "CREATE", id="create-secret"
        ),
        pytest.param("drop table marts.fct_sessions", "DROP", id="drop"),
        pytest.param("alter table marts.dim_clinics rename to x", "ALTER", id="alter"),
        pytest.param(
            "insert into marts.fct_sessions select * from marts.fct_sessions", "INSERT", id="insert"
        ),
        pytest.param("update marts.dim_clinics set region = 'x'", "UPDATE", id="update"),
        pytest.param("delete from marts.dim_clinics", "DELETE", id="delete"),
        pytest.param("truncate marts.dim_clinics", "DELETE", id="truncate"),
        pytest.param("vacuum", "VACUUM", id="vacuum"),
        pytest.param("begin transaction", "TRANSACTION", id="transaction"),
    ],
)
def test_writes_are_refused(published, tmp_path, sql, kind):
    assert_refused(attack(published, tmp_path, sql), f"{READ_ONLY} (this is {kind})")


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("CALL checkpoint()", id="call-checkpoint"),
        pytest.param("CALL force_checkpoint()", id="call-force-checkpoint"),
        pytest.param("checkpoint", id="checkpoint"),
        pytest.param("CALL enable_logging(storage := 'file', storage_path := '{tmp}')", id="log"),
        pytest.param("prepare p as select 1", id="prepare"),
    ],
)
def test_calls_are_refused(published, tmp_path, sql):
    assert_refused(attack(published, tmp_path, sql), "Refused: only SELECT queries run")


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("select * from checkpoint()", id="checkpoint"),
        pytest.param("select * from force_checkpoint()", id="force-checkpoint"),
        pytest.param(
            "select * from enable_logging(storage := 'file', storage_path := '{tmp}')",
            id="log-to-a-file",
        ),
        pytest.param(
            "select * from enable_logging(storage := 'file', storage_path := '{data}')",
            id="log-beside-the-warehouse",
        ),
        pytest.param(
            "select * from enable_profiling(save_location := '{tmp}/profile.json')",
            id="profile-to-a-file",
        ),
    ],
)
def test_table_functions_that_change_state_write_nothing(published, tmp_path, sql):
    # Not refused (they are table functions in a SELECT), but with external access off they
    # cannot write, and the session they would change ends with this one query.
    result = attack(published, tmp_path, sql)
    assert result.error is None or "\n" not in result.error


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        pytest.param("select 1; select 2", 2, id="two-selects"),
        pytest.param("select 1; attach '{identity}' as identity", 2, id="select-then-attach"),
        pytest.param("select 1 /* ; */; attach '{tmp}/x.duckdb'", 2, id="attach-after-a-comment"),
        pytest.param("select 1;\n-- nothing here\nattach '{lake}' as lake", 2, id="on-a-new-line"),
        pytest.param("select 1; set memory_limit = '100GB'; select 2", 3, id="set-between"),
    ],
)
def test_only_one_statement_runs(published, tmp_path, sql, found):
    message = f"Refused: only one SELECT statement at a time (found {found} statements)"
    assert_refused(attack(published, tmp_path, sql), message)


def test_a_runaway_cross_join_is_stopped_by_the_time_limit(published, tmp_path):
    result = attack(
        published,
        tmp_path,
        "select count(*) from range(100000000) a, range(100000000) b",
        Limits(time_limit_s=2),
    )
    assert result.error == "Stopped: the query ran longer than 2 s"


@pytest.mark.parametrize(
    "sql",
    [
        # DuckDB's own memory_limit stops these.
        pytest.param(
            "select string_agg(repeat('x', 1000), ',') from range(1000000)", id="string_agg"
        ),
        pytest.param("select list(i) from range(100000000) r(i)", id="list"),
        # 10 GB of strings: past DuckDB's limit, the process's memory cap stops it.
        pytest.param("select repeat('x', 100000000) from range(100)", id="repeat"),
    ],
)
def test_a_memory_bomb_is_stopped_by_the_memory_limit(published, tmp_path, sql):
    limits = Limits(memory_limit="64MB", process_memory_mb=2500)
    result = attack(published, tmp_path, sql, limits)
    assert_refused(result, "Stopped: the query needed more than the console's 64MB of memory")


def test_a_result_too_large_for_the_page_is_stopped(published, tmp_path):
    # 10 rows, but 100 MB: the row cap alone would hand all of it to the server.
    result = attack(published, tmp_path, "select repeat('x', 10000000) from range(10)")
    assert_refused(result, "Stopped: the result is larger than the console's 50 MB")


def test_the_sandbox_inherits_no_secret_from_the_server(monkeypatch):
    monkeypatch.setenv("TONING_SECRET", "not-for-analysts")
    monkeypatch.setenv("TONING_ALERT_WEBHOOK", "https://hooks.example/token-not-for-analysts")
    environment = sql_sandbox._child_environment()
    assert "not-for-analysts" not in " ".join(environment.values())
    assert "HOME" not in environment


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        pytest.param(
            "select getenv('TONING_SECRET')",
            "Query error: Catalog Error: Scalar Function with name getenv does not exist",
            id="getenv-the-secret",
        ),
        pytest.param(
            "select getenv('HOME')",
            "Query error: Catalog Error: Scalar Function with name getenv does not exist",
            id="getenv-home",
        ),
        pytest.param("select * from duckdb_secrets()", OUTSIDE, id="duckdb_secrets"),
        pytest.param("select * from which_secret('s3://b/k', 's3')", OUTSIDE, id="which_secret"),
    ],
)
def test_probing_for_secrets_is_refused(published, tmp_path, monkeypatch, sql, message):
    monkeypatch.setenv("TONING_SECRET", "not-for-analysts")
    result = attack(published, tmp_path, sql)
    assert_refused(result, message)
    assert "not-for-analysts" not in result.error


def test_what_the_settings_show_holds_no_secret(published, monkeypatch):
    secret = "not-for-analysts"
    monkeypatch.setenv("TONING_SECRET", secret)
    key = published.key_file.read_text().strip()
    probes = [
        "select name, value from duckdb_settings()",
        "select * from duckdb_databases()",
        "select * from duckdb_variables()",
        "select current_setting('secret_directory') as s, current_setting('temp_directory') as t",
    ]
    shown = []
    for sql in probes:
        result = run_query(sql, warehouse=published.warehouse)
        assert result.error is None, result.error
        shown.append(result.rows.to_csv())
    everything = "\n".join(shown)
    assert secret not in everything and key not in everything
    # Not the server's home folder either (DuckDB derives its secret folder from $HOME).
    assert f"{Path.home()}/" not in everything


def test_after_the_attacks_a_query_runs_with_the_default_limits(published):
    # Each query is a new process: nothing an attack did (or tried) carries over.
    result = run_query(
        "select current_setting('memory_limit') as memory, current_setting('threads') as threads,"
        " current_setting('enable_external_access') as external,"
        " current_setting('lock_configuration') as locked,"
        " (select count(*) from marts.fct_sessions) as sessions",
        warehouse=published.warehouse,
    )
    assert result.error is None, result.error
    assert result.rows.to_dict("records") == [
        {"memory": "953.6 MiB", "threads": 2, "external": False, "locked": True, "sessions": 3}
    ]


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
    page = signed_in(ANALYST, name="console-analyst")
    page.switch_page("app_pages/sql_console.py").run()
    assert not page.exception
    assert page.title[0].value == "SQL console"
    assert "exact" in page.main.caption[0].value and "10,000 rows" in page.main.caption[0].value

    page.selectbox(key="sql_console_table").set_value("fct_sessions").run()
    columns = page.table[0].value
    assert columns.loc["session_id", "type"] == "VARCHAR"
    assert "session" in columns.loc["session_id", "meaning"].lower()

    page.text_area(key="sql_console_sql").input(
        "select session_id from marts.fct_sessions order by 1"
    )
    page.main.button[0].click().run()
    assert not page.exception
    assert page.dataframe[0].value["session_id"].tolist() == ["S0", "S1", "S2"]
    assert "3 rows" in page.main.caption[-1].value

    # Types pandas cannot hold (a UNION, a date at infinity) are shown, not a traceback.
    page.text_area(key="sql_console_sql").input(
        "select union_value(k := 1) as u, 'infinity'::date as d, '=1+1' as formula"
    )
    page.main.button[0].click().run()
    assert not page.exception
    assert page.dataframe[0].value["formula"].tolist() == ["=1+1"]

    page.text_area(key="sql_console_sql").input("drop table marts.fct_sessions")
    page.main.button[0].click().run()
    assert not page.exception
    assert page.error[0].value.startswith(f"{READ_ONLY} (this is DROP)")
    assert len(page.dataframe) == 0  # the previous answer is gone
    # Every query is in the audit log, with who ran it and how it ended.
    queries = [e for e in audit.read(published.audit_log) if e["event"] == audit.SQL]
    assert [(e["user"], e["sql"], e["error"] is None) for e in queries][-2:] == [
        (
            "console-analyst",
            "select union_value(k := 1) as u, 'infinity'::date as d, '=1+1' as formula",
            True,
        ),
        ("console-analyst", "drop table marts.fct_sessions", False),
    ]


def test_the_console_page_says_when_nothing_is_published_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_DATA_DIR", str(tmp_path))
    page = signed_in(ANALYST, timeout=30)
    page.switch_page("app_pages/sql_console.py").run()
    assert not page.exception
    assert "run `toning refresh` first" in page.warning[0].value
