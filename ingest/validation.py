"""What the ingest asks of whoever validates its batches (the expectation suites, in
`expectations/validate.py`): a verdict per batch of typed records. The ingest depends on this
shape only, never on the suites themselves, so data flows one way: ingest -> suites -> lake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from contract.feeds import Feed
from ingest.readers import RECORD_NUMBER

FAILURE_COLUMNS = (RECORD_NUMBER, "reason_code", "reason", "expectation")
NULLS_VALUE = "nulls_value"
FINDING_COLUMNS = (
    RECORD_NUMBER,
    "column_name",
    "reason_code",
    "reason",
    "expectation",
    NULLS_VALUE,
)


@dataclass(frozen=True)
class Batch:
    """One landing file: as `ingest.conform` typed it, and as it arrived (row for row)."""

    label: str  # the file's landing path
    parsed: pl.DataFrame
    raw: pl.DataFrame


@dataclass(frozen=True)
class Verdict:
    """A suite's verdict on one batch.

    `quarantined`: the records that broke a rule of a column a metric needs (record number,
    reason code of the first rule broken, reason naming every such rule, the expectation(s)).
    `findings`: for the other records, each informational column they carried an unreadable
    value in (record number, column, reason code, reason, expectation, whether the value must
    be set to null): they load with what could be read of it (nothing, or a list's known
    items).
    """

    quarantined: pl.DataFrame
    findings: pl.DataFrame


class Validator(Protocol):
    """Judges the typed batches of one feed, several files at a time."""

    chunk_rows: int  # the ingest hands over files of a feed together up to this many rows

    def submit(self, feed: Feed, batches: list[Batch]) -> Callable[[], list[Verdict]]:
        """Start judging `batches`; the call returned gives one verdict per batch, in order,
        each batch judged on its own (the ingest stores the previous files meanwhile)."""
        ...
