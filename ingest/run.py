"""Ingest a landing zone into the lake: each new file read, typed, checked, archived, recorded.

For every file, rows_read = rows_loaded + rows_quarantined + rows_duplicate, and the file's
rows, its quarantined rows and its `ops.ingest_files` record are committed together (with the
other files of its feed validated alongside it), so an interrupted ingest leaves the lake as it
was before those files and simply resumes next time.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from contract.feeds import FEEDS, Feed
from ingest import key_check, lake
from ingest.conform import (
    HELPER_SUFFIXES,
    ClinicCalendar,
    MissingColumns,
    alike_key,
    conform_together,
)
from ingest.landing import (
    IgnoredPath,
    LandingFile,
    UnreadableSource,
    archive_file,
    discover,
    escape_controls,
    sha256_of,
)
from ingest.paths import IngestPaths
from ingest.pseudonymise import PatientKeyer, load_keyer
from ingest.readers import (
    RECORD_NUMBER,
    RawBatch,
    ReadLimits,
    UnreadableFile,
    file_format,
    read_batch,
)
from ingest.validation import NULLS_VALUE, Batch, Validator, Verdict

Progress = Callable[[str], None]


@dataclass
class FileResult:
    path: str
    feed: str | None  # None for what is not in a feed folder
    sha256: str | None  # None for what is never opened (a link, a device, an unreadable file)
    status: str  # loaded | quarantined | empty | duplicate_file | ignored
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_with_findings: int = 0  # loaded with an informational value nulled
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestSummary:
    files: list[FileResult]  # the new batches
    unchanged: int
    in_flight: list[str]
    ignored: list[FileResult]  # newly seen paths that are not batches (recorded as `ignored`)

    def total(self, attribute: str) -> int:
        return sum(getattr(result, attribute) for result in self.files)


def ingest_landing(
    landing: Path,
    paths: IngestPaths,
    run_id: str,
    progress: Progress = lambda _: None,
    replay: list[LandingFile] | None = None,
    *,
    suites: Validator,
    limits: ReadLimits | None = None,
) -> IngestSummary:
    """Load every file not loaded before: first `replay` (archived files, for a full
    rebuild), then the landing zone. Each file is validated by `suites` (one per refresh)
    before anything of it is loaded. `limits` bound what one file may cost (see
    `ReadLimits`)."""
    say = _escaped(progress)
    keyer = load_keyer(paths.key_file)
    _clear_work(paths.work)
    discovery = discover(landing)
    for name in discovery.in_flight:
        say(f"skipped {name}: still being written")

    unchanged = 0
    with lake.connect(paths.lake) as con:
        lake.create_lake(con)
        key_check.record(con, keyer)
        seen = _SeenFiles.load(con)
        ignored = _record_ignored(con, discovery.ignored, seen, run_id, say)
        with lake.connect(paths.identity) as identity:
            lake.create_identity_store(identity)
            loader = _Loader(con, identity, keyer, suites, run_id, _clinic_calendar(con), say)
            files = [*(replay or []), *discovery.files]
            reading = _preparing(files, seen, loader, paths, limits)
            with _ReadAhead(reading, rows_ahead=suites.chunk_rows) as steps:
                for landed, prepared in steps:
                    if prepared is _UNOPENABLE:
                        ignored += _record_ignored(con, [_unopenable(landed)], seen, run_id, say)
                    elif prepared is _UNCHANGED:
                        unchanged += 1
                    else:
                        loader.add(prepared)
            loader.finish()
            results = loader.results
        lake.record_landing_hashes(con, seen.hashed_now, run_id)
        lake.refresh_age_bands(con, paths.identity)
    return IngestSummary(results, unchanged, discovery.in_flight, ignored)


_UNOPENABLE = "unopenable"  # steps of _preparing for a file that is not prepared
_UNCHANGED = "unchanged"


# New files of one feed are read up to this many records before they are typed together: a
# night's small files pay typing's fixed cost once per group, not once each.
TYPE_TOGETHER_ROWS = 20_000


def _preparing(
    files: list[LandingFile],
    seen: _SeenFiles,
    loader: _Loader,
    paths: IngestPaths,
    limits: ReadLimits | None,
) -> Callable[[Callable[..., None], Callable[[], None]], None]:
    """The work of reading ahead: each file hashed, and a new one archived and read, then typed
    with the new files of its feed read before it (`_type_together`); each step handed on, in
    the files' order, as (file, prepared file or why not)."""

    def prepare_each(hand_on: Callable[..., None], wait_until_stored: Callable[[], None]):
        read: list[_Prepared] = []  # new files of one feed, read, not yet typed

        def type_and_hand_on() -> None:
            _type_together(read, loader.calendar)
            for prepared in read:
                hand_on((prepared.landed, prepared), prepared.result.rows_read)
            read.clear()

        with _HashedAhead(files, seen) as hashed:
            for landed in files:
                received = _received(landed, seen, paths.archive, hashed)
                if received is _UNOPENABLE:
                    type_and_hand_on()
                    hand_on((landed, _UNOPENABLE))
                    continue
                if received is _UNCHANGED:
                    hand_on((landed, _UNCHANGED))  # only counted: it may pass the files read
                    continue
                archived, sha256 = received
                if read and read[0].landed.feed != landed.feed:
                    type_and_hand_on()
                read.append(_read_new(landed, archived, sha256, seen, paths.work, limits))
                seen.add(landed, sha256)
                if landed.feed == "clinics":
                    type_and_hand_on()
                    wait_until_stored()  # the files after it are typed with the calendar it sets
                elif sum(prepared.result.rows_read for prepared in read) >= TYPE_TOGETHER_ROWS:
                    type_and_hand_on()
            type_and_hand_on()

    return prepare_each


