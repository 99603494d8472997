"""One-row `_addendum` files: a clinic system sends a single record on its own, with a code the
contract does not know.

In a column a metric needs (a session's treatment area, an outcome's instrument, a device's laser
type) the record is quarantined, so the file is fully rejected: for a file that small, a warning
and not a reason to stop the nightly publish. In an informational column (a provider's role, an
outcome's channel) the record loads with that column null.

`add_addendum_records` adds the records that load to the clinic's records, flagged `_addendum`
(the regular exports leave them out; the clean world holds them); `write_addenda` writes the files.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from synthetic.codes import KEYS
from synthetic.informational import final_in_base
from synthetic.landing import ClinicRecords, LandingWriter, day_text, render
from synthetic.pii import provider_names
from synthetic.profiles import FST_UNRECOGNISED, Profile
from synthetic.reference import ClinicSpec, local_ts

ADDENDUM_CLINICS = (0, 1)  # present in every tier
ONE_ROW_UNKNOWN_CODE = "one_row_unknown_code"
ONE_ROW_INFORMATIONAL_UNKNOWN = "one_row_informational_unknown"
# feed -> (junk id prefix, column, unknown code, other changes) of the quarantined records
REJECTED: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "sessions": ("SES-{cid}-XA0001", "treatment_area", "scalp", {"status": "aborted"}),
    "outcomes": ("R-{cid}-XA0001", "instrument", "dlqi", {}),
    "devices": ("D-{cid}-XA1", "laser_type", "diode", {}),
}
UNKNOWN_ROLE = "therapist"
UNKNOWN_CHANNEL = "whatsapp"
ADDENDUM_SECONDS = 8 * 3600  # sent at 08:00 on the as-of day


def add_addendum_records(
    records: ClinicRecords, as_of_day: int, rng: np.random.Generator
) -> ClinicRecords:
    """Every frame gets `_addendum`; the first clinics get a new therapist and a re-sent score."""
    flag = {"_addendum": pl.lit(False)}
    providers = records.providers.with_columns(**flag)
    feeds = {feed: frame.with_columns(**flag) for feed, frame in records.feeds.items()}
    if records.spec.index in ADDENDUM_CLINICS:
        providers = _appended(providers, _therapist(providers, records.spec, as_of_day, rng))
        outcomes = feeds["outcomes"]
        feeds["outcomes"] = _appended(outcomes, _channel_update(outcomes, as_of_day, rng))
    return replace(records, providers=providers, feeds=feeds)


def _appended(frame: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([frame, rows.select(frame.columns).cast(frame.schema)])


def _planted(column: str, text: str) -> dict[str, pl.Expr]:
    return {
        "_spelt_col": pl.lit(column),
        "_spelt_text": pl.lit(text),
        "_spelt_kind": pl.lit(ONE_ROW_INFORMATIONAL_UNKNOWN),
        "_addendum": pl.lit(True),
    }


def _therapist(
    providers: pl.DataFrame, spec: ClinicSpec, as_of_day: int, rng: np.random.Generator
) -> pl.DataFrame:
    """A provider who has just joined as a `therapist`, a role the contract does not know."""
    names = " ".join(providers["display_name"])
    name = next(n for n in provider_names(rng, 20, spec.index) if n.split()[-1] not in names)
    stamp = local_ts(np.array([as_of_day]), np.array([ADDENDUM_SECONDS]))
    return providers.tail(1).with_columns(
        provider_id=pl.lit(f"P-{spec.clinic_id}-{providers.height + 1:02d}"),
        display_name=pl.lit(name),
        role=pl.lit(None, dtype=pl.String),
        active=pl.lit(True),
        updated_at=stamp,
        **_planted("role", UNKNOWN_ROLE),
    )


def _channel_update(
    outcomes: pl.DataFrame, as_of_day: int, rng: np.random.Generator
) -> pl.DataFrame:
    """A clinic-system score sent again, updated, with the channel `whatsapp`: the later version
    wins, and holds no channel."""
    usable = (
        final_in_base(outcomes, KEYS["outcomes"], as_of_day - 2)
        & ~outcomes["_app"].to_numpy()
        & ~outcomes["voided"].to_numpy()
        & outcomes["_spelt_kind"].is_null().to_numpy()
    )
    row = int(rng.choice(np.flatnonzero(usable)))
    return outcomes.slice(row, 1).with_columns(
        _ver=pl.col("_ver") + 1,
        _land_day=pl.lit(as_of_day, dtype=pl.Int64),
        updated_at=local_ts(np.array([as_of_day]), np.array([ADDENDUM_SECONDS])),
        _dirt_kind=pl.lit(None, dtype=pl.String),
        channel=pl.lit(None, dtype=pl.String),
        **_planted("channel", UNKNOWN_CHANNEL),
    )


def write_addenda(
    writer: LandingWriter, records: ClinicRecords, as_of_day: int, rng: np.random.Generator
) -> None:
    """The first clinics' one-row files: three whose record is quarantined, two that load."""
    spec = records.spec
    if spec.index not in ADDENDUM_CLINICS:
        return
    as_of = day_text(as_of_day)
    frames = {"devices": records.devices, **records.feeds}
    for feed, (new_id, column, code, changes) in REJECTED.items():
        template = _template(frames[feed], feed, as_of_day, rng)
        junk = {KEYS[feed][-1]: new_id.format(cid=spec.clinic_id), column: code, **changes}
        _write_one(writer, spec, feed, f"{as_of}_addendum", template, junk)
    loaded = {
        "providers": records.providers,
        "outcomes": records.feeds["outcomes"],
    }
    for feed, frame in loaded.items():
        _write_one(writer, spec, feed, f"{as_of}_addendum_2", frame.filter(pl.col("_addendum")))


def _template(
    frame: pl.DataFrame, feed: str, as_of_day: int, rng: np.random.Generator
) -> pl.DataFrame:
    """One plain record to copy (no planted informational text, no odd Fitzpatrick spelling)."""
    usable = final_in_base(frame, KEYS[feed], as_of_day) & frame["_spelt_kind"].is_null().to_numpy()
    if "_app" in frame.columns:
        usable &= ~frame["_app"].to_numpy()
    if "_fst" in frame.columns:
        usable &= ~frame["_fst"].is_in(list(FST_UNRECOGNISED)).to_numpy()
    return frame.slice(int(rng.choice(np.flatnonzero(usable))), 1)


def _write_one(
    writer: LandingWriter,
    spec: ClinicSpec,
    feed: str,
    stem: str,
    frame: pl.DataFrame,
    junk: dict[str, str] | None = None,
) -> None:
    """A one-row file in the clinic's text format; `junk` turns its record into a rejected one."""
    fmt = _text_format(spec.profile, feed)
    name = f"{spec.clinic_id}_{stem}.{fmt}"

    def planter(text: pl.DataFrame) -> pl.DataFrame:
        return text.with_columns(
            **{column: pl.lit(value) for column, value in (junk or {}).items()},
            __kind=pl.lit(ONE_ROW_UNKNOWN_CODE),
            __expect=pl.lit("quarantined"),
            __reason=pl.lit("unknown_code"),
        )

    relpath = writer.relpath(feed, name)
    rendered = render(frame, feed, spec, fmt, relpath, planter if junk else None)
    writer.write(feed, name, rendered.data, rendered.rows, rendered.items)


def _text_format(profile: Profile, feed: str) -> str:
    return "csv.gz" if profile.format(feed) == "csv.gz" else "csv"
