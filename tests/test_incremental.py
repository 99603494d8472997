"""Incremental refreshes: a night recomputes only the patients its files touch, on top of the
published warehouse, and ends with exactly the marts a build from scratch makes, late
corrections and voids of old sessions included; anything that could make the published
warehouse a wrong base (a changed dbt project, a rollback, a lake it was not built from) is
noticed."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from contract.feeds import FEEDS
from expectations.checks import dbt_quality_vars
from synthetic import generate_landing
from tests.conftest import Landing, session_row
from tests.test_refresh import snapshot
from toning import incremental
from toning.config import DataDir
from toning.dbt import DBT_PROJECT_DIR
from toning.refresh import run_refresh
from toning.rollback import rollback
from toning.status import status_report

NIGHTS = 30
BUILT = ("staging", "intermediate", "marts")  # every model's rows (not the bookkeeping)
INCREMENTAL_BUILD = "dbt build: incremental"


def dbt_line(said: list[str]) -> str:
    return next(line for line in said if line.startswith("dbt build: ") and "done" not in line)


@dataclass(frozen=True)
class Nights:
    data: DataDir
    landing: Path
    builds: list[str]  # each night's "dbt build: ..." line
    new_files: list[int]  # each night's newly loaded files


AUDIT_EVERY = 5  # nights; an audit file voids, re-dates and corrects old sessions


def land_audit(landing: Path, night: int) -> None:
    """A clinic audit's file, as real clinics send them weeks or months late: of three old
    completed sessions of C01, one voided, one re-dated four months later (its course splits),
    one with its fluence corrected. The generator's own daily files correct recent records."""
    sessions = (
        pl.read_parquet(landing / ".truth" / "clean" / "sessions.parquet")
        .filter(
            (pl.col("clinic_id") == "C01")
            & (pl.col("status") == "completed")
            & ~pl.col("truth_junk")
            & (pl.col("started_at") < datetime(2026, 3, 1, tzinfo=UTC))
        )
        .sort("session_id")
        .sample(fraction=1.0, shuffle=True, seed=0)  # the same order every night
    )
    audit = night // AUDIT_EVERY  # each audit takes the next three sessions: no session twice
    void, redate, correct = sessions.slice(3 * (audit - 1), 3).iter_rows(named=True)
    void["status"] = "voided"
    redate["started_at"] += timedelta(days=120)
    correct["fluence_j_cm2"] = round(correct["fluence_j_cm2"] + 0.1, 1)
    audited = (
        pl.DataFrame([void, redate, correct])
        .select(column.name for column in FEEDS["sessions"].columns)
        .with_columns(
            notes=pl.lit(None, dtype=pl.String),
            fitzpatrick=pl.lit(None, dtype=pl.String),
            updated_at=pl.lit(f"2026-11-{night:02d}T23:00:00+08:00"),
            started_at=pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        )
    )
    audited.write_csv(landing / "sessions" / f"C01_audit_night{night:02d}.csv")


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Nights:
    """The tiny tier refreshed once, then 30 nights of daily extracts (and an audit file every
    fifth night), one refresh each."""
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    generate_landing("tiny", landing, seed=11)
    data = DataDir(root / "data")
    run_refresh(landing, data)
    builds, new_files = [], []
    for night in range(1, NIGHTS + 1):
        generate_landing("tiny", landing, seed=11, days=night)  # night `night`'s files land
        if night % AUDIT_EVERY == 0:
            land_audit(landing, night)
        said: list[str] = []
        result = run_refresh(landing, data, progress=said.append)
        builds.append(dbt_line(said))
        new_files.append(len(result.ingest.files))
    return Nights(data, landing, builds, new_files)


