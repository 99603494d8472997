"""The engine parity check itself (toning/parity.py), on small hand-made tables: it must say
"the same" only for the same rows and types, whatever their order and float noise under 1e-9,
and name the first difference otherwise. (The engines are compared in test_spark.py.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from toning.parity import compare_frames, compare_warehouses

ROWS = pd.DataFrame(
    {"clinic_id": ["C01", "C02", "C03"], "sessions": [10, 20, 30], "rate": [0.1, 0.25, None]}
)


def test_the_same_rows_in_another_order_with_float_noise_are_the_same():
    noisy = ROWS.iloc[[2, 0, 1]].copy()
    noisy["rate"] = noisy["rate"] + 1e-12
    assert compare_frames(ROWS, noisy) is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda f: f.assign(rate=[0.1, 0.25 + 1e-6, None]), "column rate"),
        (lambda f: f.assign(rate=[0.1, 0.25, 0.0]), "column rate"),
        (lambda f: f.assign(clinic_id=["C01", "C02", "C04"]), "column clinic_id"),
        (lambda f: f.iloc[:2], "3 rows vs 2"),
        (lambda f: f.drop(columns="rate"), "columns differ"),
        (lambda f: f[["sessions", "clinic_id", "rate"]], "columns differ"),
    ],
)
def test_a_difference_is_named(change, said):
    problem = compare_frames(ROWS, change(ROWS.copy()))
    assert problem is not None and said in problem


def warehouse(path: Path, sql: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(sql)
    return path


def test_warehouses_differing_in_a_type_or_a_table_are_not_the_same(tmp_path: Path):
    one = warehouse(tmp_path / "one.duckdb", "create table marts.t as select 1::bigint as n")
    same = warehouse(tmp_path / "same.duckdb", "create table marts.t as select 1::bigint as n")
    typed = warehouse(tmp_path / "typed.duckdb", "create table marts.t as select 1::int as n")
    more = warehouse(
        tmp_path / "more.duckdb",
        "create table marts.t as select 1::bigint as n; create table marts.u as select 1 as m",
    )
    assert compare_warehouses(one, same).equal
    [difference] = compare_warehouses(one, typed).differences
    assert "column types differ: n BIGINT vs INTEGER" in difference.problem
    [difference] = compare_warehouses(one, more).differences
    assert difference.table == "marts.u" and "one engine only" in difference.problem
