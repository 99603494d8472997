"""Run the feeds' expectation suites on parsed batches with Great Expectations.

GX runs in a process of its own (`expectations.gx_process`), started with the first validator
of a refresh, so its import and its pandas work use the second core instead of taking turns
with the ingest's reading thread for the interpreter's lock. A GX run costs a fixed half second
or so whatever its size, so the ingest hands over several files of one feed at once (a nightly
landing zone holds hundreds of small files); each file is still judged on its own (its key
uniqueness is within the file). Batches are validated in pandas (GX's SQL datasource fails on
DuckDB), in chunks of at most `chunk_rows` records; a chunk holds every version of the keys in
it, so the uniqueness rule sees the whole file. Direct identifiers never reach GX: the suites
read typed values, and the patient record number is replaced by a rank that only keeps which
rows share one.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path

import polars as pl

from contract.feeds import Feed
from expectations.suites import (
    VERSION_KEY,
    Rule,
    latest_plausible,
    suite_rules,
    version_columns,
)
from ingest.readers import RECORD_NUMBER
from ingest.validation import FAILURE_COLUMNS, FINDING_COLUMNS, NULLS_VALUE, Batch, Verdict

CHUNK_ROWS = 250_000
_ROW = "_row"
_RULE = "_rule"
_VERSION = "_version"
_FILE = "_file"


class SuiteValidator:
    """The suites of one refresh, run by GX in the process of `_suites_process()` (the ingest's
    `Validator`)."""

    def __init__(self, chunk_rows: int = CHUNK_ROWS, latest: date | None = None):
        self.chunk_rows = chunk_rows
        self.latest = latest or latest_plausible()  # the last plausible day of a record
        self.validated = 0  # batches validated
        self.runs = 0  # GX validations run: a chunk of one or several batches each
        self.seconds = 0.0  # the ingest's time on the suites: handing batches, awaiting verdicts
        # Started now, so GX imports there while the ingest hashes and reads the first files.
        self._process = _suites_process()
        self._session = next(_SESSIONS)
        weakref.finalize(self, self._process.forget, self._session)

    def ready(self) -> None:
        """Wait until GX is imported and this validator's context is made."""
        self._process.ask("ready", self._session, self.latest)

    def verdicts(self, feed: Feed, batches: list[Batch]) -> list[Verdict]:
        """Per batch, the suite's verdict on its records."""
        return self.submit(feed, batches)()

    def submit(self, feed: Feed, batches: list[Batch]) -> Callable[[], list[Verdict]]:
        """Hand the batches to GX's process; the call returned waits for the verdicts."""
        for batch in batches:
            if batch.parsed.height != batch.raw.height:
                raise ValueError(f"{batch.label}: parsed and raw batches differ in length")
        started = time.monotonic()
        rules = suite_rules(feed.name, self.latest)
        checked = _with_version_key(feed, _stacked(batches, feed, parsed=True))
        chunks = _chunks(checked, self.chunk_rows)
        # Data Docs name a validation by its run; their store refuses slashes in names.
        name = batches[0].label.replace("/", " : ")
        if len(batches) > 1:
            name += f" and {len(batches) - 1} more file(s) of {feed.name}"
        needed = sorted(set().union(*(rule.columns for rule in rules if not rule.only_where)))
        on_some_rows = [_on_its_rows(rule) for rule in rules if rule.only_where]
        replies = [
            self._process.send(
                "run",
                self._session,
                self.latest,
                feed.name,
                chunk.select(*needed, *on_some_rows),
                name if len(chunks) == 1 else f"{name} (part {i + 1} of {len(chunks)})",
            )
            for i, chunk in enumerate(chunks)
        ]
        self.runs += len(chunks)
        self.seconds += time.monotonic() - started

        def verdicts() -> list[Verdict]:
            waited = time.monotonic()
            replied = zip(chunks, replies, strict=True)
            hits = [_rule_hits(chunk, reply()) for chunk, reply in replied]
            found = _verdicts(feed, batches, checked, rules, hits)
            self.validated += len(batches)
            self.seconds += time.monotonic() - waited
            return found

        return verdicts

    def build_docs(self, directory: Path) -> Path:
        """Data Docs of this refresh's validations, replacing the previous ones. Built aside
        first, so a reader never sees half a site."""
        return self._process.ask("docs", self._session, self.latest, str(directory))

    def peak_bytes(self) -> int | None:
        """The suites' process's peak resident memory since the last call (it serves every
        validator of this process)."""
        return self._process.ask("peak", True)


