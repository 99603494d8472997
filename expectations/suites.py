"""One expectation suite per feed, written from the data contract (`ingest/feeds.py`).

Each rule is a Great Expectations expectation plus what the quarantine says when a record
breaks it: a reason code and a message built from the record's text as it arrived. Rules are
checked on the typed batch that `ingest.conform` returns; a record that breaks any rule is
quarantined with every rule it broke, and the rest of the batch loads.

This module only declares the rules; `expectations.validate` runs them (and imports GX).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import polars as pl

from ingest.conform import VALID_TIMEZONES, severity_grade, unparsed
from ingest.encodings import SEVERITY_WORDS
from ingest.feeds import FEEDS, FLUENCE_HARD_LIMITS, INSTRUMENT_RANGES, Column, Feed

# Per record: a hash of its key and updated_at, set on the first of identical copies only, so
# exact duplicates (dropped and counted later) do not count as two versions of one record.
VERSION_KEY = "_version_key"
PARSEABLE_TYPES = ("int", "dec", "bool", "date", "ts")


@dataclass(frozen=True)
class Rule:
    expectation: str  # the GX expectation type, e.g. expect_column_values_to_be_in_set
    column: str
    reason_code: str  # missing_required | unparseable | unknown_code | out_of_range | ...
    message: pl.Expr  # why, over the record's raw text; never quotes a direct identifier
    options: dict = field(default_factory=dict)
    # The rows the rule applies to: (column, value); None as the value means "is null".
    only_where: tuple[str, str | None] | None = None

    @property
    def name(self) -> str:
        """How quarantine, ops.dq_results and Data Docs name this rule."""
        condition = ""
        if self.only_where:
            column, value = self.only_where
            condition = f" where {column} is null" if value is None else f" where {column}={value}"
        return f"{self.expectation}({self.column}{condition})"

    @property
    def columns(self) -> set[str]:
        """Columns of the typed batch the rule reads."""
        return {self.column, *([self.only_where[0]] if self.only_where else [])}


def quoted(column: str) -> pl.Expr:
    return pl.lit(" '") + pl.col(column).str.strip_chars().str.slice(0, 40) + pl.lit("'")


@cache
def suite_rules(feed_name: str) -> tuple[Rule, ...]:
    """The feed's rules in the order their reasons are listed: column by column, as the
    contract lists them, then the key."""
    feed = FEEDS[feed_name]
    rules: list[Rule] = []
    for column in feed.columns:
        if not column.pii:
            rules.extend(_column_rules(feed, column))
    rules.append(_unique_versions(feed))
    return tuple(rules)


def _column_rules(feed: Feed, column: Column) -> list[Rule]:
    name = column.name
    rules = []
    if column.required:
        # A value that is there but unreadable is unparseable, not missing.
        given = unparsed(name)
        rules.append(
            Rule(
                "expect_column_values_to_not_be_null",
                name,
                "missing_required",
                pl.lit(f"{name} is empty"),
                only_where=(given, None) if column.type in PARSEABLE_TYPES else None,
            )
        )
    if column.type in PARSEABLE_TYPES:
        rules.append(
            Rule(
                "expect_column_values_to_be_null",
                unparsed(name),
                "unparseable",
                pl.lit(name) + quoted(name),
            )
        )
    if column.type == "severity":
        grade = severity_grade(name)
        rules.append(_allowed(name, [1, 2, 3], "out_of_range", checked=grade))
        rules.append(_allowed(name, SEVERITY_WORDS, only_where=(grade, None)))
    elif column.type == "list":
        codes = "|".join(column.codes or ())
        rules.append(
            Rule(
                "expect_column_values_to_match_regex",
                name,
                "unknown_code",
                pl.lit(name) + quoted(name),
                {"regex": f"^(?:{codes})(?:;(?:{codes}))*$"},
            )
        )
    elif column.codes is not None:
        rules.append(_allowed(name, column.codes))
    if name == "timezone":
        rules.append(_allowed(name, sorted(VALID_TIMEZONES)))
    if feed.name == "sessions" and name == "fluence_j_cm2":
        low, high = FLUENCE_HARD_LIMITS
        rules.append(
            Rule(
                "expect_column_values_to_be_between",
                name,
                "out_of_range",
                pl.lit(f"{name} must be above {low:g} and at most {high:g} J/cm2, got")
                + quoted(name),
                {"min_value": low, "max_value": high, "strict_min": True},
            )
        )
    if feed.name == "outcomes" and name == "score":
        for instrument, (low, high) in INSTRUMENT_RANGES.items():
            rules.append(
                Rule(
                    "expect_column_values_to_be_between",
                    name,
                    "out_of_range",
                    pl.lit(f"score of {instrument} must be {low:g} to {high:g}, got")
                    + quoted(name),
                    {"min_value": low, "max_value": high},
                    only_where=("instrument", instrument),
                )
            )
    return rules


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
        pl.lit(name) + quoted(name),
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
