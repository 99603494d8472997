"""Synthetic landing zone: clinics' exports as the data contract describes them, with dirt.

`generate_landing` simulates a chain of clinics (clean world), writes its files under
`<out>/<feed>/`, and the truth under `<out>/.truth/` (ingest ignores dot-folders). Same seed, same
bytes. It imports nothing of the product (`ingest`, `expectations`, `dashboards`, `toning`): a bug
shared by both would pass every test. `tests/test_generate.py` holds that rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from synthetic.addenda import add_addendum_records, write_addenda
from synthetic.codes import FEEDS
from synthetic.effects import simulate_effects
from synthetic.hostile import write_hostile
from synthetic.informational import plant_informational
from synthetic.landing import ClinicRecords, LandingWriter, clinics_file, write_clinic
from synthetic.outcomes import simulate_outcomes
from synthetic.params import DEFAULT_AS_OF, HORIZON_DAYS, TIERS, WorldModel
from synthetic.reference import (
    Calendar,
    ClinicSpec,
    clinics_frame,
    devices_frame,
    plan_chain,
    providers_frame,
)
from synthetic.truth import TruthBuilder
from synthetic.versions import (
    consultation_versions,
    outcome_versions,
    patient_versions,
    session_versions,
    side_effect_versions,
)
from synthetic.world import simulate_clinic

__all__ = ["GenerateSummary", "TIERS", "generate_landing"]

FEED_ORDER = FEEDS  # the contract's order: reference feeds first


@dataclass
class GenerateSummary:
    tier: str
    seed: int
    as_of: date
    days: int
    out: Path
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # data records written per feed
    clean_records: dict[str, int] = field(default_factory=dict)
    dirt_items: int = 0
    elapsed_seconds: float = 0.0


def _meta(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return frame.with_columns(
        _ver=pl.lit(0, dtype=pl.Int8),
        _u=pl.Series(rng.integers(0, 10_000, frame.height)),
        voided=pl.lit(False),
    )


def _clinic_records(
    spec: ClinicSpec, calendar: Calendar, model: WorldModel, rng: np.random.Generator
) -> tuple[ClinicRecords, pl.DataFrame]:
    """Simulate one clinic and give every record its history of versions."""
    r_ref, r_world, r_events, r_versions = rng.spawn(4)
    providers = providers_frame(spec, r_ref)
    devices = devices_frame(spec, r_ref)
    world = simulate_clinic(spec, providers, devices, calendar, model, r_world)
    effects, used = simulate_effects(
        world.sessions, world.patients, spec.clinic_id, model.side_effects, r_events
    )
    sessions = world.sessions.join(used, on="session_id", how="left", maintain_order="left")
    outcomes = simulate_outcomes(
        spec, world.courses, sessions, calendar.horizon_day, model.outcomes, r_events
    )
    h, horizon = model.history, calendar.horizon_day
    feeds = {
        "patients": patient_versions(_u(world.patients, r_versions), h, horizon, r_versions),
        "consultations": consultation_versions(
            _u(world.consultations, r_versions), spec, h, horizon, r_versions
        ),
        "sessions": session_versions(
            _u(sessions, r_versions), effects, spec, h, horizon, r_versions
        ),
        "outcomes": outcome_versions(_u(outcomes, r_versions), spec, h, horizon, r_versions),
        "side_effects": side_effect_versions(_u(effects, r_versions), spec, h, horizon, r_versions),
    }
    records = ClinicRecords(spec, _meta(providers, r_ref), _meta(devices, r_ref), feeds)
    return records, world.courses


def _u(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return frame.with_columns(_u=pl.Series(rng.integers(0, 10_000, frame.height)))


def generate_landing(
    tier: str,
    out: Path,
    seed: int = 42,
    as_of: date | None = None,
    days: int = 0,
    progress: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """Write a synthetic landing zone for `tier` under `out` and its truth under `out/.truth`.

    `days` > 0 adds daily extract files for the days after `as_of`; the base files are the same
    bytes whatever `days` is, and the truth then describes the world as of `as_of + days`.
    """
    started = time.perf_counter()
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    if not 0 <= days <= HORIZON_DAYS:
        raise ValueError(f"days must be between 0 and {HORIZON_DAYS}")
    say = progress or (lambda _message: None)
    spec_tier = TIERS[tier]
    as_of = as_of or DEFAULT_AS_OF
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    calendar = Calendar.for_as_of(as_of)
    model = WorldModel()
    root = np.random.default_rng(seed)
    chain_rng, clinics_rng, dirt_rng = root.spawn(3)
    specs = plan_chain(spec_tier, chain_rng, calendar)
    clinic_rngs = clinics_rng.spawn(len(specs))
    dirt_rngs = dirt_rng.spawn(len(specs))
    plant_rngs = dirt_rng.spawn(len(specs))
    writer = LandingWriter(out)
    truth = TruthBuilder(out / ".truth", calendar.as_of_day + days)
    clinics = clinics_frame(specs)
    clinics_file(writer, clinics, calendar.as_of_day)
    say(f"{tier}: {len(specs)} clinics, seed {seed}, as of {as_of}, {days} daily extracts")
    try:
        truth.add_clinics(clinics)
        for spec, rng, d_rng, p_rng in zip(specs, clinic_rngs, dirt_rngs, plant_rngs, strict=True):
            records, courses = _clinic_records(spec, calendar, model, rng)
            records = plant_informational(records, calendar.as_of_day, p_rng)
            records = add_addendum_records(records, calendar.as_of_day, p_rng)
            write_clinic(writer, records, calendar.as_of_day, days, d_rng)
            write_addenda(writer, records, calendar.as_of_day, p_rng)
            write_hostile(writer, records, calendar.as_of_day)
            truth.add_clinic(spec, records.providers, records.devices, records.feeds, courses)
            if len(specs) <= 10 or (spec.index + 1) % 10 == 0:
                say(f"clinic {spec.clinic_id} ({spec.index + 1}/{len(specs)}) written")
    finally:
        truth.close()
    truth.finish(
        seed=seed,
        tier=spec_tier,
        as_of=as_of.isoformat(),
        days=days,
        specs=specs,
        model=model,
        rows_written=dict(writer.rows),
        dirt=writer.dirt,
    )
    for feed in FEED_ORDER:
        say(f"{feed}: {writer.rows.get(feed, 0):,} rows")
    return GenerateSummary(
        tier=tier,
        seed=seed,
        as_of=as_of,
        days=days,
        out=out,
        files=sorted(writer.files),
        rows={feed: writer.rows.get(feed, 0) for feed in FEED_ORDER},
        clean_records=dict(truth.counts),
        dirt_items=len(writer.dirt),
        elapsed_seconds=round(time.perf_counter() - started, 3),
    )
