"""Parsers for the encodings the contract allows, as polars expressions over string columns
(and, for timestamps' many formats, over a column's values at once).

Each parser returns a `Parsed` pair: the typed value, and a boolean that is true where the input
was present but could not be read. Callers keep the text of such values for the expectation
suites to reject; an empty input is simply null (missing values are the suites' business too).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import polars as pl

from contract.encodings import (
    FALSE_WORDS,
    FOLLOW_UP_PATTERNS,
    INVISIBLE_CHARACTERS,
    NULL_FITZPATRICK,
    SEVERITY_NUMBERS,
    SEVERITY_WORDS,
    TIMEPOINT_WORDS,
    TRUE_WORDS,
    UTC_OFFSET,
)
from contract.feeds import FITZPATRICK_TYPES

ROMAN = {roman: number for number, roman in enumerate(FITZPATRICK_TYPES, start=1)}


@dataclass(frozen=True)
class Parsed:
    value: pl.Expr
    invalid: pl.Expr


def blank_to_null(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _invalid(value: pl.Expr, text: pl.Expr) -> pl.Expr:
    return text.is_not_null() & value.is_null()


def parse_str(column: str) -> Parsed:
    text = blank_to_null(column)
    return Parsed(text, pl.lit(False))


def code_spelling(text: pl.Expr) -> pl.Expr:
    """A code as clinic systems vary it, reduced to one spelling: lower case, and runs of
    spaces, hyphens, dots and slashes as one `_` (`In-Clinic`, `in clinic` -> `in_clinic`)."""
    return text.str.to_lowercase().str.replace_all(r"[\s\-./_]+", "_").str.strip_chars("_")


def parse_code(
    column: str, codes: tuple[str, ...], aliases: dict[str, str] | None = None
) -> Parsed:
    """A code from a closed list, whatever its case and separators, or one of its aliases
    (codes keep their canonical case)."""
    text = blank_to_null(column)
    canonical = {code_spelling_of(code): code for code in codes} | (aliases or {})
    value = code_spelling(text).replace_strict(canonical, default=None, return_dtype=pl.String)
    return Parsed(value, _invalid(value, text))


@cache  # every batch builds its lookup tables from the same few codes
def code_spelling_of(code: str) -> str:
    """`code_spelling` of one Python string (for building lookup tables)."""
    return pl.select(code_spelling(pl.lit(code))).item()


def parse_timepoint(column: str) -> Parsed:
    """A supplied outcome timepoint, in any spelling a clinic system plausibly uses, as its
    canonical code (`baseline`, `post_session`, `end_of_course`, `follow_up_3m`/`6m`/`12m`)."""
    text = blank_to_null(column)
    spelled = code_spelling(text).str.replace_all(r"(\d)([a-z])", "${1}_${2}")
    spelled = spelled.str.replace_all(r"([a-z])(\d)", "${1}_${2}")
    months = pl.coalesce(
        [
            spelled.str.extract(pattern, 1).cast(pl.Int32, strict=False)
            for pattern in FOLLOW_UP_PATTERNS
        ]
    )
    months = pl.when(months == 1).then(12).otherwise(months)  # the only year pattern is 1 year
    value = pl.coalesce(
        spelled.replace_strict(TIMEPOINT_WORDS, default=None, return_dtype=pl.String),
        pl.lit("follow_up_") + months.cast(pl.String) + pl.lit("m"),
    )
    return Parsed(value, _invalid(value, text))


def parse_id(column: str) -> Parsed:
    """An identifier: trimmed text, unreadable when it holds an invisible character."""
    text = blank_to_null(column)
    invalid = text.str.contains(INVISIBLE_CHARACTERS).fill_null(False)
    return Parsed(pl.when(invalid).then(None).otherwise(text), invalid)


def parse_code_list(column: str, codes: tuple[str, ...]) -> Parsed:
    """A `;`-separated list of codes, whatever their case and separators: its known items,
    sorted and `;`-joined (null when none); invalid where it held an unknown item."""
    text = blank_to_null(column)
    items = text.str.split(";").list.eval(code_spelling(pl.element()).filter(pl.element() != ""))
    known = items.list.eval(pl.element().filter(pl.element().is_in(list(codes))))
    value = known.list.sort().list.join(";")
    value = pl.when(value == "").then(None).otherwise(value)
    unknown = items.list.len() > known.list.len()
    return Parsed(value, text.is_not_null() & unknown.fill_null(False))


def parse_bool(column: str) -> Parsed:
    text = blank_to_null(column).str.to_lowercase()
    value = (
        pl.when(text.is_in(TRUE_WORDS))
        .then(True)
        .when(text.is_in(FALSE_WORDS))
        .then(False)
        .otherwise(None)
    )
    return Parsed(value, _invalid(value, text))


def read_number(column: str) -> pl.Expr:
    """A plain decimal, null where unreadable; a fluence-style unit suffix (`2.5 J/cm2`,
    `2.5J/cm²`) is accepted. What `parse_decimal` and `parse_int` judge: a caller that needs
    both a number's value and whether it is invalid reads it once, into a column, first."""
    number = blank_to_null(column).str.replace(r"(?i)\s*j\s*/\s*cm(2|²|\^2)$", "")
    value = number.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value).otherwise(None)


