"""Hostile and broken landing files: each ends as a recorded file with a clear reason.

Never a crash, never a silent drop, never unbounded memory; the rest of the landing zone
loads, rows_read = rows_loaded + rows_quarantined + rows_duplicate holds for every file, and
a second ingest over the same landing zone changes nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import threading
import time
import tracemalloc
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

import ingest.run
from expectations.validate import SuiteValidator
from ingest.readers import ReadLimits, read_batch
from ingest.run import ingest_landing
from tests.conftest import SESSION_HEADER, Warehouse, session_row

GOOD = "sessions/good.csv"
SESSION_COLUMNS = SESSION_HEADER.split(",")


@pytest.fixture
def run(landing, data_dir):
    """One ingest (with optional read limits or a progress sink): (summary, warehouse)."""

    def ingest(run_id: str = "run-1", **options):
        options.setdefault("suites", SuiteValidator())
        summary = ingest_landing(landing.root, data_dir.ingest_paths(), run_id, **options)
        return summary, Warehouse(data_dir)

    return ingest


@pytest.fixture
def good(landing):
    """A sound file beside the hostile one: it must load whatever the other does."""
    landing.sessions(GOOD, session_row("GOOD"))


def assert_rest_loaded(warehouse: Warehouse) -> None:
    assert warehouse.file(GOOD)["status"] == "loaded"
    assert {"session_id": "GOOD"} in warehouse.rows("select session_id from raw.sessions")


def assert_nothing_lost(warehouse: Warehouse) -> None:
    for row in warehouse.rows("select * from ops.ingest_files"):
        accounted = row["rows_loaded"] + row["rows_quarantined"] + row["rows_duplicate"]
        assert row["rows_read"] == accounted, row


def assert_second_ingest_changes_nothing(run, warehouse: Warehouse, **options) -> None:
    tables = ("ops.ingest_files", "ops.quarantine", "raw.sessions", "raw.outcomes")
    before = {table: warehouse.rows(f"select * from {table}") for table in tables}
    summary, warehouse = run("run-2", **options)
    assert (summary.files, summary.ignored) == ([], [])
    assert {table: warehouse.rows(f"select * from {table}") for table in tables} == before


def sessions_frame(**extra) -> pa.Table:
    values = session_row("P1").split(",")
    columns = {name: [value] for name, value in zip(SESSION_COLUMNS, values, strict=True)}
    return pa.table({**columns, **extra})


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def workbook(sheets: dict[str, list[list[str]]]) -> bytes:
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer) as book:
        for name, rows in sheets.items():
            sheet = book.add_worksheet(name)
            for r, row in enumerate(rows):
                sheet.write_row(r, 0, row)
    return buffer.getvalue()


def session_rows(*ids: str) -> list[list[str]]:
    return [SESSION_COLUMNS, *(session_row(i).split(",") for i in ids)]


# 1. Parquet with nested or binary columns ----------------------------------------------


def test_parquet_extra_nested_and_binary_columns_are_ignored_and_reported(landing, good, run):
    landing.write(
        "sessions/extra.parquet",
        parquet_bytes(
            sessions_frame(
                tags=pa.array([["a", "b"]], pa.list_(pa.string())),
                blob=pa.array([b"\xff\xfe\x00"], pa.binary()),
                device_info=pa.array([{"serial": 7}]),
            )
        ),
    )
    # A contract `;`-list column written as a real list is read as the list it is.
    consultation = {
        "consultation_id": ["K1"],
        "clinic_id": ["C01"],
        "patient_ref": ["MRN-1"],
        "consulted_at": ["2026-03-01T10:00:00"],
        "primary_concern": ["melasma"],
        "decision": ["proceed"],
        "updated_at": ["2026-03-01T10:00:00"],
        "treatment_areas": pa.array([["face", "neck"]], pa.list_(pa.string())),
    }
    landing.write("consultations/k.parquet", parquet_bytes(pa.table(consultation)))
    _, warehouse = run()
    recorded = warehouse.file("sessions/extra.parquet")
    assert (recorded["status"], recorded["rows_loaded"]) == ("loaded", 1)
    assert recorded["warnings"] == "ignored unknown column(s): blob, device_info, tags"
    assert warehouse.rows("select treatment_areas from raw.consultations") == [
        {"treatment_areas": "face;neck"}
    ]
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


def test_parquet_contract_column_without_text_form_is_quarantined_whole(landing, good, run):
    table = sessions_frame().drop(["treatment_area"])
    table = table.append_column("treatment_area", pa.array([{"area": "face"}]))
    landing.write("sessions/nested.parquet", parquet_bytes(table))
    _, warehouse = run()
    recorded = warehouse.file("sessions/nested.parquet")
    assert recorded["status"] == "quarantined"
    assert recorded["reason"] == (
        "unsupported_column: column(s) treatment_area (Struct({'area': String})) have no text form"
    )
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


def test_parquet_binary_contract_column_rejects_only_records_that_are_not_utf8(landing, good, run):
    rows = [session_row(f"B{i}").split(",") for i in range(3)]
    columns = {name: [row[j] for row in rows] for j, name in enumerate(SESSION_COLUMNS)}
    columns["session_id"] = [b"B0", b"B\xff1", b"B2"]  # written as bytes by some exporters
    landing.write("sessions/bytes.parquet", parquet_bytes(pa.table(columns)))
    _, warehouse = run()
    [rejected] = warehouse.quarantine("sessions/bytes.parquet")
    assert (rejected["record_number"], rejected["reason_code"]) == (2, "invalid_encoding")
    assert rejected["reason"] == "invalid_encoding: not valid UTF-8 in session_id"
    assert warehouse.rows(
        "select session_id from raw.sessions where _record_number is not null order by 1"
    ) == [{"session_id": s} for s in ("B0", "B2", "GOOD")]
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 2. Gzip bombs -----------------------------------------------------------------------


def gzip_bomb(path: Path, inflated_mib: int) -> None:
    """A header then megabytes of zeros: a few KiB on disk, streamed, never whole in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = b"\0" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write((SESSION_HEADER + "\n").encode())
        for _ in range(inflated_mib):
            out.write(block)


