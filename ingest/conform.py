"""Type a batch against its feed (or several alike at once): read every column as the
contract's type.

Parsing never rejects a record: whether a record may load is the feed's expectation suite's
decision (`expectations/suites.py`), made on what this module returns. Direct identifiers are
passed through untouched, for the ingest to drop, and never reach the suites.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, replace

import polars as pl

from contract.encodings import (
    DMY_DATE_FORMATS,
    DMY_DATETIME_FORMATS,
    ISO_DATE_FORMATS,
    ISO_DATETIME_FORMATS,
)
from contract.feeds import LOCAL_TIME_COLUMNS, Column, Feed
from ingest import encodings as enc
from ingest.readers import RECORD_NUMBER, RawBatch

DMY = "_dmy"
TIMEZONE = "_timezone"
UNPARSED = "__unparsed"
GRADE = "__grade"
SPELLING = "__spelling"
CODE_TYPES = ("severity", "timepoint", "list")  # besides columns with a closed list of codes
HELPER_SUFFIXES = (UNPARSED, GRADE)  # columns for the suites only, never stored
VALID_TIMEZONES = frozenset(zoneinfo.available_timezones())


class MissingColumns(Exception):
    """The file lacks required columns of its feed; it is quarantined whole."""

    def __init__(self, missing: list[str]):
        super().__init__(f"missing required column(s): {', '.join(missing)}")
        self.missing = missing


@dataclass(frozen=True)
class ClinicCalendar:
    """Each clinic's timezone and declared datetime format, from the clinics feed."""

    timezones: dict[str, str]
    dmy_clinics: frozenset[str] = frozenset()

    def with_clinics(self, frame: pl.DataFrame) -> ClinicCalendar:
        """This calendar updated with the clinics listed in a raw clinics batch."""
        if not {"clinic_id", "timezone"} <= set(frame.columns):
            return self
        rows = frame.select(
            enc.blank_to_null("clinic_id").alias("clinic_id"),
            enc.blank_to_null("timezone").alias("timezone"),
            (
                enc.blank_to_null("datetime_format").str.to_lowercase()
                if "datetime_format" in frame.columns
                else pl.lit(None, pl.String)
            ).alias("datetime_format"),
        ).drop_nulls("clinic_id")
        timezones = dict(self.timezones)
        dmy = set(self.dmy_clinics)
        for clinic_id, timezone, datetime_format in rows.iter_rows():
            if timezone in VALID_TIMEZONES:
                timezones[clinic_id] = timezone
            if datetime_format == "dmy":
                dmy.add(clinic_id)
            elif datetime_format == "iso":
                dmy.discard(clinic_id)
        return ClinicCalendar(timezones, frozenset(dmy))


@dataclass
class Conformed:
    """Every record of a batch typed, with what the suites need to judge it.

    A value that cannot be read as its type becomes null and its text is kept in
    `<column>__unparsed`; an unknown code keeps its text. Nothing is rejected here: the
    feed's expectation suite decides which records load.
    """

    parsed: pl.DataFrame
    ignored_columns: list[str]


def conform(batch: RawBatch, feed: Feed, calendar: ClinicCalendar) -> Conformed:
    [conformed] = conform_together([batch], feed, calendar)
    return conformed


def conform_together(
    batches: list[RawBatch], feed: Feed, calendar: ClinicCalendar
) -> list[Conformed]:
    """Batches of one feed that arrived alike (`alike_key`) typed in one pass, each returned
    as if typed alone: typing a file of a dozen records is nearly all fixed cost (the calls
    into polars), which a night of hundreds of small files pays here once per group. Every
    expression is row by row (a clinic's calendar, a spelling's reading), so a record reads
    the same in any company. Clinics batches are the exception: each sets the calendar the
    next is typed with, so the ingest types them one at a time."""
    if len({alike_key(batch) for batch in batches}) != 1:
        raise ValueError("only batches that arrived alike are typed together")
    present = set(batches[0].frame.columns) - {RECORD_NUMBER}
    missing = [name for name in feed.required if name not in present]
    if missing:
        raise MissingColumns(missing)
    known = {column.name for column in feed.columns} | set(feed.derived)
    ignored = sorted(present - known)
    columns = batches[0].frame.columns
    together = pl.concat([batch.frame.select(columns) for batch in batches])
    parsed = _parsed(replace(batches[0], frame=together), feed, calendar)
    conformed, start = [], 0
    for batch in batches:
        conformed.append(Conformed(parsed.slice(start, batch.frame.height), ignored))
        start += batch.frame.height
    return conformed


