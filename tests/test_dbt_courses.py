"""The dbt project builds treatment courses the way DOMAIN.md defines them.

One real `dbt build` over a small hand-made lake (module-scoped: dbt costs seconds per run),
then the published marts are read back the way an analyst would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from contract.feeds import FEEDS, raw_columns
from toning.config import DBT_MEMORY_ENV
from toning.dbt import DbtResult, dbt_build, run_dbt

CLINIC = "C1"
UTC_OFFSET = timedelta(hours=8)  # the test clinic is in Asia/Singapore
AS_OF = date(2025, 12, 31)  # the latest event in the lake: an outcome collected that day


def _local(day: str, time: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"{day} {time}")


def _session(
    session_id: str,
    patient_key: str,
    local_start: datetime,
    *,
    area: str = "face",
    status: str = "completed",
    updated_at: str = "2026-01-01 00:00:00",
    fluence: float = 1.6,
    fitzpatrick: int | None = None,
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "clinic_id": CLINIC,
        "patient_key": patient_key,
        "provider_id": "PR1",
        "device_id": "D1",
        "started_at": local_start - UTC_OFFSET,
        "started_at_local": local_start,
        "treatment_area": area,
        "wavelength_nm": 1064,
        "fluence_j_cm2": fluence,
        "numbing_cream": False,
        "cooling": True,
        "fitzpatrick": fitzpatrick,
        "status": status,
        "updated_at": updated_at,
    }


def _patient(patient_key: str, fitzpatrick: int | None = 3) -> dict[str, Any]:
    return {
        "clinic_id": CLINIC,
        "patient_key": patient_key,
        "sex": "F",
        "fitzpatrick": fitzpatrick,
        "updated_at": "2024-12-01 00:00:00",
    }


LAKE_ROWS: dict[str, list[dict[str, Any]]] = {
    "clinics": [
        {
            "clinic_id": CLINIC,
            "clinic_name": "Test clinic",
            "timezone": "Asia/Singapore",
            "updated_at": "2024-01-01 00:00:00",
        }
    ],
    "providers": [{"provider_id": "PR1", "clinic_id": CLINIC, "updated_at": "2024-01-01"}],
    "devices": [
        {
            "device_id": "D1",
            "clinic_id": CLINIC,
            "laser_type": "qs_nd_yag",
            "wavelength_nm": 1064,
            "updated_at": "2024-01-01",
        }
    ],
    # No row for P_ORPHAN: its session arrived before the patient.
    "patients": [_patient(key) for key in ("P84", "P85", "P_DROP", "P_PROG")]
    + [_patient("P_MAINT", fitzpatrick=2)],
    "consultations": [
        {
            "consultation_id": "Q_MAINT",
            "clinic_id": CLINIC,
            "patient_key": "P_MAINT",
            "consulted_at": _local("2025-01-02") - UTC_OFFSET,
            "consulted_at_local": _local("2025-01-02"),
            "primary_concern": "melasma",
            "fitzpatrick": 4,
            "planned_sessions": 3,
            "planned_interval_days": 28,
            "decision": "proceed",
            "updated_at": "2025-01-02 03:00:00",
        }
    ],
    "sessions": [
        # 84 clinic-local days apart: one course. The second session starts half an hour after
        # local midnight (16:30 UTC the day before).
        _session("S84_1", "P84", _local("2025-01-06")),
        _session("S84_2", "P84", _local("2025-03-31", "00:30")),
        # 85 clinic-local days apart (only 84 in UTC dates): two courses.
        _session("S85_1", "P85", _local("2025-01-06")),
        _session("S85_2", "P85", _local("2025-04-01", "00:30")),
        # Completed initial course (3 of the 3 planned), then a maintenance course.
        _session("SM_1", "P_MAINT", _local("2025-01-10")),
        _session("SM_2", "P_MAINT", _local("2025-02-07")),
        _session("SM_3", "P_MAINT", _local("2025-03-07")),
        _session("SM_4", "P_MAINT", _local("2025-09-01")),
        # Dropped out: 2 of 6, last session long before the as-of date. Its second session
        # was corrected: two loaded versions, the later one wins.
        _session("SD_1", "P_DROP", _local("2025-02-01"), area="neck"),
        _session(
            "SD_2",
            "P_DROP",
            _local("2025-03-01"),
            area="neck",
            fluence=1.5,
            updated_at="2025-03-01 08:00:00",
        ),
        _session(
            "SD_2",
            "P_DROP",
            _local("2025-03-01"),
            area="neck",
            fluence=1.8,
            updated_at="2025-03-02 08:00:00",
        ),
        # In progress: 2 of 6, the last 30 days before the as-of date; a voided session and
        # an aborted one in between belong to no course.
        _session("SP_1", "P_PROG", _local("2025-11-01")),
        _session("SP_VOID", "P_PROG", _local("2025-11-15"), status="voided"),
        _session("SP_ABORT", "P_PROG", _local("2025-11-20"), status="aborted"),
        _session("SP_2", "P_PROG", _local("2025-12-01")),
        # Orphan: the patient has not arrived.
        _session("SO_1", "P_ORPHAN", _local("2025-06-01"), fitzpatrick=5),
    ],
    "outcomes": [
        {
            "response_id": "R1",
            "clinic_id": CLINIC,
            "patient_key": "P_PROG",
            "instrument": "pigmentation_vas",
            "score": 4.0,
            "collected_at": _local(AS_OF.isoformat()) - UTC_OFFSET,
            "collected_at_local": _local(AS_OF.isoformat()),
            "updated_at": "2026-01-01 00:00:00",
        }
    ],
    "side_effects": [],
}


def write_lake(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """A lake as the ingest writes it: raw.<feed> with raw_columns(), plus the age bands."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        for name, feed in FEEDS.items():
            columns = raw_columns(feed)
            ddl = ", ".join(f"{column} {type_}" for column, type_ in columns.items())
            con.execute(f"create table raw.{name} ({ddl})")
            for number, row in enumerate(rows.get(name, []), start=1):
                unknown = set(row) - set(columns)
                assert not unknown, f"{name}: not raw columns: {unknown}"
                full = {
                    **row,
                    "_file_sha256": "test",
                    "_record_number": number,
                    "_row_hash": hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest(),
                }
                names = list(full)
                placeholders = ", ".join("?" for _ in names)
                con.execute(
                    f"insert into raw.{name} ({', '.join(names)}) values ({placeholders})",
                    [full[column] for column in names],
                )
        con.execute(
            "create table raw.consultation_age_bands (consultation_id VARCHAR, age_band VARCHAR)"
        )
        con.execute("insert into raw.consultation_age_bands values ('Q_MAINT', '35-39')")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[DbtResult, Path]:
    root = tmp_path_factory.mktemp("dbt_courses")
    lake = root / "lake.duckdb"
    write_lake(lake, LAKE_ROWS)
    build = root / "warehouse.next.duckdb"
    result = dbt_build(lake_path=lake, build_path=build, work_dir=root / "work")
    assert result.ok, result.output_tail
    return result, build


