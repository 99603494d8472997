"""Why the lake in use cannot be opened, said so that the operator knows what to do next.

DuckDB's own errors name neither the cause an operator acts on nor the recovery: a lock held by
another process (often a dbt orphaned by a killed refresh), a file it cannot write, a damaged
file. Each gets one line naming the file, the process when there is one, and the way out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# "Could not set lock on file "X": Conflicting lock is held in /usr/bin/python3 (PID 123)"
LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
PERMISSION_WORDS = ("Permission denied", "Operation not permitted", "Read-only file system")
REBUILD_ADVICE = (
    "`toning refresh --full` rebuilds the lake from the raw archive (the published warehouse"
    " stays in use meanwhile; the damaged lake is kept beside it as lake.corrupt-<time>.duckdb)"
)


@dataclass(frozen=True)
class LakeProblem:
    locked: bool  # another process holds it: a rebuild would not help
    reason: str  # DuckDB's first line
    message: str  # one line: what is wrong and what to do


def explain(lake_path: Path, error: Exception) -> LakeProblem:
    """What an error opening the lake means for the operator."""
    reason = _first_line(error)
    if holder := LOCK_HOLDER.search(reason):
        pid = holder["pid"]
        return LakeProblem(
            True,
            reason,
            f"the lake {lake_path} is locked by another process: {holder['program']} (PID {pid})"
            f" - not a refresh (none holds the refresh lock); a dbt left running by a killed"
            f" refresh or an open DuckDB session does this: check it with `ps -o pid,args -p"
            f" {pid}`, stop it (`kill {pid}`) and refresh again",
        )
    if any(words in reason for words in PERMISSION_WORDS):
        return LakeProblem(
            False,
            reason,
            f"the lake {lake_path} cannot be written ({reason}): give the refresh's user write"
            f" access to it and its folder (check `lsattr` for an immutable flag); if the file"
            f" itself is damaged, {REBUILD_ADVICE}",
        )
    return LakeProblem(
        False,
        reason,
        f"the lake {lake_path} cannot be read, it looks damaged ({reason}): {REBUILD_ADVICE}",
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