def late_changes(lake_path: Path) -> tuple[int, int]:
    """(sessions first loaded on one night and changed on a later one, of which voided)."""
    with duckdb.connect(str(lake_path), read_only=True) as con:
        return con.execute(
            """
            with versions as (
                select sessions.session_id, sessions.status, sessions.updated_at, files.run_id
                from raw.sessions
                inner join ops.ingest_files as files on sessions._file_sha256 = files.sha256
            )
            select
                count(*),
                count(*) filter (where last_status = 'voided')
            from (
                select session_id, max_by(status, updated_at) as last_status
                from versions
                group by session_id
                having count(distinct run_id) > 1
            )
            """
        ).fetchone()


def test_thirty_incremental_nights_equal_a_full_rebuild_row_for_row(nights):
    assert all(line.startswith(INCREMENTAL_BUILD) for line in nights.builds), nights.builds
    assert sum(nights.new_files) >= NIGHTS, "the nights brought files to load"
    changed, voided = late_changes(nights.data.lake)
    # Each audit changes three sessions (the generator's daily files may correct more).
    assert changed >= 3 * NIGHTS // AUDIT_EVERY and voided >= NIGHTS // AUDIT_EVERY
    incremental_marts = snapshot(nights.data.warehouse, BUILT)
    assert sum(len(rows) for rows in incremental_marts.values()) > 5_000

    said: list[str] = []
    run_refresh(nights.landing, nights.data, full=True, progress=said.append)
    assert dbt_line(said) == "dbt build: every model from scratch (--full)"
    assert snapshot(nights.data.warehouse, BUILT) == incremental_marts


# Hand-made nights: a late correction that splits an old course, and a void of a patient's
# only session, which must take that patient out of every fact.
FIRST_NIGHT = (
    session_row("S1", started_at="2026-03-02T10:00:00"),
    session_row("S2", started_at="2026-03-30T10:00:00"),
    session_row("S3", patient_ref="MRN-2", started_at="2026-03-03T10:00:00"),
)
CORRECTIONS = (
    session_row("S2", started_at="2026-08-30T10:00:00", updated_at="2026-09-01T12:00:00"),
    session_row("S3", patient_ref="MRN-2", status="voided", updated_at="2026-09-01T12:00:00"),
)


def refresh(landing: Landing, data: DataDir, **options) -> list[str]:
    said: list[str] = []
    run_refresh(landing.root, data, progress=said.append, **options)
    return said


def rows(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def from_scratch(landing: Landing, root: Path) -> dict:
    data = DataDir(root)
    assert dbt_line(refresh(landing, data)).startswith("dbt build: every model from scratch")
    return snapshot(data.warehouse, BUILT)


@pytest.fixture
def first_night(landing: Landing, data_dir: DataDir, monkeypatch) -> tuple[Landing, DataDir]:
    monkeypatch.setenv("TONING_SECRET", "one-chain")  # the same pseudonyms in every data dir
    landing.sessions("sessions/night1.csv", *FIRST_NIGHT)
    said = refresh(landing, data_dir)
    assert dbt_line(said) == "dbt build: every model from scratch (no warehouse is published yet)"
    assert rows(data_dir, "select count(*) from marts.fct_courses") == [(2,)]
    return landing, data_dir


def test_a_late_correction_resplits_a_course_and_a_void_removes_a_patient(first_night, tmp_path):
    landing, data = first_night
    landing.sessions("sessions/night2.csv", *CORRECTIONS)
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)

    # S2 moved five months later: the one course of S1 and S2 is now two courses.
    assert rows(
        data, "select session_id, session_number from marts.fct_sessions order by session_id"
    ) == [("S1", 1), ("S2", 1)]
    assert rows(data, "select count(distinct course_id) from marts.fct_sessions") == [(2,)]
    # S3, the second patient's only session, was voided: no course, session or row left.
    assert rows(data, "select count(distinct patient_key) from marts.fct_courses") == [(1,)]
    assert rows(data, "select count(*) from intermediate.int_sessions_completed") == [(2,)]
    assert snapshot(data.warehouse, BUILT) == from_scratch(landing, tmp_path / "scratch")


