"""`toning dq`: the fatal data-quality findings still open, and their acknowledgement.

An operator acknowledges a finding once its cause is dealt with (the broken file re-exported, or
its loss accepted); the acknowledgement is recorded with who and when, and the next refresh may
publish again.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from expectations import open_findings
from expectations.open_findings import OpenFatal
from ingest import lake
from toning.config import DataDir
from toning.refresh import refresh_lock


class DqError(Exception):
    """Nothing to acknowledge, or nowhere to acknowledge it."""


@dataclass(frozen=True)
class Acknowledgement:
    findings: list[OpenFatal]
    by: str
    at: datetime


def list_open(data: DataDir) -> list[OpenFatal]:
    """The open findings as the last refresh or acknowledgement left them (read from the file
    beside the warehouse, so that listing works while a refresh holds the lake)."""
    if not data.open_fatals.exists():
        return []
    return [OpenFatal(**finding) for finding in json.loads(data.open_fatals.read_text())]


def acknowledge(
    data: DataDir, check: str, subject: str | None = None, note: str | None = None
) -> Acknowledgement:
    """Acknowledge the open findings of `check` (about `subject`, when given), under the refresh
    lock: a refresh never sees half an acknowledgement."""
    if not data.lake.exists():
        raise DqError(f"no lake in {data.root}: nothing has been refreshed there")
    by, at = getpass.getuser(), datetime.now(UTC).replace(tzinfo=None)
    with refresh_lock(data), lake.connect(data.lake) as con:
        lake.create_lake(con)
        closed = open_findings.acknowledge(con, check, subject, by, at, note)
        still_open = open_findings.open_fatals(con)
    open_findings.write_snapshot(data.open_fatals, still_open)
    if not closed:
        listed = "; ".join(finding.describe() for finding in still_open) or "none"
        about = f" about {subject}" if subject else ""
        raise DqError(f"no open fatal finding of {check}{about}; open ones: {listed}")
    return Acknowledgement(closed, by, at)
