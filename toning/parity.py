"""Do DuckDB and Spark build the same warehouse? One landing folder refreshed by each engine into
its own data folder (under one pseudonymisation key, so patients get the same keys), then every
published table of the compared schemas checked: the same columns, the same rows, floats within
1e-9. Any landing folder will do, the generator's or a chain's own export.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from toning.config import ENGINES, DataDir
from toning.permissions import PRIVATE_FILE, PRIVATE_FOLDER

TOLERANCE = 1e-9
# The published interface. staging and intermediate are the marts' inputs; `incremental` and
# `ops` hold bookkeeping that names runs, so they differ between any two refreshes.
COMPARED_SCHEMAS = ("marts", "intermediate", "staging", "reference")


@dataclass(frozen=True)
class Difference:
    table: str
    problem: str


@dataclass
class Parity:
    """What the comparison found: the tables compared and every difference."""

    tables: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return bool(self.tables) and not self.differences


def compare_engines(
    landing: Path, work_dir: Path, progress: Callable[[str], None] = lambda _: None
) -> Parity:
    """Refresh `landing` with each engine into `work_dir/<engine>` (emptied first) and compare
    the two published warehouses."""
    from toning.refresh import run_refresh

    if work_dir.exists():
        shutil.rmtree(work_dir)
    folders = [DataDir(work_dir / engine) for engine in ENGINES]
    for engine, data in zip(ENGINES, folders, strict=True):
        if data is not folders[0]:
            share_key(folders[0], data)
        progress(f"parity: refreshing {landing} with {engine}")
        run_refresh(landing, data, progress=progress, engine=engine)
    return compare_warehouses(folders[0].warehouse, folders[1].warehouse)


def share_key(source: DataDir, target: DataDir) -> None:
    """Give a new data folder the pseudonymisation key of another, before its first refresh."""
    target.state.mkdir(parents=True, exist_ok=True)
    target.state.chmod(PRIVATE_FOLDER)
    shutil.copyfile(source.key_file, target.key_file)
    target.key_file.chmod(PRIVATE_FILE)


def compare_warehouses(
    first: Path, second: Path, schemas: Sequence[str] = COMPARED_SCHEMAS
) -> Parity:
    parity = Parity()
    with (
        duckdb.connect(str(first), read_only=True) as one,
        duckdb.connect(str(second), read_only=True) as other,
    ):
        tables = _tables(one, schemas)
        for missing in sorted(set(tables) ^ set(_tables(other, schemas))):
            parity.differences.append(Difference(missing, "built by one engine only"))
        for table in sorted(set(tables) & set(_tables(other, schemas))):
            parity.tables.append(table)
            problem = _compare_types(_types(one, table), _types(other, table)) or compare_frames(
                _read(one, table), _read(other, table)
            )
            if problem:
                parity.differences.append(Difference(table, problem))
    return parity


def compare_frames(first: pd.DataFrame, second: pd.DataFrame) -> str | None:
    """None when the two tables hold the same rows (in any order) and columns; else the first
    difference found, in words."""
    if list(first.columns) != list(second.columns):
        return f"columns differ: {list(first.columns)} vs {list(second.columns)}"
    if len(first) != len(second):
        return f"{len(first)} rows vs {len(second)}"
    first, second = _in_order(first), _in_order(second)
    for column in first.columns:
        problem = _compare_column(first[column], second[column])
        if problem:
            return f"column {column}: {problem}"
    return None


def _compare_column(first: pd.Series, second: pd.Series) -> str | None:
    numeric = pd.api.types.is_numeric_dtype(first) and pd.api.types.is_numeric_dtype(second)
    for position, (one, other) in enumerate(zip(first, second, strict=True)):
        if _is_null(one) and _is_null(other):
            continue
        if _is_null(one) or _is_null(other):
            return f"row {position}: {one!r} vs {other!r}"
        if numeric and not math.isclose(
            float(one), float(other), rel_tol=TOLERANCE, abs_tol=TOLERANCE
        ):
            return f"row {position}: {one!r} vs {other!r}"
        if not numeric and one != other:
            return f"row {position}: {one!r} vs {other!r}"
    return None


def _is_null(value: object) -> bool:
    return (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    )


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column, floats rounded so that noise below 1e-9 cannot reorder
    them; the frame itself is returned unrounded."""
    keys = frame.apply(
        lambda column: column.round(6) if pd.api.types.is_float_dtype(column) else column
    ).astype(str)
    order = keys.sort_values(list(keys.columns)).index
    return frame.loc[order].reset_index(drop=True)


def _tables(con: duckdb.DuckDBPyConnection, schemas: Sequence[str]) -> list[str]:
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables"
        " where table_type = 'BASE TABLE' and list_contains(?, table_schema)",
        [list(schemas)],
    ).fetchall()
    return [row[0] for row in rows]


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return dict(rows)


def _compare_types(first: dict[str, str], second: dict[str, str]) -> str | None:
    """Analysts and dashboards see column types: they must not depend on the engine."""
    differing = [
        f"{column} {kind} vs {second[column]}"
        for column, kind in first.items()
        if column in second and second[column] != kind
    ]
    return f"column types differ: {', '.join(differing)}" if differing else None


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.execute(f"select * from {table}").df()  # names from information_schema