def test_only_an_incremental_build_computes_the_changed_patients(first_night):
    """A build from scratch rebuilds every model whole and reads no changed set: it leaves it
    empty instead of joining every raw row to its file (54 s of a 10m first build). The next
    night's incremental build names the one patient its file touches."""
    landing, data = first_night
    changed = "select count(*) from incremental.stg_lake__changed_patients"
    assert rows(data, changed) == [(0,)]
    landing.sessions("sessions/night2.csv", CORRECTIONS[0])  # a correction of MRN-1's S2
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert rows(data, changed) == [(1,)]
    assert rows(data, "select count(distinct course_id) from marts.fct_sessions") == [(3,)]


def test_rows_that_change_without_a_record_of_their_patient_are_recomputed(first_night, tmp_path):
    """A patient's courses and marts change with more than their own sessions: a consultation
    that arrives later, the as-of date moving on (a course drops out, an unresolved side effect
    becomes adverse) and a device record (laser types). Each night changes one of them, and
    the patients it changes hold no new session, outcome or side effect."""
    landing, data = first_night
    landing.write(
        "side_effects/night2.csv",
        "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at\n"
        "E1,C01,MRN-4,erythema,mild,2026-03-29,2026-03-29T12:00:00Z\n",
    )
    refresh(landing, data)
    status = "select status from marts.fct_courses where first_session_at::date = '{}'"
    adverse = "select is_adverse_event from marts.fct_side_effects"
    assert rows(data, status.format("2026-03-02")) == [("in_progress",)]
    assert rows(data, adverse) == [(False,)]  # 1 day old at the as-of date, 30 March

    # Night 3: MRN-1's plan (2 sessions) arrives: the course of S1 and S2 is completed.
    landing.write(
        "consultations/night3.csv",
        "consultation_id,clinic_id,patient_ref,consulted_at,primary_concern,decision,"
        "planned_sessions,updated_at\n"
        "Q1,C01,MRN-1,2026-02-01T10:00:00,melasma,proceed,2,2026-02-01T12:00:00\n",
    )
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert rows(data, status.format("2026-03-02")) == [("completed",)]

    # Night 4: another patient's session on 1 July moves the as-of date: MRN-2's course (last
    # session 3 March) has dropped out, and MRN-4's unresolved erythema lasts 94 days.
    landing.sessions(
        "sessions/night4.csv",
        session_row("S4", patient_ref="MRN-3", started_at="2026-07-01T10:00:00"),
    )
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert rows(data, status.format("2026-03-03")) == [("dropped_out",)]
    assert rows(data, adverse) == [(True,)]

    # Night 5: device D1's record names its laser type, for every session done with it.
    landing.write(
        "devices/night5.csv",
        "device_id,clinic_id,laser_type,wavelength_nm,updated_at\n"
        "D1,C01,qs_nd_yag,1064,2026-01-01T00:00:00Z\n",
    )
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert rows(data, "select distinct laser_type from marts.fct_sessions") == [("qs_nd_yag",)]
    assert snapshot(data.warehouse, BUILT) == from_scratch(landing, tmp_path / "scratch")


def test_the_as_of_date_moves_the_figures_of_patients_a_night_does_not_change(
    first_night, tmp_path
):
    """fct_courses' days since the last session and fct_side_effects' duration of an unresolved
    event grow every night for every patient; the patients a night does not change keep their
    rows, and those figures are moved to the new as-of date in place (macros/as_of_date.sql)."""
    landing, data = first_night
    landing.write(
        "side_effects/night2.csv",
        "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at\n"
        "E1,C01,MRN-2,erythema,mild,2026-03-04,2026-03-04T12:00:00Z\n",
    )
    refresh(landing, data)
    # Night 3: another patient's session moves the as-of date from 30 March to 5 April, too
    # little to change a course's status or the side effect's adverse flag: MRN-1 and MRN-2
    # are not recomputed.
    landing.sessions(
        "sessions/night3.csv",
        session_row("S4", patient_ref="MRN-3", started_at="2026-04-05T10:00:00"),
    )
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert rows(data, "select count(*) from incremental.int_changed_patients") == [(1,)]

    days = "select as_of_date, days_since_last_session from marts.fct_courses"
    april_5 = datetime(2026, 4, 5).date()
    assert rows(data, days + " where first_session_at::date = '2026-03-02'") == [(april_5, 6)]
    assert rows(data, days + " where first_session_at::date = '2026-03-03'") == [(april_5, 33)]
    assert rows(data, "select duration_days from marts.fct_side_effects") == [(32,)]
    assert snapshot(data.warehouse, BUILT) == from_scratch(landing, tmp_path / "scratch")


