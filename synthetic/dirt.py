"""Record-level dirt planted into a clinic's text files, as extra records with their own ids.

The clean world is untouched: every junk record here is one a correct ingest rejects (or, for
exact duplicates, drops), so the warehouse should contain exactly the clean world. Junk records
copy a real record's text, never one that carries planted informational text (its finding would
then belong to a rejected record).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthetic.writers import csv_line

QUARANTINED = "quarantined"
DATE_OUT_OF_WINDOW = "date_out_of_window"
BAD_UTC_OFFSET = "bad_utc_offset"
CONTROL_CHARACTER_IN_ID = "control_character_in_id"
ZERO_WIDTH_SPACE, NUL, RIGHT_TO_LEFT_OVERRIDE = "\u200b", "\x00", "\u202e"
# A change to one column of a junk record: the new text, or a function of the template's text.
Change = str | None | Callable[[str | None], str | None]


@dataclass
class Planter:
    """Collects insertions into an all-text frame, then applies them at random positions."""

    frame: pl.DataFrame
    rng: np.random.Generator
    inserts: list[tuple[float, dict[str, str | None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for col in ("__kind", "__expect", "__reason", "__raw"):
            if col not in self.frame.columns:
                self.frame = self.frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
        self.columns = [c for c in self.frame.columns if not c.startswith("__")]
        plain = pl.Series([True] * self.frame.height, dtype=pl.Boolean)
        if "__spelt_kind" in self.frame.columns:
            plain = self.frame["__spelt_kind"].is_null()
        self.plain = np.flatnonzero(plain.to_numpy())

    def _position(self) -> float:
        n = self.frame.height
        low = min(10, n // 2)
        return float(self.rng.integers(low, max(n, low + 1))) + 0.5 + len(self.inserts) * 1e-6

    def template(self) -> dict[str, str | None]:
        """A copy of a random data row (text values) without planted informational text."""
        i = int(self.plain[self.rng.integers(0, len(self.plain))])
        row = self.frame.row(i, named=True)
        return {c: row[c] for c in self.columns}

    def junk(
        self,
        key: str,
        new_id: str,
        changes: dict[str, Change],
        kind: str,
        reason: str,
        expect: str = QUARANTINED,
    ) -> None:
        row = self.template()
        row[key] = new_id
        for column, change in changes.items():
            row[column] = change(row[column]) if callable(change) else change
        self.inserts.append(
            (self._position(), {**row, "__kind": kind, "__expect": expect, "__reason": reason})
        )

    def malformed(self, key: str, new_id: str, extra_field: bool) -> None:
        """A line with one field too many, or three too few."""
        row = self.template()
        row.update({key: new_id})
        for col in ("notes", "description"):
            if col in row:
                row[col] = None
        values = [row[c] for c in self.columns]
        line = csv_line(values + ["EXTRA"] if extra_field else values[:-3])
        blank: dict[str, str | None] = dict.fromkeys(self.columns)
        self.inserts.append(
            (
                self._position(),
                {
                    **blank,
                    "__raw": line,
                    "__kind": "malformed_line",
                    "__expect": QUARANTINED,
                    "__reason": "malformed_line",
                },
            )
        )

    def duplicate(self, count: int) -> None:
        """Exact copies of existing rows, placed after them."""
        n = self.frame.height
        for _ in range(count):
            i = int(self.rng.integers(0, max(n - 1, 1)))
            row = self.frame.row(i, named=True)
            if row.get("__kind") is not None or row.get("__spelt_kind") is not None:
                continue
            pos = float(self.rng.integers(i + 1, n + 1)) - 0.5 + len(self.inserts) * 1e-6
            copy = {c: row[c] for c in self.columns}
            self.inserts.append(
                (
                    pos,
                    {
                        **copy,
                        "__kind": "exact_duplicate",
                        "__expect": "duplicate",
                        "__reason": None,
                    },
                )
            )

    def result(self) -> pl.DataFrame:
        if not self.inserts:
            return self.frame
        base = self.frame.with_row_index("__pos").with_columns(pl.col("__pos").cast(pl.Float64))
        extra = pl.DataFrame(
            [{**row, "__pos": pos} for pos, row in self.inserts],
            schema={
                **{c: pl.String for c in self.frame.columns if c != "__fst_odd"},
                "__pos": pl.Float64,
            },
        )
        if "__fst_odd" in base.columns:
            extra = extra.with_columns(__fst_odd=pl.lit(False))
        return pl.concat([base, extra.select(base.columns)]).sort("__pos").drop("__pos")


def bad_timestamp(style: str) -> str:
    """A timestamp in the clinic's format that names a day that does not exist."""
    if style == "dmy":
        return "31/02/2026 10:00"
    if style == "offset":
        return "2026-02-30T10:15:00+08:00"
    if style == "utc_z":
        return "2026-02-30T02:15:00Z"
    return "2026-02-30T10:15:00"