def test_a_gzip_bomb_is_refused_with_bounded_memory_and_no_work_file_left(
    landing, good, run, data_dir, tmp_path
):
    limits = ReadLimits(max_file_bytes=32 << 20)
    bomb = landing.root / "sessions" / "bomb.csv.gz"
    gzip_bomb(bomb, inflated_mib=64)
    assert bomb.stat().st_size < 100_000

    _, warehouse = run(limits=limits)
    recorded = warehouse.file("sessions/bomb.csv.gz")
    assert (recorded["status"], recorded["rows_read"]) == ("quarantined", 0)
    assert recorded["reason"] == "too_large: inflates past 33,554,432 bytes"
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    work = data_dir.ingest_paths().work
    assert [p for p in work.rglob("*")] == []

    # Streaming: the reader holds a few 1 MiB blocks, not the 32 MiB it inflated before stopping.
    tracemalloc.start()
    with pytest.raises(Exception, match="inflates past"):
        read_batch(bomb, tmp_path / "work", limits=limits)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes held while inflating"
    assert list((tmp_path / "work").iterdir()) == []
    assert_second_ingest_changes_nothing(run, warehouse, limits=limits)


# 3. Oversized records ------------------------------------------------------------------


def test_a_50_mb_csv_field_rejects_only_its_record(landing, good, run):
    path = landing.root / "sessions" / "huge_field.csv"
    with open(path, "w") as out:
        out.write(SESSION_HEADER + ",notes\n")
        out.write(session_row("S1") + ',spot 5" (an inch mark: not a quote)\n')
        out.write(session_row("S2") + "," + "x" * (50 << 20) + "\n")  # record 2
        out.write(session_row("S3") + ',"a quoted note\n' + "y" * (3 << 20) + '"\n')  # record 3
        out.write(session_row("S4") + ",fine\n")
    _, warehouse = run()
    recorded = warehouse.file("sessions/huge_field.csv")
    assert (recorded["status"], recorded["rows_read"], recorded["rows_loaded"]) == ("loaded", 4, 2)
    rejected = warehouse.quarantine("sessions/huge_field.csv")
    assert [(r["record_number"], r["reason_code"]) for r in rejected] == [
        (2, "oversized_record"),
        (3, "oversized_record"),
    ]
    assert rejected[0]["reason"] == (
        "oversized_record: longer than the 1,048,576-byte limit of one record"
    )
    assert warehouse.rows(
        "select session_id, _record_number from raw.sessions where session_id like 'S_' order by 1"
    ) == [{"session_id": "S1", "_record_number": 1}, {"session_id": "S4", "_record_number": 4}]
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