class _SuitesProcess:
    """The process that runs GX (`expectations.gx_process`). Requests go in order and are
    answered in order; a thread takes each reply as it comes, so the process never waits on
    a full pipe while this one sends it the next chunk."""

    def __init__(self) -> None:
        to_child, requests = os.pipe()
        replies, from_child = os.pipe()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "expectations.gx_process", str(to_child), str(from_child)],
            pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._requests = Connection(requests, readable=False)
        self._sending = threading.Lock()
        self._sent = 0  # requests sent, and so the number of the next one
        self._replies: dict[int, tuple[str, object]] = {}
        self._unawaited: set[int] = set()  # requests whose replies nobody waits for
        self._ended: str | None = None  # why no reply will come any more
        self._arrived = threading.Condition()
        self._forgotten: list[int] = []  # sessions of validators gone, to end with the next send
        threading.Thread(
            target=self._receive, args=(Connection(replies, writable=False),), daemon=True
        ).start()

    @property
    def alive(self) -> bool:
        return self._ended is None and self._child.poll() is None

    @property
    def pid(self) -> int:
        return self._child.pid

    def ask(self, *request):
        """The reply to `request`, once it comes."""
        return self.send(*request)()

    def send(self, *request) -> Callable[[], object]:
        """Send `request`; the call returned waits for its reply and raises RuntimeError when
        GX failed on it or its process ended."""
        with self._sending:
            if self._forgotten:
                forgotten, self._forgotten = self._forgotten, []
                self._send(("forget", forgotten), awaited=False)
            number = self._send(request)
        return lambda: self._reply(number)

    def forget(self, session: int) -> None:
        self._forgotten.append(session)  # sent with the next request: the caller may be in one

    def _send(self, request: tuple, awaited: bool = True) -> int:
        """Send `request` (under `_sending`): its number, which its reply will have."""
        number = self._sent
        if not awaited:  # said before sending: the reply may come at once
            with self._arrived:
                self._unawaited.add(number)
        try:
            self._requests.send(request)
        except OSError as error:
            raise RuntimeError(self._why_ended(f"could not be sent work: {error}")) from error
        self._sent += 1
        return number

    def _receive(self, replies: Connection) -> None:
        number = 0
        while True:
            try:
                reply = replies.recv()
            except (EOFError, OSError) as error:
                with self._arrived:
                    self._ended = str(error) or type(error).__name__
                    self._arrived.notify_all()
                return
            with self._arrived:
                if number in self._unawaited:
                    self._unawaited.discard(number)
                else:
                    self._replies[number] = reply
                self._arrived.notify_all()
            number += 1

    def _reply(self, number: int):
        with self._arrived:
            while number not in self._replies and self._ended is None:
                self._arrived.wait()
            if number not in self._replies:
                raise RuntimeError(self._why_ended(self._ended))
            status, value = self._replies.pop(number)
        if status == "error":
            raise RuntimeError(f"the expectation suites failed: {value}")
        return value

    def _why_ended(self, detail: str | None) -> str:
        return f"the expectation suites' process ended (exit status {self._child.wait()}): {detail}"


_SESSIONS = itertools.count()
_started: list[_SuitesProcess] = []
_starting = threading.Lock()


def _suites_process() -> _SuitesProcess:
    """The suites' process of this Python process, started on first use (again if it died)."""
    with _starting:
        if not _started or not _started[0].alive:
            _started[:] = [_SuitesProcess()]
        return _started[0]


def _rule_hits(chunk: pl.DataFrame, broken: list[tuple[int, list[int]]]) -> pl.DataFrame:
    """(row, rule) for each row of `chunk` GX found to break a rule, from its (rule, positions
    in the chunk) pairs."""
    positions = chunk[_ROW]
    return pl.DataFrame(
        {
            _ROW: pl.concat([positions.gather(index) for _, index in broken]) if broken else [],
            _RULE: [rule for rule, index in broken for _ in index],
        },
        schema={_ROW: pl.Int64, _RULE: pl.Int64},
    )


