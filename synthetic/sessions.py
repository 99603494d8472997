"""Session rows: one per visit and treatment area, with laser parameters and aborted visits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.params import CourseModel, LaserModel
from synthetic.profiles import Profile, fitzpatrick_styles
from synthetic.reference import ClinicSpec, local_ts
from synthetic.sampling import (
    choice_index,
    clock_seconds,
    lookup,
    make_ids,
    masked,
    segment_positions,
)
from synthetic.text import session_notes

ENDPOINTS = ("mild erythema", "none", "petechiae", "whitening", "greying")


@dataclass(frozen=True)
class PatientTraits:
    """Per-patient arrays the sessions draw on (indexed by patient position)."""

    skin: np.ndarray
    concern: np.ndarray
    areas: np.ndarray
    laser: np.ndarray
    device: np.ndarray
    treater: np.ndarray
    numbing: np.ndarray
    fluence_base: np.ndarray
    hsv: np.ndarray


def fluence_base(
    rng: np.random.Generator, lm: LaserModel, laser: np.ndarray, skin: np.ndarray
) -> np.ndarray:
    n = len(laser)
    qs = lm.qs_fluence_median * np.exp(rng.normal(0, lm.qs_fluence_sigma, n))
    pico = lm.pico_fluence_median * np.exp(rng.normal(0, lm.pico_fluence_sigma, n))
    other = rng.uniform(2.0, 4.0, n)
    base = np.where(laser == "pico_nd_yag", pico, np.where(laser == "qs_nd_yag", qs, other))
    return base * np.asarray(lm.skin_type_fluence)[skin - 1]


def session_frame(
    rng: np.random.Generator,
    spec: ClinicSpec,
    lm: LaserModel,
    cm: CourseModel,
    crs: dict[str, np.ndarray],
    ses: dict[str, np.ndarray],
    patients: pl.DataFrame,
    traits: PatientTraits,
    devices: pl.DataFrame,
    treating: np.ndarray,
    providers: pl.DataFrame,
    consult_ids: np.ndarray,
    profile: Profile,
) -> pl.DataFrame:
    """One row per session and treatment area (completed and aborted)."""
    skin, concern, areas, laser = traits.skin, traits.concern, traits.areas, traits.laser
    device_idx, treater, hsv = traits.device, traits.treater, traits.hsv
    numbing_patient, fluence_base = traits.numbing, traits.fluence_base
    course_pos = ses["course"]  # course ids are positions in crs
    pat = crs["patient"][course_pos]
    # explode visits into one session per treatment area
    combos = {combo: combo.split(";") for combo in np.unique(areas)}
    n_areas = lookup(areas, {c: len(a) for c, a in combos.items()}).astype(np.int64)
    first_area = lookup(areas, {c: a[0] for c, a in combos.items()})
    second_area = lookup(areas, {c: a[1] if len(a) > 1 else "" for c, a in combos.items()})
    visit, area_pos = segment_positions(n_areas[pat])
    v = len(visit)
    pat_v = pat[visit]
    area = np.where(area_pos == 0, first_area[pat_v], second_area[pat_v])
    course = course_pos[visit]
    k = ses["k"][visit]
    day = ses["day"][visit]
    gap = ses["gap"][visit]
    visit_secs = clock_seconds(rng, len(course_pos), 9, 18.5)
    secs = visit_secs[visit] + area_pos * 1200

    # aborted sessions: a visit stopped early, between two completed sessions
    aborted = (k >= 1) & (gap >= 2) & (rng.random(v) < cm.aborted_share)
    a_rows = np.flatnonzero(aborted)
    a_day = day[a_rows] - np.maximum(1, gap[a_rows] // 2)
    rows = np.concatenate([np.arange(v), a_rows])
    status = np.concatenate(
        [np.full(v, "completed", dtype=object), np.full(len(a_rows), "aborted", dtype=object)]
    )
    day = np.concatenate([day, a_day])
    secs = np.concatenate([secs, clock_seconds(rng, len(a_rows), 9, 18)])
    course, k, gap, area, pat_v, visit = (
        course[rows],
        k[rows],
        gap[rows],
        area[rows],
        pat_v[rows],
        visit[rows],
    )
    m = len(rows)

    # providers, devices and laser parameters
    provider_ids = providers["provider_id"].to_numpy()
    active = providers["active"].to_numpy()
    other = treating[rng.integers(0, len(treating), m)]
    prov = np.where(rng.random(m) < 0.8, treater[pat_v], other)
    midpoint = (spec.start_day + day.max()) // 2 if m else 0
    prov = np.where(~active[prov] & (day > midpoint), treater[pat_v], prov)
    prov = np.where(~active[prov] & (day > midpoint), treating[0], prov)
    laser_v = laser[pat_v]
    dev = device_idx[pat_v]
    wavelength = devices["wavelength_nm"].to_numpy()[dev]
    drift = np.where(spec.drifting & (prov == treating[0]), lm.drifting_provider_factor, 1.0)
    fluence = fluence_base[pat_v] * (1 + lm.titration_per_session * k) * drift
    fluence = fluence * np.exp(rng.normal(0, 0.04, m))
    is_pico = laser_v == "pico_nd_yag"
    is_qs = laser_v == "qs_nd_yag"
    fluence = np.where(is_pico, np.clip(fluence, *lm.pico_fluence_range), fluence)
    fluence = np.where(is_qs, np.clip(fluence, *lm.qs_fluence_range), fluence)
    fluence = np.where(is_pico, np.round(fluence, 2), np.round(fluence, 1))
    spot = np.where(
        is_pico,
        np.asarray([7.0, 8.0])[rng.integers(0, 2, m)],
        np.asarray([5.0, 6.0, 7.0, 8.0])[choice_index(rng, (15, 35, 35, 15), m)],
    )
    rep = np.where(is_pico | (rng.random(m) < 0.9), 10.0, 5.0)
    passes = np.where(is_pico, rng.integers(2, 5, m), rng.integers(2, 4, m))
    area_factor = np.select(
        [area == "face", area == "neck", area == "chest"], [1.0, 0.5, 0.7], default=0.4
    )
    pulses = np.round(rng.uniform(1900, 2600, m) * area_factor * np.where(is_pico, 0.7, 1.0))
    pulses = np.where(status == "aborted", np.round(pulses * rng.uniform(0.1, 0.5, m)), pulses)
    numbing = np.where(rng.random(m) < 0.9, numbing_patient[pat_v], ~numbing_patient[pat_v])
    cooling = rng.random(m) < lm.cooling_share
    high = fluence > 2.2
    endpoint_p = np.where(high[:, None], [[50, 25, 14, 7, 4]], [[66, 29, 3, 1.5, 0.5]])
    cum = endpoint_p.cumsum(axis=1) / endpoint_p.sum(axis=1, keepdims=True)
    endpoint = np.asarray(ENDPOINTS, dtype=object)[(rng.random(m)[:, None] > cum).sum(axis=1)]

    # cumulative completed sessions on this area (for mottled hypopigmentation)
    frame = pl.DataFrame(
        {
            "clinic_id": spec.clinic_id,
            "patient_ref": patients["patient_ref"].to_numpy()[pat_v],
            "consultation_id": masked(
                consult_ids[crs["consult"][course]], rng.random(m) < 0.85, pl.String
            ),
            "provider_id": pl.Series(provider_ids[prov], dtype=pl.String),
            "device_id": devices["device_id"].to_numpy()[dev],
            "_day": day,
            "_secs": secs,
            "treatment_area": pl.Series(area, dtype=pl.String),
            "wavelength_nm": masked(wavelength, rng.random(m) < 0.92, pl.Int64),
            "fluence_j_cm2": fluence,
            "spot_size_mm": masked(spot, rng.random(m) < 0.95, pl.Float64),
            "rep_rate_hz": masked(rep, rng.random(m) < 0.9, pl.Float64),
            "passes": masked(passes, rng.random(m) < 0.95, pl.Int64),
            "pulses": masked(pulses, rng.random(m) < 0.9, pl.Int64),
            "numbing_cream": masked(numbing, rng.random(m) < 0.97, pl.Boolean),
            "cooling": masked(cooling, rng.random(m) < 0.97, pl.Boolean),
            "fitzpatrick": pl.Series(skin[pat_v], dtype=pl.Int8),
            "clinical_endpoint": masked(endpoint, rng.random(m) < 0.9, pl.String),
            "status": pl.Series(status, dtype=pl.String),
            "_updated_secs": secs + 60 * rng.integers(20, 120, m),
            "_fst": fitzpatrick_styles(rng, skin[pat_v], profile, null_share=0.6),
            "_patient": pat_v,
            "_visit": visit,
            "truth_course": crs["id"][course],
            "truth_session_number": masked(k + 1, status == "completed", pl.Int32),
            "truth_interval_days": masked(gap, (status == "completed") & (k > 0), pl.Int32),
            "truth_fitzpatrick": pl.Series(skin[pat_v], dtype=pl.Int8),
            "truth_concern": pl.Series(concern[pat_v], dtype=pl.String),
            "truth_laser_type": pl.Series(laser_v, dtype=pl.String),
            "truth_hsv": hsv[pat_v],
        }
    )
    frame = frame.sort(["_day", "_secs", "patient_ref", "treatment_area"], maintain_order=True)
    m_ids = make_ids(f"SES-{spec.clinic_id}-", np.arange(1, m + 1), 7)
    frame = frame.with_columns(
        session_id=m_ids,
        started_at=local_ts(frame["_day"], frame["_secs"]),
        updated_at=local_ts(frame["_day"], frame["_updated_secs"]),
        _land_day=pl.col("_day"),
    )
    frame = frame.with_columns(
        truth_cumulative_sessions=pl.when(pl.col("status") == "completed")
        .then(pl.col("status").eq("completed").cum_sum().over(["patient_ref", "treatment_area"]))
        .otherwise(None)
        .cast(pl.Int32),
    )
    frame = frame.with_columns(notes=session_notes(rng, frame.height, patients, frame["_patient"]))
    return frame.drop("_updated_secs")
