"""Each kind of dirt in the data contract lands where the contract says, and nothing is lost."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from datetime import date

import duckdb
import pytest

from ingest.landing import UnreadableSource, archive_file, archive_path
from ingest.pseudonymise import PatientKeyer
from tests.conftest import SESSION_HEADER, session_row

PATIENT_HEADER = (
    "patient_ref,clinic_id,first_name,last_name,email,date_of_birth,fitzpatrick,updated_at"
)


def assert_nothing_lost(warehouse) -> None:
    for row in warehouse.rows("select * from ops.ingest_files"):
        accounted = row["rows_loaded"] + row["rows_quarantined"] + row["rows_duplicate"]
        assert row["rows_read"] == accounted, row


def test_exact_duplicate_rows_are_dropped_and_counted(landing, ingest):
    landing.sessions("sessions/s.csv", session_row("S1"), session_row("S1"), session_row("S2"))
    _, warehouse = ingest()
    recorded = warehouse.file("sessions/s.csv")
    assert (recorded["rows_read"], recorded["rows_loaded"], recorded["rows_duplicate"]) == (3, 2, 1)
    assert warehouse.rows("select count(*) as n from raw.sessions") == [{"n": 2}]


def test_a_full_re_export_loads_only_what_changed(landing, ingest):
    landing.sessions("sessions/day1.csv", session_row("S1"), session_row("S2"))
    ingest("run-1")
    landing.sessions(
        "sessions/full.csv",
        session_row("S1"),
        session_row("S2", fluence_j_cm2="2.0", updated_at="2026-03-09T08:00:00"),
    )
    _, warehouse = ingest("run-2")
    recorded = warehouse.file("sessions/full.csv")
    assert (recorded["rows_loaded"], recorded["rows_duplicate"]) == (1, 1)


def test_a_corrected_record_keeps_both_versions_in_history(landing, ingest):
    landing.sessions("sessions/a.csv", session_row("S1", fluence_j_cm2="1.8"))
    landing.sessions(
        "sessions/b.csv",
        session_row("S1", fluence_j_cm2="1.6", updated_at="2026-03-05T09:00:00"),
    )
    _, warehouse = ingest()
    versions = warehouse.rows(
        "select fluence_j_cm2 from raw.sessions where session_id = 'S1' order by updated_at desc"
    )
    assert [v["fluence_j_cm2"] for v in versions] == [1.6, 1.8]


def test_voided_records_are_loaded_so_history_keeps_them(landing, ingest):
    landing.sessions("sessions/s.csv", session_row("S1", status="voided"))
    landing.write(
        "devices/d.csv",
        "device_id,clinic_id,laser_type,wavelength_nm,voided,updated_at\n"
        "D1,C01,qs_nd_yag,1064,yes,2026-01-01T00:00:00Z\n",
    )
    _, warehouse = ingest()
    assert warehouse.rows("select status from raw.sessions") == [{"status": "voided"}]
    assert warehouse.rows("select voided from raw.devices") == [{"voided": True}]


def test_a_session_landing_before_its_patient_joins_when_the_patient_arrives(
    landing, ingest, data_dir
):
    landing.sessions("sessions/s.csv", session_row("S1", patient_ref="MRN-77"))
    _, warehouse = ingest("run-1")
    assert warehouse.rows("select count(*) as n from raw.patients") == [{"n": 0}]
    landing.write(
        "patients/late.csv",
        f"{PATIENT_HEADER}\nMRN-77,C01,Aurelia,Quenby,aq@example.org,1984-06-30,III,"
        "2026-03-03T00:00:00Z\n",
    )
    _, warehouse = ingest("run-2")
    [joined] = warehouse.rows(
        "select s.session_id, p.fitzpatrick from raw.sessions s"
        " join raw.patients p using (patient_key)"
    )
    assert joined == {"session_id": "S1", "fitzpatrick": 3}


def test_malformed_lines_are_quarantined_with_their_record_number(landing, ingest):
    landing.write(
        "sessions/s.csv",
        "\n".join(
            [
                SESSION_HEADER,
                session_row("S1"),
                session_row("S2") + ",extra,fields",
                "S3,C01,MRN-1",
                session_row("S4", started_at="2026-13-45T10:00:00"),
                session_row("S5", fluence_j_cm2="one point eight"),
            ]
        )
        + "\n",
    )
    _, warehouse = ingest()
    reasons = {r["record_number"]: r["reason_code"] for r in warehouse.quarantine("sessions/s.csv")}
    assert reasons == {
        2: "malformed_line",
        3: "malformed_line",
        4: "unparseable",
        5: "unparseable",
    }
    assert warehouse.rows("select session_id from raw.sessions") == [{"session_id": "S1"}]
    assert_nothing_lost(warehouse)


def test_a_line_broken_several_ways_names_its_errors_in_a_set_order(landing, ingest):
    """The same file must always be quarantined with the same reason: DuckDB reports a short
    line once per missing column, and those reports were joined in whatever order its hash
    table gave (it changed from run to run)."""
    landing.write("sessions/s.csv", f"{SESSION_HEADER}\n{session_row('S1')}\nS2,C01\n")
    _, warehouse = ingest()
    [rejected] = warehouse.quarantine("sessions/s.csv")
    errors = rejected["reason"].removeprefix("malformed_line: ").split("; ")
    assert len(errors) > 5
    assert errors == sorted(errors)


def test_out_of_range_values_are_quarantined_not_clipped(landing, ingest):
    landing.sessions(
        "sessions/s.csv",
        session_row("ZERO", fluence_j_cm2="0"),
        session_row("FORTY", fluence_j_cm2="40 J/cm2"),
        session_row("OK", fluence_j_cm2="9.5"),
    )
    landing.write(
        "outcomes/o.csv",
        "response_id,clinic_id,patient_ref,instrument,score,collected_at,updated_at\n"
        "R1,C01,MRN-1,pigmentation_vas,11,2026-03-01T10:00:00,2026-03-01T10:00:00\n"
        "R2,C01,MRN-1,pigmentation_vas,10,2026-03-01T10:00:00,2026-03-01T10:00:00\n",
    )
    landing.write(
        "side_effects/e.csv",
        "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at\n"
        "E1,C01,MRN-1,erythema,4,2026-03-04,2026-03-06T09:00:00\n",
    )
    _, warehouse = ingest()
    rejected = warehouse.rows(
        "select path, reason_code, reason from ops.quarantine order by path, record_number"
    )
    assert [(r["path"], r["reason_code"]) for r in rejected] == [
        ("outcomes/o.csv", "out_of_range"),
        ("sessions/s.csv", "out_of_range"),
        ("sessions/s.csv", "out_of_range"),
        ("side_effects/e.csv", "out_of_range"),
    ]
    assert "score of pigmentation_vas must be 0 to 10, got '11'" in rejected[0]["reason"]
    assert warehouse.rows("select session_id from raw.sessions") == [{"session_id": "OK"}]


def test_unknown_codes_are_quarantined(landing, ingest):
    landing.sessions("sessions/s.csv", session_row("S1", treatment_area="scalp"))
    _, warehouse = ingest()
    [rejected] = warehouse.quarantine("sessions/s.csv")
    assert rejected["reason"] == "unknown_code: treatment_area 'scalp'"


def test_a_header_only_file_and_an_empty_file_load_nothing(landing, ingest):
    landing.write("sessions/header_only.csv", SESSION_HEADER + "\n")
    landing.write("sessions/empty.csv", "")
    _, warehouse = ingest()
    for path in ("sessions/header_only.csv", "sessions/empty.csv"):
        recorded = warehouse.file(path)
        assert (recorded["status"], recorded["rows_read"]) == ("empty", 0)


def test_a_truncated_gzip_is_quarantined_whole(landing, ingest):
    whole = gzip.compress(
        ("\n".join([SESSION_HEADER, *(session_row(f"S{i}") for i in range(200))]) + "\n").encode()
    )
    landing.write("sessions/cut.csv.gz", whole[: len(whole) // 2])
    _, warehouse = ingest()
    recorded = warehouse.file("sessions/cut.csv.gz")
    assert recorded["status"] == "quarantined"
    assert recorded["reason"].startswith("unreadable_file: gzip stream is damaged or truncated")
    assert warehouse.rows("select count(*) as n from raw.sessions") == [{"n": 0}]


def test_a_file_in_the_wrong_feed_folder_is_quarantined_whole_with_every_row(landing, ingest):
    landing.write(
        "sessions/devices_export.csv",
        "device_id,clinic_id,laser_type,wavelength_nm,updated_at\n"
        "D1,C01,qs_nd_yag,1064,2026-01-01T00:00:00Z\n"
        "D2,C01,pico_nd_yag,1064,2026-01-01T00:00:00Z\n",
    )
    _, warehouse = ingest()
    recorded = warehouse.file("sessions/devices_export.csv")
    assert recorded["status"] == "quarantined"
    assert "missing required column(s): session_id" in recorded["reason"]
    assert "match the devices feed" in recorded["reason"]
    assert [r["reason_code"] for r in warehouse.quarantine("sessions/devices_export.csv")] == [
        "missing_columns",
        "missing_columns",
    ]
    assert_nothing_lost(warehouse)


def test_a_copy_of_another_feeds_file_is_misplaced_not_a_re_delivery(landing, ingest):
    devices = "device_id,clinic_id,laser_type,wavelength_nm,updated_at\nD1,C01,qs_nd_yag,1064,x\n"
    landing.write("devices/d.csv", devices)
    landing.write("sessions/d.csv", devices)
    _, warehouse = ingest()
    assert warehouse.file("sessions/d.csv")["status"] == "quarantined"


def test_files_still_being_written_are_ignored(landing, ingest):
    landing.sessions("sessions/tonight.csv.part", session_row("S1"))
    landing.sessions("sessions/.tonight.csv", session_row("S2"))
    landing.sessions("sessions/tonight.csv.tmp", session_row("S3"))
    summary, warehouse = ingest()
    assert warehouse.rows("select count(*) as n from ops.ingest_files where feed = 'sessions'") == [
        {"n": 0}
    ]
    assert summary.in_flight == ["sessions/tonight.csv.part", "sessions/tonight.csv.tmp"]


def test_the_same_bytes_under_a_new_name_load_nothing(landing, ingest):
    landing.sessions("sessions/monday.csv", session_row("S1"))
    ingest("run-1")
    landing.sessions("sessions/monday_resent.csv", session_row("S1"))
    _, warehouse = ingest("run-2")
    recorded = warehouse.file("sessions/monday_resent.csv")
    assert (recorded["status"], recorded["rows_read"]) == ("duplicate_file", 0)
    assert recorded["reason"] == "same bytes as sessions/monday.csv: nothing loaded"
    assert warehouse.rows("select count(*) as n from raw.sessions") == [{"n": 1}]


def test_a_changed_file_under_a_seen_name_is_a_new_batch_with_a_warning(landing, ingest):
    landing.sessions("sessions/export.csv", session_row("S1"))
    ingest("run-1")
    landing.sessions("sessions/export.csv", session_row("S1"), session_row("S2"))
    _, warehouse = ingest("run-2")
    batches = warehouse.rows(
        "select rows_loaded, rows_duplicate, warnings from ops.ingest_files"
        " where path = 'sessions/export.csv' order by run_id"
    )
    assert [(b["rows_loaded"], b["rows_duplicate"]) for b in batches] == [(1, 0), (1, 1)]
    assert "content changed under an already-seen name" in batches[1]["warnings"]


def test_a_second_ingest_over_the_same_landing_changes_nothing(landing, ingest):
    landing.sessions("sessions/s.csv", session_row("S1"), session_row("S2", treatment_area="x"))
    _, warehouse = ingest("run-1")
    before = {t: warehouse.rows(f"select * from {t}") for t in ("raw.sessions", "ops.quarantine")}
    summary, warehouse = ingest("run-2")
    assert summary.files == []
    assert {t: warehouse.rows(f"select * from {t}") for t in before} == before


def test_every_received_file_is_archived_byte_for_byte(landing, ingest, data_dir):
    landed = landing.write("sessions/s.csv.gz", SESSION_HEADER + "\n", gzipped=True)
    _, warehouse = ingest()
    sha256 = warehouse.file("sessions/s.csv.gz")["sha256"]
    archived = archive_path(data_dir.archive, sha256, "s.csv.gz")
    assert archived.read_bytes() == landed.read_bytes()


def test_a_file_is_archived_under_the_hash_of_the_bytes_copied_and_a_vanished_one_leaves_nothing(
    tmp_path,
):
    """The archive names a copy by the SHA-256 of the bytes it copied (hashed as they are
    copied, so a file changing meanwhile cannot get another content's name); a file gone
    before its copy is an unreadable source, and no partial copy stays behind."""
    source, archive = tmp_path / "s.csv", tmp_path / "archive"
    source.write_text(SESSION_HEADER + "\n")
    archived, sha256 = archive_file(source, archive)
    assert sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert archived == archive_path(archive, sha256, "s.csv")
    assert archived.read_bytes() == source.read_bytes()
    assert archive_file(source, archive) == (archived, sha256)  # kept once
    source.unlink()
    with pytest.raises(UnreadableSource):
        archive_file(source, archive)
    assert sorted(p.relative_to(archive) for p in archive.rglob("*") if p.is_file()) == [
        archived.relative_to(archive)
    ]


def test_patients_are_keyed_by_hmac_and_identifiers_never_reach_the_lake(landing, ingest, data_dir):
    landing.write(
        "patients/p.csv",
        f"{PATIENT_HEADER}\nMRN-1,C01,Aurelia,Quenby,aq@example.org,1984-06-30,III,"
        "2026-03-03T00:00:00Z\n",
    )
    landing.sessions("sessions/s.csv", session_row("S1", treatment_area="elbow"))
    _, warehouse = ingest()
    secret = data_dir.key_file.read_bytes().strip()
    assert stat.S_IMODE(os.stat(data_dir.key_file).st_mode) == 0o600
    expected = PatientKeyer(secret).key("C01", "MRN-1")
    assert warehouse.rows("select patient_key from raw.patients") == [{"patient_key": expected}]
    dump = str([warehouse.rows(f"select * from {t}") for t in ("raw.patients", "ops.quarantine")])
    for identifier in ("MRN-1", "Aurelia", "Quenby", "aq@example.org", "1984-06-30"):
        assert identifier not in dump
    # The quarantined session keeps its pseudonym so it can be traced, not its record number.
    [rejected] = warehouse.quarantine("sessions/s.csv")
    assert f'"patient_key":"{expected}"' in rejected["record"]


def test_the_secret_can_come_from_the_environment(landing, ingest, monkeypatch):
    monkeypatch.setenv("TONING_SECRET", "clinic-chain-secret")
    landing.sessions("sessions/s.csv", session_row("S1"))
    _, warehouse = ingest()
    expected = PatientKeyer(b"clinic-chain-secret").key("C01", "MRN-1")
    assert warehouse.rows("select patient_key from raw.sessions") == [{"patient_key": expected}]


def test_each_record_is_keyed_by_its_own_clinic_and_record_number(landing, ingest, data_dir):
    # Patients are keyed once per (clinic, record number) in a batch, then matched to records.
    landing.sessions(
        "sessions/a.csv",
        session_row("S1"),
        session_row("S2", started_at="2026-03-09T10:00:00"),
        session_row("S3", patient_ref="MRN-2"),
    )
    at_c02 = {"started_at": "02/03/2026 10:00", "updated_at": "02/03/2026 12:00"}  # dmy there
    landing.sessions("sessions/b.csv", session_row("S4", clinic_id="C02", **at_c02))
    _, warehouse = ingest()
    keyer = PatientKeyer(data_dir.key_file.read_bytes().strip())
    stored = warehouse.rows("select session_id, patient_key from raw.sessions order by session_id")
    assert stored == [
        {"session_id": "S1", "patient_key": keyer.key("C01", "MRN-1")},
        {"session_id": "S2", "patient_key": keyer.key("C01", "MRN-1")},
        {"session_id": "S3", "patient_key": keyer.key("C01", "MRN-2")},
        {"session_id": "S4", "patient_key": keyer.key("C02", "MRN-1")},
    ]


def test_age_is_kept_as_a_five_year_band_at_consultation(landing, ingest):
    landing.write(
        "patients/p.csv",
        f"{PATIENT_HEADER}\nMRN-1,C01,Aurelia,Quenby,aq@example.org,1986-06-30,III,"
        "2026-03-03T00:00:00Z\n",
    )
    landing.write(
        "consultations/c.csv",
        "consultation_id,clinic_id,patient_ref,consulted_at,primary_concern,decision,updated_at\n"
        "K1,C01,MRN-1,2026-06-29T10:00:00,melasma,proceed,2026-06-29T10:00:00\n"
        "K2,C01,MRN-1,2026-06-30T10:00:00,melasma,proceed,2026-06-30T10:00:00\n",
    )
    _, warehouse = ingest()
    assert warehouse.rows(
        "select consultation_id, age_band from raw.consultation_age_bands order by 1"
    ) == [
        {"consultation_id": "K1", "age_band": "35-39"},  # the day before the 40th birthday
        {"consultation_id": "K2", "age_band": "40-44"},
    ]


def test_each_version_of_a_patients_identity_is_stored_once_across_files_and_nights(
    landing, ingest, data_dir
):
    """The identity store is loaded for many patients files at once: a record in two files of
    one night, and again on a later night, is stored once; a corrected date of birth is a
    version of its own, and the age bands follow it."""
    record = "MRN-1,C01,Aurelia,Quenby,aq@example.org,1986-06-30,III,2026-03-03T00:00:00Z"
    other = "MRN-2,C01,Bram,Stoker,bs@example.org,1970-01-15,II,2026-03-03T00:00:00Z"
    landing.write("patients/C01_a.csv", f"{PATIENT_HEADER}\n{record}\n{other}\n")
    landing.write("patients/C01_b.csv", f"{PATIENT_HEADER}\n{record}\n")
    landing.write(
        "consultations/c.csv",
        "consultation_id,clinic_id,patient_ref,consulted_at,primary_concern,decision,updated_at\n"
        "K1,C01,MRN-1,2026-06-29T10:00:00,melasma,proceed,2026-06-29T10:00:00\n",
    )
    ingest("night-1")
    corrected = "MRN-1,C01,Aurelia,Quenby,aq@example.org,1996-06-30,III,2026-04-01T00:00:00Z"
    landing.write("patients/C01_c.csv", f"{PATIENT_HEADER}\n{record}\n{corrected}\n")
    _, warehouse = ingest("night-2")

    with duckdb.connect(str(data_dir.identity), read_only=True) as con:
        stored = con.execute(
            "select patient_ref, date_of_birth, count(*) from patient_identity"
            " group by all order by all"
        ).fetchall()
    assert stored == [
        ("MRN-1", date(1986, 6, 30), 1),
        ("MRN-1", date(1996, 6, 30), 1),
        ("MRN-2", date(1970, 1, 15), 1),
    ]
    assert warehouse.rows("select age_band from raw.consultation_age_bands") == [
        {"age_band": "25-29"}  # born 1996-06-30, a day short of 30
    ]


def test_a_file_missing_one_column_is_not_said_to_be_another_feeds(landing, ingest):
    """A sessions export without device_id has the providers' required columns too; it is
    still a broken sessions file, and the reason must not send the clinic looking elsewhere."""
    header = ",".join(c for c in SESSION_HEADER.split(",") if c != "device_id")
    row = ",".join(
        v
        for c, v in zip(SESSION_HEADER.split(","), session_row("S1").split(","), strict=True)
        if c != "device_id"
    )
    landing.write("sessions/export_error.csv", f"{header}\n{row}\n")
    _, warehouse = ingest()
    reason = warehouse.file("sessions/export_error.csv")["reason"]
    assert reason == "missing_columns: missing required column(s): device_id"
