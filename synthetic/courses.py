"""Courses of sessions: initial courses, restarts after dropout, maintenance after need.

Vectorised over courses; the only loop is over generations (initial → restart → maintenance).
A course is planned at the plan level (all of a patient's treatment areas at the same visits).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.params import CourseModel
from synthetic.reference import ClinicSpec
from synthetic.sampling import clock_seconds, masked, segment_cumsum, segment_positions

INITIAL, RESTART, MAINTENANCE = 0, 1, 2
COURSE_TYPES = ("initial", "restart", "maintenance")
COURSE_COLUMNS = (
    "patient",
    "ctype",
    "start",
    "planned",
    "n_target",
    "interval",
    "consult",
    "parent",
    "n_done",
    "last_day",
    "id",
    "completed",
    "need_days",
)
Arrays = dict[str, np.ndarray]
GENERATIONS = 3  # initial → restart or maintenance → maintenance
MAINTENANCE_PLANNED = 3  # what a maintenance consultation plans (the course draws its own length)
MAINTENANCE_CONSULT_LEAD_DAYS = 14  # a maintenance consultation is up to this long before


def new_courses(
    rng: np.random.Generator,
    model: CourseModel,
    patient: np.ndarray,
    ctype: int,
    start: np.ndarray,
    planned: np.ndarray,
    interval: np.ndarray,
    consult: np.ndarray,
    parent: np.ndarray | int,
) -> dict[str, np.ndarray]:
    """New courses of one type; a `dropout` share stops before the planned sessions."""
    n = len(patient)
    drop = rng.random(n) < model.dropout
    dropped_at = np.floor(rng.random(n) * (planned - 1)).astype(np.int64) + 1
    n_target = np.where(drop & (planned > 1), np.minimum(dropped_at, planned - 1), planned)
    return {
        "patient": patient.astype(np.int64),
        "ctype": np.full(n, ctype, dtype=np.int64),
        "start": start.astype(np.int64),
        "planned": planned.astype(np.int64),
        "n_target": n_target.astype(np.int64),
        "interval": interval.astype(np.int64),
        "consult": consult.astype(np.int64),
        "parent": np.broadcast_to(np.asarray(parent, dtype=np.int64), (n,)).copy(),
    }


def schedule(
    rng: np.random.Generator,
    model: CourseModel,
    start: np.ndarray,
    n_target: np.ndarray,
    interval: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Session days of courses: (course index, 0-based number, day, gap to previous)."""
    course, k = segment_positions(n_target)
    m = len(course)
    gap = interval[course] * np.exp(rng.normal(0.0, model.interval_sigma, m))
    long = rng.random(m) < model.long_gap_share
    gap = np.where(long, rng.integers(*model.long_gap_days, m), gap)
    gap = np.clip(np.round(gap), 2, model.max_interval_days).astype(np.int64)
    gap[k == 0] = 0
    day = start[course] + segment_cumsum(gap, n_target)
    return course, k, day, gap


def simulate_courses(
    rng: np.random.Generator,
    cm: CourseModel,
    starters: np.ndarray,
    start: np.ndarray,
    planned: np.ndarray,
    planned_interval: np.ndarray,
    proceed_consult: np.ndarray,
    patient_scale: np.ndarray,
    hsv: np.ndarray,
    consults_so_far: int,
    horizon: int,
) -> tuple[Arrays, Arrays, list[Arrays]]:
    """All courses up to the horizon: (courses, their session days, new maintenance consults).

    `patient_scale` is each patient's Weibull scale of time to maintenance need (days). The draws
    are made in a fixed order: the same seed writes the same bytes only while it holds.
    """
    courses = new_courses(
        rng,
        cm,
        starters,
        INITIAL,
        start,
        planned,
        planned_interval,
        proceed_consult,
        -1,
    )
    all_courses: list[Arrays] = []
    all_sessions: list[Arrays] = []
    course_offset = 0
    maint_consults: list[Arrays] = []
    consult_count = consults_so_far
    for _generation in range(GENERATIONS):
        if len(courses["patient"]) == 0:
            break
        sessions, need = _run_generation(rng, cm, courses, patient_scale, horizon, course_offset)
        all_sessions.append(sessions)
        all_courses.append(courses)
        course_offset += len(courses["patient"])
        courses, consults = _next_generation(rng, cm, courses, need, hsv, consult_count, horizon)
        if consults is not None:
            maint_consults.append(consults)
            consult_count += len(consults["patient"])

    crs = {c: np.concatenate([g[c] for g in all_courses]) for c in COURSE_COLUMNS}
    ses = {c: np.concatenate([g[c] for g in all_sessions]) for c in ("course", "k", "day", "gap")}
    return crs, ses, maint_consults


