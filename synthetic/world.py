"""The clean world of one clinic: patients and consultations, then courses and sessions.

Everything is vectorised over patients (numpy/polars). Times are kept as clinic-local day numbers
and seconds of the day until the frames are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.codes import CONTRAINDICATIONS
from synthetic.courses import course_frame, simulate_courses
from synthetic.params import ClinicShapeModel, CourseModel, WorldModel, weibull_scale
from synthetic.pii import identities
from synthetic.profiles import fitzpatrick_styles
from synthetic.reference import (
    CONSULTING_ROLES,
    Calendar,
    ClinicSpec,
    local_ts,
    treating_providers,
)
from synthetic.sampling import (
    choice_index,
    choice_of,
    clock_seconds,
    lookup,
    make_ids,
    masked,
)
from synthetic.sessions import PatientTraits, fluence_base, session_frame
from synthetic.text import consultation_notes

# the contraindications that block treatment at a first consultation (a herpes history only
# calls for prophylaxis), in the contract's order, which BLOCKING_WEIGHTS follows
BLOCKING = tuple(c for c in CONTRAINDICATIONS if c not in ("none", "herpes_history"))
BLOCKING_WEIGHTS = (0.25, 0.2, 0.15, 0.1, 0.2, 0.1)
REFERRALS = ("instagram", "friend", "google", "walk_in", "dermatologist_referral", "returning")
SECONDARY = ("uneven_tone", "dullness", "fine_lines", "solar_lentigines", "enlarged_pores", "pih")


@dataclass
class ClinicWorld:
    """One clinic's clean world, typed, with clinic-local naive timestamps.

    Record frames carry meta columns: `_land_day` (clinic-local day the record lands), `_u`
    (a uniform 0..9999 used to vary spellings per record), `_fst` (Fitzpatrick spelling style)
    and `truth_*` columns that are not part of the contract.
    """

    spec: ClinicSpec
    providers: pl.DataFrame
    devices: pl.DataFrame
    patients: pl.DataFrame
    consultations: pl.DataFrame
    sessions: pl.DataFrame
    courses: pl.DataFrame


def _planned(
    rng: np.random.Generator, model: CourseModel, concern: np.ndarray, laser: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = len(concern)
    melasma = np.asarray(model.planned_sessions_melasma)[
        rng.integers(0, len(model.planned_sessions_melasma), n)
    ]
    other = np.asarray(model.planned_sessions_other)[
        rng.integers(0, len(model.planned_sessions_other), n)
    ]
    pico = np.asarray(model.planned_sessions_pico)[
        rng.integers(0, len(model.planned_sessions_pico), n)
    ]
    sessions = np.where(
        laser == "pico_nd_yag", pico, np.where(concern == "melasma", melasma, other)
    )
    qs_gap = np.asarray(model.planned_interval_qs)[
        rng.integers(0, len(model.planned_interval_qs), n)
    ]
    pico_gap = np.asarray(model.planned_interval_pico)[
        rng.integers(0, len(model.planned_interval_pico), n)
    ]
    interval = np.where(laser == "pico_nd_yag", pico_gap, qs_gap)
    return sessions, interval


@dataclass(frozen=True)
class PatientDraws:
    """Who each patient is and what they came for, before any visit: arrays over patients."""

    created_day: np.ndarray
    serial: np.ndarray
    skin: np.ndarray
    sex: np.ndarray
    dob_day: np.ndarray
    concern: np.ndarray
    hsv: np.ndarray
    blocked: np.ndarray
    block_kind: np.ndarray
    areas: np.ndarray


@dataclass(frozen=True)
class ConsultationPlan:
    """Consultation rows by internal index, and where each patient's first course comes from."""

    rows: dict[str, np.ndarray]  # patient, day, secs, decision, contra, planned, interval
    proceed_day: np.ndarray  # day of the consultation that said proceed (-1: none)
    proceed_consult: np.ndarray  # its internal index (-1: none)


