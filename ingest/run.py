"""Ingest a landing zone into the lake: each new file read, typed, checked, archived, recorded.

For every file, rows_read = rows_loaded + rows_quarantined + rows_duplicate, and the file's
rows, its quarantined rows and its `ops.ingest_files` record are committed together, so an
interrupted ingest leaves the lake as it was before that file and simply resumes next time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from expectations.validate import Batch, SuiteValidator, Verdict
from ingest import lake
from ingest.conform import HELPER_SUFFIXES, ClinicCalendar, MissingColumns, conform
from ingest.feeds import FEEDS, Feed
from ingest.landing import LandingFile, archive_file, discover, sha256_of
from ingest.pseudonymise import PatientKeyer, load_keyer
from ingest.readers import RECORD_NUMBER, RawBatch, UnreadableFile, file_format, read_batch

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IngestPaths:
    lake: Path
    identity: Path  # restricted: patient_ref and date of birth per pseudonym
    archive: Path
    work: Path
    key_file: Path


@dataclass
class FileResult:
    path: str
    feed: str
    sha256: str
    status: str  # loaded | quarantined | empty | duplicate_file
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_with_findings: int = 0  # loaded with an informational value nulled
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestSummary:
    files: list[FileResult]
    unchanged: int
    in_flight: list[str]
    unknown_folders: list[str]

    def total(self, attribute: str) -> int:
        return sum(getattr(result, attribute) for result in self.files)


def ingest_landing(
    landing: Path,
    paths: IngestPaths,
    run_id: str,
    progress: Progress = lambda _: None,
    replay: list[LandingFile] | None = None,
    suites: SuiteValidator | None = None,
) -> IngestSummary:
    """Load every file not loaded before: first `replay` (archived files, for a full
    rebuild), then the landing zone. Each file is validated by `suites` (one per refresh,
    so GX is imported once) before anything of it is loaded."""
    keyer = load_keyer(paths.key_file)
    paths.work.mkdir(parents=True, exist_ok=True)
    discovery = discover(landing)
    for name in discovery.in_flight:
        progress(f"skipped {name}: still being written")
    for name in discovery.unknown_folders:
        progress(f"ignored folder {name}/: not a feed")

    unchanged = 0
    suites = suites or SuiteValidator()
    with lake.connect(paths.lake) as con:
        lake.create_lake(con)
        seen = _SeenFiles.load(con)
        with lake.connect(paths.identity) as identity:
            lake.create_identity_store(identity)
            loader = _Loader(con, identity, keyer, suites, run_id, _clinic_calendar(con), progress)
            for landed in [*(replay or []), *discovery.files]:
                if seen.unchanged(landed):
                    unchanged += 1
                    continue
                sha256 = sha256_of(landed.path)
                if (landed.relpath, sha256) in seen.path_and_sha:
                    _record_new_stat(con, landed, sha256)
                    unchanged += 1
                    continue
                archive_file(landed.path, paths.archive, sha256)
                loader.add(_prepare(landed, sha256, seen, loader.calendar, paths.work))
                seen.add(landed, sha256)
            loader.flush()
            results = loader.results
        lake.refresh_age_bands(con, paths.identity)
    return IngestSummary(results, unchanged, discovery.in_flight, discovery.unknown_folders)


@dataclass
class _SeenFiles:
    """What `ops.ingest_files` already knows, to skip unchanged files without hashing them."""

    stats: set[tuple[str, int, int]]
    path_and_sha: set[tuple[str, str]]
    paths: set[str]
    # Per feed: the same bytes in another feed's folder are a misplaced file, not a re-delivery.
    first_path_of_content: dict[tuple[str, str], str]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> _SeenFiles:
        rows = con.execute(
            "select path, sha256, size_bytes, mtime_ns, status, feed from ops.ingest_files"
            " order by loaded_at, path"
        ).fetchall()
        first: dict[tuple[str, str], str] = {}
        for path, sha256, _, _, status, feed in rows:
            if status != "duplicate_file":
                first.setdefault((feed, sha256), path)
        return cls(
            {(path, size, mtime) for path, _, size, mtime, *_ in rows},
            {(path, sha256) for path, sha256, *_ in rows},
            {path for path, *_ in rows},
            first,
        )

    def unchanged(self, landed: LandingFile) -> bool:
        return (landed.relpath, landed.size, landed.mtime_ns) in self.stats

    def add(self, landed: LandingFile, sha256: str) -> None:
        self.stats.add((landed.relpath, landed.size, landed.mtime_ns))
        self.path_and_sha.add((landed.relpath, sha256))
        self.paths.add(landed.relpath)
        self.first_path_of_content.setdefault((landed.feed, sha256), landed.relpath)


def _record_new_stat(con: duckdb.DuckDBPyConnection, landed: LandingFile, sha256: str) -> None:
    """Same bytes, new mtime (a copy or a touch): remember the stat so it is not hashed again."""
    con.execute(
        "update ops.ingest_files set size_bytes = ?, mtime_ns = ? where path = ? and sha256 = ?",
        [landed.size, landed.mtime_ns, landed.relpath, sha256],
    )


def _clinic_calendar(con: duckdb.DuckDBPyConnection) -> ClinicCalendar:
    rows = con.execute(
        """
        select clinic_id, timezone, datetime_format
        from raw.clinics
        qualify row_number() over (
            partition by clinic_id order by updated_at desc, _row_hash desc
        ) = 1
        """
    ).fetchall()
    return ClinicCalendar(
        {clinic: zone for clinic, zone, _ in rows if zone},
        frozenset(clinic for clinic, _, fmt in rows if fmt == "dmy"),
    )


@dataclass
class _Prepared:
    """A new file read and typed, waiting for its feed's suite and its transaction."""

    landed: LandingFile
    result: FileResult
    batch: RawBatch | None = None  # None when there is nothing to load
    parsed: pl.DataFrame | None = None  # None when the file is quarantined whole
    whole_file_rejects: pl.DataFrame | None = None
    verdict: Verdict | None = None  # the suite's, on `parsed`


