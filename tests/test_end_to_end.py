"""Generate a landing zone, refresh, and hold the published warehouse to the generator's truth."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest

from contract.feeds import FEEDS
from synthetic import generate_landing
from tests.app_testing import open_page, shown_table
from tests.conftest import without_machine_made
from tests.test_refresh import snapshot
from toning import audit
from toning.config import DataDir
from toning.refresh import run_refresh
from toning.users import MANAGER

pytestmark = pytest.mark.slow

IDENTIFIER_COLUMNS = {
    "patients": ("first_name", "last_name", "email", "phone", "postcode"),
    "consultations": ("notes",),
    "sessions": ("notes",),
    "side_effects": ("description",),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, DataDir]:
    root = tmp_path_factory.mktemp("end_to_end")
    landing = root / "landing"
    generate_landing("tiny", landing, seed=7)
    data = DataDir(root / "data")
    run_refresh(landing, data)
    return landing, data


def published(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def clean(landing: Path, feed: str) -> pl.DataFrame:
    return pl.read_parquet(landing / ".truth" / "clean" / f"{feed}.parquet")


def dirt(landing: Path) -> list[dict]:
    return json.loads((landing / ".truth" / "dirt.json").read_text())


def quarantined_whole(landing: Path) -> set[str]:
    """Files the generator planted to be quarantined whole (their rows were never validated)."""
    return {item["file"] for item in dirt(landing) if item["expect"] == "file_quarantined"}


def test_every_file_accounts_for_every_row_it_read(world):
    _, data = world
    files = published(
        data,
        "select path, rows_read, rows_loaded, rows_quarantined, rows_duplicate"
        " from ops.ingest_files",
    )
    assert len(files) > 20
    for path, read, loaded, quarantined, duplicate in files:
        assert read == loaded + quarantined + duplicate, path


def test_every_quarantined_row_is_one_the_generator_planted(world):
    landing, data = world
    planted = {
        (item["file"], item["record"]): item["reason_code"]
        for item in dirt(landing)
        if item["expect"] == "quarantined"
    }
    whole = quarantined_whole(landing)
    found = {
        (path, record): code
        for path, record, code in published(
            data, "select path, record_number, reason_code from ops.quarantine"
        )
        if path not in whole
    }
    assert found == planted


def test_every_row_the_suites_rejected_names_the_expectation_it_broke(world):
    landing, data = world
    whole = quarantined_whole(landing)
    rows = [
        (code, named)
        for path, code, named in published(
            data,
            "select path, reason_code, expectation is not null from ops.quarantine"
            " where reason_code <> 'malformed_line'",
        )
        if path not in whole
    ]
    assert {code for code, _ in rows} == {
        "missing_required",
        "out_of_range",
        "unknown_code",
        "unparseable",
    }
    assert all(named for _, named in rows)


def test_every_planted_file_level_problem_is_recorded(world):
    landing, data = world
    recorded = {
        path: (status, reason)
        for path, status, reason in published(
            data, "select path, status, reason from ops.ingest_files"
        )
    }
    expected_status = {
        "file_quarantined": "quarantined",
        "file_duplicate": "duplicate_file",
        "file_empty": "empty",
    }
    for item in dirt(landing):
        if item["expect"] in expected_status:
            status, reason = recorded[item["file"]]
            assert status == expected_status[item["expect"]], item
            if item["reason_code"]:
                assert reason.startswith(item["reason_code"]), (item, reason)
        elif item["expect"] == "ignored":
            # never loaded: not recorded at all, or recorded as ignored (with its reason)
            assert recorded.get(item["file"], ("ignored", None))[0] == "ignored", item
        elif item["expect"] == "loaded" and item["record"] is None:
            # a file-level oddity that still loads (an extra column, a cover sheet first)
            assert recorded[item["file"]][0] == "loaded", item


# Planted values in columns no metric needs that cannot be read: loaded as null, with a finding.
SET_ASIDE_KINDS = {
    "informational_unknown",
    "list_unknown_item",
    "informational_out_of_range",
    "one_row_informational_unknown",
}


def test_every_planted_unreadable_informational_value_is_one_finding(world):
    landing, data = world
    planted = {
        (item["file"], item["record"], item["column"]): item["value"]
        for item in dirt(landing)
        if item["kind"] in SET_ASIDE_KINDS
    }
    found = {
        (path, record, column): reason
        for path, record, column, reason in published(
            data, "select path, record_number, column_name, reason from ops.ingest_findings"
        )
    }
    assert found.keys() == planted.keys()
    for key, value in planted.items():
        assert f"'{value[:40]}'" in found[key], key


# Planted values read as the clean world holds them: other spellings as their code (so a
# timepoint is compared with the derived one exactly as its canonical label would be), unknown
# and implausible informational values as null, lists as their known items.
READ_AS_CLEAN_KINDS = {*SET_ASIDE_KINDS, "code_spelling", "timepoint_spelling"}


@pytest.mark.parametrize(
    "feed", ["providers", "devices", "consultations", "sessions", "outcomes", "side_effects"]
)
def test_planted_spellings_and_unreadable_values_load_as_the_clean_world_holds_them(world, feed):
    landing, data = world
    planted = [
        item
        for item in dirt(landing)
        if item["kind"] in READ_AS_CLEAN_KINDS and item["feed"] == feed
    ]
    assert planted
    [key] = FEEDS[feed].key
    truth = {row[key]: row for row in clean(landing, feed).iter_rows(named=True)}
    with duckdb.connect(str(data.lake), read_only=True) as con:
        for item in planted:
            column = item["column"]
            stored = con.execute(
                f"select records.{key}, records.{column} from raw.{feed} as records"
                " join ops.ingest_files as files on records._file_sha256 = files.sha256"
                " where files.path = ? and records._record_number = ?",
                [item["file"], item["record"]],
            ).fetchall()
            assert stored, item
            for record_key, value in stored:
                assert value == truth[record_key][column], (item, value)


def test_planted_duplicate_rows_are_counted_per_file(world):
    landing, data = world
    planted = Counter(item["file"] for item in dirt(landing) if item["expect"] == "duplicate")
    counted = dict(
        published(
            data, "select path, rows_duplicate from ops.ingest_files where rows_duplicate > 0"
        )
    )
    for path, duplicates in planted.items():
        assert counted[path] >= duplicates, path


def test_the_marts_hold_exactly_the_clean_worlds_completed_sessions(world):
    landing, data = world
    sessions = clean(landing, "sessions").filter(~pl.col("truth_junk"))
    completed = sessions.filter(pl.col("status") == "completed")
    expected = dict(zip(completed["session_id"], completed["fluence_j_cm2"], strict=True))
    found = dict(published(data, "select session_id, fluence_j_cm2 from marts.fct_sessions"))
    assert found.keys() == expected.keys()
    # Corrections landed later win: every fluence is the clean world's final value.
    assert all(abs(found[key] - expected[key]) < 1e-9 for key in expected)
    aborted = set(sessions.filter(pl.col("status") == "aborted")["session_id"])
    found_aborted = published(data, "select session_id from marts.fct_aborted_sessions")
    assert {row[0] for row in found_aborted} == aborted


def identifier_needles(landing: Path) -> dict[str, set[str]]:
    """Every direct identifier the generator wrote (names, contacts, free text, record numbers,
    dates of birth), by kind."""
    needles: dict[str, set[str]] = defaultdict(set)
    for feed, columns in IDENTIFIER_COLUMNS.items():
        frame = clean(landing, feed)
        for column in columns:
            needles[column] |= {v for v in frame[column].drop_nulls().to_list() if len(v) >= 4}
    births = clean(landing, "patients")["date_of_birth"].drop_nulls()
    needles["date_of_birth"] |= {d.isoformat() for d in births}
    needles["patient_ref"] |= set(clean(landing, "patients")["patient_ref"].to_list())
    assert all(needles.values())
    return needles


def test_no_direct_identifier_reaches_the_published_warehouse(world):
    landing, data = world
    needles = identifier_needles(landing)

    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type"
            " from information_schema.columns"
        ).fetchall()
        assert not {name for *_, name, _ in columns} & {*needles, "notes", "description"}
        text = [
            (schema, table, column)
            for schema, table, column, dtype in columns
            if dtype in ("VARCHAR", "JSON")
        ]
        values = {
            f"{schema}.{table}.{column}": {
                row[0]
                for row in con.execute(
                    f'select distinct "{column}"::varchar from "{schema}"."{table}"'
                    f' where "{column}" is not null'
                ).fetchall()
            }
            for schema, table, column in text
        }
    cells = "\n".join(v for column in values.values() for v in column)
    cells = without_machine_made(cells)
    for kind, found in needles.items():
        leaks = [needle for needle in found if needle in cells]
        assert not leaks, f"{kind} found in the warehouse: {leaks[:3]}"


def test_no_direct_identifier_in_any_file_of_the_data_dir_after_the_dashboards_are_used(
    world, monkeypatch
):
    """Every file of the data dir but the raw archive and the identity store: the lake, the
    warehouse and its versions, the audit log after a manager viewed their re-identified
    worklist, the users file, Data Docs, dbt's files, run history."""
    landing, data = world
    monkeypatch.setenv("TONING_DATA_DIR", str(data.root))
    [(clinic,)] = published(data, "select min(clinic_id) from marts.maintenance_due")
    worklist = open_page("app_pages/maintenance.py", role=MANAGER, clinics=(clinic,), name="m")
    assert "patient_ref" in shown_table(worklist, "course_id").columns  # re-identified
    assert [e for e in audit.read(data.audit_log) if e["event"] == audit.REIDENTIFIED]
    needles = identifier_needles(landing)
    restricted = {data.identity, data.identity.with_name(data.identity.name + ".wal")}
    scanned = [
        path
        for path in data.root.rglob("*")
        if path.is_file() and data.archive not in path.parents and path not in restricted
    ]
    assert {data.audit_log, data.users_file, data.lake, data.warehouse} <= set(scanned)
    for path in scanned:
        text = path.read_bytes().decode("utf-8", errors="replace")
        text = re.sub(r"[0-9a-f]{32,}", "", text)  # keyed hashes, as in MACHINE_MADE
        # The digits after a decimal point (a log's 18:49:36.330964) are no postcode.
        text = re.sub(r"(?<=[0-9])\.[0-9]+", "", text)
        words = set(WORD.findall(text))
        for kind, found in needles.items():
            leaks = [needle for needle in found if appears_whole(needle, text, words)]
            assert not leaks, f"{kind} found in {path.relative_to(data.root)}: {leaks[:3]}"