class _ReadAhead:
    """Runs `work` in a thread that reads ahead of the caller by up to `rows_ahead` records
    (always at least one file), so the next chunk of files is read and typed (DuckDB and
    polars, which release the GIL) while the caller validates and stores the previous chunk
    on the second core. (A bound of a few files left the thread idle through most of each
    chunk's validation and store.) The steps come in order; an error in the thread is raised
    to the caller; leaving the `with` stops and joins it."""

    def __init__(
        self, work: Callable[[Callable[..., None], Callable[[], None]], None], rows_ahead: int
    ):
        self._work = work
        self._rows_ahead = rows_ahead
        self._steps: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._in_flight: collections.deque[int] = collections.deque()  # rows of steps handed on
        self._changed = threading.Condition()  # the caller is done with a step, or stops
        self._thread = threading.Thread(target=self._run, name="ingest-read-ahead", daemon=True)

    def __enter__(self) -> Iterator[tuple]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            self._work(self._hand_on, self._wait_until_taken)
            self._hand_on(_DONE)
        except _Stopped:
            return
        except BaseException as error:  # raised again in the caller's thread
            with contextlib.suppress(_Stopped):
                self._hand_on(_Failed(error))

    def _hand_on(self, step, rows: int = 0) -> None:
        """Hand `step` (of `rows` records) on, once the caller is far enough behind."""
        with self._changed:
            while self._in_flight and sum(self._in_flight) + rows > self._rows_ahead:
                self._wait()
            if self._stop.is_set():
                raise _Stopped
            self._in_flight.append(rows)
        self._steps.put(step)

    def _wait_until_taken(self) -> None:
        """Until the caller is done with every step handed on so far."""
        with self._changed:
            while self._in_flight:
                self._wait()

    def _wait(self) -> None:
        self._changed.wait(timeout=0.1)
        if self._stop.is_set():
            raise _Stopped

    def _consume(self) -> Iterator[tuple]:
        while True:
            step = self._steps.get()
            if step is _DONE:
                return
            if isinstance(step, _Failed):
                raise step.error
            yield step
            with self._changed:
                self._in_flight.popleft()
                self._changed.notify_all()


_DONE = "done"


@dataclass
class _Failed:
    error: BaseException


class _Stopped(Exception):
    """The caller left: the thread ends without handing on its current step."""


def _escaped(progress: Progress) -> Progress:
    """Every progress line on one line, whatever the file names in it hold."""
    return lambda line: progress(escape_controls(line))