CONSULTATIONS = (
    "consultation_id,clinic_id,patient_ref,consulted_at,primary_concern,decision,"
    "planned_sessions,updated_at\n"
)


def test_a_corrected_consultation_or_patient_record_replaces_only_its_own_row(
    first_night, tmp_path
):
    """Consultations and patient records are staged again per record a new file holds a version
    of (macros/changed_patients.sql, new_versions_only): a correction replaces that record's
    row and what follows from it, and every other record keeps its row."""
    landing, data = first_night
    landing.write(
        "consultations/night2.csv",
        CONSULTATIONS
        + "Q1,C01,MRN-1,2026-02-01T10:00:00,melasma,proceed,2,2026-02-01T12:00:00\n"
        + "Q2,C01,MRN-2,2026-02-02T10:00:00,pih,proceed,4,2026-02-02T12:00:00\n",
    )
    landing.write(
        "patients/night2.csv",
        "patient_ref,clinic_id,fitzpatrick,updated_at\n"
        "MRN-1,C01,III,2026-01-01T12:00:00Z\nMRN-2,C01,IV,2026-01-01T12:00:00Z\n",
    )
    refresh(landing, data)
    status = "select status from marts.fct_courses where first_session_at::date = '2026-03-02'"
    assert rows(data, status) == [("completed",)]  # MRN-1's two planned sessions are done

    # Night 3: Q1 is corrected to six planned sessions, and MRN-2's record to type V.
    landing.write(
        "consultations/night3.csv",
        CONSULTATIONS + "Q1,C01,MRN-1,2026-02-01T10:00:00,melasma,proceed,6,2026-04-01T12:00:00\n",
    )
    landing.write(
        "patients/night3.csv",
        "patient_ref,clinic_id,fitzpatrick,updated_at\nMRN-2,C01,V,2026-04-01T12:00:00Z\n",
    )
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    planned = "select consultation_id, planned_sessions from staging.stg_lake__consultations"
    assert rows(data, planned + " order by 1") == [("Q1", 6), ("Q2", 4)]
    assert rows(data, "select fitzpatrick from staging.stg_lake__patients order by 1") == [
        (3,),
        (5,),
    ]
    assert rows(data, status) == [("in_progress",)]
    assert snapshot(data.warehouse, BUILT) == from_scratch(landing, tmp_path / "scratch")


def scopes_of_data_tests(data: DataDir) -> dict[str, str]:
    """Each data test of the last dbt build, by name: the changed set it read, or "every row"."""
    results = json.loads((data.state / "dbt" / "target" / "run_results.json").read_text())
    scopes = {}
    for result in results["results"]:
        if result["unique_id"].startswith("test."):
            assert result["status"] in ("pass", "warn"), result["unique_id"]
            scope = re.search(
                r'where patient_key in \(select patient_key from [^)]*"(\w+)"\)',
                result["compiled_code"],
            )
            scopes[result["unique_id"].split(".")[2]] = scope.group(1) if scope else "every row"
    return scopes