def alike_key(batch: RawBatch) -> tuple:
    """What batches typed together share: their columns and types, which of them arrived
    typed, and whether they are nested survey exports."""
    return (
        frozenset(batch.frame.schema.items()),
        frozenset(batch.typed_columns),
        batch.nested_survey,
    )


def _parsed(batch: RawBatch, feed: Feed, calendar: ClinicCalendar) -> pl.DataFrame:
    """Every record of `batch` typed (see `conform`); its columns include the feed's required
    ones."""
    frame = batch.frame
    present = set(frame.columns) - {RECORD_NUMBER}
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(column.name)
        for column in feed.columns
        if column.name not in present
    )
    if feed.name == "clinics":
        calendar = calendar.with_clinics(frame)
    frame = _with_clinic_calendar(frame, calendar, batch, feed)
    timezones = sorted(set(frame[TIMEZONE].unique().to_list()))

    def dmy(column: Column) -> pl.Expr:
        return pl.lit(False) if column.name in batch.typed_columns else pl.col(DMY)

    # Each timestamp is read once, in steps, into helper columns its values below are taken
    # from: polars evaluates an expression again wherever it is reused (even within one
    # `select`), and a timestamp's reading is reused five times.
    timestamps = [c for c in feed.columns if c.type == "ts" and not c.pii]
    frame = frame.with_columns(helper for c in timestamps for helper in _text_and_offset(c.name))
    frame = frame.with_columns(
        helper for c in timestamps for helper in _wall_clock_and_offset(frame, c.name, dmy(c))
    )
    frame = frame.with_columns(_utc(c.name, timezones) for c in timestamps)
    # Likewise each number, whose reading its value and its validity both use.
    numbers = [c for c in feed.columns if c.type in NUMBER_PARSERS and not c.pii]
    frame = frame.with_columns(
        enc.read_number(c.name).alias(_helper(c.name, "number")) for c in numbers
    )
    values: list[pl.Expr] = []
    for column in feed.columns:
        outputs = _parse_column(column, dmy(column), timezones)
        if _is_coded(column) and not column.pii:
            outputs = _once_per_spelling(frame, column.name, outputs)
        values.extend(outputs)
    if feed.name == "outcomes":
        values.extend(_outcome_source(frame, batch))
    return frame.select(RECORD_NUMBER, *values)


def _with_clinic_calendar(
    frame: pl.DataFrame, calendar: ClinicCalendar, batch: RawBatch, feed: Feed
) -> pl.DataFrame:
    clinic = enc.blank_to_null("clinic_id")
    # The clinics feed is always ISO, and so is the survey app whatever the clinic declares.
    clinic_format_applies = feed.name != "clinics" and not batch.nested_survey
    return frame.with_columns(
        clinic.replace_strict(calendar.timezones, default="UTC", return_dtype=pl.String)
        .fill_null("UTC")
        .alias(TIMEZONE),
        (clinic.is_in(list(calendar.dmy_clinics)).fill_null(False) & clinic_format_applies).alias(
            DMY
        ),
    )


def unparsed(name: str) -> str:
    """The helper column holding the text of values of `name` that could not be read."""
    return f"{name}{UNPARSED}"


def severity_grade(name: str) -> str:
    """The helper column holding a severity written as a number, to check its range."""
    return f"{name}{GRADE}"


def _unparsed(name: str, invalid: pl.Expr) -> pl.Expr:
    return pl.when(invalid).then(enc.blank_to_null(name)).alias(unparsed(name))