def bad_date(dmy: bool) -> str:
    return "30/02/2026" if dmy else "2026-02-30"


def timestamp_in(year: int, style: str) -> str:
    """A well-formed timestamp in the clinic's format, in `year` (outside the plausible window)."""
    if style == "dmy":
        return f"14/03/{year} 10:00"
    if style == "offset":
        return f"{year}-03-14T10:15:00+08:00"
    if style == "utc_z":
        return f"{year}-03-14T02:15:00Z"
    return f"{year}-03-14T10:15:00"


def plant_window_dirt(p: Planter, ids: Iterator[str], style: str) -> None:
    """Sessions dated 2099, an update stamped in the year 9999, a UTC offset of +25:00 (where
    the clinic writes offsets), a session id with a zero-width space."""
    future = timestamp_in(2099, style)
    p.junk("session_id", next(ids), {"started_at": future}, DATE_OUT_OF_WINDOW, "out_of_range")
    doomsday = timestamp_in(9999, style)
    p.junk("session_id", next(ids), {"updated_at": doomsday}, DATE_OUT_OF_WINDOW, "out_of_range")
    if style == "offset":
        offset = "2026-03-02T10:15:00+25:00"
        p.junk("session_id", next(ids), {"started_at": offset}, BAD_UTC_OFFSET, "unparseable")
    hidden = next(ids) + ZERO_WIDTH_SPACE
    p.junk("session_id", hidden, {}, CONTROL_CHARACTER_IN_ID, "unparseable")


def _appended(suffix: str) -> Callable[[str | None], str | None]:
    return lambda text: None if text is None else text + suffix


def plant_sessions(
    frame: pl.DataFrame, clinic_id: str, ts_style: str, units: bool, rng: np.random.Generator
) -> pl.DataFrame:
    p = Planter(frame, rng)
    unit = " J/cm2" if units else ""
    sid = iter(f"SES-{clinic_id}-X{i:05d}" for i in range(1, 100))
    p.duplicate(2)
    p.malformed("session_id", next(sid), extra_field=True)
    p.malformed("session_id", next(sid), extra_field=False)
    p.junk(
        "session_id",
        next(sid),
        {"started_at": bad_timestamp(ts_style)},
        "unparseable_date",
        "unparseable",
    )
    p.junk(
        "session_id",
        next(sid),
        {"fluence_j_cm2": "1,8" + unit},
        "unparseable_number",
        "unparseable",
    )
    p.junk("session_id", next(sid), {"fluence_j_cm2": "0" + unit}, "out_of_range", "out_of_range")
    p.junk("session_id", next(sid), {"fluence_j_cm2": "40" + unit}, "out_of_range", "out_of_range")
    p.junk("session_id", next(sid), {"treatment_area": "scalp"}, "unknown_code", "unknown_code")
    p.junk("session_id", next(sid), {"provider_id": None}, "missing_required", "missing_required")
    plant_window_dirt(p, sid, ts_style)
    return p.result()