def survey_line(submission: str, score: int = 4) -> str:
    return json.dumps(
        {
            "submission_id": submission,
            "clinic": {"id": "C01", "patient_ref": "MRN-1"},
            "timepoint": "post_session",
            "submitted_at": "2026-03-02T19:44:10+08:00",
            "answers": [{"instrument": "pain_vas", "score": score}],
        }
    )


def test_a_20_mb_jsonl_line_rejects_only_its_record(landing, good, run):
    huge = json.dumps({"submission_id": "HUGE", "padding": "z" * (20 << 20)})
    landing.write(
        "outcomes/app.jsonl", "\n".join([survey_line("A"), huge, survey_line("C")]) + "\n"
    )
    _, warehouse = run()
    [rejected] = warehouse.quarantine("outcomes/app.jsonl")
    assert (rejected["record_number"], rejected["reason_code"]) == (2, "oversized_record")
    assert warehouse.rows("select submission_id from raw.outcomes order by 1") == [
        {"submission_id": "A"},
        {"submission_id": "C"},
    ]
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 4. Duplicate column names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "header"),
    [
        ("sessions/twice.csv", ["session_id", *SESSION_COLUMNS]),
        ("sessions/two_spellings.csv", ["Session_ID", *SESSION_COLUMNS]),
        ("sessions/twice.xlsx", ["session_id", *SESSION_COLUMNS]),
    ],
)
def test_a_repeated_column_name_quarantines_the_file_whole(landing, good, run, relpath, header):
    values = ["OTHER", *session_row("S1").split(",")]
    if relpath.endswith(".xlsx"):
        landing.write(relpath, workbook({"sessions": [header, values]}))
    else:
        landing.write(relpath, ",".join(header) + "\n" + ",".join(values) + "\n")
    _, warehouse = run()
    recorded = warehouse.file(relpath)
    assert (recorded["status"], recorded["rows_loaded"]) == ("quarantined", 0)
    assert recorded["reason"] == (
        "duplicate_columns: column(s) session_id appear more than once in the header"
    )
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 5. Workbooks with several sheets ------------------------------------------------------


def test_the_workbook_sheet_with_the_feeds_columns_is_read_after_a_cover_sheet(landing, good, run):
    landing.write(
        "sessions/export.xlsx",
        workbook(
            {
                "Cover": [["Orchard Skin: sessions export"], ["generated 2026-03-03"]],
                "Sessions": session_rows("X1", "X2"),
                "Legend": [["status"], ["completed: done"]],
            }
        ),
    )
    landing.write(
        "sessions/two_weeks.xlsx",
        workbook({"Week 1": session_rows("W1"), "Week 2": session_rows("W2")}),
    )
    _, warehouse = run()
    assert warehouse.file("sessions/export.xlsx")["rows_loaded"] == 2
    ambiguous = warehouse.file("sessions/two_weeks.xlsx")
    assert ambiguous["status"] == "quarantined"
    assert ambiguous["reason"] == (
        "ambiguous_sheet: sheets 'Week 1', 'Week 2' all have the sessions columns:"
        " which one is the batch?"
    )
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