def _clear_work(work: Path) -> None:
    """Work files left by a killed run (a reader removes its own otherwise)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(mode=0o700, parents=True)  # decompressed landing files: identifiers


SETTLED_NS = 2_000_000_000  # a landing file unchanged this long has a state to trust


class _HashedAhead:
    """The SHA-256 of each file at a path loaded before, taken on a thread of its own ahead of
    the reading thread, a night's bottleneck (hashlib and file reads release the GIL). Most of
    a night's landing zone was loaded before (4.3 GB at 10m, and growing every night): a file
    is read again only when the file system says it may have changed since its hash was last
    taken (`_file_state`), else that hash stands. A file rewritten after its hash was taken is
    one rewritten after the run: the next run reads it."""

    def __init__(self, files: list[LandingFile], seen: _SeenFiles):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hash-ahead")
        self._seen = seen
        self._hashes = {
            landed.path: self._pool.submit(self._hash, landed)
            for landed in files
            if landed.relpath in seen.paths
        }

    def _hash(self, landed: LandingFile) -> str | None:
        started_ns = time.time_ns()
        before = _file_state(landed.path)
        if before is None:
            return None
        known = self._seen.hashes.get(landed.relpath)
        if known is not None and known[1] == before:
            return known[0]
        sha256 = _sha256_or_none(landed.path)
        # File times tick coarsely (milliseconds, seconds on some file systems): an edit in
        # the same tick as the last change would keep the state. A file changed just before
        # its hash is not trusted yet; the next run hashes it again.
        settled = before[2] < started_ns - SETTLED_NS
        if sha256 is not None and settled and _file_state(landed.path) == before:
            self._seen.hashed_now.append((landed.relpath, sha256, before))
        return sha256

    def __enter__(self) -> _HashedAhead:
        return self

    def __exit__(self, *_exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def sha256(self, landed: LandingFile) -> str | None:
        hashing = self._hashes.pop(landed.path, None)
        return _sha256_or_none(landed.path) if hashing is None else hashing.result()


def _received(
    landed: LandingFile, seen: _SeenFiles, archive: Path, hashed: _HashedAhead
) -> str | tuple[Path, str]:
    """What a file is to this run: _UNOPENABLE, _UNCHANGED (its path and bytes were loaded
    before), or new bytes: (their archived copy, their SHA-256). The contract identifies a file
    by its bytes: a path loaded before is hashed every time, whatever its size and modification
    time say (an in-place edit can keep both); a new file is hashed as it is archived."""
    if landed.relpath in seen.paths:
        sha256 = hashed.sha256(landed)
        if sha256 is None:
            return _UNOPENABLE
        if (landed.relpath, sha256) in seen.path_and_sha:
            return _UNCHANGED
    try:
        archived, sha256 = archive_file(landed.path, archive)
    except UnreadableSource:
        return _UNOPENABLE
    if (landed.relpath, sha256) in seen.path_and_sha:  # changed back since it was hashed
        return _UNCHANGED
    return archived, sha256


def _file_state(path: Path) -> tuple[int, ...] | None:
    """What the file system says of a file that any write or rename changes: its size, its
    modification time, its change time (set by every write, rename and `touch`, and which no
    one can set back: an edit that restores the size and modification time still moves it),
    its inode and device. None for a file that cannot be looked at."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


def _unopenable(landed: LandingFile) -> IgnoredPath:
    reason = "unreadable_file: cannot be opened (permissions?); tried again each run"
    return IgnoredPath(landed.path, landed.relpath, reason, False, landed.size, landed.mtime_ns)


def _record_ignored(
    con: duckdb.DuckDBPyConnection,
    entries: list[IgnoredPath],
    seen: _SeenFiles,
    run_id: str,
    say: Progress,
) -> list[FileResult]:
    """Record each path that is not a batch once: again only if a regular file's bytes change."""
    results = []
    for entry in entries:
        sha256 = _sha256_or_none(entry.path) if entry.regular else None
        if (entry.relpath, sha256) in seen.path_and_sha:
            continue
        result = FileResult(entry.relpath, None, sha256, "ignored", reason=entry.reason)
        _record_file(con, result, entry.size, entry.mtime_ns, run_id)
        seen.path_and_sha.add((entry.relpath, sha256))
        results.append(result)
        say(f"ignored {entry.relpath}: {entry.reason}")
    return results


