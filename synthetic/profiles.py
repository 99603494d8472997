"""How each clinic's system exports its files: format, encodings, header style.

Clinics cycle through four profiles so that every encoding of the contract appears somewhere,
and the first two clinics (present in every tier, even `tiny`) already cover most of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from synthetic.sampling import choice_index

# Fitzpatrick spellings (style codes stored per record; see encode.fitzpatrick_text).
FST_EMPTY, FST_ROMAN, FST_LOWER, FST_DIGIT = 0, 1, 2, 3
FST_TYPE_DIGIT, FST_TYPE_ROMAN, FST_FST_SPACE, FST_FST_DIGIT = 4, 5, 6, 7
FST_RANGE_DASH, FST_RANGE_SLASH, FST_UNKNOWN, FST_QUESTION = 8, 9, 10, 11
FST_SEVEN, FST_WORD = 12, 13
FST_RANGES = (FST_RANGE_DASH, FST_RANGE_SLASH)
FST_NULLS = (FST_EMPTY, FST_UNKNOWN, FST_QUESTION)
FST_UNRECOGNISED = (FST_SEVEN, FST_WORD)
FST_ALL = tuple(range(14))


@dataclass(frozen=True)
class Profile:
    code: str
    datetime_format: str  # declared in the clinics feed: "iso" or "dmy"
    # Timestamp style per feed ("default" for the rest): offset | local | utc_z | dmy.
    ts_styles: dict[str, str]
    # Boolean spelling (true, false) per feed ("default" for the rest).
    bools: dict[str, tuple[str, str]]
    severity: str  # words | digits | mixed
    fluence_units: float  # share of fluence values written with a unit suffix
    header: str  # lower | title_ws | upper
    reorder_columns: bool
    extra_columns: dict[str, str]  # feed -> name of an unknown extra column
    formats: dict[str, str]  # feed -> csv | csv.gz | xlsx | parquet ("default")
    survey: str | None  # survey-app outcomes: jsonl | jsonl.gz | None (not used by the clinic)
    crlf: bool = False
    bom: bool = False
    voided_column: bool = False
    late_patients_format: str = "csv"
    corrections_formats: dict[str, str] = field(default_factory=dict)
    fitzpatrick_weights: dict[int, float] = field(default_factory=dict)

    def ts_style(self, feed: str) -> str:
        return self.ts_styles.get(feed, self.ts_styles["default"])

    def bool_words(self, feed: str) -> tuple[str, str]:
        return self.bools.get(feed, self.bools["default"])

    def format(self, feed: str) -> str:
        return self.formats.get(feed, self.formats["default"])

    def corrections_format(self, feed: str) -> str:
        return self.corrections_formats.get(feed, self.format(feed))


PROFILES: tuple[Profile, ...] = (
    Profile(
        code="A",
        datetime_format="iso",
        ts_styles={
            "default": "offset",
            "patients": "local",
            "consultations": "local",
            "side_effects": "utc_z",
        },
        bools={
            "default": ("true", "false"),
            "side_effects": ("TRUE", "FALSE"),
            "providers": ("1", "0"),
        },
        severity="words",
        fluence_units=0.0,
        header="lower",
        reorder_columns=False,
        extra_columns={"devices": "serial_no"},
        formats={"default": "csv"},
        survey="jsonl",
        voided_column=True,
        late_patients_format="xlsx",
        corrections_formats={"sessions": "parquet"},
        fitzpatrick_weights={
            FST_ROMAN: 70,
            FST_LOWER: 8,
            FST_DIGIT: 8,
            FST_RANGE_DASH: 3,
            FST_RANGE_SLASH: 2,
            FST_UNKNOWN: 2,
            FST_QUESTION: 2,
        },
    ),
    Profile(
        code="B",
        datetime_format="dmy",
        ts_styles={"default": "dmy"},
        bools={"default": ("yes", "no"), "providers": ("y", "n")},
        severity="digits",
        fluence_units=0.7,
        header="title_ws",
        reorder_columns=True,
        extra_columns={"sessions": "room"},
        formats={"default": "csv.gz"},
        survey=None,
        crlf=True,
        bom=True,
        late_patients_format="csv.gz",
        fitzpatrick_weights={
            FST_TYPE_DIGIT: 30,
            FST_TYPE_ROMAN: 25,
            FST_FST_SPACE: 20,
            FST_FST_DIGIT: 15,
            FST_RANGE_DASH: 3,
            FST_RANGE_SLASH: 2,
            FST_UNKNOWN: 2,
            FST_QUESTION: 3,
        },
    ),
    Profile(
        code="C",
        datetime_format="iso",
        ts_styles={"default": "local"},
        bools={"default": ("1", "0")},
        severity="words",
        fluence_units=0.0,
        header="upper",
        reorder_columns=False,
        extra_columns={},
        formats={
            "default": "csv",
            "patients": "xlsx",
            "consultations": "xlsx",
            "sessions": "parquet",
            "side_effects": "parquet",
        },
        survey="jsonl",
        late_patients_format="xlsx",
        fitzpatrick_weights={FST_DIGIT: 80, FST_ROMAN: 10, FST_QUESTION: 5, FST_RANGE_DASH: 5},
    ),
    Profile(
        code="D",
        datetime_format="iso",
        ts_styles={"default": "utc_z", "outcomes": "offset"},
        bools={"default": ("y", "n"), "sessions": ("TRUE", "FALSE")},
        severity="mixed",
        fluence_units=0.2,
        header="lower",
        reorder_columns=True,
        extra_columns={},
        formats={"default": "csv"},
        survey="jsonl.gz",
        voided_column=True,
        fitzpatrick_weights={
            FST_ROMAN: 50,
            FST_DIGIT: 20,
            FST_FST_DIGIT: 10,
            FST_RANGE_SLASH: 5,
            FST_RANGE_DASH: 5,
            FST_UNKNOWN: 5,
            FST_QUESTION: 5,
        },
    ),
)


# Spreadsheets are slow to write and rare in big chains: only the first few clinics export
# xlsx; later clinics of the same profiles use parquet instead.
XLSX_CLINICS = 8


def profile_for(index: int) -> Profile:
    profile = PROFILES[index % len(PROFILES)]
    if index < XLSX_CLINICS:
        return profile
    formats = {k: ("parquet" if v == "xlsx" else v) for k, v in profile.formats.items()}
    late = "parquet" if profile.late_patients_format == "xlsx" else profile.late_patients_format
    return replace(profile, formats=formats, late_patients_format=late)


def fitzpatrick_styles(
    rng: np.random.Generator,
    skin: np.ndarray,
    profile: Profile,
    null_share: float,
    unrecognised_share: float = 0.002,
) -> np.ndarray:
    """Spelling style per record; every style is forced to appear at least once if room."""
    n = len(skin)
    keys = list(profile.fitzpatrick_weights)
    style = np.asarray(keys)[choice_index(rng, list(profile.fitzpatrick_weights.values()), n)]
    style = np.where(rng.random(n) < null_share, FST_EMPTY, style)
    odd = rng.random(n) < unrecognised_share
    style = np.where(odd, np.where(rng.random(n) < 0.5, FST_SEVEN, FST_WORD), style)
    candidates = np.flatnonzero(skin >= 2)
    wanted = [s for s in FST_ALL if s != FST_EMPTY]
    if len(candidates) >= 3 * len(wanted):
        rows = rng.choice(candidates, size=len(wanted), replace=False)
        style[rows] = wanted
    # A range keeps the higher type, so type I cannot be written as a range.
    style = np.where(np.isin(style, FST_RANGES) & (skin < 2), FST_ROMAN, style)
    return style.astype(np.int8)