def test_a_workbook_column_with_no_value_loads_quietly(landing, good, run, caplog):
    """An optional sheet column every row leaves empty (passes here) is read as text: the
    records load with it null, and the reader's warning about it stays out of the log (a
    refresh has no log handler: Python would print it on stderr among the ingest's lines)."""
    rows = [[*row, ""] for row in session_rows("X1", "X2")[1:]]
    sheet = [[*SESSION_COLUMNS, "passes"], *rows]
    landing.write("sessions/no_passes.xlsx", workbook({"sessions": sheet}))
    _, warehouse = run()
    recorded = warehouse.file("sessions/no_passes.xlsx")
    assert (recorded["status"], recorded["rows_loaded"]) == ("loaded", 2)
    assert warehouse.rows("select passes from raw.sessions where session_id in ('X1', 'X2')") == [
        {"passes": None},
        {"passes": None},
    ]
    assert [record.name for record in caplog.records if record.name.startswith("fastexcel")] == []


# 6. Symbolic links ---------------------------------------------------------------------


def test_symlinks_are_never_followed_nor_archived_and_are_reported_once(
    landing, good, run, data_dir, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "s.csv").write_text(SESSION_HEADER + "\n" + session_row("OUTSIDE") + "\n")
    (landing.root / "sessions" / "passwd.csv").symlink_to("/etc/passwd")
    (landing.root / "sessions" / "linked_folder").symlink_to(outside)
    (landing.root / "devices").symlink_to(outside)  # a whole feed folder
    _, warehouse = run()
    ignored = warehouse.rows(
        "select path, feed, sha256, rows_read, reason from ops.ingest_files"
        " where status = 'ignored' order by path"
    )
    assert [(r["path"], r["feed"], r["sha256"], r["rows_read"]) for r in ignored] == [
        ("devices", None, None, 0),
        ("sessions/linked_folder", None, None, 0),
        ("sessions/passwd.csv", None, None, 0),
    ]
    assert ignored[2]["reason"] == "symlink: a link (to /etc/passwd) is never followed"
    archived = sorted(p.read_bytes() for p in data_dir.archive.rglob("*") if p.is_file())
    assert Path("/etc/passwd").read_bytes() not in archived
    assert len(archived) == 2  # clinics and the good file
    assert {"session_id": "OUTSIDE"} not in warehouse.rows("select session_id from raw.sessions")
    assert_rest_loaded(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 7. Files outside the feed folders -----------------------------------------------------


def test_files_outside_feed_folders_and_pipes_are_recorded_as_ignored_once(landing, good, run):
    landing.sessions("session/typo_folder.csv", session_row("T1"))
    landing.write("readme.txt", "drop files in the feed folders")
    os.mkfifo(landing.root / "sessions" / "pipe.csv")  # opening it would block for ever
    _, warehouse = run()
    ignored = warehouse.rows(
        "select path, feed, status, rows_read, reason from ops.ingest_files"
        " where feed is null order by path"
    )
    assert ignored == [
        {
            "path": "readme.txt",
            "feed": None,
            "status": "ignored",
            "rows_read": 0,
            "reason": "not_a_feed: directly in the landing root, not in a feed folder",
        },
        {
            "path": "session/typo_folder.csv",
            "feed": None,
            "status": "ignored",
            "rows_read": 0,
            "reason": "not_a_feed: folder 'session' is not a feed (clinics, providers, devices,"
            " patients, consultations, sessions, outcomes, side_effects)",
        },
        {
            "path": "sessions/pipe.csv",
            "feed": None,
            "status": "ignored",
            "rows_read": 0,
            "reason": "not_a_file: not a regular file",
        },
    ]
    assert_rest_loaded(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)
    landing.write("readme.txt", "changed bytes are recorded again")
    summary, _ = run("run-3")
    assert [r.path for r in summary.ignored] == ["readme.txt"]


# 8. Not UTF-8 text ---------------------------------------------------------------------


CSV_TEXT = SESSION_HEADER + "\r\n" + session_row("U1") + "\r\n"


BINARY = "binary content (mostly control or non-UTF-8 bytes), not text"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            CSV_TEXT.encode("utf-16"),
            "not_utf8: not UTF-8: looks like UTF-16 (little-endian, with BOM)",
        ),
        (
            CSV_TEXT.encode("utf-16-be"),
            "not_utf8: not UTF-8: looks like UTF-16 (big-endian, no BOM)",
        ),
        (bytes(range(256)), f"unreadable_file: {BINARY}"),
        (b"\0" * 64, f"unreadable_file: {BINARY}"),
        (bytes(range(128, 256)) * 4, f"unreadable_file: {BINARY}"),
    ],
    ids=["utf16-bom", "utf16-no-bom", "random-bytes", "nul-bytes", "high-bytes"],
)
def test_a_file_that_is_not_utf8_text_says_what_it_looks_like(landing, good, run, content, reason):
    landing.write("sessions/odd.csv", content)
    _, warehouse = run()
    recorded = warehouse.file("sessions/odd.csv")
    assert (recorded["status"], recorded["reason"]) == ("quarantined", reason)
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 9. Malformed lines and invalid encodings within a file ---------------------------------


