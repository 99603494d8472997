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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from expectations.checks import (
    CheckResult,
    dbt_quality_vars,
    published_rows_drop,
    record_results,
    run_checks,
)
from expectations.open_findings import OpenFatal, update_open_fatals, write_snapshot
from expectations.suites import latest_plausible
from expectations.validate import SuiteValidator
from ingest import key_check, lake
from ingest.landing import LandingFile
from ingest.migrations import LakeTooNew, Migration
from ingest.paths import IngestPaths
from ingest.run import IngestSummary, ingest_landing
from toning import (
    alerts,
    incremental,
    lake_health,
    memory,
    permissions,
    rebuild,
    spark,
    versions,
)
from toning.config import (
    DEFAULT_KEEP_VERSIONS,
    ENGINES,
    RUN_STAGES,
    DataDir,
    absolute,
    dbt_memory_limit,
    refresh_clock,
)
from toning.dbt import DBT_PROJECT_DIR, DbtResult, NodeProgress, StartedDbt, run_dbt

Progress = Callable[[str], None]
PUBLISHED_OPS_TABLES = tuple(t for t in lake.OPS_TABLES if t not in lake.UNPUBLISHED_OPS_TABLES)


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
    validate_s: float  # the expectation suites, during ingest (waiting for GX's import included)
    build_s: float


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def refresh_lock(data: DataDir) -> Iterator[None]:
    """One refresh at a time per data directory (the lock dies with the process)."""
    try:
        permissions.create_private_folder(data.state)
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
    keep: int = DEFAULT_KEEP_VERSIONS,
    accept_drop: bool = False,
    new_key: bool = False,
    engine: str = ENGINES[0],
) -> RefreshResult:
    """One refresh. `new_key` (`toning rotate-key`) makes it a --full whose new lake and identity
    store are keyed with a new key, which replaces the key file when they replace the stores.
    `engine` builds the marts: duckdb, or spark (checked before anything is touched)."""
    full = full or new_key
    with _alert_unless_recorded(data, progress) as run:
        landing = absolute(landing)
        _require_folder(landing, "landing folder", must_exist=True)
        _require_folder(data.root, "data folder", must_exist=False)
        latest = _checked_settings(engine)
        started = time.monotonic()
        run_id = new_run_id()
        stages = StageClock()
        with refresh_lock(data):
            lake_readable = _open_run(data, run_id, full, progress)
            run.recorded = True  # from here on, the run's own row carries its alert
            try:
                if new_key:
                    progress("rotate-key: every archived file is keyed again, under a new key")
                else:
                    _check_key(data, lake_readable, progress)
                summary, docs, dbt = _run_stages(
                    landing,
                    data,
                    run_id,
                    (full, lake_readable, accept_drop, new_key),
                    latest,
                    (dbt_project, engine),
                    stages,
                    progress,
                )
                with stages.stage("publish"):
                    _publish(data, full, lake_readable, keep, progress)
            except BaseException as error:
                if full:
                    rebuild.discard(data)
                # The lake in use: the old one, unless a --full was committed just before the error.
                _record_failure(data, run_id, started, error, stages, progress)
                if isinstance(error, Exception):  # not a Ctrl+C: someone is watching then
                    alerts.after_run(data, run_id, progress, _first_line(error))
                raise
            _record_run_end(data, run_id, "published", started, summary=summary, stages=stages)
            alerts.after_run(data, run_id, progress)
    return RefreshResult(
        run_id, summary, dbt.elapsed_s, time.monotonic() - started, data.warehouse, docs
    )


def _checked_settings(engine: str) -> date:
    """The latest plausible date (from the clock), after checking every setting a refresh
    needs, so that a wrong one fails now, not after the ingest: the clock, dbt's memory limit,
    and what the engine needs installed."""
    try:
        latest = latest_plausible(refresh_clock())
        dbt_memory_limit()
        if engine == "spark":
            spark.require()
    except (ValueError, spark.SparkUnavailable) as error:
        raise RefreshError(str(error)) from None
    return latest


@dataclass
class _RunRecord:
    recorded: bool = False


@contextmanager
def _alert_unless_recorded(data: DataDir, progress: Progress) -> Iterator[_RunRecord]:
    """A refresh that fails before its run is recorded in the lake (a missing landing folder,
    an unusable data folder, a lake that cannot be opened) still alerts. Another refresh
    running is no failure, and a Ctrl+C has someone watching."""
    run = _RunRecord()
    try:
        yield run
    except RefreshLocked:
        raise
    except Exception as error:
        if not run.recorded:
            alerts.before_run(data, _first_line(error), progress)
        raise


