"""Which records land in which file, in which format, and the whole-file dirt.

Per clinic and feed: a full export as of the as-of date (latest version of each record), a
corrections file (planted corrections, voidings), a late patients file, and one daily extract
per day after the as-of date (every version that landed that day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from synthetic import dirt
from synthetic.codes import COLUMNS, KEYS
from synthetic.encode import (
    encode_text,
    encode_typed,
    file_columns,
    header_names,
    number_text,
    timestamp_text,
)
from synthetic.profiles import FST_UNRECOGNISED
from synthetic.reference import EPOCH, ClinicSpec
from synthetic.writers import (
    DirtItem,
    annotations,
    csv_bytes,
    gzip_bytes,
    jsonl_bytes,
    parquet_bytes,
    xlsx_bytes,
)

ORDER_BY = {
    "providers": ("provider_id",),
    "devices": ("device_id",),
    "patients": ("created_at", "patient_ref"),
    "consultations": ("consulted_at", "consultation_id"),
    "sessions": ("started_at", "session_id"),
    "outcomes": ("collected_at", "response_id"),
    "side_effects": ("onset_on", "event_id"),
}
WITH_FITZPATRICK = ("patients", "consultations", "sessions")
# Planted informational text on a record (see informational.py): column, text, dirt kind.
SPELT_COLUMNS = ("_spelt_col", "_spelt_text", "_spelt_kind")
# Plants record-level dirt into an all-text frame.
Planter = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass
class LandingWriter:
    """Writes files under `out/<feed>/` and keeps the inventory: files, rows, dirt items."""

    out: Path
    files: list[Path] = field(default_factory=list)
    rows: Counter[str] = field(default_factory=Counter)
    dirt: list[DirtItem] = field(default_factory=list)

    def write(
        self, feed: str | None, name: str, data: bytes, rows: int, items: list[DirtItem]
    ) -> str:
        """Write `<out>/<feed>/<name>` (`<out>/<name>` when `feed` is None: the landing root)."""
        relpath = self.relpath(feed, name)
        path = self.out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(path)
        if feed is not None:
            self.rows[feed] += rows
        self.dirt.extend(items)
        return relpath

    def relpath(self, feed: str | None, name: str) -> str:
        return name if feed is None else f"{feed}/{name}"

    def plant(
        self,
        kind: str,
        feed: str | None,
        name: str,
        data: bytes,
        expect: str,
        reason: str | None = None,
        rows: int = 0,
    ) -> str:
        """A file that is itself the dirt: one dirt item for the whole file."""
        item = DirtItem(kind, feed, self.relpath(feed, name), None, expect, reason)
        return self.write(feed, name, data, rows, [item])


@dataclass(frozen=True)
class Rendered:
    data: bytes
    rows: int
    items: list[DirtItem]


def day_text(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


def latest(frame: pl.DataFrame, key: tuple[str, ...]) -> pl.DataFrame:
    """The latest version of each record."""
    return frame.filter(pl.col("_ver") == pl.col("_ver").max().over(list(key)))


def ordered(frame: pl.DataFrame, feed: str) -> pl.DataFrame:
    return frame.sort([*ORDER_BY[feed], "_ver"], maintain_order=True)


def _annotate(frame: pl.DataFrame, feed: str) -> pl.DataFrame:
    exprs = {
        "__kind": pl.col("_dirt_kind") if "_dirt_kind" in frame.columns else pl.lit(None),
        "__expect": pl.when(pl.col("_dirt_kind").is_not_null()).then(pl.lit("loaded"))
        if "_dirt_kind" in frame.columns
        else pl.lit(None),
        "__reason": pl.lit(None, dtype=pl.String),
        **{f"_{c}": pl.col(c) for c in SPELT_COLUMNS if c in frame.columns},
    }
    frame = frame.with_columns(**{k: v.cast(pl.String) for k, v in exprs.items()})
    if feed in WITH_FITZPATRICK:
        frame = frame.with_columns(
            __fst_odd=pl.col("_fst").is_in(list(FST_UNRECOGNISED))
            & pl.col("fitzpatrick").is_not_null()
        )
    return frame


def render(
    frame: pl.DataFrame,
    feed: str,
    spec: ClinicSpec,
    fmt: str,
    relpath: str,
    planter: Planter | None = None,
    cover: list[str] | None = None,
) -> Rendered:
    """File bytes of a frame of typed records in the clinic's format (an xlsx file after a
    `cover` sheet if given)."""
    profile = spec.profile
    columns = file_columns(feed, profile)
    frame = _annotate(ordered(frame, feed), feed)
    items: list[DirtItem] = []
    extra = profile.extra_columns.get(feed)
    if extra:
        items.append(DirtItem("extra_column", feed, relpath, None, "loaded", None))
    if fmt in ("csv", "csv.gz"):
        text = encode_text(frame, feed, profile, spec.timezone, columns)
        if planter is not None:
            text = planter(text)
        data = csv_bytes(text, header_names(columns, profile), crlf=profile.crlf, bom=profile.bom)
        if fmt == "csv.gz":
            data = gzip_bytes(data)
    else:
        text = encode_typed(frame, feed, profile, spec.timezone, columns, fmt)
        if fmt == "parquet":
            data = parquet_bytes(text)
        else:
            data = xlsx_bytes(text, header_names(columns, profile), feed, cover)
    items.extend(annotations(text, feed, relpath))
    return Rendered(data, text.height, items)


def survey_lines(frame: pl.DataFrame, spec: ClinicSpec) -> pl.DataFrame:
    """Survey-app submissions as JSON lines (one per submission), in landing order."""
    if frame.height == 0:
        return pl.DataFrame({"line": []}, schema={"line": pl.String})
    answers = frame.sort(["collected_at", "submission_id"], maintain_order=True).with_columns(
        _answer=_text(
            '{"instrument": "', pl.col("instrument"), '", "score": ', number_text("score"), "}"
        ),
        _submitted=timestamp_text("collected_at", "offset", spec.timezone),
    )
    spelt = [c for c in SPELT_COLUMNS if c in answers.columns]
    grouped = answers.group_by("submission_id", maintain_order=True).agg(
        pl.col("patient_ref").first(),
        pl.col("session_id").first(),
        pl.col("timepoint").first(),
        pl.col("channel").first(),
        pl.col("_submitted").first(),
        pl.col("_answer").str.join(", ").alias("_answers"),
        *(pl.col(c).first() for c in spelt),
    )
    if spelt:
        grouped = grouped.with_columns(
            pl.when(pl.col("_spelt_col") == c).then(pl.col("_spelt_text")).otherwise(c).alias(c)
            for c in ("timepoint", "channel")
        )
    session = (
        pl.when(pl.col("session_id").is_null())
        .then(pl.lit("null"))
        .otherwise(_text('"', pl.col("session_id"), '"'))
    )
    timepoint = (
        pl.when(pl.col("timepoint").is_null())
        .then(pl.lit(""))
        .otherwise(_text(', "timepoint": "', pl.col("timepoint"), '"'))
    )
    line = _text(
        '{"submission_id": "',
        pl.col("submission_id"),
        '", "clinic": {"id": "',
        spec.clinic_id,
        '", "patient_ref": "',
        pl.col("patient_ref"),
        '"}, "session_id": ',
        session,
        timepoint,
        ', "channel": "',
        pl.col("channel"),
        '", "submitted_at": "',
        pl.col("_submitted"),
        '", "answers": [',
        pl.col("_answers"),
        "]}",
    )
    return grouped.select(line.alias("line"), *(pl.col(c).alias(f"_{c}") for c in spelt))


def _text(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate literal text and expressions."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


@dataclass
class ClinicRecords:
    """A clinic's record versions per feed (see versions.py) and reference frames."""

    spec: ClinicSpec
    providers: pl.DataFrame
    devices: pl.DataFrame
    feeds: dict[str, pl.DataFrame]  # patients, consultations, sessions, outcomes, side_effects


