"""Dirt in informational columns: codes in other spellings, unknown codes, implausible values.

A column no metric needs (a supplied timepoint, a channel, a provider's role…) is informational:
its known codes are matched case-insensitively with runs of spaces, hyphens and dots read as `_`;
an unknown code, or an implausible value, loads as null with a data-quality finding and never
rejects the record (DATA_CONTRACT.md). Each dirty clinic gets a few records of each family.

Records are chosen among final versions that land in the base files, so the same rows are marked
whatever `--days` is, and each carries at most one planted column: `_spelt_col` (which column),
`_spelt_text` (the text written in its place, in every file format) and `_spelt_kind` (what
dirt.json calls it). The typed value is what a correct warehouse holds: the canonical code for
another spelling, null for an unknown code or an implausible value. A list keeps its value: the
ingest drops the unknown item, and the clean world sorts list items as the ingest does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from synthetic.codes import KEYS
from synthetic.landing import SPELT_COLUMNS, ClinicRecords

CODE_SPELLING = "code_spelling"
TIMEPOINT_SPELLING = "timepoint_spelling"
INFORMATIONAL_UNKNOWN = "informational_unknown"
LIST_UNKNOWN_ITEM = "list_unknown_item"
INFORMATIONAL_OUT_OF_RANGE = "informational_out_of_range"

# How other clinic systems label the supplied outcome timepoint (canonical -> spellings).
TIMEPOINT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "baseline": ("Baseline", "pre-treatment"),
    "post_session": ("post-session", "post session", "Post_Session"),
    "end_of_course": ("end of course", "EOC", "end_of_treatment"),
    "follow_up_3m": (
        "followup_3m",
        "fu_3m",
        "FU-3m",
        "3m",
        "3 months",
        "month_3",
        "m3",
        "3-month follow-up",
        "Follow-up 3M",
    ),
    "follow_up_6m": ("followup_6m", "FU-6m", "6 months", "month_6"),
    "follow_up_12m": ("12 months", "1 year", "fu_12m", "12m"),
}
UNKNOWN_TIMEPOINTS = ("week_2", "touch-up visit")
SEX_WORDS = {"F": ("female", "Female"), "M": ("male", "MALE"), "X": ("other",)}
# (feed, column) -> an unknown code in that informational column (loaded as null).
UNKNOWN_CODES = {
    ("outcomes", "channel"): "phone",
    ("outcomes", "rater"): "self-reported",
    ("side_effects", "reported_by"): "pharmacist",
    ("side_effects", "action"): "cold_compress",
    ("patients", "sex"): "undisclosed",
}
LIST_UNKNOWN_ITEMS = {
    "secondary_concerns": "rosacea",
    "treatment_areas": "scalp",
    "contraindications": "diabetes",
}
KEEP = object()  # the typed value stays as it is


def respell(code: str, style: int) -> str:
    """A known code as another system writes it: `Plastic Surgeon`, `IN_CLINIC`, `Oral-Medication`,
    `treatment.paused`; upper case where the style would not change the code, and for `none`
    (`None` reads as a null in too many tools to be a fair test of code matching)."""
    words = code.split("_")
    spelt = (
        " ".join(w.capitalize() for w in words),
        code.upper(),
        "-".join(w.capitalize() for w in words),
        ".".join(words),
    )[style % 4]
    return spelt if spelt not in (code, "None") else code.upper()


def present(values: pl.Series) -> np.ndarray:
    """Rows with a value (an empty string is none)."""
    found = values.is_not_null()
    if values.dtype == pl.String:
        found &= values != ""
    return found.fill_null(False).to_numpy()


def final_in_base(frame: pl.DataFrame, key: tuple[str, ...], as_of_day: int) -> np.ndarray:
    """Rows that are their record's last version, land by the as-of day in a base file (not a
    corrections file) and are not junk: marking them marks the clean world's record."""
    if "_land_day" not in frame.columns:
        return np.ones(frame.height, dtype=bool)
    last = pl.col("_ver") == pl.col("_ver").max().over(list(key))
    chosen = last & (pl.col("_land_day") <= as_of_day) & ~pl.col("_corr") & ~pl.col("_junk")
    return frame.select(chosen).to_series().to_numpy()


