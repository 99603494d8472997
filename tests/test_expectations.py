"""The expectation suites at the ingest door: planted violations are quarantined with the
expectation they broke, everything else loads; Data Docs and results for the data-quality lead."""

from __future__ import annotations

import re

import polars as pl
import pytest

from contract.feeds import FEEDS
from expectations.suites import suite_rules
from expectations.validate import Batch, SuiteValidator
from ingest.conform import ClinicCalendar, conform
from ingest.readers import read_batch
from tests.conftest import session_row
from tests.test_quality_gate import dq_results
from toning.refresh import run_refresh

OUTCOMES_HEADER = "response_id,clinic_id,patient_ref,instrument,score,collected_at,updated_at"
EFFECTS_HEADER = "event_id,clinic_id,patient_ref,effect,severity,onset_on,updated_at"


def planted_sessions(landing) -> dict[str, str]:
    """A sessions file with one violation of each kind; session id -> the expectation broken."""
    landing.sessions(
        "sessions/planted.csv",
        session_row("OK1"),
        session_row("OK2", fluence_j_cm2="9.5 J/cm2"),
        session_row("OK2", fluence_j_cm2="9.5 J/cm2"),  # an exact copy: a duplicate, not a conflict
        session_row("NOPROV", provider_id=""),
        session_row("BADTIME", started_at="2026-02-30T10:00:00"),
        session_row("SCALP", treatment_area="scalp"),
        session_row("HOT", fluence_j_cm2="40"),
        session_row("TWICE", fluence_j_cm2="1.5"),
        session_row("TWICE", fluence_j_cm2="1.9"),  # same key, same updated_at, other values
        session_row("OK3", status="aborted"),
    )
    return {
        "NOPROV": (
            "expect_column_values_to_not_be_null(provider_id where provider_id__unparsed is null)"
        ),
        "BADTIME": "expect_column_values_to_be_null(started_at__unparsed)",
        "SCALP": "expect_column_values_to_be_in_set(treatment_area)",
        "HOT": "expect_column_values_to_be_between(fluence_j_cm2)",
        "TWICE": "expect_column_values_to_be_unique(_version_key)",
    }


def test_planted_violations_are_quarantined_with_their_expectation_and_the_rest_loads(
    landing, ingest
):
    planted = planted_sessions(landing)
    _, warehouse = ingest()
    rejected = warehouse.rows(
        "select record ->> 'session_id' as session_id, reason_code, reason, expectation"
        " from ops.quarantine where path = 'sessions/planted.csv' order by record_number"
    )
    assert {(r["session_id"], r["expectation"]) for r in rejected} == set(planted.items()) | {
        ("TWICE", planted["TWICE"])
    }
    assert len(rejected) == 6  # both versions of TWICE wait in quarantine
    reasons = {r["session_id"]: (r["reason_code"], r["reason"]) for r in rejected}
    assert reasons["NOPROV"] == ("missing_required", "missing_required: provider_id is empty")
    assert reasons["BADTIME"] == ("unparseable", "unparseable: started_at '2026-02-30T10:00:00'")
    assert reasons["SCALP"] == ("unknown_code", "unknown_code: treatment_area 'scalp'")
    assert reasons["HOT"][0] == "out_of_range"
    assert reasons["HOT"][1].endswith("at most 10 J/cm2, got '40'")
    assert reasons["TWICE"] == (
        "duplicate_key",
        "duplicate_key: session_id 'TWICE' has two different versions with the same"
        " updated_at in this file",
    )
    loaded = warehouse.rows("select session_id from raw.sessions order by session_id")
    assert [r["session_id"] for r in loaded] == ["OK1", "OK2", "OK3"]
    recorded = warehouse.file("sessions/planted.csv")
    assert (recorded["rows_loaded"], recorded["rows_quarantined"], recorded["rows_duplicate"]) == (
        3,
        6,
        1,
    )


def test_a_record_breaking_several_expectations_lists_them_all(landing, ingest):
    landing.sessions(
        "sessions/s.csv", session_row("S1", treatment_area="scalp", fluence_j_cm2="0", status="")
    )
    _, warehouse = ingest()
    [rejected] = warehouse.quarantine("sessions/s.csv")
    assert rejected["reason_code"] == "unknown_code"  # the first, in the contract's column order
    assert rejected["expectation"].split("; ") == [
        "expect_column_values_to_be_in_set(treatment_area)",
        "expect_column_values_to_be_between(fluence_j_cm2)",
        "expect_column_values_to_not_be_null(status)",
    ]
    assert rejected["reason"].count("; ") == 2