# --- one generation: its sessions up to the horizon, completion and maintenance need ------------
def _run_generation(
    rng: np.random.Generator,
    cm: CourseModel,
    courses: Arrays,
    patient_scale: np.ndarray,
    horizon: int,
    course_offset: int,
) -> tuple[Arrays, np.ndarray]:
    """Schedules the courses' sessions and records on `courses` how far each got by the horizon;
    returns the visible sessions and each course's drawn need (days, before masking)."""
    n = len(courses["patient"])
    c_idx, k, day, gap = schedule(
        rng, cm, courses["start"], courses["n_target"], courses["interval"]
    )
    visible = day <= horizon
    n_done = np.bincount(c_idx[visible], minlength=n)
    last_day = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_day, c_idx[visible], day[visible])
    courses["n_done"] = n_done
    courses["last_day"] = last_day
    courses["id"] = np.arange(n) + course_offset
    finished = n_done == courses["n_target"]
    completed = finished & (courses["n_target"] >= courses["planned"])
    completed &= courses["ctype"] != MAINTENANCE
    courses["completed"] = completed
    # maintenance need (Weibull) after completed initial/restart courses
    scale = patient_scale[courses["patient"]]
    need = np.round(scale * rng.weibull(cm.weibull_shape, len(scale))).astype(np.int64)
    courses["need_days"] = np.where(completed, need, -1)
    sessions = {
        "course": c_idx[visible] + course_offset,
        "k": k[visible],
        "day": day[visible],
        "gap": gap[visible],
    }
    return sessions, need


# --- the next generation: maintenance after need, restarts after dropout -----------------------
def _next_generation(
    rng: np.random.Generator,
    cm: CourseModel,
    courses: Arrays,
    need: np.ndarray,
    hsv: np.ndarray,
    consult_count: int,
    horizon: int,
) -> tuple[Arrays, Arrays | None]:
    """The maintenance and restart courses that follow `courses`, and the new consultations some
    maintenance courses start with (None when there are none)."""
    completed, last_day = courses["completed"], courses["last_day"]
    n = len(completed)
    finished = courses["n_done"] == courses["n_target"]
    returning = completed & (rng.random(n) < cm.maintenance_return_share)
    m_start = np.maximum(
        last_day + need + rng.integers(*cm.maintenance_delay_days, n),
        last_day + cm.maintenance_min_gap_days,
    )
    returning &= m_start <= horizon
    dropped = finished & ~completed & (courses["ctype"] == INITIAL)
    restart = dropped & (rng.random(n) < cm.restart_share)
    r_start = last_day + rng.integers(*cm.restart_gap_days, n)
    restart &= r_start <= horizon
    m_rows = np.flatnonzero(returning)
    r_rows = np.flatnonzero(restart)
    m_consult, consults = _maintenance_consults(
        rng, cm, courses, m_rows, m_start, hsv, consult_count
    )
    maint = _maintenance_courses(rng, cm, courses, m_rows, m_start, m_consult)
    rest = new_courses(
        rng,
        cm,
        courses["patient"][r_rows],
        RESTART,
        r_start[r_rows],
        courses["planned"][r_rows],
        courses["interval"][r_rows],
        courses["consult"][r_rows],
        courses["id"][r_rows],
    )
    return {key: np.concatenate([maint[key], rest[key]]) for key in maint}, consults


