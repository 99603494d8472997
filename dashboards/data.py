"""The dashboards' only way to the warehouse: short read-only queries against the published file.

Each query opens its own read-only connection and closes it, so a refresh can publish a new
file at any moment and the next query sees it.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

DATA_DIR_ENV = "TONING_DATA_DIR"
CACHE_SECONDS = 60


class WarehouseMissing(Exception):
    pass


def warehouse_path() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or "data") / "warehouse.duckdb"


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