def test_dates_beyond_what_pandas_holds_are_judged_like_any_implausible_date(landing, ingest):
    """Year 1 and year 9999 (systems' "no date") lie outside pandas' nanosecond timestamps,
    which the suites are run on: they are quarantined as out of range, not let through."""
    landing.sessions(
        "sessions/dates.csv",
        session_row("Y1", started_at="0001-01-01T10:00:00"),
        session_row("Y9999", started_at="9999-12-31T10:00:00"),
        session_row("Y1999", started_at="1999-12-31T10:00:00"),
        session_row("OK"),
    )
    _, warehouse = ingest()
    rejected = warehouse.rows(
        "select record ->> 'session_id' as session_id, expectation from ops.quarantine"
        " where path = 'sessions/dates.csv'"
    )
    assert {r["session_id"]: r["expectation"] for r in rejected} == dict.fromkeys(
        ["Y1", "Y9999", "Y1999"], "expect_column_values_to_be_between(started_at)"
    )


def test_score_ranges_come_from_the_instrument_registry(landing, ingest):
    landing.write(
        "outcomes/o.csv",
        f"{OUTCOMES_HEADER}\n"
        "R1,C01,MRN-1,mmasi,20,2026-03-01T10:00:00,2026-03-01T10:00:00\n"
        "R2,C01,MRN-1,pigmentation_vas,20,2026-03-01T10:00:00,2026-03-01T10:00:00\n"
        "R3,C01,MRN-1,gais,0,2026-03-01T10:00:00,2026-03-01T10:00:00\n"
        "R4,C01,MRN-1,mmasi,25,2026-03-01T10:00:00,2026-03-01T10:00:00\n",
    )
    _, warehouse = ingest()
    rejected = warehouse.rows(
        "select record ->> 'response_id' as id, expectation from ops.quarantine order by id"
    )
    between = "expect_column_values_to_be_between(score where instrument={})"
    assert [(r["id"], r["expectation"]) for r in rejected] == [
        ("R2", between.format("pigmentation_vas")),
        ("R3", between.format("gais")),
        ("R4", between.format("mmasi")),
    ]
    assert warehouse.rows("select response_id from raw.outcomes") == [{"response_id": "R1"}]


def test_a_severity_number_past_3_is_out_of_range_and_an_unknown_word_is_an_unknown_code(
    landing, ingest
):
    landing.write(
        "side_effects/e.csv",
        f"{EFFECTS_HEADER}\n"
        "E1,C01,MRN-1,erythema,4,2026-03-04,2026-03-06T09:00:00\n"
        "E2,C01,MRN-1,erythema,awful,2026-03-04,2026-03-06T09:00:00\n"
        "E3,C01,MRN-1,erythema,2,2026-03-04,2026-03-06T09:00:00\n",
    )
    _, warehouse = ingest()
    rejected = warehouse.quarantine("side_effects/e.csv")
    assert [(r["reason_code"], r["expectation"]) for r in rejected] == [
        ("out_of_range", "expect_column_values_to_be_in_set(severity__grade)"),
        (
            "unknown_code",
            "expect_column_values_to_be_in_set(severity where severity__grade is null)",
        ),
    ]
    assert warehouse.rows("select event_id, severity from raw.side_effects") == [
        {"event_id": "E3", "severity": "moderate"}
    ]


def typed(landing, relpath: str, feed: str, tmp_path) -> Batch:
    batch = read_batch(landing.root / relpath, tmp_path)
    parsed = conform(batch, FEEDS[feed], ClinicCalendar({})).parsed
    return Batch(relpath, parsed, batch.frame)


def test_validating_in_chunks_finds_exactly_what_one_pass_finds(landing, tmp_path):
    rows = [session_row(f"S{i}", fluence_j_cm2=str(i % 12)) for i in range(40)]
    rows += [session_row("S7", fluence_j_cm2="1.1"), session_row("S30", treatment_area="knee")]
    landing.sessions("sessions/big.csv", *rows)
    batch = typed(landing, "sessions/big.csv", "sessions", tmp_path)

    def failures(chunk_rows: int) -> pl.DataFrame:
        [found] = SuiteValidator(chunk_rows).verdicts(FEEDS["sessions"], [batch])
        return found.quarantined.sort("_record_number")

    whole, chunked = failures(1_000), failures(7)
    # Fluence 0 or 11 (7 rows), and both versions of S7 and of S30 (4 rows).
    assert whole.height == 11
    assert chunked.equals(whole)


