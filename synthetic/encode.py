"""Typed records → the spellings a clinic's export uses (text files) or typed columns (parquet,
xlsx). Also the clean, parsed form of a recorded Fitzpatrick value (what ingest should make of it).
"""

from __future__ import annotations

import polars as pl

from synthetic.codes import (
    BOOL_COLUMNS,
    COLUMNS,
    DATE_COLUMNS,
    DEC_COLUMNS,
    INT_COLUMNS,
    TIMESTAMP_COLUMNS,
)
from synthetic.profiles import (
    FST_DIGIT,
    FST_EMPTY,
    FST_FST_DIGIT,
    FST_FST_SPACE,
    FST_LOWER,
    FST_NULLS,
    FST_QUESTION,
    FST_RANGE_DASH,
    FST_RANGE_SLASH,
    FST_RANGES,
    FST_ROMAN,
    FST_SEVEN,
    FST_TYPE_DIGIT,
    FST_TYPE_ROMAN,
    FST_UNKNOWN,
    FST_UNRECOGNISED,
    FST_WORD,
    Profile,
)

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}
VOIDABLE_FEEDS = ("consultations", "outcomes", "side_effects")


def file_columns(feed: str, profile: Profile, survey: bool = False) -> list[str]:
    """Contract columns a clinic's file of this feed carries, in the clinic's order."""
    columns = list(COLUMNS[feed])
    if profile.voided_column and feed in VOIDABLE_FEEDS:
        columns.insert(len(columns) - 1, "voided")
    if profile.reorder_columns:
        columns = sorted(columns)
    extra = profile.extra_columns.get(feed)
    if extra:
        columns.append(extra)
    return columns


def header_names(columns: list[str], profile: Profile) -> list[str]:
    """Header spelling: as is, Title_Case with stray whitespace, or UPPER."""
    if profile.header == "upper":
        return [c.upper() for c in columns]
    if profile.header == "title_ws":
        titled = ["_".join(part.capitalize() for part in c.split("_")) for c in columns]
        return [
            f" {t}" if i % 3 == 0 else f"{t} " if i % 3 == 1 else t for i, t in enumerate(titled)
        ]
    return columns