@dataclass
class _SeenFiles:
    """What `ops.ingest_files` already knows: (path, sha256) pairs are done; and what
    `ops.landing_hashes` knows: per path, its last hash and the file's state then."""

    path_and_sha: set[tuple[str, str | None]]
    paths: set[str]  # paths of batches (a changed file under one of these is a new batch)
    # Per feed: the same bytes in another feed's folder are a misplaced file, not a re-delivery.
    first_path_of_content: dict[tuple[str, str], str]
    hashes: dict[str, tuple[str, tuple[int, ...]]]
    hashed_now: list[tuple[str, str, tuple[int, ...]]]  # (path, sha256, state) hashed this run

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> _SeenFiles:
        rows = con.execute(
            "select path, sha256, status, feed from ops.ingest_files order by loaded_at, path"
        ).fetchall()
        first: dict[tuple[str, str], str] = {}
        for path, sha256, status, feed in rows:
            if feed is not None and status != "duplicate_file":
                first.setdefault((feed, sha256), path)
        hashes = con.execute(
            "select path, sha256, size_bytes, mtime_ns, ctime_ns, inode, device"
            " from ops.landing_hashes"
        ).fetchall()
        return cls(
            {(path, sha256) for path, sha256, *_ in rows},
            {path for path, _, _, feed in rows if feed is not None},
            first,
            {path: (sha256, tuple(state)) for path, sha256, *state in hashes},
            [],
        )

    def add(self, landed: LandingFile, sha256: str) -> None:
        self.path_and_sha.add((landed.relpath, sha256))
        self.paths.add(landed.relpath)
        self.first_path_of_content.setdefault((landed.feed, sha256), landed.relpath)


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


def _read_new(
    landed: LandingFile,
    archived: Path,
    sha256: str,
    seen: _SeenFiles,
    work: Path,
    limits: ReadLimits | None,
) -> _Prepared:
    """Read a new file, to be typed with others (`_type_together`). It is read from its
    archived copy: exactly the bytes that were hashed, under a name no landing file chose."""
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
    feed = FEEDS[landed.feed]
    if file_format(landed.path) is None:
        result.status, result.reason = "quarantined", "unreadable_file: not a landing format"
        return prepared
    try:
        batch = read_batch(archived, work, feed, limits)
    except UnreadableFile as error:
        result.status, result.reason = "quarantined", f"{error.code}: {error}"
        return prepared
    result.rows_read = batch.rows_read
    if batch.rows_read == 0:
        result.status, result.reason = "empty", "header only: no records"
        return prepared
    prepared.batch = batch
    return prepared


def _type_together(read: list[_Prepared], calendar: ClinicCalendar) -> None:
    """Type the files read (of one feed), those that arrived alike together; a file without
    its feed's required columns is quarantined whole."""
    alike: dict[tuple, list[_Prepared]] = {}
    for prepared in read:
        if prepared.batch is not None:
            alike.setdefault(alike_key(prepared.batch), []).append(prepared)
    for group in alike.values():
        feed = FEEDS[group[0].landed.feed]
        try:
            conformed = conform_together([prepared.batch for prepared in group], feed, calendar)
        except MissingColumns as error:
            for prepared in group:
                result = prepared.result
                result.status = "quarantined"
                result.reason = f"missing_columns: {error}{_looks_like(prepared.batch)}"
                prepared.whole_file_rejects = _whole_file_rejects(
                    prepared.batch, feed, result.reason
                )
            continue
        for prepared, typed in zip(group, conformed, strict=True):
            if typed.ignored_columns:
                ignored = ", ".join(typed.ignored_columns)
                prepared.result.warnings.append(f"ignored unknown column(s): {ignored}")
            prepared.parsed = typed.parsed


def _typed_rows(files: list[_Prepared]) -> int:
    return sum(p.parsed.height for p in files if p.parsed is not None)


@dataclass(frozen=True)
class _Judged:
    """Files handed to the suites together: all of them, those typed, and the call that waits
    for the verdicts on those (None when none was typed)."""

    files: list[_Prepared]
    typed: list[_Prepared]
    verdicts: Callable[[], list[Verdict]] | None