def _verdicts(
    feed: Feed,
    batches: list[Batch],
    checked: pl.DataFrame,
    rules: tuple[Rule, ...],
    hits: list[pl.DataFrame],
) -> list[Verdict]:
    """Per batch, what its rows broke: the records held back and the findings on the others."""
    broken = pl.concat(hits) if hits else pl.DataFrame(schema={_ROW: pl.Int64, _RULE: pl.Int64})
    broken = _with_every_copy_of_duplicate_keys(broken, checked, rules)
    raw = _stacked(batches, feed, parsed=False)
    holding = [number for number, rule in enumerate(rules) if rule.quarantines]
    held = broken.filter(pl.col(_RULE).is_in(holding))
    quarantined = _reasons(held, raw, rules)
    noted = broken.join(held.select(_ROW), on=_ROW, how="anti")
    findings = _findings(noted, raw, rules)
    return [
        Verdict(
            quarantined.filter(pl.col(_FILE) == number).drop(_FILE),
            findings.filter(pl.col(_FILE) == number).drop(_FILE),
        )
        for number in range(len(batches))
    ]


def _on_its_rows(rule: Rule) -> pl.Expr:
    """For a rule on some rows only, the column GX checks instead (named by `rule.subject`):
    the rule's column on its rows, and on the others a value that passes. GX's own row
    conditions copy the whole chunk for each rule, which was half the suites' time on the 1m
    tier; these columns cost polars one pass each."""
    column, value = rule.only_where
    applies = pl.col(column).is_null() if value is None else pl.col(column) == value
    applies = applies.fill_null(False)
    if rule.expectation == "expect_column_values_to_not_be_null":
        present = pl.when(~applies | pl.col(rule.column).is_not_null()).then(pl.lit(1, pl.Int8))
        return present.alias(rule.subject)
    if rule.expectation in _NULLS_PASS:
        return pl.when(applies).then(pl.col(rule.column)).alias(rule.subject)
    raise ValueError(f"{rule.name}: no way to check it on some rows only")


_NULLS_PASS = ("expect_column_values_to_be_between", "expect_column_values_to_be_in_set")


def _stacked(batches: list[Batch], feed: Feed, parsed: bool) -> pl.DataFrame:
    """The batches one under the other, each row marked with its batch's number. Direct
    identifiers are left out: no rule reads them and no reason quotes them."""
    identifiers = {column.name for column in feed.columns if column.pii}
    frames = []
    for number, batch in enumerate(batches):
        frame = batch.parsed if parsed else batch.raw
        if not parsed:  # only the contract's columns: files differ in the extras they carry
            contract = {column.name for column in feed.columns}
            frame = frame.select(c for c in frame.columns if c in contract or c == RECORD_NUMBER)
        frames.append(
            frame.select(c for c in frame.columns if c not in identifiers).with_columns(
                pl.lit(number, pl.Int32).alias(_FILE)
            )
        )
    return pl.concat(frames, how="diagonal_relaxed")