def write_clinic(
    writer: LandingWriter,
    records: ClinicRecords,
    as_of_day: int,
    days: int,
    rng: np.random.Generator,
) -> None:
    """All files of one clinic: reference feeds, base exports, whole-file dirt, dailies."""
    spec = records.spec
    profile = spec.profile
    cid = spec.clinic_id
    as_of = day_text(as_of_day)
    for feed, frame in (("providers", records.providers), ("devices", records.devices)):
        fmt = "csv.gz" if profile.format(feed) == "csv.gz" else "csv"
        _render_and_write(writer, spec, feed, fmt, f"{cid}_full_{as_of}", without_addenda(frame))

    for feed in ("patients", "consultations", "sessions", "side_effects"):
        _write_feed(writer, records, feed, as_of_day, days, rng)
    _write_outcomes(writer, records, as_of_day, days, rng)
    if spec.index == 0:
        _first_clinic_file_dirt(writer, records, as_of_day)
    if spec.index == 1:
        _truncated_gzip(writer, records, as_of_day)


def _render_and_write(
    writer: LandingWriter,
    spec: ClinicSpec,
    feed: str,
    fmt: str,
    stem: str,
    frame: pl.DataFrame,
    planter: Planter | None = None,
) -> None:
    """One file of `feed`, `stem.fmt`, with its dirt items."""
    name = f"{stem}.{fmt}"
    rendered = render(frame, feed, spec, fmt, writer.relpath(feed, name), planter)
    writer.write(feed, name, rendered.data, rendered.rows, rendered.items)


