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
    done = sessions.filter((pl.col("status") == "completed") & ~pl.col("truth_junk"))
    per_area = done.group_by("truth_course", "treatment_area").agg(
        sessions=pl.len(),
        first_session_at=pl.col("started_at_local").min(),
        last_session_at=pl.col("started_at_local").max(),
    )
    planned = consultations.select("consultation_id", "planned_sessions")
    c = (
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
        .with_columns(planned_sessions=pl.col("planned_sessions").fill_null(6))
    )
    view = pl.lit(view_day).cast(pl.Int32).cast(pl.Date)
    last_date = pl.col("last_session_at").dt.date()
    status = (
        pl.when(pl.col("course_type") == "maintenance")
        .then(pl.lit("maintenance"))
        .when(pl.col("sessions") >= pl.col("planned_sessions"))
        .then(pl.lit("completed"))
        .when((view - last_date).dt.total_days() <= COURSE_GAP_DAYS)
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("dropped_out"))
    )
    c = c.with_columns(status=status)
    # next course on the same area
    nxt = c.filter(pl.col("parent_course") >= 0).select(
        truth_course=pl.col("parent_course"),
        treatment_area="treatment_area",
        next_course_at=pl.col("first_session_at"),
    )
    c = c.join(nxt, on=["truth_course", "treatment_area"], how="left")

    vas = outcomes.filter((pl.col("instrument") == "pigmentation_vas") & ~pl.col("voided")).select(
        "clinic_id", "patient_ref", "collected_at_local", "score"
    )
    pairs = c.select(
        "truth_course",
        "treatment_area",
        "clinic_id",
        "patient_ref",
        "first_session_at",
        "last_session_at",
    ).join(vas, on=["clinic_id", "patient_ref"], how="inner")
    t = pl.col("collected_at_local")
    baseline = (
        pairs.filter(
            (t >= pl.col("first_session_at") - pl.duration(days=60))
            & (t <= pl.col("first_session_at"))
        )
        .sort("collected_at_local")
        .group_by("truth_course", "treatment_area")
        .agg(baseline_vas=pl.col("score").last())
    )
    target = pl.col("last_session_at") + pl.duration(days=28)
    end = (
        pairs.filter(
            (t > pl.col("last_session_at") + pl.duration(days=14))
            & (t <= pl.col("last_session_at") + pl.duration(days=60))
        )
        .with_columns(_distance=(t - target).abs())
        .sort("_distance", "collected_at_local")
        .group_by("truth_course", "treatment_area")
        .agg(end_vas=pl.col("score").first())
    )
    c = c.join(baseline, on=["truth_course", "treatment_area"], how="left").join(
        end, on=["truth_course", "treatment_area"], how="left"
    )
    regression = (
        pairs.join(end, on=["truth_course", "treatment_area"], how="inner")
        .filter(
            (t > pl.col("last_session_at") + pl.duration(days=14))
            & (pl.col("score") >= pl.col("end_vas") + MCID)
        )
        .group_by("truth_course", "treatment_area")
        .agg(regression_at=t.min())
    )
    c = c.join(regression, on=["truth_course", "treatment_area"], how="left")
    event_at = pl.min_horizontal("next_course_at", "regression_at")
    c = c.with_columns(
        is_responder=pl.when(pl.col("end_vas").is_not_null() & (pl.col("baseline_vas") > 0)).then(
            (pl.col("baseline_vas") - pl.col("end_vas")) / pl.col("baseline_vas") >= 0.5
        ),
        maintenance_event=event_at.is_not_null(),
        maintenance_days=pl.coalesce(
            (event_at.dt.date() - last_date).dt.total_days(),
            (view - last_date).dt.total_days(),
        ),
    )
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
