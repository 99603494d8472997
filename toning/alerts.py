"""Alerts at the end of a refresh: when it failed, when it publishes again after a failure, or
when a check's status changed, its JSON summary goes to the configured command and/or webhook
(toning/config.py: `alert_settings`).

An alert that cannot be delivered is logged as a progress line and nothing more: the refresh's
result and exit code are the same with or without it, so a broken pager never stops a night.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable

import duckdb

from expectations.open_findings import open_fatals
from ingest import lake
from toning.config import AlertSettings, DataDir, alert_settings

Progress = Callable[[str], None]
STDERR_SHOWN = 300


def after_run(data: DataDir, run_id: str, progress: Progress, error: str | None = None) -> None:
    """Alert on this run if it deserves one. Never raises: it runs while the refresh ends.
    A failed run (`error`, its first line) that the lake cannot tell about still gets its
    alert."""

    def summarise() -> dict:
        try:
            return run_summary(data, run_id)
        except (duckdb.Error, IndexError):  # a damaged lake, a run it could not record
            if error is None:
                raise
            return unrecorded_failure(data, error, run_id)

    _alert(summarise, progress)


def before_run(data: DataDir, error: str, progress: Progress) -> None:
    """Alert on a refresh that failed before it could record a run (a missing landing folder,
    a data folder it cannot use, a lake it cannot open): the pager must hear of those too.
    Never raises."""
    _alert(lambda: unrecorded_failure(data, error, None), progress)


def _alert(summarise: Callable[[], dict], progress: Progress) -> None:
    try:
        summary = summarise()
        summary["reasons"] = alert_reasons(summary)
        if not summary["reasons"]:
            return
        settings = alert_settings()
        if not settings.configured:
            progress("alert: none configured (set TONING_ALERT_COMMAND or TONING_ALERT_WEBHOOK)")
            return
        deliver(summary, settings, progress)
    except Exception as problem:  # whatever went wrong, the refresh's own result stands
        progress(f"alert: not sent: {type(problem).__name__}: {problem}")


def unrecorded_failure(data: DataDir, error: str, run_id: str | None) -> dict:
    """The summary of a failure that no run row holds: what the refresh itself knows."""
    host = socket.gethostname()
    return {
        "text": f"toning refresh failed on {host}: {error}",
        "run_id": run_id,
        "status": "failed",
        "previous_status": None,
        "error": error,
        "recorded": False,
        "data_dir": str(data.root),
        "host": host,
        "changed_checks": [],
    }


def run_summary(data: DataDir, run_id: str) -> dict:
    """The run as recorded in the lake in use: its outcome, counts, changed checks and the
    fatal findings still open."""
    with lake.connect(data.lake, read_only=True) as con:
        run = _rows(con, "select * from ops.refresh_runs where run_id = ?", [run_id])[0]
        [previous] = con.execute(
            "select max_by(status, started_at) from ops.refresh_runs where started_at < ?",
            [run["started_at"]],
        ).fetchone()
        counts = _counts(con, run_id)
        # A check failing on its first check is a change too: it passed by never being run.
        changed = _rows(
            con,
            "select check_name, subject, severity, status, previous_status, detail"
            " from ops.dq_results where run_id = ? and status <> coalesce(previous_status, 'pass')"
            " order by severity, check_name, subject",
            [run_id],
        )
        still_open = open_fatals(con)
    counts |= {"checks_changed": len(changed), "open_fatal_findings": len(still_open)}
    host = socket.gethostname()
    return {
        "text": f"toning refresh {run['status']} on {host}"
        + (f": {run['error']}" if run["error"] else ""),
        "run_id": run_id,
        "status": run["status"],
        "previous_status": previous,
        "error": run["error"],
        "started_at": str(run["started_at"]),
        "finished_at": str(run["finished_at"]),
        "duration_s": run["duration_s"],
        "full_rebuild": run["full_rebuild"],
        "counts": counts,
        "changed_checks": changed,
        "open_fatal_findings": [finding.describe() for finding in still_open],
        "recorded": True,
        "data_dir": str(data.root),
        "host": host,
    }


def _counts(con, run_id: str) -> dict[str, int]:
    """Files and rows from the ingest's own records (a failed run's end carries no counts),
    and the checks of this run."""
    [(files, loaded, quarantined, duplicate)] = con.execute(
        "select count(*), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0),"
        " coalesce(sum(rows_duplicate), 0) from ops.ingest_files where run_id = ?",
        [run_id],
    ).fetchall()
    [(checks, fatal, warn)] = con.execute(
        "select count(*), count(*) filter (status = 'fail' and severity = 'fatal'),"
        " count(*) filter (status = 'fail' and severity = 'warn')"
        " from ops.dq_results where run_id = ?",
        [run_id],
    ).fetchall()
    return {
        "files_new": files,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "rows_duplicate": duplicate,
        "checks": checks,
        "checks_failed_fatal": fatal,
        "checks_failed_warn": warn,
    }


def _rows(con, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def alert_reasons(summary: dict) -> list[str]:
    """Why this run deserves an alert; none on a quiet night (published, nothing changed)."""
    reasons = []
    if summary["status"] != "published":
        reasons.append(f"the refresh {summary['status']}: nothing was published")
    elif summary["previous_status"] not in (None, "published"):
        reasons.append(f"published again after a run that {summary['previous_status']}")
    if summary["changed_checks"]:
        reasons.append(f"{len(summary['changed_checks'])} check(s) changed status")
    return reasons


def deliver(summary: dict, settings: AlertSettings, progress: Progress) -> None:
    body = json.dumps(summary, default=str).encode()
    # Only the program's name and the webhook's host are logged: the rest may carry a token.
    if settings.command:
        problem = _run_command(settings.command, body, settings.timeout_s)
        outcome = f"failed: {problem}" if problem else "sent"
        progress(f"alert: command {os.path.basename(settings.command[0])} {outcome}")
    if settings.webhook:
        problem = _post(settings.webhook, body, settings.timeout_s)
        host = urllib.parse.urlsplit(settings.webhook).netloc or settings.webhook[:20]
        outcome = f"failed: {problem}" if problem else "sent"
        progress(f"alert: webhook {host} {outcome}")


def _run_command(command: list[str], body: bytes, timeout_s: float) -> str | None:
    """Run the alert command with the summary on stdin; what went wrong, or None."""
    try:
        # Its own process group, so a timeout kills whatever it started too.
        child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        return f"cannot start it: {error.strerror or error}"
    try:
        _, stderr = child.communicate(body, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return f"no answer within {timeout_s:g} s (killed)"
    if child.returncode != 0:
        said = stderr.decode(errors="replace").strip().replace("\n", " ")[-STDERR_SHOWN:]
        return f"exit {child.returncode}" + (f": {said}" if said else "")
    return None


def _post(url: str, body: bytes, timeout_s: float) -> str | None:
    """POST the summary to the webhook; what went wrong, or None."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return "TONING_ALERT_WEBHOOK is not an http(s) URL"
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "toning-refresh"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        return f"{type(error).__name__}: {reason}"
    return None
