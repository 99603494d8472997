"""Every encoding the data contract allows is read into the same warehouse values."""

from __future__ import annotations

import io
from datetime import date, datetime

import polars as pl
import pytest

from contract.feeds import FEEDS
from ingest.conform import ClinicCalendar, conform, conform_together
from ingest.readers import RECORD_NUMBER, RawBatch, read_batch
from tests.conftest import SESSION_HEADER, session_row


@pytest.mark.parametrize(
    ("written", "skin_type", "is_range", "unrecognised"),
    [
        ("IV", 4, False, False),
        ("iv", 4, False, False),
        ("4", 4, False, False),
        ("Type 4", 4, False, False),
        ("type IV", 4, False, False),
        ("FST IV", 4, False, False),
        ("FST4", 4, False, False),
        ("IV-V", 5, True, False),
        ("IV/V", 5, True, False),
        ("", None, False, False),
        ("unknown", None, False, False),
        ("?", None, False, False),
        ("VII", None, False, True),
        ("brown", None, False, True),
    ],
)
def test_fitzpatrick_spellings(landing, ingest, written, skin_type, is_range, unrecognised):
    landing.write(
        "sessions/s.csv",
        f"{SESSION_HEADER},fitzpatrick\n{session_row('S1')},{written}\n",
    )
    _, warehouse = ingest()
    [row] = warehouse.rows(
        "select fitzpatrick, fitzpatrick_is_range, fitzpatrick_unrecognised from raw.sessions"
    )
    assert row == {
        "fitzpatrick": skin_type,
        "fitzpatrick_is_range": is_range,
        "fitzpatrick_unrecognised": unrecognised,
    }
    assert warehouse.file("sessions/s.csv")["rows_quarantined"] == 0


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("true", True),
        ("false", False),
        ("yes", True),
        ("no", False),
        ("y", True),
        ("n", False),
        ("1", True),
        ("0", False),
        ("TRUE", True),
        ("", None),
    ],
)
def test_boolean_spellings(landing, ingest, written, value):
    landing.write(
        "sessions/s.csv", f"{SESSION_HEADER},numbing_cream\n{session_row('S1')},{written}\n"
    )
    _, warehouse = ingest()
    assert warehouse.rows("select numbing_cream from raw.sessions") == [{"numbing_cream": value}]


def test_an_unreadable_boolean_a_metric_needs_quarantines_the_row(landing, ingest):
    landing.write(
        "side_effects/e.csv",
        "event_id,clinic_id,patient_ref,effect,severity,onset_on,serious,updated_at\n"
        "E1,C01,MRN-1,pih,mild,2026-03-05,sometimes,2026-03-06T00:00:00\n",
    )
    _, warehouse = ingest()
    [rejected] = warehouse.quarantine("side_effects/e.csv")
    assert rejected["reason_code"] == "unparseable"
    assert "serious 'sometimes'" in rejected["reason"]


def test_an_unreadable_informational_boolean_loads_as_null_with_a_finding(landing, ingest):
    landing.write("sessions/s.csv", f"{SESSION_HEADER},cooling\n{session_row('S1')},sometimes\n")
    _, warehouse = ingest()
    assert warehouse.quarantine("sessions/s.csv") == []
    assert warehouse.rows("select session_id, cooling from raw.sessions") == [
        {"session_id": "S1", "cooling": None}
    ]
    [finding] = warehouse.rows("select * from ops.ingest_findings")
    assert (finding["record_number"], finding["column_name"]) == (1, "cooling")
    assert finding["reason"] == "unparseable: cooling 'sometimes'"


def test_timestamps_with_offset_without_offset_and_day_first(landing, ingest):
    landing.sessions(
        "sessions/s.csv",
        session_row("WITH_OFFSET", started_at="2026-03-02T10:00:00+08:00"),
        session_row("UTC_Z", started_at="2026-03-02T02:00:00Z"),
        session_row("CLINIC_LOCAL", started_at="2026-03-02 10:00"),
        session_row(
            "DAY_FIRST",
            clinic_id="C02",
            started_at="02/03/2026 10:00",
            updated_at="02/03/2026 12:00",
        ),
    )
    _, warehouse = ingest()
    rows = {
        r["session_id"]: (r["started_at"], r["started_at_local"])
        for r in warehouse.rows("select session_id, started_at, started_at_local from raw.sessions")
    }
    singapore = (datetime(2026, 3, 2, 2, 0), datetime(2026, 3, 2, 10, 0))
    assert rows["WITH_OFFSET"] == singapore
    assert rows["UTC_Z"] == singapore
    assert rows["CLINIC_LOCAL"] == singapore  # no offset: Singapore clinic time
    # C02 declares dmy and is in London (GMT in March): 2 March, not 3 February.
    assert rows["DAY_FIRST"] == (datetime(2026, 3, 2, 10, 0), datetime(2026, 3, 2, 10, 0))


