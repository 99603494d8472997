"""The chain's reference world: clinics (region, timezone, export profile), providers, devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from synthetic.params import (
    FIRST_REGIONS,
    HISTORY_DAYS,
    HORIZON_DAYS,
    REGION_WEIGHTS,
    REGIONS,
    Region,
    Tier,
)
from synthetic.pii import provider_names
from synthetic.profiles import Profile, profile_for
from synthetic.sampling import choice_index

EPOCH = date(1970, 1, 1)
BRANDS = ("Lumen Skin", "Clarity Laser", "Radiance Dermatology", "Tonal Clinic", "Aurora Skin")
CONSULTING_ROLES = ("dermatologist", "physician", "plastic_surgeon")
TREATING_ROLES = ("nurse", "aesthetician", "physician", "dermatologist")

# (manufacturer, model, laser_type, wavelength_nm)
DEVICE_CATALOGUE: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "qs_nd_yag": (
        ("Lutronic", "Spectra XT", "qs_nd_yag", 1064),
        ("Cynosure", "RevLite SI", "qs_nd_yag", 1064),
        ("Fotona", "QX Max", "qs_nd_yag", 1064),
        ("Quanta System", "Q-Plus C", "qs_nd_yag", 1064),
    ),
    "pico_nd_yag": (
        ("Candela", "PicoWay", "pico_nd_yag", 1064),
        ("Lutronic", "PicoPlus", "pico_nd_yag", 1064),
        ("Cutera", "enlighten III", "pico_nd_yag", 1064),
    ),
    "extra": (
        ("Quanta System", "Ruby Q-Plus", "qs_ruby", 694),
        ("Candela", "AlexTriVantage", "qs_alexandrite", 755),
        ("Asclepion", "TattooStar", "other", 532),
    ),
}


@dataclass(frozen=True)
class Calendar:
    """Day numbers (days since 1970-01-01) bounding the simulation."""

    as_of_day: int
    start_day: int
    horizon_day: int

    @classmethod
    def for_as_of(cls, as_of: date) -> Calendar:
        as_of_day = (as_of - EPOCH).days
        return cls(as_of_day, as_of_day - HISTORY_DAYS, as_of_day + HORIZON_DAYS)


@dataclass(frozen=True)
class ClinicSpec:
    index: int
    clinic_id: str
    clinic_name: str
    region: Region
    timezone: str
    profile: Profile
    opened_day: int
    start_day: int  # first day with patients: max(history start, opened)
    n_patients: int  # patients created up to the simulation horizon
    dirty: bool  # receives record-level dirt
    drifting: bool  # one provider treats with higher fluence

    @property
    def dmy(self) -> bool:
        return self.profile.datetime_format == "dmy"


def plan_chain(tier: Tier, rng: np.random.Generator, calendar: Calendar) -> list[ClinicSpec]:
    """The clinics of a tier: regions, timezones, opening dates and sizes."""
    n = tier.clinics
    region_by_name = {r.name: r for r in REGIONS}
    drawn = choice_index(rng, REGION_WEIGHTS, n)
    regions = [
        region_by_name[FIRST_REGIONS[i]] if i < len(FIRST_REGIONS) else REGIONS[drawn[i]]
        for i in range(n)
    ]
    size = rng.lognormal(0.0, 0.35, n)
    late_open = rng.random(n) < 0.25
    open_offset = rng.integers(0, HISTORY_DAYS - 180, n)
    before = rng.integers(200, 2500, n)
    width = 2 if n < 100 else 3
    specs: list[ClinicSpec] = []
    used_names: set[str] = set()
    region_count: dict[str, int] = {}
    history = calendar.as_of_day - calendar.start_day
    weights = []
    opened_days = []
    for i in range(n):
        if i >= len(FIRST_REGIONS) and late_open[i]:
            opened = calendar.start_day + int(open_offset[i])
        else:
            opened = calendar.start_day - int(before[i])
        opened_days.append(opened)
        active = calendar.as_of_day - max(opened, calendar.start_day)
        weights.append(size[i] * active / history)
    weights_arr = np.asarray(weights)
    targets = tier.patients * weights_arr / weights_arr.sum()
    for i, region in enumerate(regions):
        k = region_count.get(region.name, 0)
        region_count[region.name] = k + 1
        city = region.cities[k % len(region.cities)]
        name = f"{BRANDS[(i + k) % len(BRANDS)]} {city}"
        suffix = 2
        while name in used_names:
            name = f"{BRANDS[(i + k) % len(BRANDS)]} {city} {suffix}"
            suffix += 1
        used_names.add(name)
        start = max(opened_days[i], calendar.start_day)
        active = calendar.as_of_day - start
        total = targets[i] * (active + (calendar.horizon_day - calendar.as_of_day)) / active
        specs.append(
            ClinicSpec(
                index=i,
                clinic_id=f"C{i + 1:0{width}d}",
                clinic_name=name,
                region=region,
                timezone=region.timezones[k % len(region.timezones)],
                profile=profile_for(i),
                opened_day=opened_days[i],
                start_day=start,
                n_patients=max(int(round(total)), 20),
                dirty=i < tier.dirty_clinics or i % 10 == 0,
                drifting=i % 4 == 0,
            )
        )
    return specs


def local_ts(day: np.ndarray | pl.Series, seconds: np.ndarray | pl.Series) -> pl.Series:
    """Naive local datetimes (µs) from day numbers and seconds of the day."""
    day = pl.Series(day, dtype=pl.Int64)
    seconds = pl.Series(seconds, dtype=pl.Int64)
    return pl.from_epoch(day * 86_400 + seconds, time_unit="s").cast(pl.Datetime("us"))


def clinics_frame(specs: list[ClinicSpec]) -> pl.DataFrame:
    """The clinics feed (typed, clinic-local `updated_at`)."""
    opened = np.array([s.opened_day for s in specs])
    return pl.DataFrame(
        {
            "clinic_id": [s.clinic_id for s in specs],
            "clinic_name": [s.clinic_name for s in specs],
            "region": [s.region.name for s in specs],
            "timezone": [s.timezone for s in specs],
            "datetime_format": [s.profile.datetime_format for s in specs],
            "opened_on": pl.Series(opened).cast(pl.Int32).cast(pl.Date),
            "updated_at": local_ts(
                np.array([s.start_day - 3 for s in specs]), np.full(len(specs), 36_000)
            ),
        }
    )


def providers_frame(spec: ClinicSpec, rng: np.random.Generator) -> pl.DataFrame:
    """A clinic's providers: consulting doctors and treating nurses/aestheticians."""
    n = int(np.clip(4 + spec.n_patients // 600, 4, 12))
    roles = ["dermatologist"]
    if n >= 5:
        roles.append("physician")
    if n >= 7:
        roles.append("plastic_surgeon")
    while len(roles) < n:
        roles.append("nurse" if len(roles) % 3 else "aesthetician")
    active = np.ones(n, dtype=bool)
    active[-1] = False  # someone who has left (kept for their past sessions)
    names = provider_names(rng, n, spec.index)
    prefixed = [
        f"Dr {nm}" if r in CONSULTING_ROLES else nm for nm, r in zip(names, roles, strict=True)
    ]
    return pl.DataFrame(
        {
            "provider_id": [f"P-{spec.clinic_id}-{j + 1:02d}" for j in range(n)],
            "clinic_id": spec.clinic_id,
            "display_name": prefixed,
            "role": roles,
            "active": active,
            "updated_at": local_ts(
                np.full(n, spec.start_day - 2) - rng.integers(0, 30, n),
                rng.integers(9 * 3600, 17 * 3600, n) // 60 * 60,
            ),
        }
    )


def devices_frame(spec: ClinicSpec, rng: np.random.Generator) -> pl.DataFrame:
    """A clinic's lasers: Q-switched and picosecond Nd:YAG, and sometimes another type."""
    qs = DEVICE_CATALOGUE["qs_nd_yag"]
    pico = DEVICE_CATALOGUE["pico_nd_yag"]
    extra = DEVICE_CATALOGUE["extra"]
    chosen = [qs[spec.index % len(qs)], pico[spec.index % len(pico)]]
    if spec.n_patients > 1500:
        chosen.append(qs[(spec.index + 1) % len(qs)])
    if spec.index % 3 == 2 or spec.index % 5 == 1:
        chosen.append(extra[spec.index % len(extra)])
    n = len(chosen)
    installed = spec.start_day - rng.integers(30, 400, n)
    return pl.DataFrame(
        {
            "device_id": [f"D-{spec.clinic_id}-{j + 1}" for j in range(n)],
            "clinic_id": spec.clinic_id,
            "manufacturer": [c[0] for c in chosen],
            "model": [c[1] for c in chosen],
            "laser_type": [c[2] for c in chosen],
            "wavelength_nm": pl.Series([c[3] for c in chosen], dtype=pl.Int64),
            "installed_on": pl.Series(installed).cast(pl.Int32).cast(pl.Date),
            "updated_at": local_ts(installed + 1, np.full(n, 11 * 3600)),
        }
    )


def treating_providers(providers: pl.DataFrame) -> np.ndarray:
    """Row indices of providers who treat (the first one drifts in a drifting clinic)."""
    return np.flatnonzero(np.isin(providers["role"].to_numpy(), TREATING_ROLES[:3]))