WORD = re.compile(r"[A-Za-z0-9]+")


def appears_whole(needle: str, text: str, words: set[str]) -> bool:
    """Whether `needle` is in `text` as whole words (a surname may be part of a time zone's
    name: Choi in Asia/Choibalsan). `words`, the text's words, rules most needles out fast."""
    if not set(WORD.findall(needle)) <= words:
        return False
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])", text) is not None


def test_a_second_refresh_over_the_same_landing_changes_nothing(world):
    landing, data = world
    before = snapshot(data.warehouse, ("staging", "marts", "ops"))
    result = run_refresh(landing, data)
    after = snapshot(data.warehouse, ("staging", "marts", "ops"))
    assert result.ingest.files == []
    assert len(after.pop("ops.refresh_runs")) == len(before.pop("ops.refresh_runs")) + 1
    assert set(before.pop("ops.dq_results")) < set(after.pop("ops.dq_results"))
    assert after == before


def test_nightly_increments_converge_to_a_one_shot_refresh(tmp_path, monkeypatch):
    monkeypatch.setenv("TONING_SECRET", "one-chain-one-secret")  # the same pseudonyms in both
    landing = tmp_path / "landing"
    generate_landing("tiny", landing, seed=11)
    nightly = DataDir(tmp_path / "nightly")
    run_refresh(landing, nightly)
    generate_landing("tiny", landing, seed=11, days=3)  # three more daily extracts land
    result = run_refresh(landing, nightly)
    assert result.ingest.files, "the daily files were loaded as new batches"
    once = DataDir(tmp_path / "once")
    run_refresh(landing, once)
    assert snapshot(nightly.warehouse) == snapshot(once.warehouse)