def test_each_row_is_typed_as_if_it_were_alone_in_its_file(tmp_path):
    """Typing reads each distinct spelling of a code once, and tries a later timestamp format
    only while an earlier one left values unread: a row's reading must still not depend on
    the rows beside it."""
    spellings = {
        "clinic_id": ["C01", "C02", "C01"],  # C02 writes DD/MM/YYYY
        "started_at": [
            *("2026-03-02T10:00:00+08:00", "2026-03-02T02:00:00Z", "2026-03-02 10:00"),
            *("2026-03-02T10:00", "2026-03-02", "02/03/2026 10:00", "02/03/2026", "noon", ""),
            *("2026-03-02T10:00:00+25:00", "2026-03-02T10:00:00.250-0500"),
        ],
        "treatment_area": ["face", "Face", "neck ", "elbow", ""],
        "fitzpatrick": ["IV", "type iv", "IV-V", "", "brown", "3"],
        "passes": ["2", "3.0", "3.5", "x", "", "1e400"],
    }
    header = f"{SESSION_HEADER},fitzpatrick,passes"
    rows = []
    for number in range(66):
        value = {name: choices[number % len(choices)] for name, choices in spellings.items()}
        extra = f",{value.pop('fitzpatrick')},{value.pop('passes')}"
        rows.append(session_row(f"S{number}", **value) + extra)
    calendar = ClinicCalendar({"C01": "Asia/Singapore"}, frozenset({"C02"}))

    def read(name: str, lines: list[str]) -> RawBatch:
        path = tmp_path / name
        path.write_text("\n".join([header, *lines]) + "\n")
        return read_batch(path, tmp_path, FEEDS["sessions"], None)

    def typed(batch: RawBatch) -> pl.DataFrame:
        return conform(batch, FEEDS["sessions"], calendar).parsed

    together = typed(read("all.csv", rows)).drop(RECORD_NUMBER)
    files = [read(f"row{number}.csv", [row]) for number, row in enumerate(rows)]
    alone = [typed(batch) for batch in files]
    assert together.equals(pl.concat(alone).drop(RECORD_NUMBER))
    # A night's small files of one feed are typed together, and each comes back as if alone.
    in_company = conform_together(files, FEEDS["sessions"], calendar)
    assert len(in_company) == len(files)
    assert all(c.parsed.equals(a) for c, a in zip(in_company, alone, strict=True))
    clinics, times = spellings["clinic_id"], spellings["started_at"]
    day_first = {"02/03/2026 10:00", "02/03/2026"}
    iso = set(times) - day_first - {"noon", "", "2026-03-02T10:00:00+25:00"}
    written = [(clinics[n % len(clinics)], times[n % len(times)]) for n in range(len(rows))]
    readable = [time in (day_first if clinic == "C02" else iso) for clinic, time in written]
    assert together["started_at"].is_not_null().to_list() == readable


def test_a_day_first_clinic_is_never_read_as_iso(landing, ingest):
    landing.sessions(
        "sessions/s.csv", session_row("ISO_FROM_DMY_CLINIC", clinic_id="C02", updated_at="x")
    )
    _, warehouse = ingest()
    [rejected] = warehouse.quarantine("sessions/s.csv")
    assert rejected["reason_code"] == "unparseable"
    assert "started_at '2026-03-02T10:00:00'" in rejected["reason"]


