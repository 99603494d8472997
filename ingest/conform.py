"""Type one batch against its feed: cast every column, and split rows that break the contract.

A row is quarantined, with every reason that applies, when a required field is empty, a value
cannot be parsed, a code is not in its list, or a value is impossible (fluence, scores,
severity). Everything else loads. Direct identifiers are never parsed into a reason message.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import polars as pl

from ingest import encodings as enc
from ingest.feeds import FLUENCE_HARD_LIMITS, INSTRUMENT_RANGES, LOCAL_TIME_COLUMNS, Column, Feed
from ingest.readers import RECORD_NUMBER, RawBatch

DMY = "_dmy"
TIMEZONE = "_timezone"
REASON = "reason"
REASON_CODE = "reason_code"
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
    good: pl.DataFrame
    bad: pl.DataFrame
    ignored_columns: list[str]


def conform(batch: RawBatch, feed: Feed, calendar: ClinicCalendar) -> Conformed:
    frame = batch.frame
    present = set(frame.columns) - {RECORD_NUMBER}
    known = {column.name for column in feed.columns} | set(feed.derived)
    missing = [name for name in feed.required if name not in present]
    if missing:
        raise MissingColumns(missing)
    ignored = sorted(present - known)
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(column.name)
        for column in feed.columns
        if column.name not in present
    )
    if feed.name == "clinics":
        calendar = calendar.with_clinics(frame)
    frame = _with_clinic_calendar(frame, calendar, batch, feed)
    timezones = sorted(set(frame[TIMEZONE].unique().to_list()))

    values: list[pl.Expr] = []
    problems: list[pl.Expr] = []
    for column in feed.columns:
        dmy = pl.lit(False) if column.name in batch.typed_columns else pl.col(DMY)
        column_values, column_problems = _parse_column(column, dmy, timezones)
        values.extend(column_values)
        problems.extend(column_problems)
    problems.extend(_impossible_values(feed))
    if feed.name == "outcomes":
        values.extend(_outcome_source(frame, batch))

    checked = frame.with_columns(
        pl.concat_str(problems, separator="; ", ignore_nulls=True).alias(REASON)
        if problems
        else pl.lit(None, pl.String).alias(REASON)
    ).with_columns(pl.when(pl.col(REASON) != "").then(pl.col(REASON)).alias(REASON))
    is_bad = pl.col(REASON).is_not_null()
    good = checked.filter(~is_bad).select(RECORD_NUMBER, *values)
    raw_fields = [c.name for c in feed.columns if not c.pii]
    bad = checked.filter(is_bad).select(
        RECORD_NUMBER,
        pl.col(REASON).str.extract(r"^(\w+):").alias(REASON_CODE),
        REASON,
        *raw_fields,
    )
    return Conformed(good, bad, ignored)


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


def _problem(condition: pl.Expr, code: str, message: str | pl.Expr) -> pl.Expr:
    text = pl.lit(f"{code}: ") + (pl.lit(message) if isinstance(message, str) else message)
    return pl.when(condition).then(text)


def _quoted(column: str) -> pl.Expr:
    return pl.lit(" '") + pl.col(column).str.strip_chars().str.slice(0, 40) + pl.lit("'")


def _parse_column(
    column: Column, dmy: pl.Expr, timezones: list[str]
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """The typed value expression(s) of one column and its problem expressions.

    `dmy` is true on rows whose dates and times are written DD/MM/YYYY.
    """
    name = column.name
    problems: list[pl.Expr] = []
    if column.required:
        problems.append(
            _problem(enc.blank_to_null(name).is_null(), "missing_required", f"{name} is empty")
        )
    if column.pii:
        if column.type == "date":  # kept only for the restricted identity store, never quoted
            return [_parse_date(name, dmy).value.alias(name)], problems
        return [pl.col(name).alias(name)], problems
    if name == "patient_ref":
        return [enc.blank_to_null(name).alias(name)], problems

    if column.type == "fitzpatrick":
        value, is_range, unrecognised = enc.parse_fitzpatrick(name)
        return [
            value.alias(name),
            is_range.alias("fitzpatrick_is_range"),
            unrecognised.alias("fitzpatrick_unrecognised"),
        ], problems
    if column.type == "ts":
        utc, local, invalid = _parse_timestamp(name, dmy, timezones)
        problems.append(_problem(invalid, "unparseable", pl.lit(f"{name}") + _quoted(name)))
        outputs = [utc.alias(name)]
        if name in LOCAL_TIME_COLUMNS:
            outputs.append(local.alias(f"{name}_local"))
        return outputs, problems

    if column.type == "date":
        parsed = _parse_date(name, dmy)
    elif column.type == "list":
        parsed = enc.parse_code_list(name, column.codes or ())
    elif column.codes is not None:
        parsed = enc.parse_code(name, column.codes)
    else:
        parsed = {
            "str": lambda: enc.parse_str(name),
            "int": lambda: enc.parse_int(name),
            "dec": lambda: enc.parse_decimal(name),
            "bool": lambda: enc.parse_bool(name),
            "severity": lambda: enc.parse_severity(name),
        }[column.type]()

    if column.type == "severity":
        out_of_range = enc.severity_out_of_range(name)
        problems.append(_problem(out_of_range, "out_of_range", pl.lit(f"{name}") + _quoted(name)))
        problems.append(
            _problem(parsed.invalid & ~out_of_range, "unknown_code", pl.lit(name) + _quoted(name))
        )
    elif column.codes is not None:
        problems.append(_problem(parsed.invalid, "unknown_code", pl.lit(name) + _quoted(name)))
    else:
        problems.append(_problem(parsed.invalid, "unparseable", pl.lit(name) + _quoted(name)))
    if name == "timezone":
        unknown_zone = parsed.value.is_not_null() & ~parsed.value.is_in(list(VALID_TIMEZONES))
        problems.append(_problem(unknown_zone, "unknown_code", pl.lit(name) + _quoted(name)))
    return [parsed.value.alias(name)], problems


def _parse_date(name: str, dmy: pl.Expr) -> enc.Parsed:
    iso = enc.parse_date(name, enc.ISO_DATE_FORMATS)
    day_first = enc.parse_date(name, enc.DMY_DATE_FORMATS)
    value = pl.when(dmy).then(day_first.value).otherwise(iso.value)
    invalid = pl.when(dmy).then(day_first.invalid).otherwise(iso.invalid)
    return enc.Parsed(value, invalid)


def _parse_timestamp(
    name: str, dmy: pl.Expr, timezones: list[str]
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(UTC, clinic wall-clock, invalid) for one timestamp column.

    ISO values with an offset are exact; values without one are the clinic's local time.
    A clinic that declared `dmy` is read only as DD/MM/YYYY: formats are never guessed per row.
    """
    iso = enc.parse_wall_clock(name, enc.ISO_DATETIME_FORMATS)
    day_first = enc.parse_wall_clock(name, enc.DMY_DATETIME_FORMATS)
    wall = pl.when(dmy).then(day_first).otherwise(iso)
    offset = pl.when(dmy).then(None).otherwise(enc.utc_offset_minutes(name))
    from_offset = wall - pl.duration(minutes=offset)
    from_zone = _per_timezone(
        timezones,
        lambda zone: (
            wall.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        ),
    )
    utc = pl.when(offset.is_not_null()).then(from_offset).otherwise(from_zone)
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


def _impossible_values(feed: Feed) -> list[pl.Expr]:
    if feed.name == "sessions":
        low, high = FLUENCE_HARD_LIMITS
        fluence = enc.parse_decimal("fluence_j_cm2").value
        return [
            _problem(
                (fluence <= low) | (fluence > high),
                "out_of_range",
                pl.lit(f"fluence_j_cm2 must be above {low:g} and at most {high:g} J/cm2, got")
                + _quoted("fluence_j_cm2"),
            )
        ]
    if feed.name == "outcomes":
        score = enc.parse_decimal("score").value
        instrument = enc.blank_to_null("instrument").str.to_lowercase()
        checks = []
        for name, (low, high) in INSTRUMENT_RANGES.items():
            checks.append(
                _problem(
                    (instrument == name) & ((score < low) | (score > high)),
                    "out_of_range",
                    pl.lit(f"score of {name} must be {low:g} to {high:g}, got") + _quoted("score"),
                )
            )
        return checks
    return []
