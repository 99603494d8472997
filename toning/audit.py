"""The audit log: who signed in (or failed to), saw which page with which filters, ran which SQL,
downloaded what, and viewed which re-identified worklist.

One JSON object per line, appended, in the data dir's private state folder: outside the
warehouse file that each publish replaces, so no refresh or rollback rewrites history. Events
name users, pages, clinics and counts, never a patient: the re-identified worklist is recorded
by its clinic and how many patients it showed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN_LOCKED = "sign_in_locked"
SIGN_OUT = "sign_out"
PAGE = "page"
SQL = "sql"
DOWNLOAD = "download"
REIDENTIFIED = "reidentified_worklist"
EVENTS = (SIGN_IN, SIGN_IN_FAILED, SIGN_IN_LOCKED, SIGN_OUT, PAGE, SQL, DOWNLOAD, REIDENTIFIED)


def record(path: Path, event: str, user: str | None, **details: object) -> None:
    """Appends one event. O_APPEND makes each line's write land whole at the end, even with
    several dashboard sessions writing at once; the file is created private (0600)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
    entry |= {"user": user, **details}
    line = json.dumps(entry, default=str, ensure_ascii=False) + "\n"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


def read(path: Path) -> list[dict]:
    """Every event, oldest first (a line cut short by a crash is skipped)."""
    if not path.exists():
        return []
    events = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
