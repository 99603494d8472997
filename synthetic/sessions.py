"""Session rows: one per visit and treatment area, with laser parameters and aborted visits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.params import CourseModel, LaserModel, SessionShapeModel
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


@dataclass
class SessionRows:
    """Session rows as arrays (one per visit and area, completed then aborted), before the frame."""

    course: np.ndarray  # position in crs
    k: np.ndarray  # session number on the course, from 0
    gap: np.ndarray  # days since the previous session
    area: np.ndarray
    patient: np.ndarray  # patient position
    visit: np.ndarray
    day: np.ndarray
    secs: np.ndarray
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.course)


@dataclass(frozen=True)
class LaserSettings:
    """What the device was set to and what was seen, one entry per session row."""

    provider: np.ndarray  # provider row index
    device: np.ndarray  # device row index
    wavelength: np.ndarray
    fluence: np.ndarray
    spot: np.ndarray
    rep: np.ndarray
    passes: np.ndarray
    pulses: np.ndarray
    numbing: np.ndarray
    cooling: np.ndarray
    endpoint: np.ndarray


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
    shape: SessionShapeModel | None = None,
) -> pl.DataFrame:
    """One row per session and treatment area (completed and aborted).

    The draws are made in a fixed order: the same seed writes the same bytes only while it holds.
    """
    shape = shape or SessionShapeModel()
    rows = _area_visits(rng, crs, ses, traits, shape)
    rows = _with_aborted(rng, rows, cm)
    prov = _session_providers(rng, spec, rows, traits, treating, providers, shape)
    settings = _laser_settings(rng, spec, lm, rows, traits, prov, devices, treating, shape)
    frame = _session_rows_frame(
        rng,
        spec,
        crs,
        rows,
        settings,
        patients,
        traits,
        providers,
        devices,
        consult_ids,
        profile,
        shape,
    )
    return _with_ids_and_notes(rng, spec, frame, patients)


# --- visits, exploded into one session per treatment area ---------------------------------------
def _area_visits(
    rng: np.random.Generator,
    crs: dict[str, np.ndarray],
    ses: dict[str, np.ndarray],
    traits: PatientTraits,
    shape: SessionShapeModel,
) -> SessionRows:
    areas = traits.areas
    course_pos = ses["course"]  # course ids are positions in crs
    pat = crs["patient"][course_pos]
    combos = {combo: combo.split(";") for combo in np.unique(areas)}
    n_areas = lookup(areas, {c: len(a) for c, a in combos.items()}).astype(np.int64)
    first_area = lookup(areas, {c: a[0] for c, a in combos.items()})
    second_area = lookup(areas, {c: a[1] if len(a) > 1 else "" for c, a in combos.items()})
    visit, area_pos = segment_positions(n_areas[pat])
    pat_v = pat[visit]
    visit_secs = clock_seconds(rng, len(course_pos), 9, 18.5)
    return SessionRows(
        course=course_pos[visit],
        k=ses["k"][visit],
        gap=ses["gap"][visit],
        area=np.where(area_pos == 0, first_area[pat_v], second_area[pat_v]),
        patient=pat_v,
        visit=visit,
        day=ses["day"][visit],
        secs=visit_secs[visit] + area_pos * 60 * shape.area_minutes_apart,
        status=np.full(len(visit), "completed", dtype=object),
    )


# --- aborted sessions: a visit stopped early, between two completed sessions -------------------
def _with_aborted(rng: np.random.Generator, rows: SessionRows, cm: CourseModel) -> SessionRows:
    v = len(rows)
    aborted = (rows.k >= 1) & (rows.gap >= 2) & (rng.random(v) < cm.aborted_share)
    a_rows = np.flatnonzero(aborted)
    a_day = rows.day[a_rows] - np.maximum(1, rows.gap[a_rows] // 2)
    pick = np.concatenate([np.arange(v), a_rows])
    return SessionRows(
        course=rows.course[pick],
        k=rows.k[pick],
        gap=rows.gap[pick],
        area=rows.area[pick],
        patient=rows.patient[pick],
        visit=rows.visit[pick],
        day=np.concatenate([rows.day, a_day]),
        secs=np.concatenate([rows.secs, clock_seconds(rng, len(a_rows), 9, 18)]),
        status=np.concatenate([rows.status, np.full(len(a_rows), "aborted", dtype=object)]),
    )


# --- providers, devices and laser parameters ---------------------------------------------------
def _session_providers(
    rng: np.random.Generator,
    spec: ClinicSpec,
    rows: SessionRows,
    traits: PatientTraits,
    treating: np.ndarray,
    providers: pl.DataFrame,
    shape: SessionShapeModel,
) -> np.ndarray:
    """Mostly the patient's own treater; an inactive provider's later sessions go to another."""
    m, day, pat_v, treater = len(rows), rows.day, rows.patient, traits.treater
    active = providers["active"].to_numpy()
    other = treating[rng.integers(0, len(treating), m)]
    prov = np.where(rng.random(m) < shape.usual_treater_share, treater[pat_v], other)
    midpoint = (spec.start_day + day.max()) // 2 if m else 0
    prov = np.where(~active[prov] & (day > midpoint), treater[pat_v], prov)
    return np.where(~active[prov] & (day > midpoint), treating[0], prov)


def _laser_settings(
    rng: np.random.Generator,
    spec: ClinicSpec,
    lm: LaserModel,
    rows: SessionRows,
    traits: PatientTraits,
    prov: np.ndarray,
    devices: pl.DataFrame,
    treating: np.ndarray,
    shape: SessionShapeModel,
) -> LaserSettings:
    m, pat_v, area = len(rows), rows.patient, rows.area
    laser_v = traits.laser[pat_v]
    dev = traits.device[pat_v]
    wavelength = devices["wavelength_nm"].to_numpy()[dev]
    drift = np.where(spec.drifting & (prov == treating[0]), lm.drifting_provider_factor, 1.0)
    fluence = traits.fluence_base[pat_v] * (1 + lm.titration_per_session * rows.k) * drift
    fluence = fluence * np.exp(rng.normal(0, shape.fluence_noise_sd, m))
    is_pico = laser_v == "pico_nd_yag"
    is_qs = laser_v == "qs_nd_yag"
    fluence = np.where(is_pico, np.clip(fluence, *lm.pico_fluence_range), fluence)
    fluence = np.where(is_qs, np.clip(fluence, *lm.qs_fluence_range), fluence)
    fluence = np.where(is_pico, np.round(fluence, 2), np.round(fluence, 1))
    pico_spots, qs_spots = np.asarray(shape.pico_spot_mm), np.asarray(shape.qs_spot_mm)
    spot = np.where(
        is_pico,
        pico_spots[rng.integers(0, len(pico_spots), m)],
        qs_spots[choice_index(rng, shape.qs_spot_weights, m)],
    )
    rep = np.where(is_pico | (rng.random(m) < shape.qs_10hz_share), 10.0, 5.0)
    passes = np.where(is_pico, rng.integers(2, 5, m), rng.integers(2, 4, m))
    factors = shape.area_pulse_factor
    area_factor = np.select(
        [area == a for a in factors], list(factors.values()), default=shape.other_area_pulse_factor
    )
    pico_factor = np.where(is_pico, shape.pico_pulse_factor, 1.0)
    pulses = np.round(rng.uniform(*shape.pulses_face_range, m) * area_factor * pico_factor)
    aborted_share = rng.uniform(*shape.aborted_pulse_fraction, m)
    pulses = np.where(rows.status == "aborted", np.round(pulses * aborted_share), pulses)
    habit = traits.numbing[pat_v]
    numbing = np.where(rng.random(m) < shape.same_numbing_share, habit, ~habit)
    cooling = rng.random(m) < lm.cooling_share
    endpoint = _clinical_endpoint(rng, fluence, shape)
    return LaserSettings(
        prov, dev, wavelength, fluence, spot, rep, passes, pulses, numbing, cooling, endpoint
    )


def _clinical_endpoint(
    rng: np.random.Generator, fluence: np.ndarray, shape: SessionShapeModel
) -> np.ndarray:
    """What the skin showed; whitening and greying are likelier at high fluence."""
    high = fluence > shape.high_fluence
    weights = np.where(
        high[:, None], [list(shape.endpoint_weights_high)], [list(shape.endpoint_weights_low)]
    )
    cum = weights.cumsum(axis=1) / weights.sum(axis=1, keepdims=True)
    return np.asarray(ENDPOINTS, dtype=object)[
        (rng.random(len(fluence))[:, None] > cum).sum(axis=1)
    ]


# --- the frame ----------------------------------------------------------------------------------
def _session_rows_frame(
    rng: np.random.Generator,
    spec: ClinicSpec,
    crs: dict[str, np.ndarray],
    rows: SessionRows,
    s: LaserSettings,
    patients: pl.DataFrame,
    traits: PatientTraits,
    providers: pl.DataFrame,
    devices: pl.DataFrame,
    consult_ids: np.ndarray,
    profile: Profile,
    shape: SessionShapeModel,
) -> pl.DataFrame:
    m, pat_v, course, k, status = len(rows), rows.patient, rows.course, rows.k, rows.status
    skin = traits.skin[pat_v]
    completed = status == "completed"

    def recorded(column: str, values: np.ndarray, dtype: type[pl.DataType]) -> pl.Series:
        """`values`, left blank in the rows the column is not filled in."""
        return masked(values, rng.random(m) < shape.recorded_share[column], dtype)

    # dict order is draw order: keep it
    return pl.DataFrame(
        {
            "clinic_id": spec.clinic_id,
            "patient_ref": patients["patient_ref"].to_numpy()[pat_v],
            "consultation_id": recorded(
                "consultation_id", consult_ids[crs["consult"][course]], pl.String
            ),
            "provider_id": pl.Series(
                providers["provider_id"].to_numpy()[s.provider], dtype=pl.String
            ),
            "device_id": devices["device_id"].to_numpy()[s.device],
            "_day": rows.day,
            "_secs": rows.secs,
            "treatment_area": pl.Series(rows.area, dtype=pl.String),
            "wavelength_nm": recorded("wavelength_nm", s.wavelength, pl.Int64),
            "fluence_j_cm2": s.fluence,
            "spot_size_mm": recorded("spot_size_mm", s.spot, pl.Float64),
            "rep_rate_hz": recorded("rep_rate_hz", s.rep, pl.Float64),
            "passes": recorded("passes", s.passes, pl.Int64),
            "pulses": recorded("pulses", s.pulses, pl.Int64),
            "numbing_cream": recorded("numbing_cream", s.numbing, pl.Boolean),
            "cooling": recorded("cooling", s.cooling, pl.Boolean),
            "fitzpatrick": pl.Series(skin, dtype=pl.Int8),
            "clinical_endpoint": recorded("clinical_endpoint", s.endpoint, pl.String),
            "status": pl.Series(status, dtype=pl.String),
            "_updated_secs": rows.secs + 60 * rng.integers(20, 120, m),
            "_fst": fitzpatrick_styles(rng, skin, profile, null_share=shape.fst_null_share),
            "_patient": pat_v,
            "_visit": rows.visit,
            "truth_course": crs["id"][course],
            "truth_session_number": masked(k + 1, completed, pl.Int32),
            "truth_interval_days": masked(rows.gap, completed & (k > 0), pl.Int32),
            "truth_fitzpatrick": pl.Series(skin, dtype=pl.Int8),
            "truth_concern": pl.Series(traits.concern[pat_v], dtype=pl.String),
            "truth_laser_type": pl.Series(traits.laser[pat_v], dtype=pl.String),
            "truth_hsv": traits.hsv[pat_v],
        }
    )


def _with_ids_and_notes(
    rng: np.random.Generator, spec: ClinicSpec, frame: pl.DataFrame, patients: pl.DataFrame
) -> pl.DataFrame:
    """Session ids in time order, timestamps, the area's running count of completed sessions
    (for mottled hypopigmentation) and the notes."""
    frame = frame.sort(["_day", "_secs", "patient_ref", "treatment_area"], maintain_order=True)
    m_ids = make_ids(f"SES-{spec.clinic_id}-", np.arange(1, frame.height + 1), 7)
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