def plant_outcomes(
    frame: pl.DataFrame, clinic_id: str, ts_style: str, rng: np.random.Generator
) -> pl.DataFrame:
    p = Planter(frame, rng)
    rid = iter(f"R-{clinic_id}-X{i:05d}" for i in range(1, 100))
    p.duplicate(1)
    p.junk(
        "response_id",
        next(rid),
        {"instrument": "pigmentation_vas", "score": "11"},
        "out_of_range",
        "out_of_range",
    )
    p.junk("response_id", next(rid), {"score": "7,5"}, "unparseable_number", "unparseable")
    p.junk("response_id", next(rid), {"instrument": "dlqi"}, "unknown_code", "unknown_code")
    p.malformed("response_id", next(rid), extra_field=False)
    if ts_style == "offset":
        bad = {"collected_at": "2026-03-02T19:44:00+08:60"}
        p.junk("response_id", next(rid), bad, BAD_UTC_OFFSET, "unparseable")
    bidi = {"patient_ref": _appended(RIGHT_TO_LEFT_OVERRIDE)}
    p.junk("response_id", next(rid), bidi, CONTROL_CHARACTER_IN_ID, "unparseable")
    return p.result()


def plant_side_effects(
    frame: pl.DataFrame, clinic_id: str, dmy: bool, rng: np.random.Generator
) -> pl.DataFrame:
    p = Planter(frame, rng)
    eid = iter(f"AE-{clinic_id}-X{i:04d}" for i in range(1, 100))
    p.duplicate(1)
    p.junk("event_id", next(eid), {"severity": "4"}, "out_of_range", "out_of_range")
    p.junk("event_id", next(eid), {"effect": "rash"}, "unknown_code", "unknown_code")
    p.junk("event_id", next(eid), {"onset_on": bad_date(dmy)}, "unparseable_date", "unparseable")
    p.junk("event_id", next(eid), {"effect": None}, "missing_required", "missing_required")
    nul = {"patient_ref": _appended(NUL)}
    p.junk("event_id", next(eid), nul, CONTROL_CHARACTER_IN_ID, "unparseable")
    return p.result()


def plant_consultations(
    frame: pl.DataFrame, clinic_id: str, ts_style: str, rng: np.random.Generator
) -> pl.DataFrame:
    p = Planter(frame, rng)
    cid = iter(f"CON-{clinic_id}-X{i:04d}" for i in range(1, 100))
    p.duplicate(1)
    p.junk(
        "consultation_id",
        next(cid),
        {"primary_concern": "tattoo_removal"},
        "unknown_code",
        "unknown_code",
    )
    p.junk(
        "consultation_id",
        next(cid),
        {"consulted_at": bad_timestamp(ts_style)},
        "unparseable_date",
        "unparseable",
    )
    return p.result()


def plant_patients(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    p = Planter(frame, rng)
    p.duplicate(1)
    return p.result()


def plant_survey(lines: pl.DataFrame, clinic_id: str, rng: np.random.Generator) -> pl.DataFrame:
    """Survey-app lines (`line` column): a cut-off line, a VAS of 11, a repeated line."""
    p = Planter(lines, rng)
    p.duplicate(1)
    template = json.loads(p.template()["line"])
    bad = {
        "submission_id": f"S-{clinic_id}-X0001",
        "clinic": template["clinic"],
        "session_id": None,
        "timepoint": "follow_up_3m",
        "channel": "app",
        "submitted_at": template["submitted_at"],
        "answers": [{"instrument": "pigmentation_vas", "score": 11}],
    }
    p.inserts.append(
        (
            p._position(),
            {
                "line": json.dumps(bad),
                "__kind": "out_of_range",
                "__expect": QUARANTINED,
                "__reason": "out_of_range",
            },
        )
    )
    cut = json.dumps({**bad, "submission_id": f"S-{clinic_id}-X0002"})[:57]
    p.inserts.append(
        (
            p._position(),
            {
                "line": cut,
                "__kind": "malformed_line",
                "__expect": QUARANTINED,
                "__reason": "malformed_line",
            },
        )
    )
    return p.result()
