"""The nightly refresh: ingest -> dbt build -> publish, one stage after another.

The warehouse is built privately in `state/build/warehouse.duckdb` and published by an atomic
rename over `warehouse.duckdb`, so readers see either the old or the new file, never a half-built
one, and any failure leaves the last published warehouse exactly as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from expectations.checks import CheckResult, record_results, run_checks
from expectations.validate import SuiteValidator
from ingest import lake
from ingest.landing import LandingFile, archive_path
from ingest.run import IngestSummary, ingest_landing
from toning.config import DataDir
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
    data.state.mkdir(parents=True, exist_ok=True)
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
    if not landing.is_dir():
        raise RefreshError(f"landing folder {landing} does not exist")
    started = time.monotonic()
    run_id = _now().strftime("%Y%m%dT%H%M%S%fZ")
    with refresh_lock(data):
        data.archive.mkdir(parents=True, exist_ok=True)
        _record_run_start(data, run_id, full)
        try:
            replay: list[LandingFile] = []
            if full:
                replay = _reset_lake(data)
                progress(f"full rebuild: replaying {len(replay)} archived file(s) into a new lake")
            progress(f"ingest: {landing}")
            suites = SuiteValidator()
            summary = ingest_landing(
                landing, data.ingest_paths(), run_id, progress, replay, suites=suites
            )
            progress(
                f"ingest: {len(summary.files)} new file(s), {summary.total('rows_loaded'):,} rows"
                f" loaded, {summary.total('rows_quarantined'):,} quarantined,"
                f" {summary.total('rows_duplicate'):,} duplicate; {summary.unchanged} unchanged"
            )
            docs = _data_docs(data, suites, progress)
            dbt = _build(data, dbt_project, progress)
            dbt_seconds = dbt.elapsed_s
            _quality_gate(data, run_id, dbt.run_results_path, progress)
            _copy_ops_tables(data, run_id)
            os.replace(data.build_dir / data.warehouse.name, data.warehouse)
            progress(f"published {data.warehouse}")
        except BaseException as error:
            _record_run_end(data, run_id, "failed", started, error=_first_line(error))
            raise
        _record_run_end(data, run_id, "published", started, summary=summary)
    return RefreshResult(
        run_id, summary, dbt_seconds, time.monotonic() - started, data.warehouse, docs
    )


def _data_docs(data: DataDir, suites: SuiteValidator, progress: Progress) -> DataDocs | None:
    """Great Expectations' Data Docs of this run's validations, when there were any."""
    if not suites.validated:
        return None
    progress(f"expectations: {suites.validated} file(s) validated in {suites.seconds:.1f} s")
    started = time.monotonic()
    index = suites.build_docs(data.data_docs)
    progress(f"expectations: Data Docs in {index}")
    return DataDocs(index, suites.seconds, time.monotonic() - started)


def _build(data: DataDir, dbt_project: Path, progress: Progress) -> DbtResult:
    target = data.build_dir / data.warehouse.name
    if data.build_dir.exists():
        shutil.rmtree(data.build_dir)
    data.build_dir.mkdir(parents=True)
    progress("dbt build: models and tests")
    result = run_dbt(
        ["build"],
        lake_path=data.lake,
        build_path=target,
        work_dir=data.state / "dbt",
        project_dir=dbt_project,
    )
    if not result.ok:
        raise RefreshError(
            f"dbt build failed (exit {result.returncode}); nothing was published.\n"
            f"{result.output_tail}"
        )
    progress(f"dbt build: done in {result.elapsed_s:.1f} s")
    return result


def _quality_gate(data: DataDir, run_id: str, run_results: Path, progress: Progress) -> None:
    """Run the data-quality checks, keep every result, and stop on a failed fatal check."""
    with lake.connect(data.build_dir / data.warehouse.name) as con:
        con.execute(f"attach '{data.lake}' as lake (read_only)")
        results = run_checks(con, run_id, run_results)
    with lake.connect(data.lake) as con:
        changed = record_results(con, run_id, results)
    for result in changed:
        now = "passes" if result.passed else "fails"
        progress(f"data quality change: {result.describe()} now {now}")
    failed = [r for r in results if not r.passed]
    for result in failed:
        progress(f"data quality {result.severity}: {result.describe()}")
    progress(f"data quality: {len(results) - len(failed)} of {len(results)} checks passed")
    fatal = [r for r in failed if r.severity == "fatal"]
    if fatal:
        raise RefreshError(
            "data-quality gate: "
            + "; ".join(_shorten(r) for r in fatal)
            + " (every result is in ops.dq_results)"
        )


def _shorten(result: CheckResult) -> str:
    return result.describe()[:300]


def _copy_ops_tables(data: DataDir, run_id: str) -> None:
    """The ingest's records go into the published file, this run marked as published."""
    with lake.connect(data.build_dir / data.warehouse.name) as con:
        con.execute(f"attach '{data.lake}' as lake (read_only)")
        con.execute("create schema if not exists ops")
        for table in PUBLISHED_OPS_TABLES:
            con.execute(f"create or replace table ops.{table} as select * from lake.ops.{table}")
        con.execute(
            "update ops.refresh_runs set status = 'published', finished_at = ? where run_id = ?",
            [_now(), run_id],
        )


def _reset_lake(data: DataDir) -> list[LandingFile]:
    """Set the lake aside for a new one; return the archived files to replay into it.

    Files are replayed in the order they first arrived, under their landing names; the run
    history carries over.
    """
    previous = data.lake.with_suffix(".previous.duckdb")
    os.replace(data.lake, previous)
    if data.identity.exists():
        os.replace(data.identity, data.identity.with_suffix(".previous.duckdb"))
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
        con.execute(f"attach '{previous}' as previous (read_only)")
        con.execute("insert into ops.refresh_runs select * from previous.ops.refresh_runs")
        received = con.execute(
            "select path, feed, sha256 from previous.ops.ingest_files"
            " where status not in ('duplicate_file', 'ignored') order by loaded_at, path"
        ).fetchall()
    replay = []
    for relpath, feed, sha256 in received:
        archived = archive_path(data.archive, sha256, relpath)
        if not archived.exists():
            raise RefreshError(f"{relpath} is missing from the archive ({archived})")
        stat = archived.stat()
        replay.append(LandingFile(archived, relpath, feed, stat.st_size, stat.st_mtime_ns))
    return replay


def _record_run_start(data: DataDir, run_id: str, full: bool) -> None:
    with lake.connect(data.lake) as con:
        lake.create_lake(con)
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:500]