def test_an_incremental_night_tests_the_keys_of_its_changed_patients_only(first_night):
    """The published warehouse passed every error test: a night's key tests of per-patient
    models read the rows it recomputed (the changed set of the models they read), and every
    other test, and every test of a build from scratch, reads every row."""
    landing, data = first_night
    assert set(scopes_of_data_tests(data).values()) == {"every row"}
    landing.sessions("sessions/night2.csv", *CORRECTIONS)
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)

    scopes = scopes_of_data_tests(data)
    changed, int_changed = "stg_lake__changed_patients", "int_changed_patients"
    assert scopes["unique_stg_lake__sessions_session_id"] == changed
    assert scopes["unique_int_courses_course_id"] == int_changed
    # Two per-patient models of different sets: the wider one.
    relationship = (
        "relationships_int_outcomes_timepointed_response_id__response_id__ref_stg_lake__outcomes_"
    )
    assert scopes[relationship] == int_changed
    # A dimension is a whole table; a warn test's count is the warehouse's; one row at a time.
    assert (
        scopes["relationships_fct_sessions_clinic_id__clinic_id__ref_dim_clinics_"] == "every row"
    )
    warned = (
        "relationships_int_outcomes_timepoint_checks_patient_key__patient_key__ref_int_courses_"
    )
    assert scopes[warned] == "every row"
    [coded] = [name for name in scopes if name.startswith("accepted_values_columns_stg_lake__")]
    assert scopes[coded] == "every row"
    assert scopes["unique_dim_patients_patient_key"] == "every row"  # a whole table
    assert sum(scope != "every row" for scope in scopes.values()) >= 20


def test_a_night_without_new_files_builds_on_the_published_warehouse(first_night):
    landing, data = first_night
    before = snapshot(data.warehouse, BUILT)
    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert snapshot(data.warehouse, BUILT) == before
    with duckdb.connect(str(data.lake), read_only=True) as con:
        builds = con.execute(
            "select dbt_build from ops.refresh_runs order by started_at"
        ).fetchall()
    assert builds == [("full",), ("incremental",)]
    assert "s (incremental)" in status_report(data)  # `toning status` tells the operator


def test_a_changed_dbt_project_builds_every_model_from_scratch(first_night, tmp_path):
    landing, data = first_night
    landing.sessions("sessions/night2.csv", *CORRECTIONS)
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    settings = project / "dbt_project.yml"
    settings.write_text(settings.read_text().replace("course_gap_days: 84", "course_gap_days: 200"))

    said = refresh(landing, data, dbt_project=project)
    assert "the dbt project, its variables" in dbt_line(said)
    # The new gap joins S1 and S2 (181 days apart) again, in every course, not only new ones.
    assert rows(data, "select count(distinct course_id) from marts.fct_sessions") == [(1,)]
    # The next night with the same project is incremental again.
    assert dbt_line(refresh(landing, data, dbt_project=project)).startswith(INCREMENTAL_BUILD)


def test_after_a_rollback_the_next_night_recomputes_what_the_older_version_lacks(
    first_night, tmp_path
):
    landing, data = first_night
    landing.sessions("sessions/night2.csv", *CORRECTIONS)
    refresh(landing, data)
    rollback(data)  # night 1's warehouse is published again; the lake keeps night 2's files
    assert rows(data, "select count(*) from marts.fct_courses") == [(2,)]
    assert rows(data, "select count(*) from marts.fct_sessions") == [(3,)]

    assert dbt_line(refresh(landing, data)).startswith(INCREMENTAL_BUILD)
    assert snapshot(data.warehouse, BUILT) == from_scratch(landing, tmp_path / "scratch")


def test_a_published_warehouse_is_no_base_for_a_lake_it_was_not_built_from(first_night):
    _, data = first_night
    project_fingerprint = incremental.fingerprint(DBT_PROJECT_DIR, dbt_quality_vars())
    missing = data.root / "missing.duckdb"
    assert incremental.why_not_incremental(missing, data.lake, project_fingerprint) == (
        "no warehouse is published yet"
    )
    with duckdb.connect(str(data.lake)) as con:  # as if the lake were replaced by another one
        con.execute("delete from ops.ingest_files")
    why = incremental.why_not_incremental(data.warehouse, data.lake, project_fingerprint)
    assert why == "the lake lacks 2 file(s) the published warehouse was built from"