def _parse_column(column: Column, dmy: pl.Expr, timezones: list[str]) -> list[pl.Expr]:
    """The typed value expression(s) of one column, and its unparsed-text helper.

    `dmy` is true on rows whose dates and times are written DD/MM/YYYY.
    """
    name = column.name
    if column.pii:
        if column.type == "date":  # kept only for the restricted identity store
            return [_parse_date(name, dmy).value.alias(name)]
        return [pl.col(name).alias(name)]
    if column.type == "id":
        parsed = enc.parse_id(name)
        # The suites never see a patient's record number, only that it was unreadable.
        shown = pl.lit("(not shown)") if name == "patient_ref" else enc.blank_to_null(name)
        return [parsed.value.alias(name), pl.when(parsed.invalid).then(shown).alias(unparsed(name))]
    if column.type == "fitzpatrick":
        value, is_range, unrecognised = enc.parse_fitzpatrick(name)
        return [
            value.alias(name),
            is_range.alias("fitzpatrick_is_range"),
            unrecognised.alias("fitzpatrick_unrecognised"),
        ]
    if column.type == "ts":
        utc, local, invalid = _parse_timestamp(name, timezones)
        outputs = [utc.alias(name), _unparsed(name, invalid)]
        if name in LOCAL_TIME_COLUMNS:
            outputs.append(local.alias(f"{name}_local"))
        return outputs
    if column.type in CODE_TYPES or column.codes is not None:
        return _parse_coded(column)
    return _parse_scalar(column, dmy)


def _is_coded(column: Column) -> bool:
    """A column of codes, a few spellings of which fill every row."""
    return column.type in (*CODE_TYPES, "fitzpatrick") or column.codes is not None


def _once_per_spelling(frame: pl.DataFrame, name: str, outputs: list[pl.Expr]) -> list[pl.Expr]:
    """`outputs`, expressions of column `name` alone, computed once per distinct spelling of it
    and looked up for each row: a million outcomes hold a handful of timepoint spellings, and
    reading one takes several regular expressions."""
    table = frame.select(pl.col(name).unique()).select(pl.col(name).alias(SPELLING), *outputs)
    spelled = table.filter(pl.col(SPELLING).is_not_null())
    blank = table.filter(pl.col(SPELLING).is_null())
    return [
        pl.col(name)
        .replace_strict(
            spelled[SPELLING],
            spelled[output],
            default=blank[output][0] if blank.height else None,  # the rows without a value
            return_dtype=table.schema[output],
        )
        .alias(output)
        for output in table.columns[1:]
    ]


def _parse_coded(column: Column) -> list[pl.Expr]:
    """A code, a list of codes, a timepoint or a severity. An unknown code keeps its text, for
    the suite's allowed-codes check to name it."""
    name = column.name
    if column.type == "list":
        # The known items load; the text with unknown ones is kept for the suite to name.
        parsed = enc.parse_code_list(name, column.codes or ())
        return [parsed.value.alias(name), _unparsed(name, parsed.invalid)]
    text = enc.blank_to_null(name)
    if column.type == "severity":
        grade = text.cast(pl.Float64, strict=False)
        known = enc.parse_severity(name).value
        return [pl.coalesce(known, text).alias(name), grade.alias(severity_grade(name))]
    if column.type == "timepoint":
        known = enc.parse_timepoint(name).value
    else:
        known = enc.parse_code(name, column.codes or (), column.aliases).value
    return [pl.coalesce(known, text).alias(name)]


SCALAR_PARSERS = {
    "str": enc.parse_str,
    "timezone": enc.parse_str,  # checked against the IANA names by the suite
    "bool": enc.parse_bool,
}
NUMBER_PARSERS = {"int": enc.parse_int, "dec": enc.parse_decimal}


def _parse_scalar(column: Column, dmy: pl.Expr) -> list[pl.Expr]:
    """Text, a number, a boolean or a date, and (where it can fail) its unparsed text."""
    name = column.name
    if column.type == "date":
        parsed = _parse_date(name, dmy)
    elif column.type in NUMBER_PARSERS:
        parsed = NUMBER_PARSERS[column.type](name, pl.col(_helper(name, "number")))
    else:
        parsed = SCALAR_PARSERS[column.type](name)
    if column.type in ("str", "timezone"):
        return [parsed.value.alias(name)]
    return [parsed.value.alias(name), _unparsed(name, parsed.invalid)]