def test_files_validated_together_are_each_judged_alone(landing, tmp_path):
    """A GX run per group of files, not per file: but a key is unique within its own file,
    and each file gets back exactly its own failures."""
    landing.sessions("sessions/a.csv", session_row("S1"), session_row("S2", fluence_j_cm2="0"))
    landing.sessions("sessions/b.csv", session_row("S1", fluence_j_cm2="2.2"), session_row("S3"))
    a, b = (typed(landing, f"sessions/{n}.csv", "sessions", tmp_path) for n in "ab")
    together = [v.quarantined for v in SuiteValidator().verdicts(FEEDS["sessions"], [a, b])]
    alone = [
        SuiteValidator().verdicts(FEEDS["sessions"], [batch])[0].quarantined for batch in (a, b)
    ]
    assert [f["_record_number"].to_list() for f in together] == [[2], []]
    assert all(t.equals(o) for t, o in zip(together, alone, strict=True))


def test_no_direct_identifier_reaches_the_validator(landing, tmp_path):
    landing.write(
        "patients/p.csv",
        "patient_ref,clinic_id,first_name,email,fitzpatrick,updated_at\n"
        "MRN-900,C01,Aurelia,aq@example.org,III,2026-01-01T00:00:00Z\n"
        "MRN-900,C01,Aurelia,aq@example.org,IV,2026-01-01T00:00:00Z\n",
    )
    validator = SuiteValidator()
    [verdict] = validator.verdicts(
        FEEDS["patients"], [typed(landing, "patients/p.csv", "patients", tmp_path)]
    )
    failures = verdict.quarantined
    assert (
        failures["reason"].to_list()
        == [
            "duplicate_key: a patient of clinic_id 'C01' has two different versions with the same"
            " updated_at in this file"
        ]
        * 2
    )
    docs = validator.build_docs(tmp_path / "docs").parent
    text = " ".join(page.read_text() for page in docs.rglob("*.html"))
    assert "_version_key values must be unique" in " ".join(re.sub("<[^>]+>", " ", text).split())
    for identifier in ("MRN-900", "Aurelia", "aq@example.org"):
        assert identifier not in text


@pytest.fixture(scope="module")
def planted_refresh(tmp_path_factory):
    """One refresh over the planted sessions file, with its patient."""
    from tests.conftest import Landing
    from toning.config import DataDir

    root = tmp_path_factory.mktemp("planted")
    landing = Landing(root / "landing")
    planted_sessions(landing)
    landing.write(
        "patients/p.csv",
        "patient_ref,clinic_id,fitzpatrick,updated_at\nMRN-1,C01,III,2026-01-01T00:00:00Z\n",
    )
    data = DataDir(root / "data")
    result = run_refresh(landing.root, data)
    return result, data


def test_each_expectation_is_a_result_beside_the_checks(planted_refresh):
    _, data = planted_refresh
    results = dq_results(data.warehouse)
    sessions = {
        name: result
        for name, result in results.items()
        if result["source"] == "gx" and result["subject"] == "sessions"
    }
    assert set(sessions) == {f"{rule.name}[sessions]" for rule in suite_rules("sessions")}
    broken = sessions["expect_column_values_to_be_unique(_version_key)[sessions]"]
    assert (broken["severity"], broken["status"], broken["observed"]) == ("warn", "fail", 2.0)
    not_null = "expect_column_values_to_not_be_null(session_id where session_id__unparsed is null)"
    kept = sessions[f"{not_null}[sessions]"]
    assert (kept["status"], kept["observed"]) == ("pass", 0.0)


def test_data_docs_are_built_into_the_data_dir_on_each_refresh(planted_refresh):
    result, data = planted_refresh
    assert result.data_docs.index == data.data_docs / "index.html"
    index = result.data_docs.index.read_text()
    assert "sessions" in index
    pages = list((data.data_docs / "validations").rglob("*.html"))
    assert len(pages) == 3  # clinics, patients, sessions: one file each, one validation each
    sessions_page = next(
        p for p in (data.data_docs / "validations" / "sessions").rglob("*.html")
    ).read_text()
    assert "fluence_j_cm2" in sessions_page and "MRN-1" not in sessions_page