def _with_version_key(feed: Feed, parsed: pl.DataFrame) -> pl.DataFrame:
    """Mark each row's version (its file, key and updated_at) and the first of exact copies.

    Copies are rows that would store alike (as the lake judges duplicates). The version key is
    a 64-bit number with no nulls, which GX checks for uniqueness in bulk: the first copy
    carries its version's hash (63 bits, so never negative), every later copy a negative
    number of its own."""
    values = [c for c in parsed.columns if c != RECORD_NUMBER]
    version = pl.struct([_FILE, *version_columns(feed)]).hash(seed=0)
    checked = parsed.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(_ROW),
        version.alias(_VERSION),
    ).with_columns(
        pl.when(_first_of_copies(parsed, values))
        .then((pl.col(_VERSION) // 2).cast(pl.Int64))
        .otherwise(-1 - pl.col(_ROW))
        .alias(VERSION_KEY)
    )
    if "patient_ref" in checked.columns:
        # Only whether a record number is there, and which rows share one, reaches GX.
        checked = checked.with_columns(pl.col("patient_ref").rank("dense"))
    return checked


def _first_of_copies(frame: pl.DataFrame, values: list[str]) -> pl.Series:
    """Whether each row is the first of its exact copies in `values`. Rows are hashed first,
    and only those whose hash repeats (copies, and the rare collision) are compared value by
    value: comparing every row so took a fifth of a suite's time on the 1m tier."""
    hashes = frame.select(pl.struct(values).hash(seed=0)).to_series()
    repeated = hashes.is_duplicated()
    first = ~repeated
    if repeated.any():
        alike = frame.filter(repeated).select(pl.struct(values).is_first_distinct()).to_series()
        first.scatter(repeated.arg_true(), alike)
    return first


def _chunks(checked: pl.DataFrame, chunk_rows: int) -> list[pl.DataFrame]:
    if checked.height <= chunk_rows:
        return [checked] if checked.height else []
    count = -(-checked.height // chunk_rows)
    parts = checked.with_columns((pl.col(_VERSION) % count).alias("_part")).partition_by(
        "_part", include_key=False
    )
    return [part for part in parts if part.height]


def _with_every_copy_of_duplicate_keys(
    broken: pl.DataFrame, checked: pl.DataFrame, rules: tuple[Rule, ...]
) -> pl.DataFrame:
    """Exact copies of a record whose key is in conflict are quarantined with it."""
    unique_rule = next(i for i, rule in enumerate(rules) if rule.column == VERSION_KEY)
    conflicted = broken.filter(pl.col(_RULE) == unique_rule)
    if conflicted.is_empty():
        return broken
    versions = checked.select(_ROW, _VERSION)
    copies = (
        conflicted.join(versions, on=_ROW)
        .select(_VERSION)
        .unique()
        .join(versions, on=_VERSION)
        .select(_ROW, pl.lit(unique_rule, pl.Int64).alias(_RULE))
    )
    return pl.concat([broken.filter(pl.col(_RULE) != unique_rule), copies])


def _broken_rows(
    broken: pl.DataFrame, raw: pl.DataFrame, rules: tuple[Rule, ...]
) -> pl.DataFrame | None:
    """One row per record and rule it broke, with the reason in words; None when none."""
    if broken.is_empty():
        return None
    quoted = {name for rule in rules for name in rule.message.meta.root_names()}
    missing = [name for name in quoted if name not in raw.columns]
    raw = raw.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
    parts = []
    for number, rows in broken.unique().group_by(_RULE):
        rule = rules[number[0]]
        parts.append(
            raw[rows[_ROW].sort()].select(
                _FILE,
                RECORD_NUMBER,
                pl.lit(number[0], pl.Int64).alias(_RULE),
                pl.lit(rule.about).alias("column_name"),
                # A rule on the value itself (not on what conform could not read): the
                # value loads as null.
                pl.lit(rule.column == rule.about).alias(NULLS_VALUE),
                pl.lit(rule.reason_code).alias("reason_code"),
                (pl.lit(f"{rule.reason_code}: ") + rule.message).alias("reason"),
                pl.lit(rule.name).alias("expectation"),
            )
        )
    # A survey submission is one record of several answers: one row per record and rule.
    return (
        pl.concat(parts)
        .unique([_FILE, RECORD_NUMBER, _RULE], keep="first", maintain_order=True)
        .sort(_FILE, RECORD_NUMBER, _RULE)
    )


def _empty(columns: tuple[str, ...]) -> pl.DataFrame:
    schema = {_FILE: pl.Int32, **dict.fromkeys(columns, pl.String)}
    return pl.DataFrame(schema=schema).with_columns(
        pl.col(RECORD_NUMBER).cast(pl.Int64),
        *([pl.col(NULLS_VALUE).cast(pl.Boolean)] if NULLS_VALUE in columns else []),
    )


def _reasons(broken: pl.DataFrame, raw: pl.DataFrame, rules: tuple[Rule, ...]) -> pl.DataFrame:
    rows = _broken_rows(broken, raw, rules)
    if rows is None:
        return _empty(FAILURE_COLUMNS)
    return rows.group_by(_FILE, RECORD_NUMBER, maintain_order=True).agg(
        pl.col("reason_code").first(),
        pl.col("reason").str.join("; "),
        pl.col("expectation").str.join("; "),
    )


def _findings(broken: pl.DataFrame, raw: pl.DataFrame, rules: tuple[Rule, ...]) -> pl.DataFrame:
    rows = _broken_rows(broken, raw, rules)
    if rows is None:
        return _empty(FINDING_COLUMNS)
    return rows.select(_FILE, *FINDING_COLUMNS)