def _prepare(
    landed: LandingFile, sha256: str, seen: _SeenFiles, calendar: ClinicCalendar, work: Path
) -> _Prepared:
    result = FileResult(landed.relpath, landed.feed, sha256, status="loaded")
    prepared = _Prepared(landed, result)
    if landed.relpath in seen.paths:
        result.warnings.append("content changed under an already-seen name: loaded as a new batch")
    original = seen.first_path_of_content.get((landed.feed, sha256))
    if original is not None:
        result.status = "duplicate_file"
        result.reason = f"same bytes as {original}: nothing loaded"
        return prepared
    if landed.size == 0:
        result.status, result.reason = "empty", "0 bytes: nothing to load"
        return prepared
    try:
        batch = read_batch(landed.path, work)
    except UnreadableFile as error:
        result.status, result.reason = "quarantined", f"unreadable_file: {error}"
        return prepared
    result.rows_read = batch.rows_read
    if batch.rows_read == 0:
        result.status, result.reason = "empty", "header only: no records"
        return prepared
    prepared.batch = batch
    feed = FEEDS[landed.feed]
    try:
        conformed = conform(batch, feed, calendar)
    except MissingColumns as error:
        result.status = "quarantined"
        result.reason = f"missing_columns: {error}{_looks_like(batch)}"
        prepared.whole_file_rejects = _whole_file_rejects(batch, feed, result.reason)
        return prepared
    if conformed.ignored_columns:
        result.warnings.append(f"ignored unknown column(s): {', '.join(conformed.ignored_columns)}")
    prepared.parsed = conformed.parsed
    return prepared


