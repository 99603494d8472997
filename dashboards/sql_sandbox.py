"""The SQL console's sandbox: one analyst query against the published warehouse, in its own process.

Why a process per query: in one process DuckDB keeps one database instance per file, so a `SET`
or a different config would reach the dashboards' own connections (see ENGINEERING.md), and a
runaway query or a crash must never take the Streamlit server with it. The child
(`python -m dashboards.sql_sandbox`) gets none of the server's environment (so no secret),
caps its own memory, opens the file read-only with external access, extension loading and
configuration changes off, refuses anything but one SELECT (or an EXPLAIN of one), stops the
statement after the time limit, fetches at most the row cap (+1 to know it was hit), and writes
its answer, if not too large, as files in a private work folder. The parent kills it if it does
not finish within the time limit plus a margin, and turns every failure into one line an analyst
understands: no traceback leaves this module.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

from toning import config

if TYPE_CHECKING:  # pandas is imported where used: the child never needs it (~0.5 s)
    import pandas as pd

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Python and duckdb start in well under a second; the rest is slack for a busy machine.
START_UP_MARGIN_S = 15.0
ROWS_FILE = "rows.arrow"
OUTCOME_FILE = "outcome.json"
# Locale and time zone: what the child's Python and DuckDB need to behave like the server.
CHILD_ENVIRONMENT = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHOME")

REFUSED_OUTSIDE = (
    "Refused: this console reads only the published warehouse; "
    "files, ATTACH, COPY, INSTALL/LOAD and settings are off"
)
REFUSED_PRAGMA = "Refused: PRAGMA statements are off in this console (they change the session)"
# DuckDB takes a quoted path whose extension it does not know for a table name (FROM '/etc/passwd'):
# that "no such table" is an attempt to read a file, and is refused as one.
PATH_AS_TABLE = re.compile(r"Table with name \S*/")
OUTSIDE_TYPES = {"ATTACH", "DETACH", "COPY", "COPY_DATABASE", "EXPORT", "LOAD", "SET"}
OUTSIDE_TYPES |= {"VARIABLE_SET", "EXTENSION"}
WRITE_TYPES = {"CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "MERGE_INTO"}
WRITE_TYPES |= {"CREATE_FUNC", "VACUUM", "ANALYZE", "TRANSACTION"}
# EXPLAIN [ANALYZE] runs the statement it explains (EXPLAIN ANALYZE PRAGMA x runs the pragma):
# it is allowed only when what follows is itself one SELECT.
EXPLAIN_PREFIX = re.compile(r"^\s*explain(\s+analy[sz]e)?\s+", re.IGNORECASE)

MARTS_CATALOG_SQL = """
select t.table_name, t.comment as table_description,
    c.column_name, c.data_type, c.comment as column_description
from duckdb_tables() as t
join duckdb_columns() as c using (database_name, schema_name, table_name)
where t.schema_name = 'marts' and t.database_name = current_database()
order by t.table_name, c.column_index
"""


class WarehouseMissing(Exception):
    """Nothing is published yet (the page says to run a refresh)."""


class CatalogUnavailable(Exception):
    """The marts' catalog could not be read; the message is for the analyst."""


@dataclass(frozen=True)
class Limits:
    """What one console query may use. Kept small: the server is shared with the dashboards."""

    time_limit_s: float = 10.0
    row_cap: int = 10_000
    memory_limit: str = "1GB"
    threads: int = 2
    # Sorts and joins past memory_limit spill to disk (a private folder, deleted afterwards).
    max_spill: str = "2GB"
    # memory_limit bounds DuckDB's buffers, not every value a function builds: under a 64MB limit
    # `select repeat('x', 300000000) from range(4)` held 2.7 GB. So the child's address space is
    # capped too; past it an allocation fails and the query stops. Address space, not resident
    # memory: DuckDB, Python and pyarrow reserve ~1.6 GB before any query, and a 1GB sort peaked
    # at 2.9 GB on 2 threads (3.7 GB on 8: raise this with threads or memory_limit).
    process_memory_mb: int = 4096
    # What the server loads and shows: 10,000 rows of long text can still be gigabytes.
    max_result_mb: int = 50