def query(build: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(build), read_only=True) as con:
        return con.execute(sql).fetchall()


def courses_of(build: Path, patient_key: str) -> list[tuple]:
    return query(
        build,
        "select course_number, course_type, status, sessions, planned_sessions, "
        "primary_concern, fitzpatrick from marts.fct_courses "
        f"where patient_key = '{patient_key}' order by course_number",
    )


def sessions_of(build: Path, patient_key: str) -> list[tuple]:
    return query(
        build,
        "select session_id, session_number, interval_days from marts.fct_sessions "
        f"where patient_key = '{patient_key}' order by started_at",
    )


def test_build_passes_every_test_and_publishes_tables_only(built):
    result, build = built
    results = json.loads(result.run_results_path.read_text())["results"]
    # Exposures (the dashboards) are declared, not built: dbt reports them as no-op.
    statuses = {r["status"] for r in results if not r["unique_id"].startswith("exposure.")}
    assert statuses <= {"success", "pass", "warn"}, statuses
    objects = query(
        build,
        "select table_schema, table_type, count(*) from information_schema.tables "
        "where table_catalog = current_database() group by all order by all",
    )
    assert {(schema, kind) for schema, kind, _ in objects} == {
        ("incremental", "BASE TABLE"),  # the incremental builds' bookkeeping
        ("intermediate", "BASE TABLE"),
        ("marts", "BASE TABLE"),
        ("reference", "BASE TABLE"),  # the seeds
        ("staging", "BASE TABLE"),
    }