def test_dates_follow_the_clinic_format(landing, ingest):
    header = "event_id,clinic_id,patient_ref,effect,severity,onset_on,resolved_on,updated_at"
    landing.write(
        "side_effects/e.csv",
        f"{header}\n"
        "E1,C01,MRN-1,erythema,mild,2026-03-04,2026-03-06,2026-03-06T09:00:00\n"
        "E2,C02,MRN-2,erythema,mild,04/03/2026,06/03/2026,06/03/2026 09:00\n",
    )
    _, warehouse = ingest()
    rows = warehouse.rows("select event_id, onset_on, resolved_on from raw.side_effects order by 1")
    assert [(r["onset_on"], r["resolved_on"]) for r in rows] == [
        (date(2026, 3, 4), date(2026, 3, 6)),
        (date(2026, 3, 4), date(2026, 3, 6)),
    ]


@pytest.mark.parametrize("written", ["2.5", "2.5 J/cm2", "2.5J/cm²", "2.5 j/cm^2"])
def test_fluence_with_a_unit_suffix(landing, ingest, written):
    landing.sessions("sessions/s.csv", session_row("S1", fluence_j_cm2=f'"{written}"'))
    _, warehouse = ingest()
    assert warehouse.rows("select fluence_j_cm2 from raw.sessions") == [{"fluence_j_cm2": 2.5}]


@pytest.mark.parametrize(
    ("written", "severity"),
    [("mild", "mild"), ("Severe", "severe"), ("1", "mild"), ("2", "moderate"), ("3", "severe")],
)
def test_severity_as_words_or_numbers(landing, ingest, written, severity):
    header = "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at"
    landing.write(
        "side_effects/e.csv",
        f"{header}\nE1,C01,MRN-1,pih,{written},2026-03-04,2026-03-06T09:00:00\n",
    )
    _, warehouse = ingest()
    assert warehouse.rows("select severity from raw.side_effects") == [{"severity": severity}]


def test_bom_crlf_gzip_and_quoted_delimiters_and_newlines(landing, ingest):
    text = (
        "\ufeff"
        + SESSION_HEADER
        + ",clinical_endpoint,notes\r\n"
        + session_row("S1")
        + ',"mild erythema, no petechiae","first line\r\nsecond, line"\r\n'
    )
    landing.write("sessions/s.csv.gz", text, gzipped=True)
    _, warehouse = ingest()
    assert warehouse.rows("select session_id, clinical_endpoint from raw.sessions") == [
        {"session_id": "S1", "clinical_endpoint": "mild erythema, no petechiae"}
    ]
    assert warehouse.file("sessions/s.csv.gz")["file_format"] == "csv.gz"


def test_headers_match_whatever_their_case_spacing_and_order(landing, ingest):
    landing.write(
        "sessions/s.csv",
        " STATUS ,Session_ID,fluence_j_cm2,Clinic_Id, Patient_Ref,provider_id,device_id,"
        "started_at,treatment_area,updated_at,shoe_size\n"
        "completed,S1,1.8,C01,MRN-1,P1,D1,2026-03-02T10:00:00,face,2026-03-02T12:00:00,42\n",
    )
    _, warehouse = ingest()
    assert warehouse.rows("select session_id, status from raw.sessions") == [
        {"session_id": "S1", "status": "completed"}
    ]
    assert warehouse.file("sessions/s.csv")["warnings"] == "ignored unknown column(s): shoe_size"


def test_survey_app_jsonl_gives_one_row_per_answer(landing, ingest):
    landing.write(
        "outcomes/app.jsonl",
        '{"submission_id": "S-19a2", "clinic": {"id": "C01", "patient_ref": "MRN-1"},'
        ' "session_id": "SES-1", "timepoint": "post_session", "channel": "app",'
        ' "submitted_at": "2026-03-02T19:44:10+08:00",'
        ' "answers": [{"instrument": "pigmentation_vas", "score": 4},'
        ' {"instrument": "satisfaction_5", "score": 5}, {"instrument": "pain_vas", "score": 2}]}\n',
    )
    _, warehouse = ingest()
    rows = warehouse.rows(
        "select response_id, submission_id, instrument, score, rater, collected_at"
        " from raw.outcomes order by instrument"
    )
    assert [(r["response_id"], r["score"]) for r in rows] == [
        ("S-19a2:pain_vas", 2.0),
        ("S-19a2:pigmentation_vas", 4.0),
        ("S-19a2:satisfaction_5", 5.0),
    ]
    assert {r["rater"] for r in rows} == {"patient"}
    assert rows[0]["collected_at"] == datetime(2026, 3, 2, 11, 44, 10)
    assert warehouse.file("outcomes/app.jsonl")["rows_read"] == 3


