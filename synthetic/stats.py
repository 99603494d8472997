"""Realised population values of the clean world, computed with DOMAIN.md's definitions.

These are what the integration tests compare the warehouse's marts with: course status and
type, baseline/end-of-course scores by date windows, responders, maintenance need (time to the
next course or to a regression score), and session-level side-effect rates.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.codes import PIGMENTARY_EFFECTS

COURSE_GAP_DAYS = 84
MCID = 2
# DOMAIN.md's windows, in days from the first / last session
BASELINE_WINDOW_DAYS = 60  # a baseline score up to this long before the first session
END_WINDOW_DAYS = (14, 28, 60)  # end of course: after, nearest to, at most
RESPONDER_REDUCTION = 0.5
DEFAULT_PLANNED = 6  # planned sessions when the consultation gives none
AREA_COURSE = ["truth_course", "treatment_area"]
LAST_DATE = pl.col("last_session_at").dt.date()


def session_rates(sessions: pl.DataFrame, effects: pl.DataFrame, view_day: int) -> pl.DataFrame:
    """Completed (not voided) sessions and those with a pigmentary/any adverse event, counted
    by skin type, laser type and fluence band."""
    done = sessions.filter((pl.col("status") == "completed") & ~pl.col("truth_junk"))
    live = effects.filter(~pl.col("voided"))
    duration = (
        pl.col("resolved_on").fill_null(pl.lit(view_day).cast(pl.Int32).cast(pl.Date))
        - pl.col("onset_on")
    ).dt.total_days()
    is_ae = (
        (pl.col("truth_effect_group") != "expected")
        | (pl.col("severity") == "severe")
        | (duration > 7)
    )
    per_session = live.group_by("truth_session_id").agg(
        pigmentary=pl.col("effect").is_in(list(PIGMENTARY_EFFECTS)).any(),
        adverse=is_ae.any(),
    )
    band = (
        pl.when(pl.col("fluence_j_cm2") <= 2.0)
        .then(pl.lit("<=2.0"))
        .when(pl.col("fluence_j_cm2") <= 2.5)
        .then(pl.lit("2.0-2.5"))
        .otherwise(pl.lit(">2.5"))
    )
    return (
        done.join(per_session, left_on="session_id", right_on="truth_session_id", how="left")
        .group_by("truth_fitzpatrick", "truth_laser_type", band.alias("band"))
        .agg(
            sessions=pl.len(),
            pigmentary=pl.col("pigmentary").fill_null(False).sum(),
            adverse=pl.col("adverse").fill_null(False).sum(),
            p_sum=pl.col("truth_p_pigmentary").sum(),
            with_interval=pl.col("truth_interval_days").is_not_null().sum(),
            interval_under_7=(pl.col("truth_interval_days") < 7).sum(),
            interval_over_45=(pl.col("truth_interval_days") > 45).sum(),
        )
    )


def course_table(
    courses: pl.DataFrame,
    sessions: pl.DataFrame,
    consultations: pl.DataFrame,
    outcomes: pl.DataFrame,
    view_day: int,
) -> pl.DataFrame:
    """Area-level courses as of the view day, with outcomes and maintenance need."""
    view = pl.lit(view_day).cast(pl.Int32).cast(pl.Date)
    c = _area_courses(courses, sessions, consultations)
    c = c.with_columns(status=_course_status(view))
    c = _with_next_course(c)
    pairs = _vas_scores_by_course(c, outcomes)
    end = _end_vas(pairs)
    c = c.join(_baseline_vas(pairs), on=AREA_COURSE, how="left").join(
        end, on=AREA_COURSE, how="left"
    )
    c = c.join(_regression(pairs, end), on=AREA_COURSE, how="left")
    c = _with_response_and_need(c, view)
    return c.select(
        course_id=pl.concat_str(
            "clinic_id", pl.col("truth_course").cast(pl.String), "treatment_area", separator="-"
        ),
        clinic_id="clinic_id",
        patient_ref="patient_ref",
        treatment_area="treatment_area",
        course_type="course_type",
        status="status",
        truth_fitzpatrick="truth_fitzpatrick",
        primary_concern="primary_concern",
        first_session_at="first_session_at",
        last_session_at="last_session_at",
        sessions="sessions",
        planned_sessions="planned_sessions",
        baseline_vas="baseline_vas",
        end_vas="end_vas",
        is_responder="is_responder",
        need_days="need_days",
        next_course_at="next_course_at",
        regression_at="regression_at",
        maintenance_event="maintenance_event",
        maintenance_days="maintenance_days",
    ).sort("course_id")


def _area_courses(
    courses: pl.DataFrame, sessions: pl.DataFrame, consultations: pl.DataFrame
) -> pl.DataFrame:
    """One row per course and treatment area with its completed sessions and planned count."""
    done = sessions.filter((pl.col("status") == "completed") & ~pl.col("truth_junk"))
    per_area = done.group_by(*AREA_COURSE).agg(
        sessions=pl.len(),
        first_session_at=pl.col("started_at_local").min(),
        last_session_at=pl.col("started_at_local").max(),
    )
    planned = consultations.select("consultation_id", "planned_sessions")
    return (
        courses.select(
            "truth_course",
            "clinic_id",
            "patient_ref",
            "course_type",
            "parent_course",
            "consultation_id",
            "need_days",
            "truth_fitzpatrick",
            "primary_concern",
        )
        .join(per_area, on="truth_course", how="inner")
        .join(planned, on="consultation_id", how="left")
        .with_columns(planned_sessions=pl.col("planned_sessions").fill_null(DEFAULT_PLANNED))
    )


def _course_status(view: pl.Expr) -> pl.Expr:
    return (
        pl.when(pl.col("course_type") == "maintenance")
        .then(pl.lit("maintenance"))
        .when(pl.col("sessions") >= pl.col("planned_sessions"))
        .then(pl.lit("completed"))
        .when((view - LAST_DATE).dt.total_days() <= COURSE_GAP_DAYS)
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("dropped_out"))
    )


def _with_next_course(c: pl.DataFrame) -> pl.DataFrame:
    """The first session of the next course on the same area (a maintenance course's parent)."""
    nxt = c.filter(pl.col("parent_course") >= 0).select(
        truth_course=pl.col("parent_course"),
        treatment_area="treatment_area",
        next_course_at=pl.col("first_session_at"),
    )
    return c.join(nxt, on=AREA_COURSE, how="left")


def _vas_scores_by_course(c: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Every live pigmentation VAS of the course's patient, next to the course's dates."""
    vas = outcomes.filter((pl.col("instrument") == "pigmentation_vas") & ~pl.col("voided")).select(
        "clinic_id", "patient_ref", "collected_at_local", "score"
    )
    return c.select(
        "truth_course",
        "treatment_area",
        "clinic_id",
        "patient_ref",
        "first_session_at",
        "last_session_at",
    ).join(vas, on=["clinic_id", "patient_ref"], how="inner")


def _baseline_vas(pairs: pl.DataFrame) -> pl.DataFrame:
    """The last score in the window before the first session."""
    t, first = pl.col("collected_at_local"), pl.col("first_session_at")
    return (
        pairs.filter((t >= first - _days(BASELINE_WINDOW_DAYS)) & (t <= first))
        .sort("collected_at_local")
        .group_by(*AREA_COURSE)
        .agg(baseline_vas=pl.col("score").last())
    )


def _end_vas(pairs: pl.DataFrame) -> pl.DataFrame:
    """The score in the end-of-course window nearest its target day."""
    t, last = pl.col("collected_at_local"), pl.col("last_session_at")
    lo, target, hi = END_WINDOW_DAYS
    return (
        pairs.filter((t > last + _days(lo)) & (t <= last + _days(hi)))
        .with_columns(_distance=(t - (last + _days(target))).abs())
        .sort("_distance", "collected_at_local")
        .group_by(*AREA_COURSE)
        .agg(end_vas=pl.col("score").first())
    )


def _regression(pairs: pl.DataFrame, end: pl.DataFrame) -> pl.DataFrame:
    """The first score after the end window opens that is MCID above the end-of-course score."""
    t = pl.col("collected_at_local")
    return (
        pairs.join(end, on=AREA_COURSE, how="inner")
        .filter(
            (t > pl.col("last_session_at") + _days(END_WINDOW_DAYS[0]))
            & (pl.col("score") >= pl.col("end_vas") + MCID)
        )
        .group_by(*AREA_COURSE)
        .agg(regression_at=t.min())
    )


def _with_response_and_need(c: pl.DataFrame, view: pl.Expr) -> pl.DataFrame:
    """Responder (relative reduction at least RESPONDER_REDUCTION) and time to maintenance need:
    the next course or a regression score, whichever comes first (censored at the view day)."""
    event_at = pl.min_horizontal("next_course_at", "regression_at")
    return c.with_columns(
        is_responder=pl.when(pl.col("end_vas").is_not_null() & (pl.col("baseline_vas") > 0)).then(
            (pl.col("baseline_vas") - pl.col("end_vas")) / pl.col("baseline_vas")
            >= RESPONDER_REDUCTION
        ),
        maintenance_event=event_at.is_not_null(),
        maintenance_days=pl.coalesce(
            (event_at.dt.date() - LAST_DATE).dt.total_days(),
            (view - LAST_DATE).dt.total_days(),
        ),
    )


def _days(n: int) -> pl.Expr:
    return pl.duration(days=n)


def kaplan_meier(days: np.ndarray, event: np.ndarray, at: tuple[int, ...]) -> dict[str, object]:
    """Kaplan–Meier survival at the given days and the median time to event."""
    days = np.asarray(days, dtype=np.int64)
    event = np.asarray(event, dtype=bool)
    ordered_days = np.sort(days)
    times, events = np.unique(days[event], return_counts=True)
    at_risk = len(days) - np.searchsorted(ordered_days, times, side="left")
    survival = np.cumprod(1 - events / at_risk)

    def s_at(x: int) -> float:
        i = np.searchsorted(times, x, side="right") - 1
        return float(survival[i]) if i >= 0 else 1.0

    below = np.flatnonzero(survival <= 0.5)
    return {
        "courses": int(len(days)),
        "events": int(event.sum()),
        **{f"need_by_{x}d": round(1 - s_at(x), 4) for x in at},
        "median_days": int(times[below[0]]) if len(below) else None,
    }