def _maintenance_consults(
    rng: np.random.Generator,
    cm: CourseModel,
    courses: Arrays,
    m_rows: np.ndarray,
    m_start: np.ndarray,
    hsv: np.ndarray,
    consult_count: int,
) -> tuple[np.ndarray, Arrays | None]:
    """A share of maintenance courses get a new plan at a consultation shortly before; the others
    keep their parent's. Returns each maintenance course's consultation index and the new rows."""
    last_day = courses["last_day"]
    m_consult = courses["consult"][m_rows].copy()
    new_plan = rng.random(len(m_rows)) < cm.maintenance_consult_share
    nc_rows = m_rows[new_plan]
    if not len(nc_rows):
        return m_consult, None
    lo = last_day[nc_rows] + 1
    lead = rng.integers(1, MAINTENANCE_CONSULT_LEAD_DAYS + 1, len(nc_rows))
    nc_day = np.maximum(m_start[nc_rows] - lead, lo)
    pats = courses["patient"][nc_rows]
    consults = {
        "patient": pats,
        "day": nc_day,
        "secs": clock_seconds(rng, len(nc_rows), 9, 18),
        "decision": np.zeros(len(nc_rows), dtype=np.int64),
        "contra": np.where(hsv[pats], "herpes_history", "none").astype(object),
        "planned": np.full(len(nc_rows), MAINTENANCE_PLANNED),
        "interval": np.full(len(nc_rows), cm.maintenance_interval_days),
    }
    m_consult[new_plan] = consult_count + np.arange(len(nc_rows))
    return m_consult, consults


def _maintenance_courses(
    rng: np.random.Generator,
    cm: CourseModel,
    courses: Arrays,
    m_rows: np.ndarray,
    m_start: np.ndarray,
    m_consult: np.ndarray,
) -> Arrays:
    """Maintenance courses after `m_rows`; their length is drawn from the maintenance sessions."""
    n_m = len(m_rows)
    maint = new_courses(
        rng,
        cm,
        courses["patient"][m_rows],
        MAINTENANCE,
        m_start[m_rows],
        np.full(n_m, MAINTENANCE_PLANNED),
        np.full(n_m, cm.maintenance_interval_days),
        m_consult,
        courses["id"][m_rows],
    )
    maint["n_target"] = np.asarray(cm.maintenance_sessions)[
        rng.integers(0, len(cm.maintenance_sessions), n_m)
    ]
    maint["planned"] = maint["n_target"].copy()
    return maint


def course_frame(
    spec: ClinicSpec,
    crs: dict[str, np.ndarray],
    patients: pl.DataFrame,
    concern: np.ndarray,
    skin: np.ndarray,
    sessions: pl.DataFrame,
    consult_ids: np.ndarray,
) -> pl.DataFrame:
    """Plan-level courses (truth), with the first session of each (for outcomes)."""
    first = (
        sessions.filter(pl.col("status") == "completed")
        .group_by("truth_course")
        .agg(
            first_session_id=pl.col("session_id").first(),
            first_day=pl.col("_day").min(),
            first_secs=pl.col("_secs").first(),
            last_session_id=pl.col("session_id").last(),
        )
    )
    pat = crs["patient"]
    frame = pl.DataFrame(
        {
            "truth_course": crs["id"],
            "clinic_id": spec.clinic_id,
            "patient_ref": patients["patient_ref"].to_numpy()[pat],
            "_patient": pat,
            "course_type": pl.Series(
                np.asarray(COURSE_TYPES, dtype=object)[crs["ctype"]], dtype=pl.String
            ),
            "parent_course": crs["parent"],
            "consultation_id": pl.Series(consult_ids[crs["consult"]], dtype=pl.String),
            "planned_sessions": crs["planned"],
            "target_sessions": crs["n_target"],
            "sessions_done": crs["n_done"],
            "last_day": crs["last_day"],
            "completed": crs["completed"],
            "need_days": masked(crs["need_days"], crs["need_days"] >= 0, pl.Int64),
            "truth_fitzpatrick": pl.Series(skin[pat], dtype=pl.Int8),
            "primary_concern": pl.Series(concern[pat], dtype=pl.String),
        }
    )
    frame = frame.join(first, on="truth_course", how="left").sort("truth_course")
    # the start day of the course that follows (maintenance or restart), if any
    nxt = frame.filter(pl.col("parent_course") >= 0).select(
        truth_course=pl.col("parent_course"), next_course_day=pl.col("first_day")
    )
    return frame.join(nxt, on="truth_course", how="left").sort("truth_course")