def test_a_null_in_a_not_null_column_fails_its_models_test_naming_the_column(built, tmp_path):
    """A model's non-null columns are checked by one not_null_columns test (one dbt node): it
    passes on the build, and once a column holds nulls it returns that column, how many and
    the value (null)."""
    result, build = built
    [compiled] = (result.run_results_path.parent / "compiled").rglob(
        "not_null_columns_fct_sessions_*.sql"
    )
    tampered = tmp_path / build.name  # the same file name: the compiled SQL names its catalog
    shutil.copyfile(build, tampered)
    with duckdb.connect(str(tampered)) as con:
        assert con.execute(compiled.read_text()).fetchall() == []
        con.execute(
            "update marts.fct_sessions set course_id = null, has_adverse_event = null"
            " where session_number = 1"
        )
        [(firsts,)] = con.execute(
            "select count(*) from marts.fct_sessions where session_number = 1"
        ).fetchall()
        failing = sorted(con.execute(compiled.read_text()).fetchall())
    assert failing == [("course_id", firsts, None), ("has_adverse_event", firsts, None)]


def test_a_value_outside_a_columns_list_fails_its_models_test_naming_column_and_value(
    built, tmp_path
):
    """A model's coded columns are checked by one accepted_values_columns test: it passes on
    the build (nulls pass), and once a column holds another value it returns that column, how
    many rows hold one and one of them, numbers compared as the words they are written as."""
    result, build = built
    [compiled] = [  # dbt names the file by a hash of the test's long name
        test["compiled_code"]
        for test in json.loads(result.run_results_path.read_text())["results"]
        if test["unique_id"].startswith("test.toning.accepted_values_columns_fct_courses_")
    ]
    tampered = tmp_path / build.name  # the same file name: the compiled SQL names its catalog
    shutil.copyfile(build, tampered)
    with duckdb.connect(str(tampered)) as con:
        assert con.execute(compiled).fetchall() == []
        con.execute(
            "update marts.fct_courses set fitzpatrick = 7, status = 'paused'"
            " where course_number = 1"
        )
        nulled = "update marts.fct_courses set fitzpatrick = null where course_number > 1"
        assert con.execute(nulled).fetchone()[0] > 0  # the updated rows
        [(firsts,)] = con.execute(
            "select count(*) from marts.fct_courses where course_number = 1"
        ).fetchall()
        failing = sorted(con.execute(compiled).fetchall())
    assert failing == [("fitzpatrick", firsts, "7"), ("status", firsts, "paused")]


def test_a_gap_of_84_days_stays_in_the_course(built):
    _, build = built
    assert courses_of(build, "P84") == [(1, "initial", "dropped_out", 2, 6, "unknown", 3)]
    assert sessions_of(build, "P84") == [("S84_1", 1, None), ("S84_2", 2, 84)]


def test_a_gap_of_85_local_days_starts_a_restart_course(built):
    _, build = built
    assert courses_of(build, "P85") == [
        (1, "initial", "dropped_out", 1, 6, "unknown", 3),
        (2, "restart", "dropped_out", 1, 6, "unknown", 3),
    ]
    assert sessions_of(build, "P85") == [("S85_1", 1, None), ("S85_2", 1, None)]


