"""SQL console: analysts query the published warehouse themselves, read-only and exact.

Each run goes through dashboards.sql_sandbox (a process of its own, one SELECT, limits on time,
rows and memory); this page only lays out the marts' catalog, the query box and the answer.
"""

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards import access, navigation, sql_sandbox, ui
from dashboards.disclosure import spreadsheet_safe_csv

LIMITS = sql_sandbox.Limits()
RESULT_KEY = "sql_console_result"
EXAMPLE_QUERY = """select clinic_id, count(*) as sessions, count_if(has_adverse_event) as with_ae
from marts.fct_sessions
group by clinic_id
order by sessions desc"""


@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def marts_catalog(warehouse: str, published_ns: int) -> pd.DataFrame:
    """The marts' tables and columns; the file's mtime is in the key, so a refresh shows at once."""
    return sql_sandbox.describe_marts(Path(warehouse))


def schema_browser(catalog: pd.DataFrame) -> None:
    st.subheader("Marts")
    tables = catalog.drop_duplicates("table_name").set_index("table_name")["table_description"]
    chosen = st.selectbox("Table", tables.index, key="sql_console_table")
    st.caption(f"`marts.{chosen}`: {tables[chosen]}" if tables[chosen] else f"`marts.{chosen}`")
    columns = catalog.loc[
        catalog["table_name"] == chosen, ["column_name", "data_type", "column_description"]
    ]
    # A static table, not a grid: it wraps the descriptions, which are the point here.
    st.table(
        columns.rename(
            columns={"column_name": "column", "data_type": "type", "column_description": "meaning"}
        ).set_index("column")
    )


def result_caption(result: sql_sandbox.QueryResult) -> str:
    count = result.table.num_rows
    shown = f"{count:,} {'row' if count == 1 else 'rows'} in {result.elapsed_s:.2f} s"
    if result.truncated:
        return (
            f"{shown}: **only the first {LIMITS.row_cap:,} rows** (the console's row cap); "
            "aggregate, filter or add a `limit` to see the rest."
        )
    return f"{shown}; complete."


def downloads(result: sql_sandbox.QueryResult, rows: pd.DataFrame) -> None:
    as_csv, as_parquet = st.columns(2)
    as_csv.download_button(
        "Download as CSV",
        spreadsheet_safe_csv(rows),
        "query_result.csv",
        mime="text/csv",
        on_click=access.record_download,
        args=("query_result.csv", len(rows)),
        icon=":material/download:",
    )
    parquet = sql_sandbox.parquet_bytes(result.table)
    if parquet is None:
        as_parquet.caption("No Parquet download: a column's type has no Parquet equivalent.")
        return
    as_parquet.download_button(
        "Download as Parquet",
        parquet,
        "query_result.parquet",
        mime="application/vnd.apache.parquet",
        on_click=access.record_download,
        args=("query_result.parquet", len(rows)),
        icon=":material/download:",
    )


def show(result: sql_sandbox.QueryResult) -> None:
    if result.error:
        st.error(result.error, icon=":material/block:")
        return
    rows = result.rows
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(result_caption(result))
    downloads(result, rows)


st.title("SQL console")
st.caption(
    "For analysts: query the published warehouse (`marts`, also `staging` and `ops`) directly. "
    "Read-only, and the numbers are **exact**: no small-cell suppression is applied here. "
    f"One SELECT per run, at most {LIMITS.row_cap:,} rows, {LIMITS.time_limit_s:g} s and "
    f"{LIMITS.memory_limit} of memory; files, ATTACH, COPY, extensions and settings are off."
)

with ui.page_data():
    access.require(navigation.CHAIN_WIDE, "The SQL console")
warehouse = sql_sandbox.published_warehouse()
if not warehouse.exists():
    st.warning(f"No published warehouse at {warehouse} yet: run `toning refresh` first.")
    st.stop()

browser, console = st.columns([2, 3], gap="large")
with browser:
    try:
        schema_browser(marts_catalog(str(warehouse), warehouse.stat().st_mtime_ns))
    except (sql_sandbox.CatalogUnavailable, sql_sandbox.WarehouseMissing, OSError) as unavailable:
        st.error(f"The marts' catalog could not be read: {unavailable}")

with console:
    with st.form("sql_console_query"):
        sql = st.text_area("SQL (one SELECT)", EXAMPLE_QUERY, height=200, key="sql_console_sql")
        run = st.form_submit_button("Run", icon=":material/play_arrow:", type="primary")
    if run:
        try:
            with st.spinner("Running the query…"):
                result = sql_sandbox.run_query(sql, LIMITS)
            st.session_state[RESULT_KEY] = result
            access.record_query(sql, result.error, result.table.num_rows)
        except sql_sandbox.WarehouseMissing as missing:
            st.warning(str(missing))
            st.stop()
    # Kept across reruns: choosing another table in the browser must not lose the answer.
    if RESULT_KEY in st.session_state:
        show(st.session_state[RESULT_KEY])