def test_invalid_utf8_and_malformed_lines_are_rejected_per_record_with_their_numbers(
    landing, good, run
):
    landing.write(
        "sessions/mixed.csv",
        SESSION_HEADER.encode()
        + b"\n"
        + session_row("M1").encode()
        + b"\n"
        + session_row("M2").replace("MRN-1", "MRN-\xe9").encode("latin-1")
        + b"\n\n\n"  # two blank lines: skipped, but they keep their numbers
        + b"M5,C01,MRN-1\n"
        + session_row("M6").encode()
        + b"\n",
    )
    landing.write(
        "outcomes/app.jsonl",
        (survey_line("J1") + "\n").encode()
        + survey_line("J2").replace("MRN-1", "MRN-\xe9").encode("latin-1")
        + b"\n"
        + (survey_line("J3") + "\n").encode(),
    )
    _, warehouse = run()
    assert [
        (r["record_number"], r["reason_code"]) for r in warehouse.quarantine("sessions/mixed.csv")
    ] == [(2, "invalid_encoding"), (5, "malformed_line")]
    assert warehouse.rows(
        "select session_id, _record_number from raw.sessions where session_id like 'M_' order by 1"
    ) == [{"session_id": "M1", "_record_number": 1}, {"session_id": "M6", "_record_number": 6}]
    [rejected] = warehouse.quarantine("outcomes/app.jsonl")
    assert (rejected["record_number"], rejected["reason"]) == (
        2,
        "invalid_encoding: not valid UTF-8",
    )
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# 10. In-place edits ----------------------------------------------------------------------


def test_an_in_place_edit_keeping_size_and_mtime_is_a_new_batch(landing, good, run):
    path = landing.sessions("sessions/export.csv", session_row("E1"))
    before = path.stat()
    run()
    landing.sessions("sessions/export.csv", session_row("E2"))  # same length, other bytes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    _, warehouse = run("run-2")
    batches = warehouse.rows(
        "select rows_loaded, warnings from ops.ingest_files"
        " where path = 'sessions/export.csv' order by run_id"
    )
    assert [b["rows_loaded"] for b in batches] == [1, 1]
    assert "content changed under an already-seen name" in batches[1]["warnings"]
    assert {"session_id": "E2"} in warehouse.rows("select session_id from raw.sessions")
    assert_second_ingest_changes_nothing(run, warehouse)


