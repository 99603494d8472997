"""The dashboards' only way to the warehouse: short read-only queries against the published file.

Each query opens its own read-only connection and closes it, so a refresh can publish a new
file at any moment and the next query sees it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from toning import config

CACHE_SECONDS = 60


class WarehouseMissing(Exception):
    pass


def warehouse_path() -> Path:
    """$TONING_DATA_DIR's published warehouse (`toning serve` sets it, absolute)."""
    return config.data_dir().warehouse


def data_docs_index() -> Path:
    """Where the refresh builds Great Expectations' Data Docs (beside the warehouse)."""
    return config.data_dir().data_docs / "index.html"


def query(sql: str, params: list | None = None, path: Path | None = None) -> pd.DataFrame:
    path = path or warehouse_path()
    if not path.exists():
        raise WarehouseMissing(f"No published warehouse at {path}: run `toning refresh` first.")
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    with duckdb.connect(str(path), read_only=True, config=config) as con:
        return con.execute(sql, params or []).df()


# Cached per warehouse path: the path is an argument so that it is part of the cache key.
def table_row_counts() -> pd.DataFrame:
    return _table_row_counts(warehouse_path())


def last_refresh() -> pd.DataFrame:
    return _last_refresh(warehouse_path())


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _table_row_counts(path: Path) -> pd.DataFrame:
    """Rows in every published table, by schema (what landed, what was built)."""
    tables = query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('marts', 'ops', 'staging') order by 1, 2",
        path=path,
    )
    counts = [
        query(f'select count(*) as n from "{schema}"."{name}"', path=path)["n"].iloc[0]
        for schema, name in tables.itertuples(index=False)
    ]
    return tables.assign(rows=counts).rename(
        columns={"table_schema": "schema", "table_name": "table"}
    )


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _last_refresh(path: Path) -> pd.DataFrame:
    return query(
        "select run_id, started_at, finished_at, status, files_new, rows_loaded,"
        " rows_quarantined, rows_duplicate from ops.refresh_runs"
        " where status = 'published' order by started_at desc limit 1",
        path=path,
    )


def quality_results() -> pd.DataFrame:
    return _quality_results(warehouse_path())


def quarantine_summary() -> pd.DataFrame:
    return _quarantine_summary(warehouse_path())


def informational_findings() -> pd.DataFrame:
    return _informational_findings(warehouse_path())


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _quality_results(path: Path) -> pd.DataFrame:
    """Every data-quality result of the latest checked run, with its status the time before."""
    return query(
        """
        select run_id, severity, status, previous_status, source, check_name, subject,
            observed, threshold, detail,
            case
                when previous_status is null then 'first check'
                when previous_status = status then 'unchanged'
                when status = 'fail' then 'newly failing'
                else 'fixed'
            end as change
        from ops.dq_results
        where run_id = (select max(run_id) from ops.dq_results)
        order by status, severity, source desc, check_name, subject
        """,
        path=path,
    )


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _quarantine_summary(path: Path) -> pd.DataFrame:
    """Quarantined records per feed and reason: in the latest run, and ever."""
    return query(
        """
        select feed, reason_code,
            coalesce(expectation, '(read before the suites: ' || reason_code || ')')
                as expectation,
            count(*) filter (where run_id = (select max(run_id) from ops.ingest_files))
                as latest_run,
            count(*) as all_runs
        from ops.quarantine
        group by all
        order by all_runs desc, feed, reason_code
        """,
        path=path,
    )


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _informational_findings(path: Path) -> pd.DataFrame:
    """Informational values that could not be read, per feed, column and reason: the records
    loaded with the value null. One reason is shown as an example of what arrived."""
    return query(
        """
        select feed, column_name, reason_code,
            count(*) filter (where run_id = (select max(run_id) from ops.ingest_files))
                as latest_run,
            count(*) as all_runs,
            min(reason) as example
        from ops.ingest_findings
        group by feed, column_name, reason_code
        order by all_runs desc, feed, column_name, reason_code
        """,
        path=path,
    )