def timestamp_text(col: str, style: str, timezone: str) -> pl.Expr:
    """Clinic-local naive datetimes as text: with offset, local, UTC `Z`, or `DD/MM/YYYY HH:MM`."""
    local = pl.col(col)
    if style == "offset":
        return local.dt.replace_time_zone(timezone, ambiguous="earliest").dt.strftime(
            "%Y-%m-%dT%H:%M:%S%:z"
        )
    if style == "utc_z":
        return (
            local.dt.replace_time_zone(timezone, ambiguous="earliest")
            .dt.convert_time_zone("UTC")
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    if style == "dmy":
        return local.dt.strftime("%d/%m/%Y %H:%M")
    return local.dt.strftime("%Y-%m-%dT%H:%M:%S")


def to_utc(col: str, timezone: str) -> pl.Expr:
    return (
        pl.col(col).dt.replace_time_zone(timezone, ambiguous="earliest").dt.convert_time_zone("UTC")
    )


def date_text(col: str, dmy: bool) -> pl.Expr:
    return pl.col(col).dt.strftime("%d/%m/%Y" if dmy else "%Y-%m-%d")


def bool_text(col: str, words: tuple[str, str]) -> pl.Expr:
    return pl.when(pl.col(col)).then(pl.lit(words[0])).when(~pl.col(col)).then(pl.lit(words[1]))


def number_text(col: str) -> pl.Expr:
    """Integers without a decimal point, decimals as the shortest text."""
    value = pl.col(col).cast(pl.Float64)
    return (
        pl.when(value == value.round(0))
        .then(value.cast(pl.Int64).cast(pl.String))
        .otherwise(value.round(2).cast(pl.String))
    )


def fluence_text(profile: Profile) -> pl.Expr:
    """Fluence, sometimes with a unit suffix (`2.5 J/cm2`, `2.5J/cm²`)."""
    plain = pl.col("fluence_j_cm2").round(2).cast(pl.String)
    if profile.fluence_units <= 0:
        return plain
    u = pl.col("_u") / 10_000
    return (
        pl.when(u < profile.fluence_units * 0.6)
        .then(plain + pl.lit(" J/cm2"))
        .when(u < profile.fluence_units)
        .then(plain + pl.lit("J/cm²"))
        .otherwise(plain)
    )


def severity_text(profile: Profile) -> pl.Expr:
    digits = pl.col("severity").replace_strict(
        {"mild": "1", "moderate": "2", "severe": "3"}, return_dtype=pl.String
    )
    if profile.severity == "digits":
        return digits
    if profile.severity == "mixed":
        return pl.when(pl.col("_u") % 2 == 0).then(digits).otherwise(pl.col("severity"))
    return pl.col("severity")


def fitzpatrick_text() -> pl.Expr:
    """The recorded type (`fitzpatrick`, 1..6) spelt in the record's style (`_fst`)."""
    t = pl.col("fitzpatrick").cast(pl.Int64)
    roman = t.replace_strict(ROMAN, default=None, return_dtype=pl.String)
    lower_roman = (t - 1).replace_strict(ROMAN, default=None, return_dtype=pl.String)
    digit = t.cast(pl.String)
    style = pl.col("_fst")
    return (
        pl.when(t.is_null() | (style == FST_EMPTY))
        .then(None)
        .when(style == FST_ROMAN)
        .then(roman)
        .when(style == FST_LOWER)
        .then(roman.str.to_lowercase())
        .when(style == FST_DIGIT)
        .then(digit)
        .when(style == FST_TYPE_DIGIT)
        .then(pl.lit("Type ") + digit)
        .when(style == FST_TYPE_ROMAN)
        .then(pl.lit("type ") + roman)
        .when(style == FST_FST_SPACE)
        .then(pl.lit("FST ") + roman)
        .when(style == FST_FST_DIGIT)
        .then(pl.lit("FST") + digit)
        .when(style == FST_RANGE_DASH)
        .then(lower_roman + pl.lit("-") + roman)
        .when(style == FST_RANGE_SLASH)
        .then(lower_roman + pl.lit("/") + roman)
        .when(style == FST_UNKNOWN)
        .then(pl.lit("unknown"))
        .when(style == FST_QUESTION)
        .then(pl.lit("?"))
        .when(style == FST_SEVEN)
        .then(pl.lit("VII"))
        .when(style == FST_WORD)
        .then(pl.lit("brown"))
        .otherwise(roman)
    )


def fitzpatrick_clean() -> dict[str, pl.Expr]:
    """What a correct ingest makes of the spelling: type (ranges keep the higher), flags."""
    style = pl.col("_fst")
    dropped = style.is_in(list(FST_NULLS) + list(FST_UNRECOGNISED))
    return {
        "fitzpatrick": pl.when(dropped).then(None).otherwise(pl.col("fitzpatrick")).cast(pl.Int8),
        "fitzpatrick_is_range": style.is_in(list(FST_RANGES)) & pl.col("fitzpatrick").is_not_null(),
        "fitzpatrick_unrecognised": style.is_in(list(FST_UNRECOGNISED))
        & pl.col("fitzpatrick").is_not_null(),
    }


def encode_text(
    frame: pl.DataFrame, feed: str, profile: Profile, timezone: str, columns: list[str]
) -> pl.DataFrame:
    """All-text columns (canonical names) in the clinic's spelling; `__*` columns pass through."""
    ts_style = profile.ts_style(feed)
    dmy = ts_style == "dmy"
    words = profile.bool_words(feed)
    exprs: list[pl.Expr] = []
    for col in columns:
        if col not in frame.columns and col not in ("room", "serial_no"):
            exprs.append(pl.lit(None, dtype=pl.String).alias(col))
        elif col == "room":
            exprs.append((pl.lit("Room ") + (pl.col("_u") % 3 + 1).cast(pl.String)).alias(col))
        elif col == "serial_no":
            exprs.append((pl.lit("SN-") + (pl.col("_u") + 10_000).cast(pl.String)).alias(col))
        elif col in TIMESTAMP_COLUMNS:
            exprs.append(timestamp_text(col, ts_style, timezone).alias(col))
        elif col in DATE_COLUMNS:
            exprs.append(date_text(col, dmy).alias(col))
        elif col in BOOL_COLUMNS:
            exprs.append(bool_text(col, words).alias(col))
        elif col == "fluence_j_cm2":
            exprs.append(fluence_text(profile).alias(col))
        elif col == "severity":
            exprs.append(severity_text(profile).alias(col))
        elif col == "fitzpatrick":
            exprs.append(fitzpatrick_text().alias(col))
        elif col in INT_COLUMNS or col in DEC_COLUMNS:
            exprs.append(number_text(col).alias(col))
        else:
            exprs.append(pl.col(col).cast(pl.String).alias(col))
    passthrough = [c for c in frame.columns if c.startswith("__")]
    return with_spellings(frame.select(*exprs, *passthrough))


def encode_typed(
    frame: pl.DataFrame, feed: str, profile: Profile, timezone: str, columns: list[str], fmt: str
) -> pl.DataFrame:
    """Typed columns for parquet (UTC timestamps) or xlsx (local ISO text timestamps)."""
    exprs: list[pl.Expr] = []
    for col in columns:
        if col not in frame.columns:
            exprs.append(pl.lit(None, dtype=pl.String).alias(col))
        elif col in TIMESTAMP_COLUMNS:
            if fmt == "parquet":
                exprs.append(to_utc(col, timezone).alias(col))
            else:
                exprs.append(timestamp_text(col, "local", timezone).alias(col))
        elif col in DATE_COLUMNS:
            exprs.append(pl.col(col) if fmt == "parquet" else date_text(col, False).alias(col))
        elif col == "fitzpatrick":
            exprs.append(fitzpatrick_text().alias(col))
        elif col in INT_COLUMNS:
            exprs.append(pl.col(col).cast(pl.Int64))
        elif col in DEC_COLUMNS:
            exprs.append(pl.col(col).cast(pl.Float64))
        elif col in BOOL_COLUMNS:
            exprs.append(pl.col(col).cast(pl.Boolean))
        else:
            exprs.append(pl.col(col).cast(pl.String))
    passthrough = [c for c in frame.columns if c.startswith("__")]
    return with_spellings(frame.select(*exprs, *passthrough))


def with_spellings(encoded: pl.DataFrame) -> pl.DataFrame:
    """The text planted on a record (`__spelt_text`, see informational.py) written in place of its
    column's value (`__spelt_col`), cast to the column's type in parquet and xlsx."""
    if "__spelt_col" not in encoded.columns:
        return encoded
    targets = sorted(set(encoded["__spelt_col"].drop_nulls()) & set(encoded.columns))
    return encoded.with_columns(
        pl.when(pl.col("__spelt_col") == name)
        .then(pl.col("__spelt_text").cast(encoded.schema[name], strict=False))
        .otherwise(pl.col(name))
        .alias(name)
        for name in targets
    )
