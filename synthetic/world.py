"""The clean world of one clinic: patients and consultations, then courses and sessions.

Everything is vectorised over patients (numpy/polars). Times are kept as clinic-local day numbers
and seconds of the day until the frames are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.courses import course_frame, simulate_courses
from synthetic.params import CourseModel, WorldModel, weibull_scale
from synthetic.pii import identities
from synthetic.profiles import Profile, fitzpatrick_styles
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

BLOCKING = (
    "pregnancy",
    "isotretinoin_6m",
    "photosensitizing_medication",
    "active_infection",
    "recent_tan",
    "keloid_history",
)
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


def simulate_clinic(
    spec: ClinicSpec,
    providers: pl.DataFrame,
    devices: pl.DataFrame,
    calendar: Calendar,
    model: WorldModel,
    rng: np.random.Generator,
) -> ClinicWorld:
    """Patients, consultations, courses and sessions of one clinic up to the horizon."""
    cm, lm = model.course, model.laser
    n = spec.n_patients
    horizon = calendar.horizon_day
    profile = spec.profile

    # --- patients -------------------------------------------------------------------------
    created_day = np.sort(rng.integers(spec.start_day, horizon + 1, n))
    serial = 1000 + np.cumsum(rng.integers(1, 4, n))
    skin = choice_index(rng, spec.region.skin_mix, n) + 1
    sex = np.asarray(["F", "M", "X", ""], dtype=object)[choice_index(rng, (85, 13, 1, 1), n)]
    age = np.clip(rng.normal(38, 10, n), 18, 75)
    dob_day = created_day - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    concern = choice_of(rng, cm.concern_mix, n)
    hsv = rng.random(n) < cm.hsv_history_share
    blocked = rng.random(n) < cm.contraindication_share
    block_kind = np.asarray(BLOCKING, dtype=object)[choice_index(rng, BLOCKING_WEIGHTS, n)]
    areas = choice_of(rng, cm.area_mix, n)

    laser_types = devices["laser_type"].to_numpy()
    has_extra = np.isin(laser_types, ["qs_ruby", "qs_alexandrite", "other"])
    u_laser = rng.random(n)
    laser = np.where(u_laser < spec.region.pico_share, "pico_nd_yag", "qs_nd_yag").astype(object)
    if has_extra.any():
        extra_type = laser_types[np.flatnonzero(has_extra)[0]]
        laser = np.where(u_laser > 0.96, extra_type, laser)
    device_idx = np.zeros(n, dtype=np.int64)
    for t in np.unique(laser):
        rows = np.flatnonzero(laser == t)
        options = np.flatnonzero(laser_types == t)
        device_idx[rows] = options[rng.integers(0, len(options), len(rows))]

    roles = providers["role"].to_numpy()
    consulting = np.flatnonzero(np.isin(roles, CONSULTING_ROLES))
    treating = treating_providers(providers)
    treater = treating[rng.integers(0, len(treating), n)]
    consultant = consulting[rng.integers(0, len(consulting), n)]
    numbing_patient = rng.random(n) < lm.numbing_share
    base_fluence = fluence_base(rng, lm, laser, skin)
    planned, planned_interval = _planned(rng, cm, concern, laser)
    patient_scale = lookup(
        concern,
        {c: weibull_scale(m, cm.weibull_shape) for c, m in cm.maintenance_median_days.items()},
    ).astype(np.float64)

    ident = identities(rng, n, spec.region.pool, serial, sex)
    c1_secs = clock_seconds(rng, n, 9, 18)
    created_secs = c1_secs - rng.integers(1, 10, n) * 300
    patient_ref = make_ids("MRN-", serial, 6)
    late = rng.random(n) < model.history.late_patient
    patients = pl.DataFrame(
        {
            "patient_ref": patient_ref,
            "clinic_id": spec.clinic_id,
            "first_name": ident["first_name"],
            "last_name": ident["last_name"],
            "email": ident["email"],
            "phone": ident["phone"],
            "date_of_birth": pl.Series(dob_day).cast(pl.Int32).cast(pl.Date),
            "postcode": ident["postcode"],
            "sex": pl.Series(sex, dtype=pl.String),
            "fitzpatrick": pl.Series(skin, dtype=pl.Int8),
            "referral_source": pl.Series(
                np.asarray(REFERRALS, dtype=object)[choice_index(rng, (30, 25, 20, 10, 10, 5), n)],
                dtype=pl.String,
            ),
            "created_at": local_ts(created_day, created_secs),
            "updated_at": local_ts(created_day, created_secs + 60 * rng.integers(1, 5, n)),
            "_fst": fitzpatrick_styles(rng, skin, profile, null_share=0.15),
            "_land_day": created_day + late.astype(np.int64),
            "_late": late,
            "truth_fitzpatrick": pl.Series(skin, dtype=pl.Int8),
            "truth_concern": pl.Series(concern, dtype=pl.String),
        }
    )

    # --- consultations --------------------------------------------------------------------
    decision_clear = choice_index(rng, cm.decision_clear, n)
    decision_block = choice_index(rng, cm.decision_contraindicated, n)
    c1_decision = np.where(blocked, decision_block, decision_clear)  # 0 proceed 1 defer 2 decline
    c1_contra = np.where(blocked, block_kind, "none").astype(object)
    c1_contra = np.where(hsv & blocked, c1_contra + ";herpes_history", c1_contra)
    c1_contra = np.where(hsv & ~blocked, "herpes_history", c1_contra)
    returns = (c1_decision == 1) & (rng.random(n) < cm.deferred_return_share)
    c2_day = created_day + rng.integers(60, 151, n)
    returns &= c2_day <= horizon
    c2_decision = np.where(rng.random(n) < 0.9, 0, 2)
    c2_contra = np.where(hsv, "herpes_history", "none").astype(object)
    c2_secs = clock_seconds(rng, n, 9, 18)

    proceed_day = np.where(
        c1_decision == 0, created_day, np.where(returns & (c2_decision == 0), c2_day, -1)
    )
    # consultation rows: c1 for every patient, c2 for returners (maintenance ones added below)
    p_c2 = np.flatnonzero(returns)
    consult = {
        "patient": np.concatenate([np.arange(n), p_c2]),
        "day": np.concatenate([created_day, c2_day[p_c2]]),
        "secs": np.concatenate([c1_secs, c2_secs[p_c2]]),
        "decision": np.concatenate([c1_decision, c2_decision[p_c2]]),
        "contra": np.concatenate([c1_contra, c2_contra[p_c2]]),
        "planned": np.concatenate([planned, planned[p_c2]]),
        "interval": np.concatenate([planned_interval, planned_interval[p_c2]]),
    }
    proceed_consult = np.where(c1_decision == 0, np.arange(n), -1)
    proceed_consult[p_c2] = np.where(c2_decision[p_c2] == 0, n + np.arange(len(p_c2)), -1)

    # --- courses (plan level: all the patient's areas are treated at the same visits) ------
    starters = np.flatnonzero(proceed_day >= 0)
    start = proceed_day[starters] + rng.integers(1, 22, len(starters))
    keep = start <= horizon
    starters, start = starters[keep], start[keep]
    crs, ses, maint_consults = simulate_courses(
        rng,
        cm,
        starters,
        start,
        planned[starters],
        planned_interval[starters],
        proceed_consult[starters],
        patient_scale,
        hsv,
        len(consult["patient"]),
        horizon,
    )
    for extra in maint_consults:
        for key in consult:
            consult[key] = np.concatenate([consult[key], extra[key]])

    consultations, consult_ids = _consultation_frame(
        rng, spec, consult, patients, concern, areas, skin, consultant, providers, profile
    )
    traits = PatientTraits(
        skin=skin,
        concern=concern,
        areas=areas,
        laser=laser,
        device=device_idx,
        treater=treater,
        numbing=numbing_patient,
        fluence_base=base_fluence,
        hsv=hsv,
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
        profile,
    )
    courses = course_frame(spec, crs, patients, concern, skin, sessions, consult_ids)
    return ClinicWorld(spec, providers, devices, patients, consultations, sessions, courses)


def _consultation_frame(
    rng: np.random.Generator,
    spec: ClinicSpec,
    consult: dict[str, np.ndarray],
    patients: pl.DataFrame,
    concern: np.ndarray,
    areas: np.ndarray,
    skin: np.ndarray,
    consultant: np.ndarray,
    providers: pl.DataFrame,
    profile: Profile,
) -> tuple[pl.DataFrame, np.ndarray]:
    """Consultation rows; returns the frame and the id of each internal consultation index."""
    m = len(consult["patient"])
    pat = consult["patient"]
    order = np.lexsort((np.arange(m), consult["secs"], consult["day"]))
    ids = np.empty(m, dtype=object)
    ids[order] = make_ids(f"CON-{spec.clinic_id}-", np.arange(1, m + 1), 6).to_numpy()
    decision = np.asarray(["proceed", "defer", "decline"], dtype=object)[consult["decision"]]
    proceed = consult["decision"] == 0
    secondary = np.asarray(SECONDARY, dtype=object)[rng.integers(0, len(SECONDARY), m)]
    secondary2 = np.asarray(SECONDARY, dtype=object)[rng.integers(0, len(SECONDARY), m)]
    has_secondary = rng.random(m) < 0.35
    two = rng.random(m) < 0.3
    sec = np.where(two & (secondary2 != secondary), secondary + ";" + secondary2, secondary)
    keep_sec = has_secondary & (sec != concern[pat])
    provider_ids = providers["provider_id"].to_numpy()
    updated_secs = consult["secs"] + 60 * rng.integers(15, 60, m)
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
            "_fst": fitzpatrick_styles(rng, skin[pat], profile, null_share=0.10),
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