@dataclass
class _Loader:
    """Hands prepared files of one feed to the suites together (a GX run has a fixed cost),
    and stores the files handed before while the suites judge these (GX runs in a process of
    its own): each flushed group in one transaction, with each file's quarantined rows and
    findings, all their records in one statement (and the identities of patients files in one
    more, in the identity store), each file's `ops.ingest_files` record."""

    con: duckdb.DuckDBPyConnection
    identity: duckdb.DuckDBPyConnection
    keyer: PatientKeyer
    suites: Validator
    run_id: str
    calendar: ClinicCalendar  # what the next file is read with
    progress: Progress
    results: list[FileResult] = field(default_factory=list)
    pending: list[_Prepared] = field(default_factory=list)
    judged: _Judged | None = None  # handed to the suites, not stored yet

    def add(self, prepared: _Prepared) -> None:
        # A group stays within the suites' chunk (unless one file alone is larger): a group a
        # file past it was validated in two half chunks, twice GX's fixed cost of a run.
        if self.pending and (
            self.pending[0].landed.feed != prepared.landed.feed
            or _typed_rows([*self.pending, prepared]) > self.suites.chunk_rows
        ):
            self.flush()
        self.pending.append(prepared)
        if prepared.landed.feed == "clinics":
            self.finish()  # clinics set the calendar the next files are read with: stored now
        elif _typed_rows(self.pending) >= self.suites.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the pending files to the suites, then store the files handed before."""
        if not self.pending:
            return
        group, self.pending = self.pending, []
        typed = [p for p in group if p.parsed is not None]
        verdicts = None
        if typed:
            batches = [Batch(p.landed.relpath, p.parsed, p.batch.frame) for p in typed]
            verdicts = self.suites.submit(FEEDS[typed[0].landed.feed], batches)
        self._store_judged()
        self.judged = _Judged(group, typed, verdicts)

    def finish(self) -> None:
        """Every file added is judged and stored."""
        self.flush()
        self._store_judged()

    def _store_judged(self) -> None:
        """The files handed to the suites last, once judged, stored in one transaction."""
        if self.judged is None:
            return
        judged, self.judged = self.judged, None
        group = judged.files
        if judged.verdicts is not None:
            for prepared, verdict in zip(judged.typed, judged.verdicts(), strict=True):
                prepared.verdict = verdict
        self.con.execute("begin transaction")
        try:
            loading = [(p, good) for p in group if (good := self._store(p)) is not None]
            self._load(loading)
            for prepared in group:
                landed = prepared.landed
                _record_file(self.con, prepared.result, landed.size, landed.mtime_ns, self.run_id)
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise
        for prepared in group:
            self.results.append(prepared.result)
            self.progress(_describe(prepared.result))

    def _store(self, prepared: _Prepared) -> pl.DataFrame | None:
        """A file's quarantined rows and findings stored; its records to load, if any."""
        result, batch, verdict = prepared.result, prepared.batch, prepared.verdict
        if batch is None:
            return None
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

        result.rows_quarantined += quarantine(batch.rejects)
        if prepared.whole_file_rejects is not None:
            result.rows_quarantined += quarantine(prepared.whole_file_rejects)
            return None
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
        return good if good.height else None

    def _load(self, loading: list[tuple[_Prepared, pl.DataFrame]]) -> None:
        """The records of the flushed files, in one statement (their patients' identities in
        another); each file's counts."""
        if not loading:
            return
        feed = FEEDS[loading[0][0].landed.feed]
        records = [(good.to_arrow(), prepared.result.sha256) for prepared, good in loading]
        counts = lake.load_records(self.con, feed, records, self.keyer)
        for (prepared, _), (loaded, duplicate) in zip(loading, counts, strict=True):
            prepared.result.rows_loaded, prepared.result.rows_duplicate = loaded, duplicate
        if feed.name == "patients":
            lake.load_identities(self.identity, [table for table, _ in records], self.keyer)
        if feed.name == "clinics":
            for _, good in loading:
                self.calendar = self.calendar.with_clinics(
                    good.select("clinic_id", "timezone", "datetime_format").cast(pl.String)
                )


def _without_unreadable_values(good: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Records as they load: an informational value the suite could not read becomes null (a
    list keeps its known items; the finding keeps what arrived), and the suites' helper
    columns go."""
    for column, records in findings.filter(NULLS_VALUE).group_by("column_name"):
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
    """Name the feed a misplaced file belongs to, when its columns say so: it has that feed's
    required columns, and that feed's contract holds nearly all of its columns (a sessions
    export missing one column is not a providers file, though it has their required ones)."""
    columns = set(batch.frame.columns) - {RECORD_NUMBER}
    if not columns:
        return ""
    share = {
        name: len(columns & {column.name for column in feed.columns}) / len(columns)
        for name, feed in FEEDS.items()
        if set(feed.required) <= columns
    }
    best = max(share, key=share.get, default=None)
    return f" (its columns match the {best} feed)" if best and share[best] >= 0.8 else ""


def _record_file(
    con: duckdb.DuckDBPyConnection, result: FileResult, size: int, mtime_ns: int, run_id: str
) -> None:
    fmt = file_format(Path(result.path))
    con.execute(
        "insert into ops.ingest_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.path,
            result.feed,
            result.sha256,
            size,
            mtime_ns,
            None if fmt is None else fmt[0] + (".gz" if fmt[1] else ""),
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.rows_duplicate,
            result.status,
            # Reasons name files: kept on one line like the log.
            None if result.reason is None else escape_controls(result.reason),
            escape_controls("; ".join(result.warnings)) or None,
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