# A lookup's size: a seed (timepoints, contraindications), the rollup levels, the as-of date.
LOOKUP_ROWS = 64


def nested_loop_joins(node: dict) -> list[tuple[str, list[int]]]:
    """Each nested-loop join or cross product of a DuckDB JSON plan, with its inputs' rows."""
    name = (node.get("operator_name") or node.get("operator_type") or "").strip()
    children = node.get("children", [])
    found = []
    if "NL_JOIN" in name or "NESTED_LOOP" in name or name == "CROSS_PRODUCT":
        found.append((name, [child["operator_cardinality"] for child in children]))
    for child in children:
        found += nested_loop_joins(child)
    return found


def test_no_model_joins_two_growing_tables_by_nested_loop(world):
    """A join DuckDB cannot hash compares every row with every row: the consultation aid's
    once took 28 s of a 1m night's dbt build. Each model as the refresh compiled it, run with
    EXPLAIN ANALYZE on the published warehouse: one side of every nested-loop join or cross
    product is lookup-sized, so its cost grows with one table's rows, not their product."""
    _, data = world
    manifest = json.loads(data.dbt_manifest.read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) > 40
    growing = {}
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        con.execute(f"attach '{data.lake}' as lake (read_only)")
        for model in models:
            [(_, plan)] = con.execute(
                "explain (analyze, format json) " + model["compiled_code"]
            ).fetchall()
            joins = [
                (name, rows)
                for tree in json.loads(plan)["children"]
                for name, rows in nested_loop_joins(tree)
                if min(rows) > LOOKUP_ROWS
            ]
            if joins:
                growing[model["name"]] = joins
    assert growing == {}