def simulate_clinic(
    spec: ClinicSpec,
    providers: pl.DataFrame,
    devices: pl.DataFrame,
    calendar: Calendar,
    model: WorldModel,
    rng: np.random.Generator,
    shape: ClinicShapeModel | None = None,
) -> ClinicWorld:
    """Patients, consultations, courses and sessions of one clinic up to the horizon.

    The draws are made in a fixed order: the same seed writes the same bytes only while it holds.
    """
    shape = shape or ClinicShapeModel()
    cm, lm = model.course, model.laser
    n = spec.n_patients
    horizon = calendar.horizon_day

    p = _draw_patients(spec, cm, shape, horizon, rng)
    laser, device_idx = _assign_lasers(spec, devices, shape, n, rng)
    treating, treater, consultant = _assign_providers(providers, n, rng)
    numbing_patient = rng.random(n) < lm.numbing_share
    base_fluence = fluence_base(rng, lm, laser, p.skin)
    planned, planned_interval = _planned(rng, cm, p.concern, laser)
    patient_scale = lookup(
        p.concern,
        {c: weibull_scale(m, cm.weibull_shape) for c, m in cm.maintenance_median_days.items()},
    ).astype(np.float64)
    patients, c1_secs = _patient_frame(spec, p, model, shape, rng)

    plan = _plan_consultations(p, c1_secs, planned, planned_interval, cm, shape, horizon, rng)
    consult = plan.rows
    crs, ses = _simulate_courses(
        plan, planned, planned_interval, patient_scale, p.hsv, cm, shape, horizon, rng
    )

    consultations, consult_ids = _consultation_frame(
        rng, spec, consult, patients, p, consultant, providers, cm, shape
    )
    traits = PatientTraits(
        skin=p.skin,
        concern=p.concern,
        areas=p.areas,
        laser=laser,
        device=device_idx,
        treater=treater,
        numbing=numbing_patient,
        fluence_base=base_fluence,
        hsv=p.hsv,
    )
    sessions = session_frame(
        rng,
        spec,
        lm,
        cm,
        crs,
        ses,
        patients,
        traits,
        devices,
        treating,
        providers,
        consult_ids,
        spec.profile,
    )
    courses = course_frame(spec, crs, patients, p.concern, p.skin, sessions, consult_ids)
    return ClinicWorld(spec, providers, devices, patients, consultations, sessions, courses)


# --- patients ---------------------------------------------------------------------------------
def _draw_patients(
    spec: ClinicSpec,
    cm: CourseModel,
    shape: ClinicShapeModel,
    horizon: int,
    rng: np.random.Generator,
) -> PatientDraws:
    n = spec.n_patients
    created_day = np.sort(rng.integers(spec.start_day, horizon + 1, n))
    serial = 1000 + np.cumsum(rng.integers(1, 4, n))
    skin = choice_index(rng, spec.region.skin_mix, n) + 1
    sex = np.asarray(["F", "M", "X", ""], dtype=object)[choice_index(rng, shape.sex_weights, n)]
    age = np.clip(rng.normal(shape.age_mean, shape.age_sd, n), *shape.age_range)
    dob_day = created_day - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    concern = choice_of(rng, cm.concern_mix, n)
    hsv = rng.random(n) < cm.hsv_history_share
    blocked = rng.random(n) < cm.contraindication_share
    block_kind = np.asarray(BLOCKING, dtype=object)[choice_index(rng, BLOCKING_WEIGHTS, n)]
    areas = choice_of(rng, cm.area_mix, n)
    return PatientDraws(
        created_day, serial, skin, sex, dob_day, concern, hsv, blocked, block_kind, areas
    )


def _assign_lasers(
    spec: ClinicSpec,
    devices: pl.DataFrame,
    shape: ClinicShapeModel,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's laser type (by the region's picosecond share) and one device of that type."""
    laser_types = devices["laser_type"].to_numpy()
    has_extra = np.isin(laser_types, ["qs_ruby", "qs_alexandrite", "other"])
    u_laser = rng.random(n)
    laser = np.where(u_laser < spec.region.pico_share, "pico_nd_yag", "qs_nd_yag").astype(object)
    if has_extra.any():
        extra_type = laser_types[np.flatnonzero(has_extra)[0]]
        laser = np.where(u_laser > 1 - shape.extra_laser_share, extra_type, laser)
    device_idx = np.zeros(n, dtype=np.int64)
    for t in np.unique(laser):
        rows = np.flatnonzero(laser == t)
        options = np.flatnonzero(laser_types == t)
        device_idx[rows] = options[rng.integers(0, len(options), len(rows))]
    return laser, device_idx


def _assign_providers(
    providers: pl.DataFrame, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The treating providers, and each patient's treater and consultant (provider row indices)."""
    roles = providers["role"].to_numpy()
    consulting = np.flatnonzero(np.isin(roles, CONSULTING_ROLES))
    treating = treating_providers(providers)
    treater = treating[rng.integers(0, len(treating), n)]
    consultant = consulting[rng.integers(0, len(consulting), n)]
    return treating, treater, consultant