def test_a_file_loaded_before_is_hashed_again_only_when_the_file_system_says_it_changed(
    landing, good, run
):
    """Each night hashed every file loaded before (4.3 GB at 10m). Now the next night hashes
    it once more and keeps what the file system says of it; later nights trust that, until an
    edit moves it, even one that restores the file's size and modification time."""
    path = landing.sessions("sessions/export.csv", session_row("E1"))
    before = path.stat()
    _, warehouse = run("run-1")  # loaded: hashed as it was archived
    time.sleep(ingest.run.SETTLED_NS / 1e9)  # a file just changed is not trusted yet

    def last_hashed() -> str | None:
        query = "select run_id from ops.landing_hashes where path = 'sessions/export.csv'"
        rows = warehouse.rows(query)
        return rows[0]["run_id"] if rows else None

    assert last_hashed() is None
    run("run-2")
    assert last_hashed() == "run-2"
    summary, _ = run("run-3")
    assert (summary.files, summary.unchanged) == ([], 3)  # with good.csv and the clinics file
    assert last_hashed() == "run-2"  # trusted, not read

    landing.sessions("sessions/export.csv", session_row("E2"))  # same length, other bytes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    summary, warehouse = run("run-4")
    assert [result.path for result in summary.files] == ["sessions/export.csv"]
    assert {"session_id": "E2"} in warehouse.rows("select session_id from raw.sessions")
    summary, _ = run("run-5")  # hashed again (just edited, not trusted yet): loaded once
    assert (summary.files, summary.unchanged) == ([], 3)
    assert_nothing_lost(warehouse)


# 11. Control characters in file names ----------------------------------------------------


def test_control_characters_in_file_names_never_split_a_log_line(landing, good, run):
    landing.sessions("sessions/bad\nname.csv", session_row("N1"))
    landing.write("sessions/\x1b[31mred.csv", "not,a,session\n1,2,3\n")
    landing.write("elsewhere/line\u2028break\u202etxt.csv", "x")
    lines: list[str] = []
    _, warehouse = run(progress=lines.append)
    assert lines and all(line.isprintable() for line in lines), lines
    assert any(line.startswith("sessions/bad\\nname.csv: loaded") for line in lines)
    # The path stays the file's identity; reasons and logs show it escaped.
    assert warehouse.file("sessions/bad\nname.csv")["rows_loaded"] == 1
    assert warehouse.file("elsewhere/line\u2028break\u202etxt.csv")["status"] == "ignored"
    assert "\\u2028" in " ".join(lines)
    reasons = [r["reason"] for r in warehouse.rows("select reason from ops.ingest_files")]
    assert all(reason is None or reason.isprintable() for reason in reasons)
    assert_rest_loaded(warehouse)
    assert_nothing_lost(warehouse)
    assert_second_ingest_changes_nothing(run, warehouse)


# All of them in one landing zone, through a whole refresh ---------------------------------


