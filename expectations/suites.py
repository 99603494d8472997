"""One expectation suite per feed, written from the data contract (`contract/feeds.py`).

Each rule is a Great Expectations expectation plus what the quarantine says when a record
breaks it: a reason code and a message built from the record's text as it arrived. Rules are
checked on the typed batch that `ingest.conform` returns; a record that breaks any rule is
quarantined with every rule it broke, and the rest of the batch loads.

This module only declares the rules; `expectations.validate` runs them (in GX's process).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache

import polars as pl

from contract.encodings import SEVERITY_WORDS
from contract.feeds import FEEDS, INSTRUMENT_RANGES, Column, Feed
from ingest.conform import VALID_TIMEZONES, severity_grade, unparsed

# Per record: a hash of its key and updated_at, on the first of identical copies only, so exact
# duplicates (dropped and counted later) do not count as two versions of one record.
VERSION_KEY = "_version_key"
PARSEABLE_TYPES = ("id", "int", "dec", "bool", "date", "ts")
# No clinic recorded laser toning electronically before 2000: an earlier session, score or
# correction is a broken date (a two-digit year, an epoch zero), not history.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1)
# For dates no metric needs (a clinic's opening, a device's installation) older history is
# real, but not before the Unix epoch: 1900-01-01 or 0001-01-01 is a system's "no date".
EARLIEST_ON_RECORD = datetime(1970, 1, 1)
# Nothing can have happened after the refresh's clock; a day of slack covers clinics whose
# local date is ahead of the server's.
CLOCK_SLACK = timedelta(days=1)


def latest_plausible(clock: datetime | None = None) -> date:
    """The last day a landing record may describe, for a refresh whose clock reads `clock`
    (by default now)."""
    return ((clock or datetime.now(UTC).replace(tzinfo=None)) + CLOCK_SLACK).date()


@dataclass(frozen=True)
class Rule:
    expectation: str  # the GX expectation type, e.g. expect_column_values_to_be_in_set
    column: str
    reason_code: str  # missing_required | unparseable | unknown_code | out_of_range | ...
    message: pl.Expr  # why, over the record's raw text; never quotes a direct identifier
    options: dict = field(default_factory=dict)
    # The rows the rule applies to: (column, value); None as the value means "is null".
    only_where: tuple[str, str | None] | None = None
    # False for a rule on an informational column: a record that breaks it loads with
    # `about` null, and the break is a data-quality finding instead of a quarantine.
    quarantines: bool = True
    about: str = ""  # the contract column the rule judges (`column` may be a helper)

    @property
    def name(self) -> str:
        """How quarantine, ops.dq_results and Data Docs name this rule."""
        return f"{self.expectation}({self.subject})"

    @property
    def subject(self) -> str:
        """What the rule judges: its column, on the rows it applies to."""
        if not self.only_where:
            return self.column
        column, value = self.only_where
        where = f" where {column} is null" if value is None else f" where {column}={value}"
        return self.column + where

    @property
    def columns(self) -> set[str]:
        """Columns of the typed batch the rule reads."""
        return {self.column, *([self.only_where[0]] if self.only_where else [])}


def quoted(column: str) -> pl.Expr:
    return pl.lit(" '") + pl.col(column).str.strip_chars().str.slice(0, 40) + pl.lit("'")


def _value_of(name: str) -> pl.Expr:
    """`name 'value'` for a reason; a patient's record number is never quoted."""
    if name == "patient_ref":
        return pl.lit(f"{name} (value not shown)")
    return pl.lit(name) + quoted(name)


def suite_rules(feed_name: str, latest: date | None = None) -> tuple[Rule, ...]:
    """The feed's rules in the order their reasons are listed: column by column, as the
    contract lists them, then the key. Dates later than `latest` (by default
    `latest_plausible()`, today's) are out of range."""
    return _suite_rules(feed_name, latest or latest_plausible())


@cache  # per day: a long-running process must not keep yesterday's window
def _suite_rules(feed_name: str, latest: date) -> tuple[Rule, ...]:
    feed = FEEDS[feed_name]
    rules: list[Rule] = []
    for column in feed.columns:
        if not column.pii:
            rules.extend(
                replace(rule, quarantines=not column.informational, about=column.name)
                for rule in _column_rules(feed, column, latest)
            )
    rules.append(_unique_versions(feed))
    return tuple(rules)


