"""The first night of a chain we do not control: `../shared/samples/foreign-chain/`, exported by
four clinics' own systems from the data contract alone, must publish, account for every file,
let no identifier through, and change nothing when refreshed again."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from contract.feeds import FEEDS
from ingest.readers import UnreadableFile, read_batch
from tests.conftest import without_machine_made
from tests.test_refresh import snapshot
from toning.config import DataDir
from toning.refresh import RefreshResult, run_refresh

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "foreign-chain" / "landing"

pytestmark = pytest.mark.skipif(
    not SAMPLE.is_dir(), reason=f"the foreign-chain sample is not beside the project ({SAMPLE})"
)


@pytest.fixture(scope="module")
def first_night(tmp_path_factory) -> tuple[Path, DataDir, RefreshResult]:
    root = tmp_path_factory.mktemp("foreign_chain")
    landing = root / "landing"
    shutil.copytree(SAMPLE, landing)  # never refresh in place: the sample is read-only
    for path in landing.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    data = DataDir(root / "data")
    return landing, data, run_refresh(landing, data)


def published(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_first_night_publishes_the_marts(first_night):
    _, data, result = first_night
    assert result.warehouse == data.warehouse
    [(sessions, patients, outcomes)] = published(
        data,
        "select (select count(*) from marts.fct_sessions),"
        " (select count(*) from marts.dim_patients),"
        " (select count(*) from marts.fct_course_outcomes)",
    )
    assert sessions > 1000 and patients > 100 and outcomes > 100


def test_every_landed_file_is_accounted_for(first_night):
    landing, data, _ = first_night
    files = published(
        data,
        "select path, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate"
        " from ops.ingest_files",
    )
    recorded = {path for path, *_ in files}
    landed = {
        path.relative_to(landing).as_posix()
        for path in landing.rglob("*")
        # Writers land atomically: a `.part`, `.tmp` or hidden name is still being written.
        if path.is_file()
        and not path.name.startswith(".")
        and not path.name.endswith((".part", ".tmp"))
    }
    assert landed <= recorded
    for path, _, read, loaded, quarantined, duplicate in files:
        assert read == loaded + quarantined + duplicate, path


def test_every_quarantined_record_says_why(first_night):
    _, data, _ = first_night
    reasons = published(data, "select reason_code, reason from ops.quarantine")
    assert reasons
    assert all(code and reason and reason.startswith(code) for code, reason in reasons)


def test_scores_with_another_systems_timepoint_spelling_are_not_held_back(first_night):
    _, data, _ = first_night
    held = published(
        data, "select count(*) from ops.quarantine where expectation like '%(timepoint)%'"
    )
    assert held == [(0,)]


def identifiers_in(landing: Path, work: Path) -> dict[str, set[str]]:
    """The direct identifiers the clinics sent, read from their own files."""
    needles: dict[str, set[str]] = {}
    for feed in FEEDS.values():
        columns = [c.name for c in feed.columns if c.pii or c.name == "patient_ref"]
        for path in sorted((landing / feed.name).glob("*")):
            try:
                frame = read_batch(path, work).frame
            except UnreadableFile:
                continue
            for column in set(columns) & set(frame.columns):
                values = frame[column].drop_nulls().str.strip_chars().to_list()
                needles.setdefault(column, set()).update(v for v in values if len(v) >= 5)
    return needles


def test_no_direct_identifier_reaches_the_published_warehouse(first_night, tmp_path):
    landing, data, _ = first_night
    needles = identifiers_in(landing, tmp_path)
    assert needles.get("email") and needles.get("patient_ref")
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        text = [
            (schema, table, column)
            for schema, table, column, dtype in con.execute(
                "select table_schema, table_name, column_name, data_type"
                " from information_schema.columns"
            ).fetchall()
            if dtype in ("VARCHAR", "JSON")
        ]
        cells = "\n".join(
            str(row[0])
            for schema, table, column in text
            for row in con.execute(
                f'select distinct "{column}"::varchar from "{schema}"."{table}"'
                f' where "{column}" is not null'
            ).fetchall()
        )
    cells = without_machine_made(cells)
    for kind, found in needles.items():
        leaks = sorted(needle for needle in found if needle in cells)
        assert not leaks, f"{kind} found in the warehouse: {leaks[:3]}"


def test_a_second_night_without_new_files_changes_nothing(first_night):
    landing, data, _ = first_night
    before = snapshot(data.warehouse, ("staging", "marts"))
    again = run_refresh(landing, data)
    assert again.ingest.files == []
    assert snapshot(data.warehouse, ("staging", "marts")) == before