def parse_decimal(column: str, number: pl.Expr | None = None) -> Parsed:
    """A plain decimal (`read_number`, or `number`: its reading, already made)."""
    value = read_number(column) if number is None else number
    return Parsed(value, _invalid(value, blank_to_null(column)))


def parse_int(column: str, number: pl.Expr | None = None) -> Parsed:
    """A whole number; `3.0` (as spreadsheets write it) is accepted, `3.5` is not."""
    number = read_number(column) if number is None else number
    value = pl.when(number == number.round(0)).then(number.cast(pl.Int64, strict=False))
    return Parsed(value, _invalid(value, blank_to_null(column)))


def parse_severity(column: str) -> Parsed:
    """`mild/moderate/severe` or `1/2/3`. Other numbers are out of range, other words unknown."""
    text = blank_to_null(column).str.to_lowercase()
    value = text.replace_strict({**SEVERITY_WORDS, **SEVERITY_NUMBERS}, default=None)
    return Parsed(value, _invalid(value, text))


def parse_fitzpatrick(column: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Fitzpatrick skin type -> (type 1..6, is_range, unrecognised).

    Accepts I..VI in any case, 1..6, `Type 4`, `type IV`, `FST IV`, `FST4`; a range such as
    `IV-V` or `IV/V` keeps the higher type. Empty, `unknown` and `?` are null; anything else is
    null and flagged unrecognised (a data-quality finding, never a rejected row).
    """
    text = pl.col(column).str.strip_chars().str.to_uppercase()
    bare = text.str.replace(r"^(FST|TYPE)\s*", "")
    is_range = bare.str.contains(r"^[IVX0-9]+\s*[-/]\s*[IVX0-9]+$")
    high = (
        pl.when(is_range)
        .then(bare.str.replace(r"^.*[-/]\s*", ""))
        .otherwise(bare)
        .str.strip_chars()
    )
    as_number = high.replace_strict(
        {**ROMAN, **{str(n): n for n in range(1, 7)}}, default=None, return_dtype=pl.Int32
    )
    is_null_word = text.is_null() | text.str.to_lowercase().is_in(NULL_FITZPATRICK)
    unrecognised = ~is_null_word & as_number.is_null()
    return as_number, (is_range & as_number.is_not_null()), unrecognised


def split_utc_offset(column: str) -> tuple[pl.Expr, pl.Expr]:
    """(the timestamp as written without its UTC offset, the offset as written or null)."""
    text = blank_to_null(column)
    return text.str.replace(UTC_OFFSET, ""), text.str.extract(UTC_OFFSET)


def utc_offset_minutes(offset: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(minutes east of UTC, impossible) for an offset as written on an ISO timestamp (`Z`,
    `+08:00`, `-0500`; `split_utc_offset`): minutes are null where there is none. An offset
    past the real world's (-12:00 to +14:00) or with 60 minutes or more (`+25:00`, `+08:60`)
    is impossible."""
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int32, strict=False)
    minutes = digits.str.slice(2, 2).cast(pl.Int32, strict=False)
    east = pl.when(offset == "Z").then(0).otherwise(sign * (hours * 60 + minutes))
    impossible = (minutes >= 60) | (east > 14 * 60) | (east < -12 * 60)
    return east, impossible.fill_null(False)


def read_wall_clock(text: pl.Series, formats: tuple[str, ...]) -> pl.Series:
    """Each timestamp (without its offset) read with the first of `formats` that reads it, as
    a coalesce of every format would; a later format is tried only while some value is still
    unread, since a file nearly always writes one format throughout (reading each value with
    every format was most of the typing of a large file)."""
    value = text.str.strptime(pl.Datetime("us"), formats[0], strict=False)
    for fmt in formats[1:]:
        read = value.is_not_null() | text.is_null()
        if read.all():
            break
        value = value.zip_with(read, text.str.strptime(pl.Datetime("us"), fmt, strict=False))
    return value


def parse_date(column: str, formats: tuple[str, ...]) -> Parsed:
    text = blank_to_null(column)
    # Spreadsheet and ISO exports may carry a midnight time on a date column.
    day = text.str.replace(r"[T ]00:00(:00(\.0+)?)?$", "")
    value = pl.coalesce([day.str.strptime(pl.Date, fmt, strict=False) for fmt in formats])
    return Parsed(value, _invalid(value, text))
