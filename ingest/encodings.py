"""Parsers for the encodings the contract allows, as polars expressions over string columns.

Each parser returns a `Parsed` pair: the typed value, and a boolean that is true where the input
was present but could not be read. Callers keep the text of such values for the expectation
suites to reject; an empty input is simply null (missing values are the suites' business too).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ingest.feeds import FITZPATRICK_TYPES

ISO_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
DMY_DATETIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
ISO_DATE_FORMATS = ("%Y-%m-%d",)
DMY_DATE_FORMATS = ("%d/%m/%Y",)
UTC_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"

TRUE_WORDS = ("true", "yes", "y", "1", "t")
FALSE_WORDS = ("false", "no", "n", "0", "f")
SEVERITY_WORDS = {"mild": "mild", "moderate": "moderate", "severe": "severe"}
SEVERITY_NUMBERS = {"1": "mild", "2": "moderate", "3": "severe"}
NULL_FITZPATRICK = ("", "unknown", "?", "na", "n/a")
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


def parse_code(column: str, codes: tuple[str, ...]) -> Parsed:
    """A code from a closed list, matched case-insensitively (codes keep their canonical case)."""
    text = blank_to_null(column)
    canonical = {code.lower(): code for code in codes}
    value = text.str.to_lowercase().replace_strict(canonical, default=None)
    return Parsed(value, _invalid(value, text))


def parse_code_list(column: str, codes: tuple[str, ...]) -> Parsed:
    """A `;`-separated list of codes, normalised to lower case, sorted and `;`-joined."""
    text = blank_to_null(column)
    items = (
        text.str.to_lowercase()
        .str.split(";")
        .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
    )
    unknown = items.list.eval(pl.element().is_in(list(codes)).not_()).list.any()
    value = items.list.sort().list.join(";")
    value = pl.when(value == "").then(None).otherwise(value)
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


def parse_decimal(column: str) -> Parsed:
    """A plain decimal; a fluence-style unit suffix (`2.5 J/cm2`, `2.5J/cm²`) is accepted."""
    text = blank_to_null(column)
    number = text.str.replace(r"(?i)\s*j\s*/\s*cm(2|²|\^2)$", "")
    value = number.cast(pl.Float64, strict=False)
    value = pl.when(value.is_finite()).then(value).otherwise(None)
    return Parsed(value, _invalid(value, text))


def parse_int(column: str) -> Parsed:
    """A whole number; `3.0` (as spreadsheets write it) is accepted, `3.5` is not."""
    number = parse_decimal(column).value
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


def _strip_offset(text: pl.Expr) -> pl.Expr:
    return text.str.replace(UTC_OFFSET, "")


def utc_offset_minutes(column: str) -> pl.Expr:
    """Minutes east of UTC written on an ISO timestamp (`Z`, `+08:00`, `-0500`); null if none."""
    offset = blank_to_null(column).str.extract(UTC_OFFSET)
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int32, strict=False)
    minutes = digits.str.slice(2, 2).cast(pl.Int32, strict=False)
    return pl.when(offset == "Z").then(0).otherwise(sign * (hours * 60 + minutes))


def parse_wall_clock(column: str, formats: tuple[str, ...]) -> pl.Expr:
    """The timestamp as written, without its UTC offset, tried against each format in turn."""
    text = _strip_offset(blank_to_null(column))
    return pl.coalesce([text.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in formats])


def parse_date(column: str, formats: tuple[str, ...]) -> Parsed:
    text = blank_to_null(column)
    # Spreadsheet and ISO exports may carry a midnight time on a date column.
    day = text.str.replace(r"[T ]00:00(:00(\.0+)?)?$", "")
    value = pl.coalesce([day.str.strptime(pl.Date, fmt, strict=False) for fmt in formats])
    return Parsed(value, _invalid(value, text))