def _column_rules(feed: Feed, column: Column, latest: date) -> list[Rule]:
    return [
        *_readable_rules(column),
        *_code_rules(column),
        *_range_rules(feed, column, latest),
    ]


def _readable_rules(column: Column) -> list[Rule]:
    """There when required, and readable as its type."""
    name = column.name
    rules = []
    if column.required:
        # A value that is there but unreadable is unparseable, not missing.
        rules.append(
            Rule(
                "expect_column_values_to_not_be_null",
                name,
                "missing_required",
                pl.lit(f"{name} is empty"),
                only_where=(unparsed(name), None) if column.type in PARSEABLE_TYPES else None,
            )
        )
    if column.type in PARSEABLE_TYPES:
        rules.append(
            Rule("expect_column_values_to_be_null", unparsed(name), "unparseable", _value_of(name))
        )
    return rules


def _code_rules(column: Column) -> list[Rule]:
    """One of the codes the contract allows."""
    name = column.name
    if column.type == "severity":
        grade = severity_grade(name)
        return [
            _allowed(name, [1, 2, 3], "out_of_range", checked=grade),
            _allowed(name, SEVERITY_WORDS, only_where=(grade, None)),
        ]
    if column.type == "list":
        return [
            Rule("expect_column_values_to_be_null", unparsed(name), "unknown_code", _value_of(name))
        ]
    if column.codes is not None:
        return [_allowed(name, column.codes)]
    if column.type == "timezone":
        return [_allowed(name, sorted(VALID_TIMEZONES))]
    return []


def _range_rules(feed: Feed, column: Column, latest: date) -> list[Rule]:
    """Plausible numbers and dates; each instrument's score range."""
    name = column.name
    rules = []
    if column.bounds is not None:
        bounds = column.bounds
        rules.append(
            Rule(
                "expect_column_values_to_be_between",
                name,
                "out_of_range",
                pl.lit(f"{name} must be {bounds.describe()}, got") + quoted(name),
                {
                    "min_value": bounds.low,
                    "max_value": bounds.high,
                    "strict_min": bounds.low_exclusive,
                },
            )
        )
    if column.type in ("date", "ts"):
        rules.append(_plausible_dates(column, latest))
    if feed.name == "outcomes" and name == "score":
        rules.extend(
            Rule(
                "expect_column_values_to_be_between",
                name,
                "out_of_range",
                pl.lit(f"score of {instrument} must be {low:g} to {high:g}, got") + quoted(name),
                {"min_value": low, "max_value": high},
                only_where=("instrument", instrument),
            )
            for instrument, (low, high) in INSTRUMENT_RANGES.items()
        )
    return rules


def _plausible_dates(column: Column, latest: date) -> Rule:
    """Dates from the future, or from before records could hold them, are broken: a session
    dated 2099 would move the as-of date and every day count with it."""
    earliest = EARLIEST_ON_RECORD if column.informational else EARLIEST_PLAUSIBLE
    return Rule(
        "expect_column_values_to_be_between",
        column.name,
        "out_of_range",
        pl.lit(f"{column.name} must be from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}, got")
        + quoted(column.name),
        {"min_value": earliest, "max_value": datetime.combine(latest, datetime.max.time())},
    )


def _allowed(
    name: str,
    values,
    reason_code: str = "unknown_code",
    checked: str | None = None,
    only_where: tuple[str, str | None] | None = None,
) -> Rule:
    """`name` must be one of `values`, as read into column `checked` (by default `name`)."""
    return Rule(
        "expect_column_values_to_be_in_set",
        checked or name,
        reason_code,
        _value_of(name),
        {"value_set": list(values)},
        only_where,
    )


def _unique_versions(feed: Feed) -> Rule:
    """Two different records with the same key and the same updated_at in one batch: neither
    can be said to be the correction of the other, so both wait in quarantine."""
    shown = [key for key in feed.key if key != "patient_ref"]  # a record number identifies
    named = pl.concat_str([pl.lit(key) + quoted(key) for key in shown], separator=", ")
    if "patient_ref" in feed.key:
        named = pl.lit("a patient of ") + named
    return Rule(
        "expect_column_values_to_be_unique",
        VERSION_KEY,
        "duplicate_key",
        named + pl.lit(" has two different versions with the same updated_at in this file"),
    )


def version_columns(feed: Feed) -> list[str]:
    """What identifies one version of one record: its key and its updated_at."""
    return [*feed.key, "updated_at"]