def test_completed_course_then_maintenance_with_the_consultation_plan(built):
    _, build = built
    # Planned 3 sessions and melasma from the proceed consultation; skin type IV from the
    # consultation (the sessions recorded none), not the patient record's II.
    assert courses_of(build, "P_MAINT") == [
        (1, "initial", "completed", 3, 3, "melasma", 4),
        (2, "maintenance", "maintenance", 1, 3, "melasma", 4),
    ]
    assert sessions_of(build, "P_MAINT") == [
        ("SM_1", 1, None),
        ("SM_2", 2, 28),
        ("SM_3", 3, 28),
        ("SM_4", 1, None),
    ]


def test_in_progress_course_ignores_voided_and_aborted_sessions(built):
    _, build = built
    assert courses_of(build, "P_PROG") == [(1, "initial", "in_progress", 2, 6, "unknown", 3)]
    assert sessions_of(build, "P_PROG") == [("SP_1", 1, None), ("SP_2", 2, 30)]
    assert query(build, "select session_id from marts.fct_aborted_sessions") == [("SP_ABORT",)]
    everywhere = query(
        build,
        "select count(*) from marts.fct_sessions where session_id = 'SP_VOID' "
        "union all select count(*) from marts.fct_aborted_sessions where session_id = 'SP_VOID'",
    )
    assert everywhere == [(0,), (0,)]
    assert query(build, "select distinct as_of_date from marts.fct_courses") == [(AS_OF,)]


def test_dropped_out_course_keeps_the_corrected_session_version(built):
    _, build = built
    assert courses_of(build, "P_DROP") == [(1, "initial", "dropped_out", 2, 6, "unknown", 3)]
    assert query(
        build, "select fluence_j_cm2 from marts.fct_sessions where session_id = 'SD_2'"
    ) == [(1.8,)]


def test_orphan_session_is_kept_without_its_patient(built):
    _, build = built
    assert courses_of(build, "P_ORPHAN") == [(1, "initial", "dropped_out", 1, 6, "unknown", 5)]
    assert query(
        build, "select count(*) from marts.dim_patients where patient_key = 'P_ORPHAN'"
    ) == [(0,)]


def test_every_completed_session_is_in_exactly_one_course(built):
    _, build = built
    assert query(build, "select count(*), count(distinct session_id) from marts.fct_sessions") == [
        (13, 13)
    ]
    assert query(build, "select count(*), sum(sessions) from marts.fct_courses") == [(8, 13)]


def test_course_id_is_the_documented_deterministic_hash(built):
    _, build = built
    [(course_id,)] = query(
        build, "select course_id from marts.fct_courses where patient_key = 'P84'"
    )
    first_start = (_local("2025-01-06") - UTC_OFFSET).isoformat(sep=" ")
    assert course_id == hashlib.md5(f"P84|face|{first_start}".encode()).hexdigest()


def test_dbts_duckdb_holds_the_configured_memory_and_spills_under_the_work_dir(
    built, tmp_path, monkeypatch
):
    _, build = built
    monkeypatch.setenv(DBT_MEMORY_ENV, "700MB")
    shown = run_dbt(
        [
            "show",
            "--inline",
            "select current_setting('memory_limit') as held,"
            " current_setting('temp_directory') as spill",
            "--output",
            "json",  # a table would cut the folder's path short
        ],
        lake_path=build.parent / "lake.duckdb",
        build_path=tmp_path / "warehouse.next.duckdb",
        work_dir=tmp_path / "work",
    )
    assert shown.ok, shown.output_tail
    assert "667.5 MiB" in shown.output_tail  # 700 MB in DuckDB's binary units
    assert str(tmp_path / "work" / "spill") in shown.output_tail


def test_run_dbt_reports_a_failure_instead_of_raising(tmp_path):
    result = run_dbt(
        ["build", "--select", "stg_lake__clinics"],
        lake_path=tmp_path / "missing-lake.duckdb",
        build_path=tmp_path / "warehouse.next.duckdb",
        work_dir=tmp_path / "work",
    )
    assert result.returncode != 0
    assert not result.ok
    assert "missing-lake" in result.output_tail