def _daily_batches(
    frame: pl.DataFrame, as_of_day: int, days: int
) -> list[tuple[int, pl.DataFrame]]:
    """The records landing on each of the `days` days after the as-of day, in day order."""
    if days <= 0:
        return []
    window = frame.filter(
        (pl.col("_land_day") > as_of_day) & (pl.col("_land_day") <= as_of_day + days)
    ).partition_by("_land_day", as_dict=True, maintain_order=True)
    return [(day, daily) for (day,), daily in sorted(window.items())]


def _planter(feed: str, spec: ClinicSpec, rng: np.random.Generator) -> Planter | None:
    profile = spec.profile
    style = profile.ts_style(feed)
    cid = spec.clinic_id
    if feed == "sessions":
        return lambda t: dirt.plant_sessions(t, cid, style, profile.fluence_units > 0.5, rng)
    if feed == "side_effects":
        return lambda t: dirt.plant_side_effects(t, cid, style == "dmy", rng)
    if feed == "consultations":
        return lambda t: dirt.plant_consultations(t, cid, style, rng)
    if feed == "patients":
        return lambda t: dirt.plant_patients(t, rng)
    if feed == "outcomes":
        return lambda t: dirt.plant_outcomes(t, cid, style, rng)
    return None


def _write_feed(
    writer: LandingWriter,
    records: ClinicRecords,
    feed: str,
    as_of_day: int,
    days: int,
    rng: np.random.Generator,
) -> None:
    spec = records.spec
    profile = spec.profile
    cid = spec.clinic_id
    as_of = day_text(as_of_day)
    frame = without_addenda(records.feeds[feed])
    if feed == "outcomes":
        frame = frame.filter(~pl.col("_app"))
    key = KEYS[feed]
    fmt = profile.format(feed)
    base = frame.filter(pl.col("_land_day") <= as_of_day)
    full = latest(base.filter(~pl.col("_corr")), key)
    if feed == "patients":
        late = full.filter(pl.col("_late"))
        full = full.filter(~pl.col("_late"))
    planter = _planter(feed, spec, rng) if spec.dirty and fmt in ("csv", "csv.gz") else None
    _render_and_write(writer, spec, feed, fmt, f"{cid}_full_{as_of}", full, planter)

    corrections = base.filter(pl.col("_corr"))
    if corrections.height:
        cfmt = profile.corrections_format(feed)
        _render_and_write(writer, spec, feed, cfmt, f"{cid}_corrections_{as_of}", corrections)
    if feed == "patients" and late.height:
        _write_late_patients(writer, spec, late, as_of)

    for day, daily in _daily_batches(frame, as_of_day, days):
        _render_and_write(writer, spec, feed, fmt, f"{cid}_{day_text(day)}", daily)


def _write_late_patients(
    writer: LandingWriter, spec: ClinicSpec, late: pl.DataFrame, as_of: str
) -> None:
    """The first clinic's late patients come in a workbook whose first sheet is a cover page."""
    fmt = spec.profile.late_patients_format
    name = f"{spec.clinic_id}_late_{as_of}.{fmt}"
    relpath = writer.relpath("patients", name)
    cover = None
    if fmt == "xlsx" and spec.index == 0:
        cover = [f"{spec.clinic_name}: patients registered late", f"Exported {as_of}"]
    rendered = render(late, "patients", spec, fmt, relpath, cover=cover)
    items = rendered.items
    if cover:
        items = [DirtItem("xlsx_cover_sheet", "patients", relpath, None, "loaded", None), *items]
    writer.write("patients", name, rendered.data, rendered.rows, items)


