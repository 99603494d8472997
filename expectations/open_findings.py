"""Fatal findings stay open until acknowledged: a failed fatal check blocks its own publish and
every later one, in `ops.dq_open_fatals` of the lake.

A finding's cause is gone, and the finding closes by itself, only where a later pass proves it:
- a check recomputed on the whole warehouse each run (a warehouse measure, a dbt test): its
  pass means the warehouse no longer has the fault;
- a check on one run's batches (a file whose every row failed): later runs never see that batch
  again (its file is already received, its rows quarantined), so their pass says nothing about
  it. The finding stays open until an operator, having dealt with the file, acknowledges it.

An acknowledgement closes a finding; it never lets a check that fails again through: that
failure blocks its own run, as any failed fatal check does.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from expectations.checks import WAREHOUSE_MEASURES, CheckResult

WHOLE_WAREHOUSE = "warehouse"
BATCH = "batch"
OPEN = "resolved_run is null and acknowledged_at is null"
COLUMNS = "check_name, subject, scope, first_seen_run, last_seen_run, detail"


@dataclass(frozen=True)
class OpenFatal:
    check: str
    subject: str | None
    scope: str  # warehouse | batch
    first_seen_run: str
    last_seen_run: str
    detail: str

    def describe(self) -> str:
        about = f" [{self.subject}]" if self.subject else ""
        return f"{self.check}{about}: {self.detail} (first seen in run {self.first_seen_run})"

    def ack_command(self, data_root: Path) -> str:
        """The command that acknowledges this finding, ready to paste."""
        words = ["toning", "dq", "ack", self.check, *([self.subject] if self.subject else [])]
        command = " ".join(shlex.quote(word) for word in words)
        return f"{command} --note '<what was done>' --data-dir {shlex.quote(str(data_root))}"


def scope_of(result: CheckResult) -> str:
    # published_rows_drop compares every build with the warehouse in use: a pass (or a drop
    # accepted with --accept-drop) proves the cause gone.
    recomputed = (
        result.source == "dbt"
        or result.check in WAREHOUSE_MEASURES
        or result.check == "published_rows_drop"
    )
    return WHOLE_WAREHOUSE if recomputed else BATCH


def update_open_fatals(
    con: duckdb.DuckDBPyConnection, run_id: str, results: list[CheckResult]
) -> list[OpenFatal]:
    """Open a finding for each failed fatal check of this run, close the whole-warehouse ones
    whose check passes now, and return every finding still open (this run's included).
    `con` is the lake."""
    for result in results:
        same = [result.check, result.subject]
        if result.passed and scope_of(result) == WHOLE_WAREHOUSE:
            con.execute(
                "update ops.dq_open_fatals set resolved_run = ? where check_name = ?"
                " and subject is not distinct from ? and resolved_run is null",
                [run_id, *same],
            )
        elif not result.passed and result.severity == "fatal":
            _record_failure(con, run_id, result)
    return open_fatals(con)


def _record_failure(con: duckdb.DuckDBPyConnection, run_id: str, result: CheckResult) -> None:
    scope = scope_of(result)
    if scope == WHOLE_WAREHOUSE:
        # Still failing: the finding it opened before, acknowledged or not, is the same fault.
        updated = con.execute(
            "update ops.dq_open_fatals set last_seen_run = ?, detail = ? where check_name = ?"
            " and subject is not distinct from ? and resolved_run is null returning 1",
            [run_id, result.detail, result.check, result.subject],
        ).fetchall()
        if updated:
            return
    con.execute(
        f"insert into ops.dq_open_fatals ({COLUMNS}) values (?, ?, ?, ?, ?, ?)",
        [result.check, result.subject, scope, run_id, run_id, result.detail],
    )


def open_fatals(con: duckdb.DuckDBPyConnection) -> list[OpenFatal]:
    rows = con.execute(
        f"select {COLUMNS} from ops.dq_open_fatals where {OPEN}"
        " order by first_seen_run, check_name, subject"
    ).fetchall()
    return [OpenFatal(*row) for row in rows]


def acknowledge(
    con: duckdb.DuckDBPyConnection,
    check: str,
    subject: str | None,
    by: str,
    at: datetime,
    note: str | None,
) -> list[OpenFatal]:
    """Close the open findings of `check` (only those about `subject`, when given); returns
    them."""
    rows = con.execute(
        "update ops.dq_open_fatals set acknowledged_at = ?, acknowledged_by = ?, note = ?"
        f" where {OPEN} and check_name = ? and (? is null or subject = ?)"
        f" returning {COLUMNS}",
        [at, by, note, check, subject, subject],
    ).fetchall()
    return sorted((OpenFatal(*row) for row in rows), key=lambda f: (f.first_seen_run, f.detail))


def write_snapshot(path: Path, findings: list[OpenFatal]) -> None:
    """The open findings as JSON beside the published warehouse, replaced atomically: the
    publish they block never carries them, yet the dashboards must show them."""
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps([asdict(finding) for finding in findings], indent=1))
    os.replace(scratch, path)