def test_a_landing_zone_of_every_hostile_file_publishes_and_a_second_night_changes_nothing(
    landing, good, data_dir, tmp_path
):
    """Each file above ends recorded with its reason and the published warehouse opens; the
    next night, over the same landing zone, loads nothing and publishes the same marts."""
    from tests.test_refresh import snapshot
    from toning.refresh import run_refresh

    landing.write(
        "sessions/extra.parquet",
        parquet_bytes(sessions_frame(tags=pa.array([["a"]], pa.list_(pa.string())))),
    )
    gzip_bomb(landing.root / "sessions" / "bomb.csv.gz", 130)  # past the 128 MiB default
    with open(landing.root / "sessions" / "huge_field.csv", "w") as out:
        out.write(f"{SESSION_HEADER},notes\n{session_row('H1')},{'x' * (2 << 20)}\n")
    landing.write("sessions/twice.csv", f"session_id,{SESSION_HEADER}\nX,{session_row('T1')}\n")
    landing.write(
        "sessions/export.xlsx",
        workbook({"Cover": [["sessions export"]], "Sessions": session_rows("X1")}),
    )
    (landing.root / "sessions" / "passwd.csv").symlink_to("/etc/passwd")
    landing.sessions("billing/invoices.csv", session_row("B1"))
    landing.write("readme.txt", "drop files in the feed folders")
    landing.write("side_effects/utf16.csv", CSV_TEXT.encode("utf-16"))
    landing.write("devices/blob.csv", bytes(range(256)))
    landing.write("sessions/bad\nname.csv", f"{SESSION_HEADER}\n{session_row('N1')}\n")

    run_refresh(landing.root, data_dir)
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        statuses = dict(con.execute("select path, status from ops.ingest_files").fetchall())
        loaded = {r[0] for r in con.execute("select session_id from marts.fct_sessions").fetchall()}
    assert statuses == {
        "clinics/clinics.csv": "loaded",
        GOOD: "loaded",
        "sessions/extra.parquet": "loaded",
        "sessions/bomb.csv.gz": "quarantined",
        "sessions/huge_field.csv": "loaded",
        "sessions/twice.csv": "quarantined",
        "sessions/export.xlsx": "loaded",
        "sessions/passwd.csv": "ignored",
        "billing/invoices.csv": "ignored",
        "readme.txt": "ignored",
        "side_effects/utf16.csv": "quarantined",
        "devices/blob.csv": "quarantined",
        "sessions/bad\nname.csv": "loaded",
    }
    assert loaded == {"GOOD", "P1", "X1", "N1"}
    before = snapshot(data_dir.warehouse, ("staging", "marts"))
    again = run_refresh(landing.root, data_dir)
    assert again.ingest.files == []
    assert snapshot(data_dir.warehouse, ("staging", "marts")) == before


# 11. Failures while the next files are read ahead --------------------------------------


def no_read_ahead_left() -> bool:
    return not [thread for thread in threading.enumerate() if thread.name == "ingest-read-ahead"]


def test_a_failure_storing_a_file_stops_the_reading_ahead_and_stores_nothing(
    landing, data_dir, run
):
    """The next files are read in a thread while one is validated and stored: when storing
    fails, the error reaches the refresh, the thread stops, and nothing of the files is kept."""
    for number in range(8):
        landing.sessions(f"sessions/day{number}.csv", session_row(f"S{number}"))

    class BrokenSuites(SuiteValidator):
        def submit(self, feed, batches):
            raise RuntimeError("the suites broke")

    with pytest.raises(RuntimeError, match="the suites broke"):
        run(suites=BrokenSuites())
    assert no_read_ahead_left()
    files = "select count(*) as files from ops.ingest_files"
    assert Warehouse(data_dir).rows(files) == [{"files": 0}]
    _, warehouse = run()  # the next ingest loads every file
    assert warehouse.rows(files) == [{"files": 9}]


def test_the_suites_process_ending_stops_the_ingest_with_its_reason_and_keeps_nothing(
    landing, data_dir, run
):
    """GX runs in a process of its own: killed (the kernel's out-of-memory killer, say), the
    ingest fails saying so instead of loading unjudged records, and the next one loads all."""
    for number in range(3):
        landing.sessions(f"sessions/day{number}.csv", session_row(f"S{number}"))
    suites = SuiteValidator()
    suites.ready()
    os.kill(suites._process.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=r"expectation suites' process ended \(exit status -9"):
        run(suites=suites)
    assert no_read_ahead_left()
    files = "select count(*) as files from ops.ingest_files"
    assert Warehouse(data_dir).rows(files) == [{"files": 0}]
    _, warehouse = run()  # a new validator starts a new process
    assert warehouse.rows(files) == [{"files": 4}]  # with the clinics file