def test_clinic_csv_outcomes(landing, ingest):
    landing.write(
        "outcomes/clinic.csv",
        "response_id,clinic_id,patient_ref,session_id,instrument,rater,timepoint,score,"
        "collected_at,channel,updated_at\n"
        "R1,C01,MRN-1,SES-1,mmasi,clinician,baseline,12.5,2026-03-01T10:00:00,in_clinic,"
        "2026-03-01T10:00:00\n",
    )
    _, warehouse = ingest()
    assert warehouse.rows("select response_id, instrument, score from raw.outcomes") == [
        {"response_id": "R1", "instrument": "mmasi", "score": 12.5}
    ]


def _sessions_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "session_id": ["S1"],
            "clinic_id": ["C02"],  # a dmy clinic: typed cells are still exact
            "patient_ref": ["MRN-1"],
            "provider_id": ["P1"],
            "device_id": ["D1"],
            "started_at": [datetime(2026, 3, 2, 10, 0)],
            "treatment_area": ["face"],
            "fluence_j_cm2": [1.8],
            "passes": [3],
            "numbing_cream": [True],
            "status": ["completed"],
            "updated_at": [datetime(2026, 3, 2, 12, 0)],
        }
    )


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_parquet_and_spreadsheets_with_typed_cells(landing, ingest, fmt):
    buffer = io.BytesIO()
    frame = _sessions_frame()
    frame.write_parquet(buffer) if fmt == "parquet" else frame.write_excel(buffer)
    landing.write(f"sessions/s.{fmt}", buffer.getvalue())
    _, warehouse = ingest()
    assert warehouse.rows(
        "select started_at_local, fluence_j_cm2, passes, numbing_cream from raw.sessions"
    ) == [
        {
            "started_at_local": datetime(2026, 3, 2, 10, 0),
            "fluence_j_cm2": 1.8,
            "passes": 3,
            "numbing_cream": True,
        }
    ]


def test_small_files_of_a_feed_typed_together_keep_their_own_records_and_verdicts(landing, ingest):
    """A night's small files of one feed are typed together when they arrived alike; each
    keeps its records, its record numbers, its warnings and its quarantine."""
    landing.sessions("sessions/a.csv", session_row("A1"), session_row("A2"))
    day_first = {"clinic_id": "C02", "started_at": "02/03/2026", "updated_at": "02/03/2026 12:00"}
    landing.sessions("sessions/b.csv", session_row("B1", **day_first))
    landing.write(
        "sessions/c.csv",
        f"{SESSION_HEADER},shoe_size\n{session_row('C1', treatment_area='elbow')},42\n",
    )
    columns, values = SESSION_HEADER.split(","), session_row("D1").split(",")
    kept = [n for n, column in enumerate(columns) if column != "status"]
    landing.write(
        "sessions/d.csv",
        ",".join(columns[n] for n in kept) + "\n" + ",".join(values[n] for n in kept) + "\n",
    )
    landing.sessions("sessions/e.csv", session_row("E1", started_at="2026-03-03T09:00:00"))
    _, warehouse = ingest()

    loaded = warehouse.rows("select session_id, started_at from raw.sessions order by session_id")
    assert [row["session_id"] for row in loaded] == ["A1", "A2", "B1", "E1"]
    # C02 writes day first: 2 March, not 3 February, beside files of ISO clinics.
    assert loaded[2]["started_at"] == datetime(2026, 3, 2, 0, 0)
    [elbow] = warehouse.quarantine("sessions/c.csv")
    assert (elbow["record_number"], elbow["reason_code"]) == (1, "unknown_code")
    assert warehouse.file("sessions/c.csv")["warnings"] == "ignored unknown column(s): shoe_size"
    assert warehouse.file("sessions/a.csv")["warnings"] is None
    d = warehouse.file("sessions/d.csv")
    assert (d["status"], d["rows_quarantined"]) == ("quarantined", 1)
    assert d["reason"].startswith("missing_columns: missing required column(s): status")
    assert [warehouse.file(f"sessions/{n}.csv")["rows_loaded"] for n in "abe"] == [2, 1, 1]