def _parse_date(name: str, dmy: pl.Expr) -> enc.Parsed:
    iso = enc.parse_date(name, ISO_DATE_FORMATS)
    day_first = enc.parse_date(name, DMY_DATE_FORMATS)
    value = pl.when(dmy).then(day_first.value).otherwise(iso.value)
    invalid = pl.when(dmy).then(day_first.invalid).otherwise(iso.invalid)
    return enc.Parsed(value, invalid)


def _helper(name: str, part: str) -> str:
    """A helper column of timestamp column `name` (never leaves this module)."""
    return f"{name}__{part}"


def _text_and_offset(name: str) -> list[pl.Expr]:
    text, offset = enc.split_utc_offset(name)
    return [text.alias(_helper(name, "text")), offset.alias(_helper(name, "offset"))]


def _wall_clock_and_offset(frame: pl.DataFrame, name: str, dmy: pl.Expr) -> list[pl.Expr]:
    """A timestamp's wall-clock time as written, its UTC offset in minutes east (where one is
    written) and whether that offset is impossible.

    ISO values with an offset are exact; values without one are the clinic's local time.
    A clinic that declared `dmy` is read only as DD/MM/YYYY: formats are never guessed per row.
    """
    text = pl.col(_helper(name, "text"))
    iso, day_first = frame.select(
        pl.when(dmy).then(None).otherwise(text).alias("iso"), pl.when(dmy).then(text).alias("dmy")
    )
    wall = enc.read_wall_clock(iso, ISO_DATETIME_FORMATS).fill_null(
        enc.read_wall_clock(day_first, DMY_DATETIME_FORMATS)
    )
    offset = _helper(name, "offset")
    east, impossible = enc.utc_offset_minutes(pl.col(offset))
    east, impossible = _once_per_spelling(  # a clinic writes one offset, or two a year
        frame, offset, [east.alias("east"), impossible.alias("impossible")]
    )
    return [
        pl.lit(wall).alias(_helper(name, "wall")),
        pl.when(dmy).then(None).otherwise(east).alias(_helper(name, "east")),
        impossible.alias(_helper(name, "impossible")),
    ]


def _utc(name: str, timezones: list[str]) -> pl.Expr:
    """A timestamp in UTC, from its wall-clock time and offset, else its clinic's timezone."""
    wall, east = pl.col(_helper(name, "wall")), pl.col(_helper(name, "east"))
    from_zone = _per_timezone(
        timezones,
        lambda zone: (
            wall.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        ),
    )
    return (
        pl.when(pl.col(_helper(name, "impossible")))
        .then(None)
        .when(east.is_not_null())
        .then(wall - pl.duration(minutes=east))
        .otherwise(from_zone)
        .alias(_helper(name, "utc"))
    )


def _parse_timestamp(name: str, timezones: list[str]) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(UTC, clinic wall-clock, invalid) for one timestamp column, from its helper columns."""
    utc = pl.col(_helper(name, "utc"))
    local = _per_timezone(
        timezones,
        lambda zone: (
            utc.dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        ),
    )
    invalid = enc.blank_to_null(name).is_not_null() & utc.is_null()
    return utc, local, invalid


def _per_timezone(timezones: list[str], convert) -> pl.Expr:
    """`convert(zone)` applied to the rows of each clinic timezone (a handful per batch)."""
    expression = pl.lit(None, pl.Datetime("us"))
    for zone in timezones:
        expression = pl.when(pl.col(TIMEZONE) == zone).then(convert(zone)).otherwise(expression)
    return expression


def _outcome_source(frame: pl.DataFrame, batch: RawBatch) -> list[pl.Expr]:
    submission = (
        enc.blank_to_null("submission_id")
        if "submission_id" in frame.columns
        else pl.lit(None, pl.String)
    )
    system = "survey_app" if batch.nested_survey else "clinic_system"
    return [submission.alias("submission_id"), pl.lit(system).alias("source_system")]