def test_files_judged_while_the_ones_before_are_stored_keep_their_own_verdicts(landing, run):
    """The ingest stores one group of files while the suites judge the next: with groups of a
    row or two, each file's quarantined records and loaded rows are still its own."""
    for number in range(6):
        bad = session_row(f"BAD{number}", started_at="2026-13-45T10:00:00")
        rows = [session_row(f"S{number}"), bad] if number % 2 else [session_row(f"S{number}")]
        landing.sessions(f"sessions/day{number}.csv", *rows)
    landing.write(
        "outcomes/scores.csv",
        "response_id,clinic_id,patient_ref,instrument,timepoint,score,collected_at,updated_at\n"
        "R1,C01,MRN-1,pigmentation_vas,baseline,7,2026-03-02T10:00:00,2026-03-02T10:00:00\n",
    )
    summary, warehouse = run(suites=SuiteValidator(chunk_rows=2))
    assert len(summary.files) == 8  # and the landing fixture's clinics file
    for number in range(6):
        path = f"sessions/day{number}.csv"
        quarantined = [(r["record_number"], r["reason_code"]) for r in warehouse.quarantine(path)]
        assert quarantined == ([(2, "unparseable")] if number % 2 else []), path
        assert warehouse.file(path)["rows_loaded"] == 1, path
    loaded = warehouse.rows("select session_id from raw.sessions order by session_id")
    assert [row["session_id"] for row in loaded] == [f"S{number}" for number in range(6)]
    assert warehouse.file("outcomes/scores.csv")["rows_loaded"] == 1
    assert_nothing_lost(warehouse)


def test_a_feeds_small_files_go_to_the_suites_in_as_few_runs_as_their_rows_allow(landing, run):
    """A night's files of one feed are judged together up to the suites' chunk of rows: six
    files of three rows with chunks of ten take two GX runs of nine rows each, where a group
    let grow a file past the chunk (twelve rows) was split into two half runs."""
    for number in range(6):
        rows = [session_row(f"S{number}-{record}") for record in range(3)]
        landing.sessions(f"sessions/day{number}.csv", *rows)
    suites = SuiteValidator(chunk_rows=10)
    summary, warehouse = run(suites=suites)
    assert suites.validated == 7  # and the landing fixture's clinics file
    assert suites.runs == 1 + 2
    assert warehouse.rows("select count(*) as sessions from raw.sessions") == [{"sessions": 18}]
    assert_nothing_lost(warehouse)


def test_a_failure_reading_ahead_reaches_the_refresh(landing, run, monkeypatch):
    for number in range(8):
        landing.sessions(f"sessions/day{number}.csv", session_row(f"S{number}"))
    read = ingest.run.read_batch

    def failing_on_day5(path, *args, **kwargs):
        if path.read_bytes() == (landing.root / "sessions/day5.csv").read_bytes():
            raise MemoryError("no memory left for day 5")
        return read(path, *args, **kwargs)

    monkeypatch.setattr(ingest.run, "read_batch", failing_on_day5)
    with pytest.raises(MemoryError, match="day 5"):
        run()
    assert no_read_ahead_left()


def test_reading_ahead_holds_at_most_a_chunk_of_records_the_caller_has_not_taken():
    """Reading stays a chunk ahead of storing (so the two overlap) but no further: a feed of
    many files is never all in memory at once, however slow its store."""
    in_flight, most_in_flight = [], []
    budget, file_rows = 250, 100

    def read_files(hand_on, _wait_until_taken):
        for number in range(12):
            in_flight.append(number)
            most_in_flight.append(len(in_flight))
            hand_on(number, file_rows)
        hand_on("big file", 10 * budget)  # one file over the budget still goes, alone

    taken = []
    with ingest.run._ReadAhead(read_files, rows_ahead=budget) as steps:
        for step in steps:
            threading.Event().wait(0.02)  # a slow store: the reader runs ahead meanwhile
            taken.append(step)
            if in_flight:
                in_flight.pop(0)
    assert taken == [*range(12), "big file"]
    assert max(most_in_flight) == budget // file_rows + 1  # the one being taken, two more
