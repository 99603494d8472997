"""Columns no metric needs never reject a record; implausible values in the ones it needs do.

An informational value that cannot be read loads as null, and what arrived is kept as a finding
in ops.ingest_findings; an unknown, unparseable or implausible value in a column a metric needs
quarantines the record, as before. Every case is a file of one landing zone, ingested once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest

from expectations.validate import SuiteValidator
from ingest.run import IngestSummary, ingest_landing
from tests.conftest import SESSION_HEADER, Landing, Warehouse, session_row
from toning.config import DataDir

OUTCOMES_HEADER = (
    "response_id,clinic_id,patient_ref,instrument,score,timepoint,collected_at,updated_at"
)
BASE_ROWS = {
    "outcomes": (
        "response_id,clinic_id,patient_ref,instrument,score,collected_at,updated_at",
        "R1,C01,MRN-1,pain_vas,3,2026-03-02T10:00:00,2026-03-02T12:00:00",
    ),
    "providers": ("provider_id,clinic_id,updated_at", "P1,C01,2026-01-01T00:00:00Z"),
    "patients": ("patient_ref,clinic_id,updated_at", "MRN-1,C01,2026-01-01T00:00:00Z"),
    "side_effects": (
        "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at",
        "E1,C01,MRN-1,erythema,mild,2026-03-03,2026-03-04T00:00:00Z",
    ),
    "consultations": (
        "consultation_id,clinic_id,patient_ref,consulted_at,primary_concern,decision,updated_at",
        "Q1,C01,MRN-1,2026-02-01T10:00:00,melasma,proceed,2026-02-01T12:00:00",
    ),
    "sessions": (SESSION_HEADER, session_row("S1")),
    "clinics": ("clinic_id,clinic_name,updated_at", "C09,Nowhere Laser,2026-01-01T00:00:00Z"),
    "devices": (
        "device_id,clinic_id,laser_type,wavelength_nm,updated_at",
        "D1,C01,qs_nd_yag,1064,2026-01-01T00:00:00Z",
    ),
}

TIMEPOINT_SPELLINGS = {
    "baseline": ["baseline", "Baseline", "BL", "pre-treatment", "pre treatment"],
    "post_session": ["post_session", "post-session", "Post Session", "after session"],
    "end_of_course": ["end_of_course", "end of course", "End-Of-Course", "EOC", "course end"],
    "follow_up_3m": [
        "follow_up_3m",
        "followup_3m",
        "fu_3m",
        "FU-3m",
        "3m",
        "3 months",
        "3-month follow-up",
        "month_3",
        "M3",
    ],
    "follow_up_6m": ["follow_up_6m", "Follow-up 6 months", "6mo", "fu 6 m", "month 6"],
    "follow_up_12m": ["follow_up_12m", "12 months", "12m follow up", "1 year", "FU_1y"],
}
UNKNOWN_TIMEPOINTS = ["week_2", "touch-up visit", "4 months"]

# (feed, column, as written, as stored): other spellings of a known code.
SPELLINGS = [
    ("outcomes", "channel", "In-Clinic", "in_clinic"),
    ("outcomes", "channel", "SMS", "sms"),
    ("outcomes", "rater", "Clinician", "clinician"),
    ("providers", "role", "Plastic Surgeon", "plastic_surgeon"),
    ("providers", "role", "plastic-surgeon", "plastic_surgeon"),
    ("patients", "sex", "female", "F"),
    ("patients", "sex", "m", "M"),
    ("side_effects", "reported_by", "PROVIDER", "provider"),
    ("side_effects", "action", "Oral Medication", "oral_medication"),
    ("sessions", "treatment_area", " FACE ", "face"),
]
# (feed, column, as written, the finding's reason code): the record loads, the value null.
UNREADABLE_INFORMATIONAL = [
    ("outcomes", "channel", "whatsapp", "unknown_code"),
    ("outcomes", "rater", "parent", "unknown_code"),
    ("providers", "role", "therapist", "unknown_code"),
    ("patients", "sex", "unspecified-ish", "unknown_code"),
    ("side_effects", "reported_by", "pharmacist", "unknown_code"),
    ("side_effects", "action", "laser_again", "unknown_code"),
    ("consultations", "secondary_concerns", "melasma;rosacea", "unknown_code"),
    ("consultations", "contraindications", "pregnancy;broken_leg", "unknown_code"),
    ("consultations", "treatment_areas", "face;scalp", "unknown_code"),
    ("clinics", "timezone", "Asia/Atlantis", "unknown_code"),
    ("clinics", "datetime_format", "mdy", "unknown_code"),
    ("sessions", "wavelength_nm", "-1064", "out_of_range"),
    ("sessions", "passes", "-2", "out_of_range"),
    ("sessions", "spot_size_mm", "0", "out_of_range"),
    ("sessions", "numbing_cream", "maybe", "unparseable"),
    ("patients", "created_at", "2099-01-01T00:00:00Z", "out_of_range"),
    ("devices", "installed_on", "31/31/2020", "unparseable"),
    ("devices", "installed_on", "1900-01-01", "out_of_range"),
    ("clinics", "opened_on", "1995-04-01", None),  # an old clinic: history, not a broken date
]
# A list with an unknown item keeps its known ones.
KNOWN_ITEMS = {
    "melasma;rosacea": "melasma",
    "pregnancy;broken_leg": "pregnancy",
    "face;scalp": "face",
}
# (column, as written, reason code): values a metric needs, implausible: quarantined.
IMPLAUSIBLE = [
    ("started_at", "2099-03-02T10:00:00", "out_of_range"),
    ("started_at", "1999-12-31T10:00:00", "out_of_range"),
    ("started_at", "12026-03-02T10:00:00", "unparseable"),
    ("started_at", "2026-03-02T10:00:00+25:00", "unparseable"),
    ("started_at", "2026-03-02T10:00:00+99:99", "unparseable"),
    ("started_at", "2026-03-02T10:00:00+08:60", "unparseable"),
    ("updated_at", "9999-12-31T00:00:00", "out_of_range"),
    ("session_id", "S\x001", "unparseable"),
    ("session_id", "S\u200b1", "unparseable"),
    ("device_id", "D\u202e1", "unparseable"),
    ("provider_id", "P\t1", "unparseable"),
]


def outcome_row(response_id: str, timepoint: str) -> str:
    return (
        f"{response_id},C01,MRN-1,pigmentation_vas,4,{timepoint},"
        "2026-03-02T10:00:00,2026-03-02T12:00:00"
    )


def one_record(feed: str, column: str, value: str, tag: str) -> str:
    """The feed's base record under its own key (`tag` appended to the first column), with
    `column` set to `value` (added when not in the header)."""
    header, row = BASE_ROWS[feed]
    columns, values = header.split(","), row.split(",")
    values[0] += f"-{tag}"  # its own record: not a duplicate of another case's
    if column in columns:
        values[columns.index(column)] = value
    else:
        columns.append(column)
        values.append(f'"{value}"')
    return f"{','.join(columns)}\n{','.join(values)}\n"


def implausible_sessions(column: str, value: str, tag: str) -> str:
    bad = session_row(value) if column == "session_id" else session_row("BAD", **{column: value})
    return f"{SESSION_HEADER}\n{session_row(f'OK-{tag}')}\n{bad}\n"


@dataclass
class Door:
    """The landing zone of every case, ingested once: file by file, what loaded and why not."""

    warehouse: Warehouse
    summary: IngestSummary

    def loaded(self, relpath: str, column: str) -> list:
        feed = relpath.split("/")[0]
        rows = self.warehouse.rows(
            f"select {column} from raw.{feed} where _file_sha256 = ? order by _record_number",
            [self.warehouse.file(relpath)["sha256"]],
        )
        return [row[column] for row in rows]

    def findings(self, relpath: str) -> list[dict]:
        return self.warehouse.rows(
            "select * from ops.ingest_findings where path = ? order by record_number", [relpath]
        )


def landing_files() -> dict[str, str]:
    files = {}
    for canonical, spellings in TIMEPOINT_SPELLINGS.items():
        rows = [outcome_row(f"{canonical}-{i}", spelling) for i, spelling in enumerate(spellings)]
        files[f"outcomes/{canonical}.csv"] = "\n".join([OUTCOMES_HEADER, *rows]) + "\n"
    unknown = [outcome_row(f"U{i}", label) for i, label in enumerate(UNKNOWN_TIMEPOINTS)]
    unknown.append(outcome_row("MISSING", ""))  # no label: derived from dates, no finding
    files["outcomes/unknown_labels.csv"] = "\n".join([OUTCOMES_HEADER, *unknown]) + "\n"
    for number, (feed, column, written, _) in enumerate(SPELLINGS):
        files[f"{feed}/spelling_{number}.csv"] = one_record(feed, column, written, f"s{number}")
    for number, (feed, column, written, _) in enumerate(UNREADABLE_INFORMATIONAL):
        files[f"{feed}/unreadable_{number}.csv"] = one_record(feed, column, written, f"u{number}")
    for number, (column, written, _) in enumerate(IMPLAUSIBLE):
        files[f"sessions/implausible_{number}.csv"] = implausible_sessions(
            column, written, str(number)
        )
    files["clinics/atlantis.csv"] = (
        "clinic_id,clinic_name,timezone,updated_at\n"
        "C08,Atlantis Laser,Asia/Atlantis,2026-01-01T00:00:00Z\n"
    )
    files["sessions/atlantis.csv"] = f"{SESSION_HEADER}\n{session_row('ATL', clinic_id='C08')}\n"
    files["sessions/offsets.csv"] = "\n".join(
        [
            SESSION_HEADER,
            session_row("KIRIBATI", started_at="2026-03-02T10:00:00+14:00"),
            session_row("BAKER", started_at="2026-03-02T10:00:00-12:00"),
            session_row("NEPAL", started_at="2026-03-02T10:00:00+05:45"),
        ]
    )
    nul_patient = session_row("NUL", patient_ref="MRN-\x0077")
    files["sessions/nul_patient.csv"] = f"{SESSION_HEADER}\n{nul_patient}\n"
    files["devices/negative.csv"] = one_record("devices", "wavelength_nm", "-1064", "n")
    return files


@pytest.fixture(scope="module")
def door(tmp_path_factory) -> Door:
    root = tmp_path_factory.mktemp("door")
    landing = Landing(root / "landing")
    for relpath, text in landing_files().items():
        landing.write(relpath, text)
    data = DataDir(root / "data")
    summary = ingest_landing(landing.root, data.ingest_paths(), "run", suites=SuiteValidator())
    return Door(Warehouse(data), summary)


def test_every_file_accounts_for_its_rows(door):
    for result in door.summary.files:
        read = result.rows_loaded + result.rows_quarantined + result.rows_duplicate
        assert result.rows_read == read, result.path


@pytest.mark.parametrize("canonical", TIMEPOINT_SPELLINGS)
def test_every_spelling_of_a_timepoint_loads_as_its_code(door, canonical):
    relpath = f"outcomes/{canonical}.csv"
    assert door.warehouse.quarantine(relpath) == []
    assert door.findings(relpath) == []
    assert door.loaded(relpath, "timepoint") == [canonical] * len(TIMEPOINT_SPELLINGS[canonical])


def test_an_unknown_timepoint_label_loads_as_null_with_a_finding(door):
    relpath = "outcomes/unknown_labels.csv"
    assert door.loaded(relpath, "timepoint") == [None] * 4
    assert door.loaded(relpath, "score") == [4.0] * 4
    assert [
        (f["record_number"], f["column_name"], f["reason"]) for f in door.findings(relpath)
    ] == [
        (number, "timepoint", f"unknown_code: timepoint '{label}'")
        for number, label in enumerate(UNKNOWN_TIMEPOINTS, start=1)
    ]
    [result] = [r for r in door.summary.files if r.path == relpath]
    assert (result.rows_loaded, result.rows_quarantined, result.rows_with_findings) == (4, 0, 3)


@pytest.mark.parametrize(("number", "case"), list(enumerate(SPELLINGS)), ids=str)
def test_a_code_loads_whatever_its_case_and_separators(door, number, case):
    feed, column, _, stored = case
    relpath = f"{feed}/spelling_{number}.csv"
    assert door.warehouse.quarantine(relpath) == []
    assert door.findings(relpath) == []
    assert door.loaded(relpath, column) == [stored]


@pytest.mark.parametrize(("number", "case"), list(enumerate(UNREADABLE_INFORMATIONAL)), ids=str)
def test_an_unreadable_informational_value_loads_as_null_with_a_finding(door, number, case):
    feed, column, written, reason_code = case
    relpath = f"{feed}/unreadable_{number}.csv"
    assert door.warehouse.quarantine(relpath) == []
    if reason_code is None:
        assert door.findings(relpath) == []
        return
    assert door.loaded(relpath, column) == [KNOWN_ITEMS.get(written)]
    [finding] = door.findings(relpath)
    assert (finding["column_name"], finding["reason_code"]) == (column, reason_code)
    assert f"'{written}'" in finding["reason"]  # what arrived, for the clinic to fix


@pytest.mark.parametrize(("number", "case"), list(enumerate(IMPLAUSIBLE)), ids=repr)
def test_an_implausible_value_a_metric_needs_quarantines_the_record(door, number, case):
    column, _, reason_code = case
    relpath = f"sessions/implausible_{number}.csv"
    [rejected] = door.warehouse.quarantine(relpath)
    assert (rejected["record_number"], rejected["reason_code"]) == (2, reason_code)
    assert column in rejected["reason"]
    assert door.loaded(relpath, "session_id") == [f"OK-{number}"]


def test_an_unknown_timezone_leaves_the_clinic_loaded_and_its_times_read_as_utc(door):
    assert door.loaded("clinics/atlantis.csv", "timezone") == [None]
    [finding] = door.findings("clinics/atlantis.csv")
    assert finding["reason"] == "unknown_code: timezone 'Asia/Atlantis'"
    assert door.loaded("sessions/atlantis.csv", "started_at") == [datetime(2026, 3, 2, 10)]


def test_the_offsets_the_world_uses_are_read(door):
    assert door.loaded("sessions/offsets.csv", "started_at") == [
        datetime(2026, 3, 1, 20, 0),
        datetime(2026, 3, 2, 22, 0),
        datetime(2026, 3, 2, 4, 15),
    ]


def test_a_patient_record_number_with_a_nul_is_quarantined_and_never_quoted(door):
    [rejected] = door.warehouse.quarantine("sessions/nul_patient.csv")
    assert rejected["reason"] == "unparseable: patient_ref (value not shown)"
    assert "MRN" not in str(rejected)


def test_a_device_with_a_negative_wavelength_is_quarantined(door):
    # A device's laser decides which fluence is plausible: its wavelength is not informational.
    [rejected] = door.warehouse.quarantine("devices/negative.csv")
    assert rejected["reason"] == (
        "out_of_range: wavelength_nm must be at least 100 and at most 12000 nm, got '-1064'"
    )


def test_a_second_ingest_changes_nothing(door, tmp_path):
    counts = (
        "select (select count(*) from ops.ingest_findings), (select count(*) from raw.outcomes)"
    )
    before = door.warehouse.rows(counts)
    landing = door.warehouse.data.root.parent / "landing"
    again = ingest_landing(
        landing, door.warehouse.data.ingest_paths(), "run-2", suites=SuiteValidator()
    )
    assert again.files == []
    assert door.warehouse.rows(counts) == before


def test_the_plausible_window_follows_the_refresh_clock(landing, data_dir):
    """Synthetic data generated --as-of a future date loads when the clock is set to it."""
    landing.sessions("sessions/s.csv", session_row("FUTURE", started_at="2031-05-01T10:00:00"))
    summary = ingest_landing(
        landing.root,
        data_dir.ingest_paths(),
        "run",
        suites=SuiteValidator(latest=date(2031, 6, 1)),
    )
    assert summary.total("rows_quarantined") == 0
    assert summary.total("rows_loaded") == 3  # two clinics and the session


def test_the_readme_table_says_which_columns_can_hold_a_record_back():
    """The README's per-column table is the contract as code, column for column."""
    from pathlib import Path

    from contract.feeds import FEEDS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    # Only the table whose header starts with "| feed |": other README tables may have a row
    # named after a feed (the benchmark's "sessions", say).
    table = readme.split("\n| feed |", 1)[1].split("\n\n", 1)[0]
    rows = {
        cells[0]: cells[1:]
        for line in table.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    for feed in FEEDS.values():
        needed, informational, identifiers = (
            [name.strip("`*") for name in cell.split(", ") if name != "—"]
            for cell in rows[feed.name]
        )
        assert needed == [c.name for c in feed.columns if not c.pii and not c.informational]
        assert informational == [c.name for c in feed.columns if c.informational]
        assert identifiers == [c.name for c in feed.columns if c.pii]
