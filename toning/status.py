"""`toning status`: what is published, what is kept, the last runs, and whether a refresh is
running, in one screen of plain text.

It reads only what a refresh leaves for readers (the published warehouse, read-only, the kept
versions' folders, refresh_history.json and the lock file), never the lake: it answers while a
refresh holds the lake, and never makes a refresh wait or fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from ingest import lake
from toning import versions
from toning.config import RUN_STAGES, DataDir

MAIN_MARTS = ("fct_sessions", "fct_courses", "fct_course_outcomes", "fct_side_effects")
LAST_RUNS = 8


def status_report(data: DataDir) -> str:
    lines = [f"Data folder: {data.root}"]
    lines += _published(data)
    lines += _kept(data)
    lines.append(_running(data))
    lines += _runs(data)
    return "\n".join(lines) + "\n"


def _published(data: DataDir) -> list[str]:
    if not data.warehouse.is_file():
        return ["Published: nothing published yet (run `toning refresh`)."]
    size = _size(data.warehouse.stat().st_size)
    run = versions.published_run(data.warehouse)
    if run is None:
        return [f"Published: {data.warehouse} ({size}), but it cannot be read or names no run"]
    lines = [f"Published: run {run.run_id}, at {_when(run.published_at)} UTC, {size}"]
    lines.append("  rows: " + ", ".join(_mart_rows(data.warehouse)))
    return lines


def _mart_rows(warehouse: Path) -> list[str]:
    counts = []
    try:
        with lake.connect(warehouse, read_only=True) as con:
            for mart in MAIN_MARTS:
                try:
                    rows = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
                    counts.append(f"{mart} {rows:,}")
                except duckdb.CatalogException:
                    counts.append(f"{mart} (missing)")
    except duckdb.Error as error:
        counts.append(f"cannot be read: {str(error).splitlines()[0]}")
    return counts


def _kept(data: DataDir) -> list[str]:
    kept = versions.kept_versions(data)
    if not kept:
        return ["Kept versions: none (`toning rollback` has nothing to put back)"]
    total = _size(sum(version.size_bytes for version in kept))
    lines = [f"Kept versions ({len(kept)}, {total}; `toning rollback --to RUN_ID`):"]
    for version in reversed(kept):
        when = (version.published_at or "?")[:19].replace("T", " ")
        lines.append(f"  {version.run_id}  published {when}  {_size(version.size_bytes)}")
    return lines


def _running(data: DataDir) -> str:
    holder = lock_holder(data.lock_file)
    if holder is None:
        return "Refresh running now: no"
    return f"Refresh running now: yes (pid {holder})"


def lock_holder(lock_file: Path) -> int | None:
    """The pid holding the refresh lock, or None. Looks without taking the lock (taking it,
    even for an instant, could make a refresh starting then fail as 'already running')."""
    try:
        inode = lock_file.stat().st_ino
        recorded = int(lock_file.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    try:
        with open("/proc/locks") as locks:
            table = locks.read().splitlines()
    except OSError:
        return recorded if recorded and _alive(recorded) else None
    for line in table:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146434 0 EOF": the pid, then device:inode.
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return int(fields[4])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs(data: DataDir) -> list[str]:
    try:
        runs = json.loads(data.run_history.read_text())[:LAST_RUNS]
    except FileNotFoundError:
        return ["Last runs: none recorded yet"]
    except (OSError, ValueError) as error:
        return [f"Last runs: cannot read {data.run_history}: {error}"]
    lines = ["Last runs (newest first):"]
    lines += [_run_line(run) for run in runs]
    # A rollback has no stages: show the newest refresh's.
    refreshes = [run for run in runs if run.get("status") != "rolled_back"]
    if refreshes:
        last = refreshes[0]
        lines.append(f"Stages of the last refresh ({last['run_id']}): {_stage_times(last)}")
    return lines


def _run_line(run: dict) -> str:
    status = run.get("status") or "?"
    if run.get("rolled_back_to"):
        status += f" to {run['rolled_back_to']}"
    duration = run.get("duration_s")
    took = "" if duration is None else f"{duration:.1f} s"
    counts = ""
    if run.get("files_new") is not None:
        counts = f"{run['files_new']} file(s), {run.get('rows_loaded') or 0:,} rows"
    line = f"  {_when(run.get('started_at'))}  {run['run_id']}  {status:<12} {took:>8}  {counts}"
    if run.get("error"):
        line += f"\n      error: {str(run['error']).splitlines()[0][:160]}"
    return line.rstrip()


def _stage_times(run: dict) -> str:
    """Each stage's time, and its peak memory where recorded (dbt's with the dbt process)."""
    times = [
        f"{name} {run[f'{name}_s']:.1f} s"
        + (f" ({run['dbt_build']})" if name == "dbt" and run.get("dbt_build") else "")
        + (f" peak {_size(run[f'{name}_peak_bytes'])}" if run.get(f"{name}_peak_bytes") else "")
        for name in RUN_STAGES
        if run.get(f"{name}_s") is not None
    ]
    return ", ".join(times) or "not recorded"


def _when(moment) -> str:
    return "?" if moment is None else str(moment)[:19].replace("T", " ")


def _size(size_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size_bytes < 1024 or unit == "GiB":
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1024
    return f"{size_bytes:.1f} GiB"