def new_run_id() -> str:
    """A run's id: its start in UTC, so ids sort by time (kept versions are named by them)."""
    return _now().strftime("%Y%m%dT%H%M%S%fZ")


class StageClock:
    """Seconds spent in each stage of a run, a failed stage's time included, and each stage's
    peak resident memory: the refresh's own, plus its child's for a stage that runs one (dbt),
    since both are resident at once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        memory.reset_peak()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)
            self.note_peak(name, memory.peak_bytes())

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)

    def note_peak(self, name: str, peak: int | None) -> None:
        if peak is not None:
            self.peak_bytes[name] = max(peak, self.peak_bytes.get(name, 0))

    def add_child_peak(self, name: str, peak: int | None) -> None:
        if peak is not None:
            self.peak_bytes[name] = self.peak_bytes.get(name, 0) + peak


def _run_stages(
    landing: Path,
    data: DataDir,
    run_id: str,
    flags: tuple[bool, bool, bool, bool],
    latest: date,
    build: tuple[Path, str],
    stages: StageClock,
    progress: Progress,
) -> tuple[IngestSummary, DataDocs | None, DbtResult]:
    """Ingest, validation, dbt build and the quality gate: everything before the publish.
    `flags`: a --full, whether the lake in use can be read, an accepted drop of rows, a new key;
    `build`: the dbt project and the engine that builds it."""
    full, _, accept_drop, _ = flags
    dbt_project, engine = build
    with _started_ahead(data, full, dbt_project, engine) as ahead:
        summary, docs, lake_path = _ingest(landing, data, run_id, flags, latest, stages, progress)
        with stages.stage("dbt"):
            if engine == "spark":
                dbt = _build_on_spark(data, lake_path, run_id, dbt_project, progress)
            else:
                dbt = _build(data, lake_path, run_id, full, dbt_project, progress, ahead)
    stages.add_child_peak("dbt", dbt.peak_rss_bytes)
    with stages.stage("checks"):
        _quality_gate(data, lake_path, run_id, dbt.run_results_path, accept_drop, progress)
        _copy_ops_tables(data, lake_path, run_id)
    return summary, docs, dbt


@dataclass(frozen=True)
class _Ahead:
    """What the dbt stage needs, started with the ingest to run beside it: dbt's process, its
    imports done (toning/dbt_process.py, about 2 s), and the copy of the published warehouse
    that an incremental build starts from (10 GB at 10m, 13 s of a night otherwise), made when
    the build looks incremental before the ingest; `_build` decides after it."""

    dbt: StartedDbt | None = None
    published_copy: Future[None] | None = None


@contextmanager
def _started_ahead(data: DataDir, full: bool, dbt_project: Path, engine: str) -> Iterator[_Ahead]:
    if engine != "duckdb":  # Spark's dbt runs with another profile, from scratch
        yield _Ahead()
        return
    target = _empty_build_folder(data)
    # Leaving waits for the copy and ends a dbt process that was not used.
    with StartedDbt() as dbt, ThreadPoolExecutor(1, thread_name_prefix="copy-published") as pool:
        fingerprint = incremental.fingerprint(dbt_project, dbt_quality_vars())
        copy = None
        if (
            not full
            and incremental.why_not_incremental(data.warehouse, data.lake, fingerprint) is None
        ):
            copy = pool.submit(incremental.start_from_published, data.warehouse, target)
        yield _Ahead(dbt, copy)


def _ingest(
    landing: Path,
    data: DataDir,
    run_id: str,
    flags: tuple[bool, bool, bool, bool],
    latest: date,
    stages: StageClock,
    progress: Progress,
) -> tuple[IngestSummary, DataDocs | None, Path]:
    """The ingest and its validation: (its summary, the Data Docs, the lake dbt reads)."""
    full, lake_readable, _, new_key = flags
    with stages.stage("ingest"):
        paths, replay = _stores(data, full, progress, lake_readable, new_key)
        if not lake_readable:  # a --full over a damaged lake: the run lives in the new one
            _record_run_start(paths.lake, run_id, full)
        progress(f"ingest: {landing}")
        suites = SuiteValidator(latest=latest)
        summary = ingest_landing(landing, paths, run_id, progress, replay, suites=suites)
    # The expectation suites run inside the ingest: their time counts as validation, and their
    # process's memory with the ingest's.
    stages.add_child_peak("ingest", suites.peak_bytes())
    stages.add("ingest", -suites.seconds)
    stages.add("validation", suites.seconds)
    progress(
        f"ingest: {len(summary.files)} new file(s), {summary.total('rows_loaded'):,} rows"
        f" loaded, {summary.total('rows_quarantined'):,} quarantined,"
        f" {summary.total('rows_duplicate'):,} duplicate; {summary.unchanged} unchanged"
    )
    with stages.stage("validation"):
        docs = _data_docs(data, suites, progress)
        memory.give_back()  # before dbt's build, whose memory the machine holds besides ours
    return summary, docs, paths.lake


def _publish(data: DataDir, full: bool, lake_readable: bool, keep: int, progress: Progress) -> None:
    """Swap in a --full's lake (a damaged one kept aside), keep the warehouse being replaced,
    publish by atomic rename."""
    if full:
        rebuild.commit(data, keep_in_use_as=None if lake_readable else _corrupt_name(data))
        progress("full rebuild: the rebuilt lake and identity store are now in use")
    # Kept by hard link before the rename: the published path never goes missing.
    versions.keep_published(data, keep, progress)
    os.replace(data.build_dir / data.dbt_manifest.name, data.dbt_manifest)
    os.replace(data.build_dir / data.warehouse.name, data.warehouse)
    progress(f"published {data.warehouse}")
    versions.prune(data, keep, progress)


def _require_folder(path: Path, what: str, must_exist: bool) -> None:
    if path.exists() and not path.is_dir():
        raise RefreshError(f"{what} {path} is a file, not a folder")
    if must_exist and not path.exists():
        raise RefreshError(f"{what} {path} does not exist")


def _start_run(data: DataDir, run_id: str, full: bool, progress: Progress) -> bool:
    """Record this run in the lake in use; False when that lake cannot be opened and this is a
    --full, which then rebuilds without it. Any other lake problem stops the run, in one line."""
    try:
        for migration in _record_run_start(data.lake, run_id, full):
            progress(f"lake migrated to schema version {migration.version}: {migration.change}")
        return True
    except LakeTooNew as too_new:
        if not full:
            raise RefreshError(f"{data.lake}: {too_new}") from None
        progress(f"full rebuild without the lake in use: {too_new}")
        return False
    except duckdb.Error as error:
        problem = lake_health.explain(data.lake, error)
        if problem.locked or not full:
            raise RefreshError(problem.message) from None
        progress(f"full rebuild without the lake in use, which cannot be opened: {problem.reason}")
        return False


def _open_run(data: DataDir, run_id: str, full: bool, progress: Progress) -> bool:
    """Under the lock: finish a --full cut short, refuse a data folder open to others, record
    the run's start, and make the stores private. Whether the lake in use can be read."""
    if recovered := rebuild.recover(data):
        progress(f"full rebuild: {recovered}")
    if refused := permissions.refusal(data):
        raise RefreshError(refused)
    permissions.create_private_folder(data.archive)
    lake_readable = _start_run(data, run_id, full, progress)
    _make_stores_private(data)
    return lake_readable


