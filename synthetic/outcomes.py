"""Outcome scores: baseline, post-session, end of course, follow-ups, regression reports.

Scores come from two systems: the clinic system (one score per row, CSV) and the survey app
(one submission per line with several answers, JSONL). A clinic without the survey app records
its patients' remote answers in its own system (channel email or sms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthetic.params import OutcomeModel
from synthetic.reference import ClinicSpec, local_ts
from synthetic.sampling import choice_index, lookup, make_hex_ids, make_ids

BASELINE_RANGE = {
    "melasma": (5, 9),
    "pih": (4, 8),
    "uneven_tone": (3, 7),
    "enlarged_pores": (3, 6),
    "acne_scars": (4, 8),
}
INSTRUMENT_ORDER = ("pigmentation_vas", "satisfaction_5", "gais", "pain_vas", "mmasi")


@dataclass
class Answers:
    """Occasions (a visit or a submission) and their answers, accumulated as column chunks."""

    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)
    occasions: int = 0

    def occasion_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self.occasions, self.occasions + n)
        self.occasions += n
        return ids

    def add(
        self,
        occasion: np.ndarray,
        course: np.ndarray,
        patient: np.ndarray,
        app: np.ndarray,
        instrument: str,
        rater: str,
        timepoint: str | None,
        score: np.ndarray,
        day: np.ndarray,
        secs: np.ndarray,
        session: np.ndarray,
        keep: np.ndarray | None = None,
    ) -> None:
        if keep is not None:
            sel = np.flatnonzero(keep)
            occasion, course, patient, app = occasion[sel], course[sel], patient[sel], app[sel]
            score, day, secs, session = score[sel], day[sel], secs[sel], session[sel]
        n = len(occasion)
        self.chunks.append(
            {
                "occasion": occasion,
                "course": course,
                "patient": patient,
                "app": app,
                "instrument": np.full(n, instrument, dtype=object),
                "rater": np.full(n, rater, dtype=object),
                "timepoint": np.full(n, timepoint or "", dtype=object),
                "score": np.asarray(score, dtype=np.float64),
                "day": day,
                "secs": secs,
                "session": session,
            }
        )


def _evening(rng: np.random.Generator, n: int, dmy: bool) -> np.ndarray:
    secs = rng.integers(18 * 3600, 23 * 3600, n)
    return secs // 60 * 60 if dmy else secs


def simulate_outcomes(
    spec: ClinicSpec,
    courses: pl.DataFrame,
    sessions: pl.DataFrame,
    horizon: int,
    model: OutcomeModel,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """All scores of one clinic up to the horizon (typed, final state)."""
    has_app = spec.profile.survey is not None
    c = courses
    nc = c.height
    course = c["truth_course"].to_numpy()
    patient = c["_patient"].to_numpy()
    concern = c["primary_concern"].to_numpy()
    skin = c["truth_fitzpatrick"].to_numpy().astype(np.int64)
    ctype = c["course_type"].to_numpy()
    first_day = c["first_day"].to_numpy()
    first_secs = c["first_secs"].to_numpy()
    last_day = c["last_day"].to_numpy()
    completed_plan = (c["sessions_done"] == c["target_sessions"]).to_numpy()
    need = c["need_days"].fill_null(-1).to_numpy()
    next_day = c["next_course_day"].fill_null(10**9).to_numpy()
    parent = c["parent_course"].to_numpy()
    no_session = np.full(nc, "", dtype=object)

    # latent scores per course
    lo = lookup(concern, {k: v[0] for k, v in BASELINE_RANGE.items()})
    hi = lookup(concern, {k: v[1] for k, v in BASELINE_RANGE.items()})
    baseline = lo + np.floor(rng.random(nc) * (hi - lo + 1))
    baseline = np.where(rng.random(nc) < 0.01, 0, baseline)
    mean = lookup(concern, model.reduction_mean)
    mean = mean + np.asarray(model.skin_type_shift)[skin - 1]
    reduction = np.clip(rng.normal(mean, model.reduction_sd), *model.reduction_clip)
    maint = ctype == "maintenance"
    reduction = np.where(maint, np.clip(rng.normal(0.45, 0.2, nc), -0.2, 1.0), reduction)
    end = np.clip(np.round(baseline * (1 - reduction)), 0, 10)
    regressed = np.minimum(10, end + model.regression_min_rise + rng.poisson(0.7, nc))
    # a maintenance course starts from its parent's regressed score
    parent_pos = np.searchsorted(course, parent)
    parent_ok = maint & (parent >= 0)
    baseline = np.where(parent_ok, regressed[np.clip(parent_pos, 0, nc - 1)], baseline)
    end = np.where(maint, np.clip(np.round(baseline * (1 - reduction)), 0, 10), end)
    mmasi_base = np.round(rng.uniform(3, 18, nc), 1)
    mmasi_red = np.clip(reduction + rng.normal(0, 0.1, nc), -0.2, 1.0)
    mmasi_end = np.round(np.clip(mmasi_base * (1 - mmasi_red), 0, 24), 1)
    gais = np.select(
        [reduction >= 0.75, reduction >= 0.5, reduction >= 0.25, reduction >= 0],
        [1, 2, 3, 4],
        default=5,
    )
    gais = np.clip(gais + rng.integers(-1, 2, nc) * (rng.random(nc) < 0.2), 1, 5)
    satisfaction = np.clip(np.round(3 + 2.5 * reduction + rng.normal(0, 0.7, nc)), 1, 5)

    a = Answers()
    # --- baseline (before the first session) ---------------------------------------------
    present = rng.random(nc) < model.baseline_share
    via_app = has_app & (rng.random(nc) < 0.25)
    occ = a.occasion_ids(nc)
    b_day = np.where(via_app, first_day - rng.integers(1, 11, nc), first_day)
    b_secs = np.where(via_app, _evening(rng, nc, spec.dmy), first_secs - 600)
    a.add(
        occ,
        course,
        patient,
        via_app,
        "pigmentation_vas",
        "patient",
        "baseline",
        baseline,
        b_day,
        b_secs,
        no_session,
        present,
    )
    melasma = concern == "melasma"
    m_keep = present & melasma & (rng.random(nc) < 0.8)
    occ = a.occasion_ids(nc)
    a.add(
        occ,
        course,
        patient,
        np.zeros(nc, bool),
        "mmasi",
        "clinician",
        "baseline",
        mmasi_base,
        first_day,
        first_secs - 900,
        no_session,
        m_keep,
    )

    # --- post-session: pain in clinic per session; app survey per visit -------------------
    done = sessions.filter(pl.col("status") == "completed")
    ns = done.height
    s_course = done["truth_course"].to_numpy()
    s_pos = np.searchsorted(course, s_course)
    s_day = done["_day"].to_numpy()
    s_secs = done["_secs"].to_numpy()
    s_id = done["session_id"].to_numpy()
    s_num = done["truth_session_number"].to_numpy()
    numbing = done["numbing_cream"].fill_null(False).to_numpy()
    qs = done["truth_laser_type"].to_numpy() == "qs_nd_yag"
    pain = np.clip(np.round(rng.normal(np.where(numbing, 2.5, 4.5) + 0.5 * qs, 1.3)), 0, 10)
    pain_clinic = rng.random(ns) < model.pain_in_clinic_share
    occ = a.occasion_ids(ns)
    a.add(
        occ,
        s_course,
        patient[s_pos],
        np.zeros(ns, bool),
        "pain_vas",
        "patient",
        "post_session",
        pain,
        s_day,
        s_secs + 60 * rng.integers(25, 45, ns),
        s_id,
        pain_clinic,
    )
    first_area = (
        done.select(pl.col("started_at").rank("ordinal").over(["patient_ref", "_day"]) == 1)
        .to_series()
        .to_numpy()
    )
    survey = first_area & (rng.random(ns) < model.post_session_survey_share)
    target = s_num / np.maximum(c["target_sessions"].to_numpy()[s_pos], 1)
    interim = baseline[s_pos] - (baseline[s_pos] - end[s_pos]) * target
    interim = np.clip(np.round(interim + rng.normal(0, 0.6, ns)), 0, 10)
    sat_interim = np.clip(np.round(rng.normal(4, 0.8, ns)), 1, 5)
    app_flag = np.full(ns, has_app)
    occ = a.occasion_ids(ns)
    ev = _evening(rng, ns, spec.dmy)
    a.add(
        occ,
        s_course,
        patient[s_pos],
        app_flag,
        "pigmentation_vas",
        "patient",
        "post_session",
        interim,
        s_day,
        ev,
        s_id,
        survey,
    )
    a.add(
        occ,
        s_course,
        patient[s_pos],
        app_flag,
        "satisfaction_5",
        "patient",
        "post_session",
        sat_interim,
        s_day,
        ev,
        s_id,
        survey,
    )
    a.add(
        occ,
        s_course,
        patient[s_pos],
        app_flag,
        "pain_vas",
        "patient",
        "post_session",
        pain,
        s_day,
        ev,
        s_id,
        survey & ~pain_clinic,
    )

    # --- end of course ------------------------------------------------------------------
    e_day = last_day + rng.integers(21, 41, nc)
    e_keep = completed_plan & (rng.random(nc) < model.end_of_course_share)
    e_keep &= (e_day < next_day) & (e_day <= horizon)
    e_app = has_app & (rng.random(nc) < 0.6)
    e_secs = np.where(e_app, _evening(rng, nc, spec.dmy), rng.integers(9 * 12, 18 * 12, nc) * 300)
    occ = a.occasion_ids(nc)
    a.add(
        occ,
        course,
        patient,
        e_app,
        "pigmentation_vas",
        "patient",
        "end_of_course",
        end,
        e_day,
        e_secs,
        no_session,
        e_keep,
    )
    a.add(
        occ,
        course,
        patient,
        e_app,
        "satisfaction_5",
        "patient",
        "end_of_course",
        satisfaction,
        e_day,
        e_secs,
        no_session,
        e_keep,
    )
    a.add(
        occ,
        course,
        patient,
        e_app,
        "gais",
        "patient",
        "end_of_course",
        gais,
        e_day,
        e_secs,
        no_session,
        e_keep & e_app,
    )
    a.add(
        occ,
        course,
        patient,
        e_app,
        "gais",
        "clinician",
        "end_of_course",
        gais,
        e_day,
        e_secs,
        no_session,
        e_keep & ~e_app,
    )
    a.add(
        occ,
        course,
        patient,
        e_app,
        "mmasi",
        "clinician",
        "end_of_course",
        mmasi_end,
        e_day,
        e_secs,
        no_session,
        e_keep & ~e_app & melasma,
    )

    # --- follow-ups after completed initial/restart courses -------------------------------
    followed = completed_plan & ~maint
    for timepoint, days in model.follow_up_days.items():
        f_day = last_day + days + rng.integers(-10, 11, nc)
        keep = followed & (rng.random(nc) < model.follow_up_share[timepoint])
        keep &= (f_day < next_day) & (f_day <= horizon)
        after_need = (need >= 0) & (f_day >= last_day + need)
        vas = np.where(after_need, regressed, np.maximum(0, end - (rng.random(nc) < 0.5)))
        f_gais = np.where(after_need, np.minimum(5, gais + 1), gais)
        f_sat = np.where(after_need, np.maximum(1, satisfaction - 1), satisfaction)
        f_app = has_app & (rng.random(nc) < 0.8)
        f_secs = np.where(f_app, _evening(rng, nc, spec.dmy), rng.integers(108, 216, nc) * 300)
        occ = a.occasion_ids(nc)
        a.add(
            occ,
            course,
            patient,
            f_app,
            "pigmentation_vas",
            "patient",
            timepoint,
            vas,
            f_day,
            f_secs,
            no_session,
            keep,
        )
        a.add(
            occ,
            course,
            patient,
            f_app,
            "gais",
            "patient",
            timepoint,
            f_gais,
            f_day,
            f_secs,
            no_session,
            keep,
        )
        a.add(
            occ,
            course,
            patient,
            f_app,
            "satisfaction_5",
            "patient",
            timepoint,
            f_sat,
            f_day,
            f_secs,
            no_session,
            keep & (rng.random(nc) < 0.7),
        )

    # --- unscheduled reports when results fade (no timepoint) ------------------------------
    r_day = last_day + need + rng.integers(0, 21, nc)
    r_keep = followed & (need >= 0) & (rng.random(nc) < model.regression_report_share)
    r_keep &= (r_day > last_day + 60) & (r_day < next_day) & (r_day <= horizon)
    occ = a.occasion_ids(nc)
    a.add(
        occ,
        course,
        patient,
        np.full(nc, has_app),
        "pigmentation_vas",
        "patient",
        None,
        regressed,
        r_day,
        _evening(rng, nc, spec.dmy),
        no_session,
        r_keep,
    )

    refs = courses.select("truth_course", "patient_ref")
    return _frame(spec, a, rng, model).join(
        refs, on="truth_course", how="left", maintain_order="left"
    )


def _frame(
    spec: ClinicSpec, a: Answers, rng: np.random.Generator, model: OutcomeModel
) -> pl.DataFrame:
    cols = {k: np.concatenate([ch[k] for ch in a.chunks]) for k in a.chunks[0]}
    frame = pl.DataFrame(
        {
            "_occasion": cols["occasion"],
            "truth_course": cols["course"],
            "_patient": cols["patient"],
            "_app": cols["app"].astype(bool),
            "instrument": pl.Series(cols["instrument"], dtype=pl.String),
            "rater": pl.Series(cols["rater"], dtype=pl.String),
            "truth_timepoint": pl.Series(cols["timepoint"], dtype=pl.String).replace("", None),
            "score": cols["score"],
            "_day": cols["day"],
            "_secs": cols["secs"],
            "session_id": pl.Series(cols["session"], dtype=pl.String).replace("", None),
        }
    )
    order = {name: i for i, name in enumerate(INSTRUMENT_ORDER)}
    frame = frame.with_columns(
        _iorder=pl.col("instrument").replace_strict(order, return_dtype=pl.Int8)
    ).sort(["_day", "_secs", "_occasion", "_iorder", "rater"])
    n = frame.height
    # per-occasion draws: channel and whether the timepoint is left out
    occasions = frame["_occasion"].unique(maintain_order=True)
    k = len(occasions)
    u_channel = pl.Series(choice_index(rng, (75, 15, 10), k))
    missing = pl.Series(rng.random(k) < model.timepoint_missing_share)
    per_occ = pl.DataFrame({"_occasion": occasions, "_ch": u_channel, "_tp_missing": missing})
    frame = frame.join(per_occ, on="_occasion", how="left", maintain_order="left")
    remote = pl.col("_secs") >= 18 * 3600
    channel = (
        pl.when(pl.col("_app"))
        .then(
            pl.col("_ch").replace_strict({0: "app", 1: "email", 2: "sms"}, return_dtype=pl.String)
        )
        .when(remote)
        .then(
            pl.col("_ch").replace_strict({0: "email", 1: "email", 2: "sms"}, return_dtype=pl.String)
        )
        .otherwise(pl.lit("in_clinic"))
    )
    row_missing = pl.Series(rng.random(n) < model.timepoint_missing_share / 2)
    timepoint = (
        pl.when(pl.col("_app") & pl.col("_tp_missing"))
        .then(None)
        .when(~pl.col("_app") & row_missing)
        .then(None)
        .otherwise(pl.col("truth_timepoint"))
    )
    collected = local_ts(frame["_day"], frame["_secs"])
    lag = pl.Series(rng.integers(1, 31, n) * 60)
    frame = frame.with_columns(
        clinic_id=pl.lit(spec.clinic_id),
        channel=channel,
        timepoint=timepoint,
        collected_at=collected,
        updated_at=pl.when(pl.col("_app"))
        .then(collected)
        .otherwise(local_ts(frame["_day"], frame["_secs"] + lag)),
        _land_day=pl.col("_day"),
    ).drop("_ch", "_tp_missing", "_iorder")
    # ids: a response id per clinic-system row; a submission id per survey-app occasion
    app_occ = frame.filter(pl.col("_app"))["_occasion"].unique(maintain_order=True)
    sub_ids = pl.DataFrame(
        {
            "_occasion": app_occ,
            "submission_id": make_hex_ids(
                f"S-{spec.index + 1:03x}", np.arange(1, len(app_occ) + 1), 6
            ),
        }
    )
    frame = frame.join(sub_ids, on="_occasion", how="left", maintain_order="left")
    clinic_rows = (~frame["_app"]).cum_sum()
    response = make_ids(f"R-{spec.clinic_id}-", clinic_rows, 7)
    return frame.with_columns(
        response_id=pl.when(pl.col("_app"))
        .then(pl.concat_str("submission_id", pl.lit(":"), "instrument"))
        .otherwise(response),
        source_system=pl.when(pl.col("_app"))
        .then(pl.lit("survey_app"))
        .otherwise(pl.lit("clinic_system")),
    )
