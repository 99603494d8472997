"""The nightly refresh: ingest -> dbt build -> publish, one stage after another.

The warehouse is built privately in `state/build/warehouse.duckdb` and published by an atomic
rename over `warehouse.duckdb`, so readers see either the old or the new file, never a half-built
one, and any failure leaves the last published warehouse exactly as it was. A `--full` rebuilds
the lake beside the one in use (toning/rebuild.py) and swaps it in just before publishing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from expectations.checks import CheckResult, dbt_quality_vars, record_results, run_checks
from expectations.open_findings import OpenFatal, update_open_fatals, write_snapshot
from expectations.suites import latest_plausible
from expectations.validate import SuiteValidator
from ingest import lake
from ingest.landing import LandingFile
from ingest.paths import IngestPaths
from ingest.run import IngestSummary, ingest_landing
from toning import alerts, rebuild
from toning.config import DataDir, absolute, refresh_clock
from toning.dbt import DBT_PROJECT_DIR, DbtResult, run_dbt

Progress = Callable[[str], None]
PUBLISHED_OPS_TABLES = tuple(lake.OPS_TABLES)


class RefreshError(Exception):
    """A stage failed; nothing was published."""


class RefreshLocked(RefreshError):
    pass


@dataclass
class RefreshResult:
    run_id: str
    ingest: IngestSummary
    dbt_seconds: float
    seconds: float
    warehouse: Path
    data_docs: DataDocs | None  # None when no file needed validating


@dataclass(frozen=True)
class DataDocs:
    index: Path
    validate_s: float  # the expectation suites, during ingest (GX's import included)
    build_s: float


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def refresh_lock(data: DataDir) -> Iterator[None]:
    """One refresh at a time per data directory (the lock dies with the process)."""
    try:
        data.state.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RefreshError(f"cannot use data folder {data.root}: {error.strerror}") from error
    with open(data.lock_file, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RefreshLocked(
                f"another refresh is running on {data.root} (lock {data.lock_file})"
            ) from error
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def run_refresh(
    landing: Path,
    data: DataDir,
    full: bool = False,
    progress: Progress = lambda _: None,
    dbt_project: Path = DBT_PROJECT_DIR,
) -> RefreshResult:
    landing = absolute(landing)
    _require_folder(landing, "landing folder", must_exist=True)
    _require_folder(data.root, "data folder", must_exist=False)
    try:
        latest = latest_plausible(refresh_clock())
    except ValueError as error:
        raise RefreshError(str(error)) from None
    started = time.monotonic()
    run_id = _now().strftime("%Y%m%dT%H%M%S%fZ")
    with refresh_lock(data):
        if recovered := rebuild.recover(data):
            progress(f"full rebuild: {recovered}")
        data.archive.mkdir(parents=True, exist_ok=True)
        _record_run_start(data, run_id, full)
        try:
            paths, replay = _stores(data, full, progress)
            progress(f"ingest: {landing}")
            suites = SuiteValidator(latest=latest)
            summary = ingest_landing(landing, paths, run_id, progress, replay, suites=suites)
            progress(
                f"ingest: {len(summary.files)} new file(s), {summary.total('rows_loaded'):,} rows"
                f" loaded, {summary.total('rows_quarantined'):,} quarantined,"
                f" {summary.total('rows_duplicate'):,} duplicate; {summary.unchanged} unchanged"
            )
            docs = _data_docs(data, suites, progress)
            dbt = _build(data, paths.lake, dbt_project, progress)
            dbt_seconds = dbt.elapsed_s
            _quality_gate(data, paths.lake, run_id, dbt.run_results_path, progress)
            _copy_ops_tables(data, paths.lake, run_id)
            if full:
                rebuild.commit(data)
                progress("full rebuild: the rebuilt lake and identity store are now in use")
            os.replace(data.build_dir / data.dbt_manifest.name, data.dbt_manifest)
            os.replace(data.build_dir / data.warehouse.name, data.warehouse)
            progress(f"published {data.warehouse}")
        except BaseException as error:
            if full:
                rebuild.discard(data)
            # The lake in use: the old one, unless a --full was committed just before the error.
            _record_run_end(data, run_id, "failed", started, error=_first_line(error))
            if isinstance(error, Exception):  # not a Ctrl+C: someone is watching then
                alerts.after_run(data, run_id, progress)
            raise
        _record_run_end(data, run_id, "published", started, summary=summary)
        alerts.after_run(data, run_id, progress)
    return RefreshResult(
        run_id, summary, dbt_seconds, time.monotonic() - started, data.warehouse, docs
    )


def _require_folder(path: Path, what: str, must_exist: bool) -> None:
    if path.exists() and not path.is_dir():
        raise RefreshError(f"{what} {path} is a file, not a folder")
    if must_exist and not path.exists():
        raise RefreshError(f"{what} {path} does not exist")


def _stores(data: DataDir, full: bool, progress: Progress) -> tuple[IngestPaths, list[LandingFile]]:
    """Where this run's ingest writes, and the archived files it replays first.

    A plain refresh adds to the lake in use; a --full builds new stores beside it, after checking
    that the archive still holds every file the lake in use received.
    """
    if not full:
        return data.ingest_paths(), []
    replay, missing = rebuild.archived_files(data)
    if missing:
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise RefreshError(
            f"--full: {len(missing)} received file(s) missing from the archive {data.archive}"
            f" ({listed}); nothing was rebuilt and the lake in use is unchanged"
        )
    paths = rebuild.prepare(data)
    progress(
        f"full rebuild: replaying {len(replay)} archived file(s) into a new lake in"
        f" {data.rebuild_dir} (the lake in use stays until this refresh publishes)"
    )
    return paths, replay


def _data_docs(data: DataDir, suites: SuiteValidator, progress: Progress) -> DataDocs | None:
    """Great Expectations' Data Docs of this run's validations, when there were any."""
    if not suites.validated:
        return None
    progress(f"expectations: {suites.validated} file(s) validated in {suites.seconds:.1f} s")
    started = time.monotonic()
    index = suites.build_docs(data.data_docs)
    progress(f"expectations: Data Docs in {index}")
    return DataDocs(index, suites.seconds, time.monotonic() - started)


def _build(data: DataDir, lake_path: Path, dbt_project: Path, progress: Progress) -> DbtResult:
    target = data.build_dir / data.warehouse.name
    if data.build_dir.exists():
        shutil.rmtree(data.build_dir)
    data.build_dir.mkdir(parents=True)
    progress("dbt build: models and tests")
    # The warehouse measures' dbt tests take their limits from expectations/thresholds.yml.
    result = run_dbt(
        ["build", "--vars", json.dumps(dbt_quality_vars())],
        lake_path=lake_path,
        build_path=target,
        work_dir=data.state / "dbt",
        project_dir=dbt_project,
    )
    if not result.ok:
        raise RefreshError(
            f"dbt build failed (exit {result.returncode}); nothing was published.\n"
            f"{result.output_tail}"
        )
    shutil.copyfile(
        result.run_results_path.with_name("manifest.json"), data.build_dir / data.dbt_manifest.name
    )
    progress(f"dbt build: done in {result.elapsed_s:.1f} s")
    return result


def _quality_gate(
    data: DataDir, lake_path: Path, run_id: str, run_results: Path, progress: Progress
) -> None:
    """Run the data-quality checks, keep every result, and stop on a failed fatal check."""
    with lake.connect(data.build_dir / data.warehouse.name) as con:
        lake.attach(con, lake_path, "lake")
        results = run_checks(con, run_id, run_results)
    with lake.connect(lake_path) as con:
        changed = record_results(con, run_id, results)
        still_open = update_open_fatals(con, run_id, results)
    write_snapshot(data.open_fatals, still_open)
    for result in changed:
        now = "passes" if result.passed else "fails"
        progress(f"data quality change: {result.describe()} now {now}")
    failed = [r for r in results if not r.passed]
    for result in failed:
        progress(f"data quality {result.severity}: {result.describe()}")
    progress(f"data quality: {len(results) - len(failed)} of {len(results)} checks passed")
    fatal = [r for r in failed if r.severity == "fatal"]
    # Findings of earlier runs that this run's checks could not close (see open_findings.py).
    earlier = [finding for finding in still_open if finding.last_seen_run != run_id]
    if fatal or earlier:
        raise RefreshError(_gate_message(fatal, earlier, still_open, data))


def _gate_message(
    fatal: list[CheckResult], earlier: list[OpenFatal], still_open: list[OpenFatal], data: DataDir
) -> str:
    """One line (the run history keeps a failure's first line): what failed, what is still
    open, and how to acknowledge it."""
    parts = []
    if fatal:
        listed = "; ".join(_shorten(result.describe()) for result in fatal)
        parts.append(f"{listed} (every result is in ops.dq_results)")
    if earlier:
        listed = "; ".join(_shorten(finding.describe()) for finding in earlier)
        parts.append(f"open fatal finding(s) of earlier runs, not acknowledged: {listed}")
    commands = "; ".join(dict.fromkeys(f.ack_command(data.root) for f in still_open))
    hint = (
        f". A fatal finding blocks every publish until its cause is gone or it is acknowledged"
        f" once dealt with: {commands}"
        if commands
        else ""
    )
    return "data-quality gate: " + ". ".join(parts) + hint


def _shorten(text: str) -> str:
    return text[:300]


def _copy_ops_tables(data: DataDir, lake_path: Path, run_id: str) -> None:
    """The ingest's records go into the published file, this run marked as published."""
    with lake.connect(data.build_dir / data.warehouse.name) as con:
        lake.attach(con, lake_path, "lake")
        con.execute("create schema if not exists ops")
        for table in PUBLISHED_OPS_TABLES:
            con.execute(f"create or replace table ops.{table} as select * from lake.ops.{table}")
        con.execute(
            "update ops.refresh_runs set status = 'published', finished_at = ? where run_id = ?",
            [_now(), run_id],
        )


def _record_run_start(data: DataDir, run_id: str, full: bool) -> None:
    """This run in the lake in use, where its end is recorded too, whatever happens."""
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        # Under the lock, a run still 'running' is one whose process died (killed, crashed).
        con.execute(
            "update ops.refresh_runs set status = 'interrupted',"
            " error = 'the refresh process ended before the run did (killed?)'"
            " where status = 'running'"
        )
        con.execute(
            "insert into ops.refresh_runs (run_id, started_at, status, full_rebuild)"
            " values (?, ?, 'running', ?)",
            [run_id, _now(), full],
        )


def _record_run_end(
    data: DataDir,
    run_id: str,
    status: str,
    started: float,
    summary: IngestSummary | None = None,
    error: str | None = None,
) -> None:
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        values = [
            _now(),
            status,
            None if summary is None else len(summary.files),
            None if summary is None else summary.total("rows_loaded"),
            None if summary is None else summary.total("rows_quarantined"),
            None if summary is None else summary.total("rows_duplicate"),
            round(time.monotonic() - started, 3),
            error,
            run_id,
        ]
        con.execute(
            "update ops.refresh_runs set finished_at = ?, status = ?, files_new = ?,"
            " rows_loaded = ?, rows_quarantined = ?, rows_duplicate = ?, duration_s = ?,"
            " error = ? where run_id = ?",
            values,
        )
        _write_run_history(con, data.run_history)


RUN_HISTORY_LENGTH = 30


def _write_run_history(con, path: Path) -> None:
    """The latest runs, newest first, replaced atomically (a reader sees the old or the new)."""
    cursor = con.execute(
        "select run_id, started_at, finished_at, status, full_rebuild, files_new, rows_loaded,"
        " rows_quarantined, duration_s, error from ops.refresh_runs"
        " order by started_at desc limit ?",
        [RUN_HISTORY_LENGTH],
    )
    names = [column[0] for column in cursor.description]
    runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(runs, default=str, indent=1))
    os.replace(scratch, path)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:500]
