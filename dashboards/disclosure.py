"""What may leave the warehouse for a clinic manager's eyes: small-cell suppression, and CSV that
a spreadsheet opens as text.

The rules (shared DOMAIN.md, "Statistics and disclosure"): a count of 1-10 patients, sessions or
events is shown as `<11`; a rate resting on fewer than 11 (its denominator, or the patients behind
the row) is not shown; and where one hidden count in a group could be worked out from the group's
total and its other cells, the next smallest cell is hidden too (complementary suppression).
A rate times its denominator gives its numerator back, so a rate whose numerator is hidden is
hidden too (and its interval, which gives it back as well).
Marts and the SQL console stay exact: analysts are trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SMALLEST_SHOWN = 11
SMALL = "<11"
COMPLEMENT = "hidden"
LEGEND = (
    f"`{SMALL}`: between 1 and 10, not shown to protect patients. `{COMPLEMENT}`: shown nowhere "
    "so that a small number cannot be worked out from a total. A rate resting on fewer than 11 "
    "patients or cases, or one that would give a hidden count back, is left out (None on screen, "
    "empty in a download)."
)
# A text cell starting with one of these is a formula (or starts one) in Excel, LibreOffice and
# Google Sheets; a leading apostrophe makes it plain text there and shows nothing extra.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Disclosure:
    """How one table is suppressed.

    counts: columns of counts (patients, sessions, events...).
    rates: each column derived from counts (a rate, its CI bounds, a mean) -> the count it rests
        on (its denominator); hidden when that count is under 11 or hidden.
    numerators: a derived column -> the counts it would give back (its numerator; for a share
        whose complement is also shown, both parts); hidden when any of them is hidden.
    patients: the count of distinct patients behind a row; every derived value of a row resting
        on fewer than 11 patients is hidden.
    within: the columns that identify a group whose cells add up to a total shown elsewhere (a
        clinic's skin types add up to the clinic); complementary suppression works per group.
    """

    counts: tuple[str, ...]
    rates: dict[str, str] = field(default_factory=dict)
    numerators: dict[str, tuple[str, ...]] = field(default_factory=dict)
    patients: str | None = None
    within: tuple[str, ...] = ()


def is_small(values: pd.Series) -> pd.Series:
    return values.notna() & (values >= 1) & (values < SMALLEST_SHOWN)


def suppress(frame: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """The frame as a manager may see it: counts as text (`<11`, `hidden` or the number), rates
    resting on too little left empty."""
    shown = frame.copy()
    small = {column: is_small(frame[column]) for column in rule.counts}
    complement = {
        column: _complements(frame, column, small[column], rule) for column in rule.counts
    }
    few_patients = (
        is_small(frame[rule.patients]) if rule.patients else pd.Series(False, index=frame.index)
    )
    for rate, base in rule.rates.items():
        hidden = few_patients | (frame[base].fillna(0) < SMALLEST_SHOWN)
        for count in (base, *rule.numerators.get(rate, ())):
            if count in small:
                hidden |= small[count] | complement[count]
        shown[rate] = frame[rate].astype("float64").mask(hidden)
    for column in rule.counts:
        text = frame[column].map(lambda n: "" if pd.isna(n) else str(int(n)))
        text = text.mask(small[column], SMALL).mask(complement[column], COMPLEMENT)
        shown[column] = text.astype("object")
    return shown


def _complements(frame: pd.DataFrame, column: str, small: pd.Series, rule: Disclosure) -> pd.Series:
    """The cells hidden so that a group's single small cell cannot be recovered from its total:
    where a group has exactly one small cell, its smallest other non-zero cell."""
    hidden = pd.Series(False, index=frame.index)
    groups = frame.groupby(list(rule.within), dropna=False) if rule.within else [((), frame)]
    for _, group in groups:
        if small[group.index].sum() != 1:
            continue
        others = group[column][~small[group.index] & (group[column] > 0)]
        if not others.empty:
            hidden[others.idxmin()] = True
    return hidden


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name that a spreadsheet would run as a formula, made plain
    text (by position: an analyst's query may name two columns alike)."""
    safe = frame.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            safe.isetitem(position, column.map(_neutralise))
    safe.columns = [_neutralise(str(name)) for name in safe.columns]
    return safe


def _neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe_csv(frame: pd.DataFrame) -> str:
    # CRLF line ends (RFC 4180) make the writer quote a cell holding a lone carriage return,
    # which would otherwise start a new row in a spreadsheet.
    return spreadsheet_safe(frame).to_csv(index=False, lineterminator="\r\n")
