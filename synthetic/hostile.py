"""Files a careless or hostile export produces, beside the first clinic's regular ones.

A CSV that names a column twice and a UTF-16 CSV (both quarantined whole), a file in a folder
that is no feed and one in the landing root (both ignored). Their records carry junk ids (`-X`),
so a file loaded by mistake shows in the warehouse. (The xlsx whose first sheet is a cover page is
the first clinic's late patients file: see landing.py.)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.codes import KEYS
from synthetic.encode import encode_text, file_columns, header_names
from synthetic.informational import final_in_base
from synthetic.landing import (
    ClinicRecords,
    LandingWriter,
    day_text,
    render,
    without_addenda,
)
from synthetic.sampling import make_ids
from synthetic.writers import csv_bytes

HOSTILE_CLINIC = 0  # present in every tier
SAMPLE_ROWS = 5


def write_hostile(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    if records.spec.index != HOSTILE_CLINIC:
        return
    _duplicate_column(writer, records, as_of_day)
    _utf16(writer, records, as_of_day)
    _stray_files(writer, records, as_of_day)


def _sample(records: ClinicRecords, feed: str, as_of_day: int, prefix: str) -> pl.DataFrame:
    """A few plain recent records of a feed, under junk ids `<prefix>0001`…"""
    frame = without_addenda(records.feeds[feed])
    usable = final_in_base(frame, KEYS[feed], as_of_day - 1)
    usable &= frame["_spelt_kind"].is_null().to_numpy()
    sample = frame.filter(pl.Series(usable)).tail(SAMPLE_ROWS)
    ids = make_ids(prefix, np.arange(1, sample.height + 1), 4)
    return sample.with_columns(ids.alias(KEYS[feed][-1]))


def _duplicate_column(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    """A sessions export that names `session_id` twice (the second holds an old system's id)."""
    spec = records.spec
    profile = spec.profile
    sample = _sample(records, "sessions", as_of_day, f"SES-{spec.clinic_id}-XD")
    columns = file_columns("sessions", profile)
    text = encode_text(sample, "sessions", profile, spec.timezone, columns).with_columns(
        legacy_id=pl.lit("OLD-") + pl.col("session_id").str.slice(-4)
    )
    headers = header_names([*columns, "session_id"], profile)
    data = csv_bytes(text, headers, crlf=profile.crlf, bom=profile.bom)
    name = f"{spec.clinic_id}_{day_text(as_of_day - 1)}_rework.csv"
    writer.plant(
        "duplicate_column_file",
        "sessions",
        name,
        data,
        "file_quarantined",
        "duplicate_columns",
        text.height,
    )


def _utf16(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    """A side-effects export saved as UTF-16 (the contract's files are UTF-8)."""
    spec = records.spec
    sample = _sample(records, "side_effects", as_of_day, f"AE-{spec.clinic_id}-XU")
    name = f"{spec.clinic_id}_{day_text(as_of_day - 1)}_export.csv"
    rendered = render(sample, "side_effects", spec, "csv", writer.relpath("side_effects", name))
    data = rendered.data.decode("utf-8-sig").encode("utf-16")
    writer.plant(
        "utf16_file",
        "side_effects",
        name,
        data,
        "file_quarantined",
        "not_utf8",
        rendered.rows,
    )


def _stray_files(writer: LandingWriter, records: ClinicRecords, as_of_day: int) -> None:
    """Invoices in a `billing` folder (no such feed) and a sessions export in the landing root."""
    spec = records.spec
    as_of = day_text(as_of_day)
    sessions = _sample(records, "sessions", as_of_day, f"SES-{spec.clinic_id}-XR")
    invoices = sessions.select(
        invoice_id=make_ids(f"INV-{spec.clinic_id}-", np.arange(1, sessions.height + 1), 5),
        clinic_id=pl.col("clinic_id"),
        session_id=pl.col("session_id"),
        amount=pl.lit("180.00"),
        issued_on=pl.col("started_at").dt.strftime("%Y-%m-%d"),
    )
    data = csv_bytes(invoices, invoices.columns)
    name = f"{spec.clinic_id}_invoices_{as_of}.csv"
    writer.plant("unknown_feed_folder", "billing", name, data, "ignored")
    name = f"{spec.clinic_id}_sessions_{as_of}.csv"
    rendered = render(sessions, "sessions", spec, "csv", name)
    writer.plant("landing_root_file", None, name, rendered.data, "ignored")
