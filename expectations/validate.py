"""Run the feeds' expectation suites on parsed batches with Great Expectations.

GX takes seconds to import, so one `SuiteValidator` serves a whole refresh, and it imports GX
on a thread of its own from the start, while the ingest reads the first files. A GX run costs a
fixed half second or so whatever its size, so the ingest hands over several files of one feed
at once (a nightly landing zone holds hundreds of small files); each file is still judged on
its own (its key uniqueness is within the file). Batches are validated in pandas (GX's SQL
datasource fails on DuckDB), in chunks of at most `chunk_rows` records; a chunk holds every
version of the keys in it, so the uniqueness rule sees the whole file. Direct identifiers never
reach GX: the suites read typed values, and the patient record number is replaced by a rank
that only keeps which rows share one.
"""

from __future__ import annotations

import importlib
import os
import shutil
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 250_000
_ROW = "_row"
_RULE = "_rule"
_VERSION = "_version"
_FILE = "_file"
DOCS_SITE = "data_docs"


class SuiteValidator:
    """The GX context of one refresh: a suite and a validation definition per feed (the
    ingest's `Validator`)."""

    def __init__(self, chunk_rows: int = CHUNK_ROWS, latest: date | None = None):
        self.chunk_rows = chunk_rows
        self.latest = latest or latest_plausible()  # the last plausible day of a record
        self.validated = 0  # batches validated
        self.seconds = 0.0  # spent validating, waiting for GX's import included
        self._context = None
        self._definitions: dict[str, object] = {}
        # GX takes about two seconds to import: on the side, while the ingest hashes and reads
        # the first files, instead of when the first batch is ready and waits for it.
        self._importing = threading.Thread(
            target=importlib.import_module, args=("great_expectations",), name="import-gx"
        )
        self._importing.daemon = True
        self._importing.start()

    @property
    def context(self):
        """The ephemeral GX context, made on first use."""
        if self._context is None:
            self._importing.join()
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self._gx = gx
            self._context = gx.get_context(mode="ephemeral")
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._source = self._context.data_sources.add_pandas("landing")
        return self._context

    def verdicts(self, feed: Feed, batches: list[Batch]) -> list[Verdict]:
        """Per batch, the suite's verdict on its records."""
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
        hits = [
            self._broken_rules(
                feed,
                chunk,
                rules,
                name if len(chunks) == 1 else f"{name} (part {i + 1} of {len(chunks)})",
            )
            for i, chunk in enumerate(chunks)
        ]
        broken = pl.concat(hits) if hits else pl.DataFrame(schema={_ROW: pl.Int64, _RULE: pl.Int64})
        broken = _with_every_copy_of_duplicate_keys(broken, checked, rules)
        raw = _stacked(batches, feed, parsed=False)
        holding = [number for number, rule in enumerate(rules) if rule.quarantines]
        held = broken.filter(pl.col(_RULE).is_in(holding))
        quarantined = _reasons(held, raw, rules)
        noted = broken.join(held.select(_ROW), on=_ROW, how="anti")
        findings = _findings(noted, raw, rules)
        self.validated += len(batches)
        self.seconds += time.monotonic() - started
        return [
            Verdict(
                quarantined.filter(pl.col(_FILE) == number).drop(_FILE),
                findings.filter(pl.col(_FILE) == number).drop(_FILE),
            )
            for number in range(len(batches))
        ]

    def _broken_rules(
        self, feed: Feed, chunk: pl.DataFrame, rules: tuple[Rule, ...], label: str
    ) -> pl.DataFrame:
        needed = sorted(set().union(*(rule.columns for rule in rules if not rule.only_where)))
        on_some_rows = [_on_its_rows(rule) for rule in rules if rule.only_where]
        frame = _for_gx(chunk.select(*needed, *on_some_rows))
        definition = self._definition(feed, rules)
        result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 20},
            run_id=self._gx.RunIdentifier(run_name=label, run_time=datetime.now(UTC)),
        )
        rows: list[int] = []
        broken: list[int] = []
        positions = chunk[_ROW]
        for outcome in result.results:
            # A rule that could not be checked must not let its records through unchecked.
            problem = _raised(outcome.exception_info)
            if outcome.success:
                continue
            index = outcome.result.get("unexpected_index_list")
            if problem or not index:
                raise RuntimeError(
                    f"{label}: {outcome.expectation_config.type} on"
                    f" {outcome.expectation_config.kwargs.get('column')} could not name the"
                    f" failing records: {problem or 'no unexpected_index_list'}"
                )
            rows.extend(positions.gather(index).to_list())
            broken.extend([outcome.expectation_config.meta["rule"]] * len(index))
        return pl.DataFrame({_ROW: rows, _RULE: broken}, schema={_ROW: pl.Int64, _RULE: pl.Int64})

    def _definition(self, feed: Feed, rules: tuple[Rule, ...]):
        if feed.name not in self._definitions:
            context = self.context
            gx = self._gx
            expectations = [_expectation(gx, rule, number) for number, rule in enumerate(rules)]
            suite = context.suites.add(
                gx.ExpectationSuite(name=feed.name, expectations=expectations)
            )
            asset = self._source.add_dataframe_asset(feed.name)
            batch = asset.add_batch_definition_whole_dataframe("each_landing_file")
            self._definitions[feed.name] = context.validation_definitions.add(
                gx.ValidationDefinition(name=feed.name, data=batch, suite=suite)
            )
        return self._definitions[feed.name]

    def build_docs(self, directory: Path) -> Path:
        """Data Docs of this refresh's validations, replacing the previous ones. Built aside
        first, so a reader never sees half a site."""
        building = directory.with_name(directory.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        self.context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(building),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        try:
            self.context.build_data_docs(site_names=[DOCS_SITE])
        finally:
            self.context.delete_data_docs_site(DOCS_SITE)
        previous = directory.with_name(directory.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if directory.exists():
            os.replace(directory, previous)
        os.replace(building, directory)
        shutil.rmtree(previous, ignore_errors=True)
        return directory / "index.html"


# The nanosecond timestamps pandas holds; a date outside them (year 1 or 9999, a system's "no
# date") is moved to the nearest end, which is as implausible as the date itself.
_NS_EARLIEST = datetime(1678, 1, 1)
_NS_LATEST = datetime(2262, 1, 1)


def _for_gx(chunk: pl.DataFrame) -> pd.DataFrame:
    """The chunk in pandas, typed so that GX compares whole columns at once: it does so only
    for 64-bit numbers and nanosecond timestamps, and calls Python once per value otherwise
    (three quarters of the expectation suites' time on the 1m tier). Text goes as categories:
    GX copies the rows of the whole frame for each rule's domain, and copying category codes
    is several times cheaper than copying strings (those copies were two fifths of the
    suites' time on the 1m tier)."""
    casts = []
    for name, dtype in chunk.schema.items():
        if dtype == pl.String:
            casts.append(pl.col(name).cast(pl.Categorical))
        elif dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Int64))
        elif dtype.is_float():
            casts.append(pl.col(name).cast(pl.Float64))
        elif dtype == pl.Date or (dtype == pl.Datetime and dtype.time_zone is None):
            casts.append(
                pl.col(name)
                .cast(pl.Datetime("us"))
                .clip(_NS_EARLIEST, _NS_LATEST)
                .cast(pl.Datetime("ns"))
            )
    return chunk.with_columns(casts).to_pandas()


def _raised(info: dict) -> str | None:
    """The exception message in a GX result's exception_info (flat, or per metric)."""
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def _expectation(gx, rule: Rule, number: int):
    kind = "".join(part.title() for part in rule.expectation.split("_"))
    return getattr(gx.expectations, kind)(
        column=rule.subject,
        meta={"rule": number, "reason_code": rule.reason_code},
        **rule.options,
    )


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