@dataclass
class Marks:
    """The rows of one feed's versions chosen for informational dirt, applied by `result()`."""

    frame: pl.DataFrame
    eligible: np.ndarray
    rng: np.random.Generator
    taken: np.ndarray = field(init=False)
    planted: list[tuple[int, str, str, str]] = field(default_factory=list)
    values: dict[str, dict[int, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.taken = np.zeros(self.frame.height, dtype=bool)

    def pick(self, where: np.ndarray, n: int) -> list[int]:
        """Up to `n` free eligible rows among `where`, in row order."""
        free = np.flatnonzero(self.eligible & where & ~self.taken)
        if n <= 0 or not len(free):
            return []
        return sorted(int(i) for i in self.rng.choice(free, size=min(n, len(free)), replace=False))

    def pick_groups(self, where: np.ndarray, key: str, n: int) -> list[np.ndarray]:
        """Up to `n` groups (rows sharing `key`) whose every row is free and eligible."""
        ids = self.frame[key].to_numpy()
        grouped = self.frame[key].is_not_null().to_numpy()
        blocked = set(ids[grouped & ~(self.eligible & ~self.taken)])
        free = [g for g in dict.fromkeys(ids[grouped & where]) if g not in blocked]
        if n <= 0 or not free:
            return []
        chosen = sorted(self.rng.choice(len(free), size=min(n, len(free)), replace=False))
        return [np.flatnonzero(ids == free[i]) for i in chosen]

    def mark(self, row: int, column: str, text: str, kind: str, value: object = KEEP) -> None:
        self.taken[row] = True
        self.planted.append((row, column, text, kind))
        if value is not KEEP:
            self.values.setdefault(column, {})[row] = value

    def result(self) -> pl.DataFrame:
        spelt = {c: np.full(self.frame.height, None, dtype=object) for c in SPELT_COLUMNS}
        for row, column, text, kind in self.planted:
            for name, value in zip(SPELT_COLUMNS, (column, text, kind), strict=True):
                spelt[name][row] = value
        frame = self.frame.with_columns(
            pl.Series(name, values.tolist(), dtype=pl.String) for name, values in spelt.items()
        )
        for column, changes in self.values.items():
            series = frame[column].clone()
            series.scatter(list(changes), pl.Series(list(changes.values()), dtype=series.dtype))
            frame = frame.with_columns(series)
        return frame


def _respelt(m: Marks, column: str, n: int, where: np.ndarray | None = None) -> None:
    codes = m.frame[column]
    for style, row in enumerate(m.pick(present(codes) & (True if where is None else where), n)):
        text = ";".join(respell(code, style) for code in codes[row].split(";"))
        m.mark(row, column, text, CODE_SPELLING)


def _unknown(m: Marks, column: str, text: str, where: np.ndarray | None = None) -> None:
    rows = m.pick(present(m.frame[column]) & (True if where is None else where), 1)
    for row in rows:
        m.mark(row, column, text, INFORMATIONAL_UNKNOWN, None)


def _list_unknown(m: Marks, column: str, item: str) -> None:
    codes = m.frame[column]
    for row in m.pick(present(codes), 1):
        m.mark(row, column, f"{codes[row]};{item}", LIST_UNKNOWN_ITEM)


def _out_of_range(m: Marks, column: str, text_of: Callable[[object], str]) -> None:
    values = m.frame[column]
    for row in m.pick(present(values), 1):
        m.mark(row, column, text_of(values[row]), INFORMATIONAL_OUT_OF_RANGE, None)


def _sex_words(m: Marks) -> None:
    sex = m.frame["sex"]
    for code, words in SEX_WORDS.items():
        rows = m.pick((sex == code).fill_null(False).to_numpy(), len(words))
        for row, word in zip(rows, words, strict=False):
            m.mark(row, "sex", word, CODE_SPELLING)
    known = sex.is_in(["F", "M"]).fill_null(False).to_numpy()
    _unknown(m, "sex", UNKNOWN_CODES[("patients", "sex")], known)


def _timepoints(m: Marks) -> None:
    """Clinic-system rows: every spelling of each timepoint once, and unknown labels."""
    clinic = ~m.frame["_app"].to_numpy()
    supplied = m.frame["timepoint"]
    for canonical, spellings in TIMEPOINT_SPELLINGS.items():
        where = clinic & (supplied == canonical).fill_null(False).to_numpy()
        for row, text in zip(m.pick(where, len(spellings)), spellings, strict=False):
            m.mark(row, "timepoint", text, TIMEPOINT_SPELLING)
    unknown = m.pick(clinic & present(supplied), len(UNKNOWN_TIMEPOINTS))
    for row, text in zip(unknown, UNKNOWN_TIMEPOINTS, strict=False):
        m.mark(row, "timepoint", text, INFORMATIONAL_UNKNOWN, None)


def _survey(m: Marks) -> None:
    """Survey-app submissions (one JSON line: one timepoint and channel for all its answers): a
    timepoint spelt otherwise, an unknown one, a channel spelt otherwise."""
    app = m.frame["_app"].to_numpy()
    supplied, channel = m.frame["timepoint"], m.frame["channel"]
    groups = m.pick_groups(app & present(supplied), "submission_id", 3)
    plans: list[tuple[str, Callable[[int], str], str, object]] = [
        ("timepoint", lambda r: TIMEPOINT_SPELLINGS[supplied[r]][-1], TIMEPOINT_SPELLING, KEEP),
        ("timepoint", lambda _: UNKNOWN_TIMEPOINTS[-1], INFORMATIONAL_UNKNOWN, None),
        ("channel", lambda r: respell(channel[r], 0), CODE_SPELLING, KEEP),
    ]
    for rows, (column, text_of, kind, value) in zip(groups, plans, strict=False):
        text = text_of(int(rows[0]))
        for row in rows:
            m.mark(int(row), column, text, kind, value)


def _outcomes(m: Marks) -> None:
    _timepoints(m)
    _survey(m)
    clinic = ~m.frame["_app"].to_numpy()
    for column, n in (("channel", 4), ("rater", 2)):
        _unknown(m, column, UNKNOWN_CODES[("outcomes", column)], clinic)
        _respelt(m, column, n, clinic)


def _providers(m: Marks) -> None:
    """Roles spelt otherwise (an unknown role comes in a one-row file: see addenda.py)."""
    _respelt(m, "role", 2)


def _consultations(m: Marks) -> None:
    for column, item in LIST_UNKNOWN_ITEMS.items():
        _list_unknown(m, column, item)
        _respelt(m, column, 1)


def _sessions(m: Marks) -> None:
    _out_of_range(m, "wavelength_nm", lambda nm: f"-{nm}")
    _out_of_range(m, "passes", lambda _: "0")


def _side_effects(m: Marks) -> None:
    for column, n in (("reported_by", 2), ("action", 4)):
        _unknown(m, column, UNKNOWN_CODES[("side_effects", column)])
        _respelt(m, column, n)


def _devices(m: Marks, dmy: bool) -> None:
    """An installation date from before the plausible window (a spreadsheet's day zero)."""
    _out_of_range(m, "installed_on", lambda _: "01/01/1900" if dmy else "1900-01-01")


def plant_informational(
    records: ClinicRecords, as_of_day: int, rng: np.random.Generator
) -> ClinicRecords:
    """Every frame gets the `_spelt_*` columns; a dirty clinic's gets its marked records."""
    frames = {"providers": records.providers, "devices": records.devices, **records.feeds}
    families: dict[str, Callable[[Marks], None]] = {
        "providers": _providers,
        "devices": lambda m: _devices(m, records.spec.profile.ts_style("devices") == "dmy"),
        "patients": _sex_words,
        "consultations": _consultations,
        "sessions": _sessions,
        "outcomes": _outcomes,
        "side_effects": _side_effects,
    }
    planted: dict[str, pl.DataFrame] = {}
    for feed, frame in frames.items():
        if not records.spec.dirty:
            planted[feed] = frame.with_columns(
                pl.lit(None, pl.String).alias(c) for c in SPELT_COLUMNS
            )
            continue
        marks = Marks(frame, final_in_base(frame, KEYS[feed], as_of_day), rng)
        families[feed](marks)
        planted[feed] = marks.result()
    feeds = {feed: planted[feed] for feed in records.feeds}
    return replace(records, providers=planted["providers"], devices=planted["devices"], feeds=feeds)