def _patient_frame(
    spec: ClinicSpec,
    p: PatientDraws,
    model: WorldModel,
    shape: ClinicShapeModel,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, np.ndarray]:
    """The patients' records, and the time of each first consultation (the record is made just
    before it)."""
    n = spec.n_patients
    ident = identities(rng, n, spec.region.pool, p.serial, p.sex)
    c1_secs = clock_seconds(rng, n, 9, 18)
    created_secs = c1_secs - rng.integers(1, 10, n) * 300
    patient_ref = make_ids("MRN-", p.serial, 6)
    late = rng.random(n) < model.history.late_patient
    referral = np.asarray(REFERRALS, dtype=object)[choice_index(rng, shape.referral_weights, n)]
    updated_secs = created_secs + 60 * rng.integers(1, 5, n)
    fst = fitzpatrick_styles(rng, p.skin, spec.profile, null_share=shape.patient_fst_null_share)
    patients = pl.DataFrame(
        {
            "patient_ref": patient_ref,
            "clinic_id": spec.clinic_id,
            "first_name": ident["first_name"],
            "last_name": ident["last_name"],
            "email": ident["email"],
            "phone": ident["phone"],
            "date_of_birth": pl.Series(p.dob_day).cast(pl.Int32).cast(pl.Date),
            "postcode": ident["postcode"],
            "sex": pl.Series(p.sex, dtype=pl.String),
            "fitzpatrick": pl.Series(p.skin, dtype=pl.Int8),
            "referral_source": pl.Series(referral, dtype=pl.String),
            "created_at": local_ts(p.created_day, created_secs),
            "updated_at": local_ts(p.created_day, updated_secs),
            "_fst": fst,
            "_land_day": p.created_day + late.astype(np.int64),
            "_late": late,
            "truth_fitzpatrick": pl.Series(p.skin, dtype=pl.Int8),
            "truth_concern": pl.Series(p.concern, dtype=pl.String),
        }
    )
    return patients, c1_secs


# --- consultations ----------------------------------------------------------------------------
def _plan_consultations(
    p: PatientDraws,
    c1_secs: np.ndarray,
    planned: np.ndarray,
    planned_interval: np.ndarray,
    cm: CourseModel,
    shape: ClinicShapeModel,
    horizon: int,
    rng: np.random.Generator,
) -> ConsultationPlan:
    """A first consultation for every patient, a second for deferred patients who come back."""
    n = len(p.created_day)
    decision_clear = choice_index(rng, cm.decision_clear, n)
    decision_block = choice_index(rng, cm.decision_contraindicated, n)
    c1_decision = np.where(p.blocked, decision_block, decision_clear)  # 0 proceed 1 defer 2 decline
    c1_contra = np.where(p.blocked, p.block_kind, "none").astype(object)
    c1_contra = np.where(p.hsv & p.blocked, c1_contra + ";herpes_history", c1_contra)
    c1_contra = np.where(p.hsv & ~p.blocked, "herpes_history", c1_contra)
    returns = (c1_decision == 1) & (rng.random(n) < cm.deferred_return_share)
    lo, hi = shape.second_consultation_days
    c2_day = p.created_day + rng.integers(lo, hi + 1, n)
    returns &= c2_day <= horizon
    c2_decision = np.where(rng.random(n) < shape.second_consultation_proceed_share, 0, 2)
    c2_contra = np.where(p.hsv, "herpes_history", "none").astype(object)
    c2_secs = clock_seconds(rng, n, 9, 18)

    proceed_day = np.where(
        c1_decision == 0, p.created_day, np.where(returns & (c2_decision == 0), c2_day, -1)
    )
    # consultation rows: c1 for every patient, c2 for returners (maintenance ones added later)
    p_c2 = np.flatnonzero(returns)
    rows = {
        "patient": np.concatenate([np.arange(n), p_c2]),
        "day": np.concatenate([p.created_day, c2_day[p_c2]]),
        "secs": np.concatenate([c1_secs, c2_secs[p_c2]]),
        "decision": np.concatenate([c1_decision, c2_decision[p_c2]]),
        "contra": np.concatenate([c1_contra, c2_contra[p_c2]]),
        "planned": np.concatenate([planned, planned[p_c2]]),
        "interval": np.concatenate([planned_interval, planned_interval[p_c2]]),
    }
    proceed_consult = np.where(c1_decision == 0, np.arange(n), -1)
    proceed_consult[p_c2] = np.where(c2_decision[p_c2] == 0, n + np.arange(len(p_c2)), -1)
    return ConsultationPlan(rows, proceed_day, proceed_consult)