def _make_stores_private(data: DataDir) -> None:
    """The lake and the identity store made private before a record reaches them: the identity
    store is created with the lake, on the first night, for that."""
    if not data.identity.exists():
        with lake.connect(data.identity) as con:
            lake.create_identity_store(con)
    permissions.make_private(data)


def _check_key(data: DataDir, lake_readable: bool, progress: Progress) -> None:
    """Stop before anything is keyed when the key is not the one the lake in use was built
    with (ingest/key_check.py)."""
    if not lake_readable:
        progress("key check: skipped, the lake in use cannot be read (the rebuilt one records it)")
        return
    try:
        key_check.check(data.lake, data.identity, data.key_file, progress)
    except key_check.KeyCheckFailed as error:
        raise RefreshError(str(error)) from None


def _corrupt_name(data: DataDir) -> Path:
    return data.lake.with_name(f"lake.corrupt-{_now():%Y%m%dT%H%M%S}.duckdb")


def _stores(
    data: DataDir, full: bool, progress: Progress, lake_readable: bool = True, new_key: bool = False
) -> tuple[IngestPaths, list[LandingFile]]:
    """Where this run's ingest writes, and the archived files it replays first.

    A plain refresh adds to the lake in use; a --full builds new stores beside it, after checking
    that the archive still holds every file the lake in use received. When that lake cannot be
    read, the published warehouse's copy of its records says what it had received (by its last
    publish; files received since are still in the landing zone unless a clinic removed them).
    """
    if not full:
        return data.ingest_paths(), []
    records = data.lake if lake_readable else _published_records(data, progress)
    replay, missing = rebuild.archived_files(data, records)
    if missing:
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise RefreshError(
            f"--full: {len(missing)} received file(s) missing from the archive {data.archive}"
            f" ({listed}); nothing was rebuilt and the lake in use is unchanged"
        )
    paths = rebuild.prepare(data, records, new_key)
    progress(
        f"full rebuild: replaying {len(replay)} archived file(s) into a new lake in"
        f" {data.rebuild_dir} (the lake in use stays until this refresh publishes)"
    )
    return paths, replay