def _write_outcomes(
    writer: LandingWriter,
    records: ClinicRecords,
    as_of_day: int,
    days: int,
    rng: np.random.Generator,
) -> None:
    _write_feed(writer, records, "outcomes", as_of_day, days, rng)
    spec = records.spec
    survey = spec.profile.survey
    if survey is None:
        return
    app = records.feeds["outcomes"].filter(pl.col("_app"))
    as_of = day_text(as_of_day)
    base = app.filter(pl.col("_land_day") <= as_of_day)
    name = f"survey_{spec.clinic_id}_full_{as_of}.{survey}"
    lines = survey_lines(base, spec)
    if spec.dirty:
        lines = dirt.plant_survey(lines, spec.clinic_id, rng)
    _write_lines(writer, name, lines, survey)
    for day, daily in _daily_batches(app, as_of_day, days):
        name = f"survey_{spec.clinic_id}_{day_text(day)}.{survey}"
        _write_lines(writer, name, survey_lines(daily, spec), survey)


def _write_lines(writer: LandingWriter, name: str, lines: pl.DataFrame, fmt: str) -> None:
    relpath = writer.relpath("outcomes", name)
    data = jsonl_bytes(lines["line"])
    if fmt.endswith(".gz"):
        data = gzip_bytes(data)
    writer.write("outcomes", name, data, lines.height, annotations(lines, "outcomes", relpath))


def _first_clinic_file_dirt(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    """Header-only, empty, misplaced, half-written and re-delivered files (the first clinic)."""
    spec = records.spec
    cid = spec.clinic_id
    as_of = day_text(as_of_day)
    yesterday = day_text(as_of_day - 1)
    profile = spec.profile
    # a daily extract of a day without side effects: header only
    header = ",".join(header_names(file_columns("side_effects", profile), profile)) + "\n"
    name = f"{cid}_{yesterday}.csv"
    writer.plant("header_only_file", "side_effects", name, header.encode(), "file_empty")
    # an empty file
    writer.plant("empty_file", "outcomes", f"{cid}_{yesterday}.csv", b"", "file_empty")
    # the devices export dropped into the sessions folder
    name = f"{cid}_devices_export.csv"
    devices = without_addenda(records.devices)
    rendered = render(devices, "devices", spec, "csv", writer.relpath("sessions", name))
    writer.plant(
        "wrong_feed_file",
        "sessions",
        name,
        rendered.data,
        "file_quarantined",
        "missing_columns",
        rendered.rows,
    )
    # a file still being written
    full = (writer.out / "sessions" / f"{cid}_full_{as_of}.csv").read_bytes()
    partial = full[: max(len(full) // 3, 1)]
    writer.plant("partial_file", "sessions", f"{cid}_upload.csv.part", partial, "ignored")
    # the same patients export delivered again under another name
    source = writer.out / "patients" / f"{cid}_full_{as_of}.csv"
    name = f"{cid}_full_{as_of}_resent.csv"
    writer.plant("redelivered_file", "patients", name, source.read_bytes(), "file_duplicate")


def _truncated_gzip(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    """A gzip cut off mid-stream (the second clinic's sessions of the day before the as-of)."""
    spec = records.spec
    sessions = records.feeds["sessions"].filter(pl.col("_land_day") <= as_of_day - 1)
    sample = latest(sessions, KEYS["sessions"]).tail(200)
    fmt = "csv.gz"
    name = f"{spec.clinic_id}_{day_text(as_of_day - 1)}.{fmt}"
    rendered = render(sample, "sessions", spec, fmt, writer.relpath("sessions", name))
    cut = rendered.data[: max(len(rendered.data) * 3 // 5, 20)]
    writer.plant("truncated_gzip", "sessions", name, cut, "file_quarantined", "unreadable_file")


def without_addenda(frame: pl.DataFrame) -> pl.DataFrame:
    """The records of the regular exports (not those that come in one-row addenda)."""
    return frame.filter(~pl.col("_addendum")) if "_addendum" in frame.columns else frame


def clinics_file(writer: LandingWriter, clinics: pl.DataFrame, as_of_day: int) -> None:
    """The chain's clinics feed (always ISO, with offsets)."""
    stamps = []
    for row in clinics.iter_rows(named=True):  # one per clinic
        frame = pl.DataFrame({"t": [row["updated_at"]]})
        stamps.append(frame.select(timestamp_text("t", "offset", row["timezone"])).item())
    text = clinics.with_columns(
        opened_on=pl.col("opened_on").dt.strftime("%Y-%m-%d"),
        updated_at=pl.Series(stamps, dtype=pl.String),
    ).select(COLUMNS["clinics"])
    name = f"clinics_{day_text(as_of_day)}.csv"
    writer.write("clinics", name, csv_bytes(text, list(COLUMNS["clinics"])), text.height, [])