# --- courses (plan level: all the patient's areas are treated at the same visits) ------------
def _simulate_courses(
    plan: ConsultationPlan,
    planned: np.ndarray,
    planned_interval: np.ndarray,
    patient_scale: np.ndarray,
    hsv: np.ndarray,
    cm: CourseModel,
    shape: ClinicShapeModel,
    horizon: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Courses and sessions of the patients who proceed; their maintenance consultations are
    appended to `plan.rows`."""
    starters = np.flatnonzero(plan.proceed_day >= 0)
    lo, hi = shape.course_start_days
    start = plan.proceed_day[starters] + rng.integers(lo, hi + 1, len(starters))
    keep = start <= horizon
    starters, start = starters[keep], start[keep]
    consult = plan.rows
    crs, ses, maint_consults = simulate_courses(
        rng,
        cm,
        starters,
        start,
        planned[starters],
        planned_interval[starters],
        plan.proceed_consult[starters],
        patient_scale,
        hsv,
        len(consult["patient"]),
        horizon,
    )
    for extra in maint_consults:
        for key in consult:
            consult[key] = np.concatenate([consult[key], extra[key]])
    return crs, ses


def _consultation_frame(
    rng: np.random.Generator,
    spec: ClinicSpec,
    consult: dict[str, np.ndarray],
    patients: pl.DataFrame,
    p: PatientDraws,
    consultant: np.ndarray,
    providers: pl.DataFrame,
    cm: CourseModel,
    shape: ClinicShapeModel,
) -> tuple[pl.DataFrame, np.ndarray]:
    """Consultation rows; returns the frame and the id of each internal consultation index."""
    concern, areas, skin = p.concern, p.areas, p.skin
    m = len(consult["patient"])
    pat = consult["patient"]
    order = np.lexsort((np.arange(m), consult["secs"], consult["day"]))
    ids = np.empty(m, dtype=object)
    ids[order] = make_ids(f"CON-{spec.clinic_id}-", np.arange(1, m + 1), 6).to_numpy()
    decision = np.asarray(["proceed", "defer", "decline"], dtype=object)[consult["decision"]]
    proceed = consult["decision"] == 0
    secondary = np.asarray(SECONDARY, dtype=object)[rng.integers(0, len(SECONDARY), m)]
    secondary2 = np.asarray(SECONDARY, dtype=object)[rng.integers(0, len(SECONDARY), m)]
    has_secondary = rng.random(m) < cm.secondary_concern_share
    two = rng.random(m) < shape.two_secondary_concerns_share
    sec = np.where(two & (secondary2 != secondary), secondary + ";" + secondary2, secondary)
    keep_sec = has_secondary & (sec != concern[pat])
    provider_ids = providers["provider_id"].to_numpy()
    updated_secs = consult["secs"] + 60 * rng.integers(15, 60, m)
    fst = fitzpatrick_styles(
        rng, skin[pat], spec.profile, null_share=shape.consultation_fst_null_share
    )
    frame = pl.DataFrame(
        {
            "consultation_id": pl.Series(ids, dtype=pl.String),
            "clinic_id": spec.clinic_id,
            "patient_ref": patients["patient_ref"].to_numpy()[pat],
            "provider_id": pl.Series(provider_ids[consultant[pat]], dtype=pl.String),
            "consulted_at": local_ts(consult["day"], consult["secs"]),
            "primary_concern": pl.Series(concern[pat], dtype=pl.String),
            "secondary_concerns": masked(sec, keep_sec, pl.String),
            "fitzpatrick": pl.Series(skin[pat], dtype=pl.Int8),
            "treatment_areas": pl.Series(areas[pat], dtype=pl.String),
            "contraindications": pl.Series(consult["contra"], dtype=pl.String),
            "planned_sessions": masked(consult["planned"], proceed, pl.Int64),
            "planned_interval_days": masked(consult["interval"], proceed, pl.Int64),
            "decision": pl.Series(decision, dtype=pl.String),
            "updated_at": local_ts(consult["day"], updated_secs),
            "_fst": fst,
            "_land_day": consult["day"],
            "_order": np.argsort(order),
            "_patient": pat,
        }
    )
    frame = frame.with_columns(
        notes=consultation_notes(rng, m, patients, pat, concern[pat]),
    )
    frame = frame.sort("_order").drop("_order")
    return frame, ids