@dataclass
class _Loader:
    """Validates prepared files of one feed together (a GX run has a fixed cost), then stores
    each in its own transaction: its records, its quarantined rows, its `ops.ingest_files`
    record."""

    con: duckdb.DuckDBPyConnection
    identity: duckdb.DuckDBPyConnection
    keyer: PatientKeyer
    suites: SuiteValidator
    run_id: str
    calendar: ClinicCalendar  # what the next file is read with
    progress: Progress
    results: list[FileResult] = field(default_factory=list)
    pending: list[_Prepared] = field(default_factory=list)

    def add(self, prepared: _Prepared) -> None:
        if self.pending and self.pending[0].landed.feed != prepared.landed.feed:
            self.flush()
        self.pending.append(prepared)
        rows = sum(p.parsed.height for p in self.pending if p.parsed is not None)
        # Clinics set the calendar the next files are read with: store them at once.
        if prepared.landed.feed == "clinics" or rows >= self.suites.chunk_rows:
            self.flush()

    def flush(self) -> None:
        typed = [p for p in self.pending if p.parsed is not None]
        if typed:
            batches = [Batch(p.landed.relpath, p.parsed, p.batch.frame) for p in typed]
            found = self.suites.verdicts(FEEDS[typed[0].landed.feed], batches)
            for prepared, verdict in zip(typed, found, strict=True):
                prepared.verdict = verdict
        for prepared in self.pending:
            self.con.execute("begin transaction")
            try:
                self._store(prepared)
                _record_file(self.con, prepared.landed, prepared.result, self.run_id)
                self.con.execute("commit")
            except BaseException:
                self.con.execute("rollback")
                raise
            self.results.append(prepared.result)
            self.progress(_describe(prepared.result))
        self.pending.clear()

    def _store(self, prepared: _Prepared) -> None:
        result, batch, verdict = prepared.result, prepared.batch, prepared.verdict
        if batch is None:
            return
        feed = FEEDS[prepared.landed.feed]

        def quarantine(rows: pl.DataFrame) -> int:
            return lake.load_quarantine(
                self.con,
                rows.to_arrow(),
                self.keyer,
                result.sha256,
                result.path,
                feed.name,
                self.run_id,
            )

        rejects = batch.rejects.with_columns(pl.lit("malformed_line").alias("reason_code"))
        result.rows_quarantined += quarantine(
            rejects.select(RECORD_NUMBER, "reason_code", "reason")
        )
        if prepared.whole_file_rejects is not None:
            result.rows_quarantined += quarantine(prepared.whole_file_rejects)
            return
        result.rows_quarantined += quarantine(_rejected_records(batch, feed, verdict.quarantined))
        good = prepared.parsed.join(
            verdict.quarantined.select(RECORD_NUMBER), on=RECORD_NUMBER, how="anti"
        )
        good = _without_unreadable_values(good, verdict.findings)
        lake.load_findings(
            self.con,
            verdict.findings.to_arrow(),
            result.sha256,
            result.path,
            feed.name,
            self.run_id,
        )
        result.rows_with_findings = verdict.findings[RECORD_NUMBER].n_unique()
        if good.height:
            if feed.name == "patients":
                lake.load_identities(self.identity, good.to_arrow(), self.keyer)
            loaded, duplicate = lake.load_records(
                self.con, feed, good.to_arrow(), self.keyer, result.sha256
            )
            result.rows_loaded, result.rows_duplicate = loaded, duplicate
            if feed.name == "clinics":
                self.calendar = self.calendar.with_clinics(
                    good.select("clinic_id", "timezone", "datetime_format").cast(pl.String)
                )


def _without_unreadable_values(good: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Records as they load: an informational value the suite could not read becomes null
    (the finding keeps what it was), and the suites' helper columns go."""
    for column, records in findings.group_by("column_name"):
        flagged = pl.col(RECORD_NUMBER).is_in(records[RECORD_NUMBER].implode())
        good = good.with_columns(
            pl.when(flagged).then(None).otherwise(pl.col(column[0])).alias(column[0])
        )
    return good.select(c for c in good.columns if not c.endswith(HELPER_SUFFIXES))


def _rejected_records(batch: RawBatch, feed: Feed, failures: pl.DataFrame) -> pl.DataFrame:
    """The records that broke the suite, as they arrived, minus direct identifiers."""
    kept = [c.name for c in feed.columns if not c.pii and c.name in batch.frame.columns]
    return failures.join(batch.frame.select(RECORD_NUMBER, *kept), on=RECORD_NUMBER)


def _whole_file_rejects(batch: RawBatch, feed: Feed, reason: str) -> pl.DataFrame:
    kept = [c.name for c in feed.columns if not c.pii and c.name in batch.frame.columns]
    return batch.frame.select(
        RECORD_NUMBER,
        pl.lit("missing_columns").alias("reason_code"),
        pl.lit(reason).alias("reason"),
        *kept,
    )


def _looks_like(batch: RawBatch) -> str:
    """Name the feed a misplaced file belongs to, when its columns say so."""
    columns = set(batch.frame.columns)
    matches = [name for name, feed in FEEDS.items() if set(feed.required) <= columns]
    return f" (its columns match the {matches[0]} feed)" if matches else ""


def _record_file(
    con: duckdb.DuckDBPyConnection, landed: LandingFile, result: FileResult, run_id: str
) -> None:
    fmt = file_format(landed.path)
    con.execute(
        "insert into ops.ingest_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            landed.relpath,
            landed.feed,
            result.sha256,
            landed.size,
            landed.mtime_ns,
            None if fmt is None else fmt[0] + (".gz" if fmt[1] else ""),
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.rows_duplicate,
            result.status,
            result.reason,
            "; ".join(result.warnings) or None,
            run_id,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )


def _describe(result: FileResult) -> str:
    counts = (
        f"{result.rows_read:,} read, {result.rows_loaded:,} loaded,"
        f" {result.rows_quarantined:,} quarantined, {result.rows_duplicate:,} duplicate"
    )
    if result.rows_with_findings:
        counts += f"; {result.rows_with_findings:,} loaded with an unreadable informational value"
    detail = f" — {result.reason}" if result.reason else ""
    return f"{result.path}: {result.status} ({counts}){detail}"