def _published_records(data: DataDir, progress: Progress) -> Path:
    if not data.warehouse.exists():
        raise RefreshError(
            f"--full: the lake in use cannot be read and there is no published warehouse"
            f" {data.warehouse} whose records list the archived files; move {data.lake} aside"
            f" and refresh to rebuild from the landing zone alone"
        )
    progress(f"full rebuild: the list of received files and the run history from {data.warehouse}")
    return data.warehouse


def _data_docs(data: DataDir, suites: SuiteValidator, progress: Progress) -> DataDocs | None:
    """Great Expectations' Data Docs of this run's validations, when there were any."""
    if not suites.validated:
        return None
    progress(
        f"expectations: {suites.validated} file(s) validated in {suites.seconds:.1f} s"
        f" ({suites.runs} run(s) of the suites)"
    )
    started = time.monotonic()
    index = suites.build_docs(data.data_docs)
    progress(f"expectations: Data Docs in {index}")
    return DataDocs(index, suites.seconds, time.monotonic() - started)


def _build(
    data: DataDir,
    lake_path: Path,
    run_id: str,
    full: bool,
    dbt_project: Path,
    progress: Progress,
    ahead: _Ahead,
) -> DbtResult:
    """dbt build into the build folder: on top of a copy of the published warehouse (only the
    changed patients recomputed) when toning/incremental.py says it may, else from scratch."""
    if ahead.published_copy is not None:
        ahead.published_copy.result()  # a failed copy stops the refresh here
    # The warehouse measures' dbt tests take their limits from expectations/thresholds.yml.
    dbt_vars = dbt_quality_vars()
    project_fingerprint = incremental.fingerprint(dbt_project, dbt_vars)
    why_not = (
        "--full"
        if full
        else incremental.why_not_incremental(data.warehouse, lake_path, project_fingerprint)
    )
    if why_not is None:
        if ahead.published_copy is None:
            incremental.start_from_published(data.warehouse, _empty_build_folder(data))
        progress("dbt build: incremental, on the published warehouse (changed patients only)")
        # The seeds are the published warehouse's: the fingerprint says the project is unchanged.
        mode = ["--exclude", "resource_type:seed"]
    else:
        _empty_build_folder(data)  # of a copy made ahead in vain, too
        progress(f"dbt build: every model from scratch ({why_not})")
        mode = ["--full-refresh"]
    target = data.build_dir / data.warehouse.name
    # Unit tests check the models' logic, not the night's data: `make test` runs them (dbt's
    # advice is to leave them out of production builds), which saves seconds every night.
    result = run_dbt(
        ["build", *mode, "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars)],
        lake_path=lake_path,
        build_path=target,
        work_dir=data.state / "dbt",
        project_dir=dbt_project,
        on_line=NodeProgress(progress, "dbt build"),
        started=ahead.dbt,
    )
    _keep_manifest_or_stop(data, result, "dbt build")
    how = "incremental" if why_not is None else "full"
    incremental.record_build(lake_path, run_id, how, project_fingerprint)
    progress(f"dbt build ({how}): done in {result.elapsed_s:.1f} s")
    return result


def _build_on_spark(
    data: DataDir, lake_path: Path, run_id: str, dbt_project: Path, progress: Progress
) -> DbtResult:
    """dbt build on Spark (toning/spark.py), always from scratch, its tables copied into the
    build folder's DuckDB file. The engine is part of the build's fingerprint, so the next
    DuckDB night does not build incrementally on top of Spark's tables."""
    target = _empty_build_folder(data)
    dbt_vars = dbt_quality_vars()
    progress("dbt build on Spark: every model from scratch")
    result = spark.build(
        lake_path=lake_path,
        build_path=target,
        work_dir=data.state / "spark",
        dbt_vars=dbt_vars,
        project_dir=dbt_project,
        on_line=NodeProgress(progress, "dbt build on Spark"),
    )
    _keep_manifest_or_stop(data, result, "dbt build on Spark")
    built_by = incremental.fingerprint(dbt_project, {**dbt_vars, "engine": "spark"})
    incremental.record_build(lake_path, run_id, "full on spark", built_by)
    progress(f"dbt build on Spark: done in {result.elapsed_s:.1f} s")
    return result


def _empty_build_folder(data: DataDir) -> Path:
    """The build folder, emptied; the path of the warehouse file a build writes in it."""
    if data.build_dir.exists():
        shutil.rmtree(data.build_dir)
    data.build_dir.mkdir(parents=True)
    return data.build_dir / data.warehouse.name


def _keep_manifest_or_stop(data: DataDir, result: DbtResult, what: str) -> None:
    """Stop the refresh on a failed build; keep a good one's manifest beside its warehouse."""
    if not result.ok:
        raise RefreshError(
            f"{what} failed (exit {result.returncode}); nothing was published.\n"
            f"{result.output_tail}"
        )
    shutil.copyfile(
        result.run_results_path.with_name("manifest.json"), data.build_dir / data.dbt_manifest.name
    )


def _quality_gate(
    data: DataDir,
    lake_path: Path,
    run_id: str,
    run_results: Path,
    accept_drop: bool,
    progress: Progress,
) -> None:
    """Run the data-quality checks, keep every result, and stop on a failed fatal check."""
    with lake.connect(data.build_dir / data.warehouse.name) as con:
        lake.attach(con, lake_path, "lake")
        results = run_checks(con, run_id, run_results)
        results += published_rows_drop(con, data.warehouse, accepted=accept_drop)
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


def _record_run_start(lake_path: Path, run_id: str, full: bool) -> list[Migration]:
    """This run in the lake in use, where its end is recorded too, whatever happens; first the
    migrations an older lake lacks (under the lock: one refresh at a time). The ones applied."""
    with lake.connect(lake_path) as con:
        applied = lake.create_lake(con)
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
    return applied


def _record_failure(
    data: DataDir,
    run_id: str,
    started: float,
    error: BaseException,
    stages: StageClock,
    progress: Progress,
) -> None:
    """Record the failure, unless the lake cannot take it (a --full over a damaged lake that
    failed before its new lake was committed): then say so, and let the real error through."""
    try:
        _record_run_end(data, run_id, "failed", started, error=_first_line(error), stages=stages)
    except duckdb.Error as unrecorded:
        problem = lake_health.explain(data.lake, unrecorded)
        progress(f"this failure is not recorded in the lake: {problem.message}")


def _record_run_end(
    data: DataDir,
    run_id: str,
    status: str,
    started: float,
    summary: IngestSummary | None = None,
    error: str | None = None,
    stages: StageClock | None = None,
) -> None:
    stages = stages or StageClock()
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
            *(stages.seconds.get(name) for name in RUN_STAGES),
            *(stages.peak_bytes.get(name) for name in RUN_STAGES),
            run_id,
        ]
        stage_columns = "".join(f", {name}_s = ?" for name in RUN_STAGES)
        stage_columns += "".join(f", {name}_peak_bytes = ?" for name in RUN_STAGES)
        con.execute(
            "update ops.refresh_runs set finished_at = ?, status = ?, files_new = ?,"
            " rows_loaded = ?, rows_quarantined = ?, rows_duplicate = ?, duration_s = ?,"
            f" error = ?{stage_columns} where run_id = ?",
            values,
        )
        write_run_history(con, data.run_history)


RUN_HISTORY_LENGTH = 30


def write_run_history(con, path: Path) -> None:
    """The latest runs, newest first, replaced atomically (a reader sees the old or the new)."""
    stage_columns = "".join(f", {name}_s, {name}_peak_bytes" for name in RUN_STAGES)
    cursor = con.execute(
        "select run_id, started_at, finished_at, status, full_rebuild, files_new, rows_loaded,"
        f" rows_quarantined, duration_s, error{stage_columns}, rolled_back_to, dbt_build"
        " from ops.refresh_runs order by started_at desc limit ?",
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