@dataclass
class QueryResult:
    """One query's answer: its rows (at most the row cap), or a one-line error."""

    table: pa.Table
    truncated: bool = False
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def rows(self) -> pd.DataFrame:
        return arrow_to_frame(self.table)


def published_warehouse() -> Path:
    """$TONING_DATA_DIR's published warehouse (read-only for everyone but the refresh)."""
    return config.data_dir().warehouse


# ---------------------------------------------------------------------------------------------
# The parent: start the child, wait with a deadline, read its answer.


def run_query(sql: str, limits: Limits = Limits(), warehouse: Path | None = None) -> QueryResult:
    """Run `sql` in a sandboxed child process; never raises except WarehouseMissing."""
    warehouse = warehouse or published_warehouse()
    if not warehouse.exists():
        raise WarehouseMissing(
            f"No published warehouse at {warehouse}: run `toning refresh` first."
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="toning-sql-") as work:
        request = {"warehouse": str(warehouse), "sql": sql, "limits": asdict(limits), "work": work}
        failure = _run_child(request, limits)
        result = failure or _read_answer(Path(work))
    if failure:
        result.elapsed_s = time.monotonic() - started
    return result


def _run_child(request: dict, limits: Limits) -> QueryResult | None:
    """Run the child to completion; a QueryResult only when it did not answer."""
    try:
        child = subprocess.run(
            [sys.executable, "-m", "dashboards.sql_sandbox"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=request["work"],
            env=_child_environment(),
            timeout=limits.time_limit_s + START_UP_MARGIN_S,
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        log.warning("SQL sandbox did not answer in time; killed")
        return _failed(f"Stopped: the query ran longer than {limits.time_limit_s:g} s")
    except OSError as error:
        log.warning("SQL sandbox could not start: %s", error)
        return _failed("The console could not start its query process; try again")
    if child.returncode != 0:
        log.warning("SQL sandbox exited %s: %s", child.returncode, child.stderr[-2000:])
        if (Path(request["work"]) / OUTCOME_FILE).exists():
            return None  # it died on its way out, after a complete answer
        return _failed(
            "Stopped: the query process ended unexpectedly (it may have run out of memory); "
            "filter or aggregate more"
        )
    return None


def _child_environment() -> dict[str, str]:
    # An allowlist: the child runs analysts' SQL, so it inherits none of the server's secrets
    # (TONING_SECRET, webhook URLs, ...), nor HOME (DuckDB would show it in its settings).
    kept = {name: os.environ[name] for name in CHILD_ENVIRONMENT if name in os.environ}
    # The child imports this very file (and toning.config), wherever the server was started.
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return {**kept, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def _read_answer(work: Path) -> QueryResult:
    try:
        outcome = json.loads((work / OUTCOME_FILE).read_text())
        table = ipc.open_file(work / ROWS_FILE).read_all()
    except (OSError, ValueError, pa.ArrowException) as error:
        log.warning("SQL sandbox answer unreadable: %s", error)
        return _failed("The console could not read the query's answer; try again")
    return QueryResult(table=table, **outcome)


def _failed(message: str) -> QueryResult:
    return QueryResult(table=pa.table({}), error=message)


def describe_marts(warehouse: Path | None = None) -> pd.DataFrame:
    """Every marts table and column with its type and dbt description (persisted as comments)."""
    result = run_query(MARTS_CATALOG_SQL, Limits(row_cap=100_000), warehouse)
    if result.error:
        raise CatalogUnavailable(result.error)
    catalog = result.rows
    for described in ("table_description", "column_description"):
        catalog[described] = catalog[described].fillna("").str.strip()
    return catalog


# ---------------------------------------------------------------------------------------------
# What the parent hands the page: rows for display and a Parquet file.


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """The rows as pandas, whatever DuckDB returned: never raises (the page shows this)."""
    import pandas as pd

    try:
        return table.to_pandas()
    except Exception:  # pyarrow raises Arrow, Overflow and Value errors alike: go column by column
        columns = [_column_to_pandas(table.column(i)) for i in range(table.num_columns)]
        return pd.DataFrame(dict(zip(table.column_names, columns, strict=True)))


def _column_to_pandas(column: pa.ChunkedArray) -> pd.Series:
    """One column pandas has no type for: a UNION, a date at infinity, ..."""
    import pandas as pd

    attempts = (
        lambda: column.to_pandas(),
        lambda: column.cast(pa.string()).to_pandas(),  # Arrow's own text, e.g. for infinity
        lambda: pd.Series(column.to_pylist(), dtype=object),
    )
    for attempt in attempts:
        try:
            return attempt()
        except Exception:  # try the next, more forgiving, conversion
            continue
    return pd.Series(["(cannot show this type: cast it to varchar)"] * len(column), dtype=object)


def parquet_bytes(table: pa.Table) -> bytes | None:
    """The rows as a Parquet file (DuckDB's own types), or None if Parquet cannot hold them."""
    buffer = io.BytesIO()
    try:
        pq.write_table(table, buffer)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The child: everything below runs in `python -m dashboards.sql_sandbox`.


def sandbox_connection(warehouse: Path, limits: Limits, spill: Path) -> duckdb.DuckDBPyConnection:
    """The file read-only, nothing outside it reachable, and the configuration locked."""
    # In 1.5.6 the order matters: with temp_directory listed before enable_external_access,
    # connect() fails ("Modifying the temp_directory has been disabled by configuration").
    settings = {
        "enable_external_access": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "python_enable_replacements": False,  # the child's own Python objects are not tables
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
        # Not `<db>.tmp` beside the published file: nothing may appear next to it.
        "temp_directory": str(spill),
        "max_temp_directory_size": limits.max_spill,
    }
    con = duckdb.connect(str(warehouse), read_only=True, config=settings)
    con.execute("set lock_configuration = true")  # last: nothing after this can change a setting
    return con


def refusal(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """Why `sql` may not run (None if it is exactly one SELECT, or an EXPLAIN of one)."""
    statements = con.extract_statements(sql)
    if not statements:
        return "Nothing to run: type one SELECT query"
    if len(statements) > 1:
        return (
            "Refused: only one SELECT statement at a time "
            f"(found {len(statements)} statements){_pivot_hint(statements, sql)}"
        )
    kind = statements[0].type.name
    if kind == "EXPLAIN":
        return _explained_refusal(con, sql)
    return _type_refusal(kind)


def _explained_refusal(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    explained = EXPLAIN_PREFIX.sub("", sql, count=1)
    if explained == sql:  # EXPLAIN after a comment, say: not worth parsing by hand
        return "Refused: put EXPLAIN first, directly followed by the SELECT it explains"
    inner = con.extract_statements(explained)
    if len(inner) != 1 or inner[0].type.name != "SELECT":
        return "Refused: EXPLAIN runs here only for a SELECT"
    return None


def _type_refusal(kind: str) -> str | None:
    if kind == "SELECT":
        return None
    if kind == "PRAGMA":
        return REFUSED_PRAGMA
    if kind in OUTSIDE_TYPES:
        return REFUSED_OUTSIDE
    if kind in WRITE_TYPES:
        return f"Refused: the console is read-only; only SELECT queries run (this is {kind})"
    return f"Refused: only SELECT queries run in this console (this is {kind})"


def _pivot_hint(statements: list, sql: str) -> str:
    # PIVOT without an IN list first creates an enum of the pivoted values: two statements.
    kinds = [statement.type.name for statement in statements]
    if kinds == ["CREATE", "SELECT"] and re.search(r"\bpivot\b", sql, re.IGNORECASE):
        return "; a PIVOT needs its values listed: PIVOT t ON col IN ('a', 'b')"
    return ""


def fetch_capped(con: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> tuple[pa.Table, bool]:
    """Run `sql`, interrupted after the time limit; at most row_cap rows, and whether it cut."""
    cursor = con.cursor()
    # No statement timeout exists in DuckDB: interrupt() on the cursor running it stops it.
    timer = threading.Timer(limits.time_limit_s, cursor.interrupt)
    timer.daemon = True
    timer.start()
    try:
        reader = cursor.execute(sql).to_arrow_reader(min(limits.row_cap + 1, 100_000))
        batches, fetched = [], 0
        for batch in reader:
            batches.append(batch)
            fetched += batch.num_rows
            if fetched > limits.row_cap:
                break  # the rest of the result is never computed: DuckDB streams it
        table = pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        timer.cancel()
        # Joined, not left to the interpreter's exit: with the timer thread (which holds the
        # cursor) still alive at shutdown, about one child in ten aborted ("terminate called
        # without an active exception"); none did in 140 runs once joined.
        timer.join()
    return _unique_names(table.slice(0, limits.row_cap)), fetched > limits.row_cap


def _unique_names(table: pa.Table) -> pa.Table:
    """`select 1 as a, 2 as a` is legal SQL, but a table shown or saved needs distinct names."""
    seen: dict[str, int] = {}
    names = []
    for name in table.column_names:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name] - 1}")
    return table.rename_columns(names)


def explain_error(error: duckdb.Error | MemoryError, limits: Limits) -> str:
    """DuckDB's exception (or the process's memory cap) as one line an analyst can act on."""
    if isinstance(error, duckdb.InterruptException):
        return f"Stopped: the query ran longer than {limits.time_limit_s:g} s"
    if isinstance(error, (duckdb.OutOfMemoryException, MemoryError)):
        return (
            f"Stopped: the query needed more than the console's {limits.memory_limit} of memory"
            f" (and {limits.max_spill} of disk); filter or aggregate more"
        )
    if isinstance(error, duckdb.PermissionException):
        return REFUSED_OUTSIDE
    message = str(error)
    if isinstance(error, duckdb.CatalogException) and PATH_AS_TABLE.search(message):
        return REFUSED_OUTSIDE
    if "read-only mode" in message:  # the statement check catches these first; belt and braces
        return "Refused: the console is read-only; only SELECT queries run"
    if "configuration has been locked" in message:
        return REFUSED_OUTSIDE
    return f"Query error: {_one_line(message)}"


def _one_line(message: str) -> str:
    # DuckDB adds "LINE 1: ..." and a caret under the error: meaningless out of monospace.
    kept = message.split("\nLINE ")[0]
    return " ".join(line.strip() for line in kept.splitlines() if line.strip())


def answer(warehouse: Path, sql: str, limits: Limits, spill: Path) -> tuple[pa.Table, dict]:
    """The child's whole job: the rows and the outcome (truncated, elapsed_s, error)."""
    started = time.monotonic()
    table, truncated, error = pa.table({}), False, None
    try:
        con = sandbox_connection(warehouse, limits, spill)
        try:
            error = refusal(con, sql)
            if error is None:
                table, truncated = fetch_capped(con, sql, limits)
        finally:
            con.close()
    except (duckdb.Error, MemoryError) as failure:
        error = explain_error(failure, limits)
    if table.nbytes > limits.max_result_mb * 1_000_000:
        table, truncated = pa.table({}), False
        error = (
            f"Stopped: the result is larger than the console's {limits.max_result_mb} MB;"
            " select fewer or shorter columns, or fewer rows"
        )
    elapsed_s = round(time.monotonic() - started, 3)
    return table, {"truncated": truncated, "elapsed_s": elapsed_s, "error": error}


def child_main() -> None:
    request = json.loads(sys.stdin.read())
    work = Path(request["work"])
    limits = Limits(**request["limits"])
    # Soft and hard limit alike, so that nothing in this process can raise it again.
    cap = limits.process_memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        table, outcome = answer(Path(request["warehouse"]), request["sql"], limits, work / "spill")
    except Exception as failure:  # not DuckDB's: still one line for the page, not a traceback
        log.exception("SQL sandbox failed")
        message = f"The console failed on this query: {type(failure).__name__}: {failure}"
        table, outcome = pa.table({}), {"truncated": False, "elapsed_s": 0.0, "error": message}
    with ipc.new_file(work / ROWS_FILE, table.schema) as writer:
        writer.write_table(table)
    # Written last: its presence means the rows are complete.
    (work / OUTCOME_FILE).write_text(json.dumps(outcome))


if __name__ == "__main__":
    child_main()
