"""Outcome scores: baseline, post-session, end of course, follow-ups, regression reports.

Scores come from two systems: the clinic system (one score per row, CSV) and the survey app
(one submission per line with several answers, JSONL). A clinic without the survey app records
its patients' remote answers in its own system (channel email or sms).

The draws are made in a fixed order (latent scores, then each kind of occasion in turn): the same
seed writes the same bytes only while that order holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthetic.params import OutcomeModel, ScoreShapeModel
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
EVENING_FROM_SECS = 18 * 3600  # remote answers come in the evening; clinic hours end here
# GAIS grade by relative reduction: at least 0.75 → 1 (very much improved) … below 0 → 5.
GAIS_FLOORS = (0.75, 0.5, 0.25, 0)


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

    def record(
        self, visit: Visit, instrument: str, rater: str, score: np.ndarray, keep: np.ndarray
    ) -> None:
        """One instrument answered at `visit`'s occasions, where `keep` holds."""
        self.add(
            visit.occasion,
            visit.course,
            visit.patient,
            visit.app,
            instrument,
            rater,
            visit.timepoint,
            score,
            visit.day,
            visit.secs,
            visit.session,
            keep,
        )


@dataclass(frozen=True)
class Visit:
    """Occasions of one kind, one per course or session: what every answer given there shares."""

    occasion: np.ndarray
    course: np.ndarray
    patient: np.ndarray
    app: np.ndarray
    timepoint: str | None
    day: np.ndarray
    secs: np.ndarray
    session: np.ndarray


@dataclass(frozen=True)
class CourseArrays:
    """One clinic's courses as arrays in `truth_course` order: what every score block reads."""

    n: int
    course: np.ndarray
    patient: np.ndarray
    concern: np.ndarray
    skin: np.ndarray
    maintenance: np.ndarray
    first_day: np.ndarray
    first_secs: np.ndarray
    last_day: np.ndarray
    completed_plan: np.ndarray
    need: np.ndarray  # days until the result fades (-1: it does not)
    next_day: np.ndarray  # first day of the next course on the area (far future: none)
    parent: np.ndarray
    target_sessions: np.ndarray

    @classmethod
    def of(cls, c: pl.DataFrame) -> CourseArrays:
        return cls(
            n=c.height,
            course=c["truth_course"].to_numpy(),
            patient=c["_patient"].to_numpy(),
            concern=c["primary_concern"].to_numpy(),
            skin=c["truth_fitzpatrick"].to_numpy().astype(np.int64),
            maintenance=c["course_type"].to_numpy() == "maintenance",
            first_day=c["first_day"].to_numpy(),
            first_secs=c["first_secs"].to_numpy(),
            last_day=c["last_day"].to_numpy(),
            completed_plan=(c["sessions_done"] == c["target_sessions"]).to_numpy(),
            need=c["need_days"].fill_null(-1).to_numpy(),
            next_day=c["next_course_day"].fill_null(10**9).to_numpy(),
            parent=c["parent_course"].to_numpy(),
            target_sessions=c["target_sessions"].to_numpy(),
        )

    @property
    def no_session(self) -> np.ndarray:
        return np.full(self.n, "", dtype=object)

    @property
    def melasma(self) -> np.ndarray:
        return self.concern == "melasma"

    @property
    def followed(self) -> np.ndarray:
        """Completed initial and restart courses: the ones with follow-ups."""
        return self.completed_plan & ~self.maintenance

    def visit(
        self, a: Answers, app: np.ndarray, timepoint: str | None, day: np.ndarray, secs: np.ndarray
    ) -> Visit:
        """A new occasion per course (not tied to a session)."""
        occasion = a.occasion_ids(self.n)
        return Visit(
            occasion, self.course, self.patient, app, timepoint, day, secs, self.no_session
        )


@dataclass(frozen=True)
class LatentScores:
    """Each course's true scores, from which every recorded answer is drawn."""

    baseline: np.ndarray
    reduction: np.ndarray
    end: np.ndarray
    regressed: np.ndarray
    mmasi_base: np.ndarray
    mmasi_end: np.ndarray
    gais: np.ndarray
    satisfaction: np.ndarray


def _evening(rng: np.random.Generator, n: int, dmy: bool) -> np.ndarray:
    secs = rng.integers(EVENING_FROM_SECS, 23 * 3600, n)
    return secs // 60 * 60 if dmy else secs


def _clinic_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """A time between 09:00 and 18:00 on a five-minute step."""
    return rng.integers(9 * 12, 18 * 12, n) * 300


def _answer_secs(rng: np.random.Generator, app: np.ndarray, dmy: bool) -> np.ndarray:
    """App answers come in the evening, clinic answers in opening hours."""
    n = len(app)
    return np.where(app, _evening(rng, n, dmy), _clinic_hours(rng, n))


def _has_survey_app(spec: ClinicSpec) -> bool:
    """A clinic without the app records remote answers in its own system."""
    return spec.profile.survey is not None


def _inclusive(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> np.ndarray:
    return rng.integers(bounds[0], bounds[1] + 1, n)


def simulate_outcomes(
    spec: ClinicSpec,
    courses: pl.DataFrame,
    sessions: pl.DataFrame,
    horizon: int,
    model: OutcomeModel,
    rng: np.random.Generator,
    shape: ScoreShapeModel | None = None,
) -> pl.DataFrame:
    """All scores of one clinic up to the horizon (typed, final state)."""
    shape = shape or ScoreShapeModel()
    c = CourseArrays.of(courses)
    latent = _latent_scores(c, model, shape, rng)
    a = Answers()
    _baseline_answers(a, spec, c, latent, model, shape, rng)
    _post_session_answers(a, spec, c, latent, sessions, model, shape, rng)
    _end_of_course_answers(a, spec, c, latent, horizon, model, shape, rng)
    _follow_up_answers(a, spec, c, latent, horizon, model, shape, rng)
    _regression_reports(a, spec, c, latent, horizon, model, shape, rng)
    refs = courses.select("truth_course", "patient_ref")
    return _frame(spec, a, rng, model, shape).join(
        refs, on="truth_course", how="left", maintain_order="left"
    )


def _latent_scores(
    c: CourseArrays, model: OutcomeModel, shape: ScoreShapeModel, rng: np.random.Generator
) -> LatentScores:
    nc = c.n
    lo = lookup(c.concern, {k: v[0] for k, v in BASELINE_RANGE.items()})
    hi = lookup(c.concern, {k: v[1] for k, v in BASELINE_RANGE.items()})
    baseline = lo + np.floor(rng.random(nc) * (hi - lo + 1))
    baseline = np.where(rng.random(nc) < shape.zero_baseline_share, 0, baseline)
    mean = lookup(c.concern, model.reduction_mean)
    mean = mean + np.asarray(model.skin_type_shift)[c.skin - 1]
    reduction = np.clip(rng.normal(mean, model.reduction_sd), *model.reduction_clip)
    maint_reduction = rng.normal(
        shape.maintenance_reduction_mean, shape.maintenance_reduction_sd, nc
    )
    reduction = np.where(c.maintenance, np.clip(maint_reduction, *model.reduction_clip), reduction)
    end = np.clip(np.round(baseline * (1 - reduction)), 0, 10)
    extra_rise = rng.poisson(shape.regression_extra_rise_mean, nc)
    regressed = np.minimum(10, end + model.regression_min_rise + extra_rise)
    # a maintenance course starts from its parent's regressed score
    parent_pos = np.searchsorted(c.course, c.parent)
    parent_ok = c.maintenance & (c.parent >= 0)
    baseline = np.where(parent_ok, regressed[np.clip(parent_pos, 0, nc - 1)], baseline)
    end = np.where(c.maintenance, np.clip(np.round(baseline * (1 - reduction)), 0, 10), end)
    mmasi_base = np.round(rng.uniform(*shape.mmasi_baseline_range, nc), 1)
    mmasi_noise = rng.normal(0, shape.mmasi_reduction_noise_sd, nc)
    mmasi_red = np.clip(reduction + mmasi_noise, *model.reduction_clip)
    mmasi_end = np.round(np.clip(mmasi_base * (1 - mmasi_red), 0, 24), 1)
    gais = np.select([reduction >= f for f in GAIS_FLOORS], [1, 2, 3, 4], default=5)
    jitter = rng.integers(-1, 2, nc) * (rng.random(nc) < shape.gais_jitter_share)
    gais = np.clip(gais + jitter, 1, 5)
    sat_mean = shape.satisfaction_intercept + shape.satisfaction_per_reduction * reduction
    satisfaction = np.clip(np.round(sat_mean + rng.normal(0, shape.satisfaction_sd, nc)), 1, 5)
    return LatentScores(
        baseline, reduction, end, regressed, mmasi_base, mmasi_end, gais, satisfaction
    )


# --- baseline (before the first session) -----------------------------------------------------
def _baseline_answers(
    a: Answers,
    spec: ClinicSpec,
    c: CourseArrays,
    latent: LatentScores,
    model: OutcomeModel,
    shape: ScoreShapeModel,
    rng: np.random.Generator,
) -> None:
    nc = c.n
    present = rng.random(nc) < model.baseline_share
    has_app = _has_survey_app(spec)
    via_app = has_app & (rng.random(nc) < shape.baseline_app_share)
    occ = a.occasion_ids(nc)
    lead = _inclusive(rng, shape.baseline_app_lead_days, nc)
    b_day = np.where(via_app, c.first_day - lead, c.first_day)
    b_secs = np.where(via_app, _evening(rng, nc, spec.dmy), c.first_secs - 600)
    patient_vas = Visit(occ, c.course, c.patient, via_app, "baseline", b_day, b_secs, c.no_session)
    a.record(patient_vas, "pigmentation_vas", "patient", latent.baseline, present)
    m_keep = present & c.melasma & (rng.random(nc) < shape.mmasi_baseline_share)
    # the clinician's mMASI is taken in clinic, a quarter of an hour before the first session
    in_clinic = np.zeros(nc, bool)
    mmasi = c.visit(a, in_clinic, "baseline", c.first_day, c.first_secs - 900)
    a.record(mmasi, "mmasi", "clinician", latent.mmasi_base, m_keep)


# --- post-session: pain in clinic per session; app survey per visit ----------------------------
def _post_session_answers(
    a: Answers,
    spec: ClinicSpec,
    c: CourseArrays,
    latent: LatentScores,
    sessions: pl.DataFrame,
    model: OutcomeModel,
    shape: ScoreShapeModel,
    rng: np.random.Generator,
) -> None:
    done = sessions.filter(pl.col("status") == "completed")
    ns = done.height
    s_course = done["truth_course"].to_numpy()
    s_pos = np.searchsorted(c.course, s_course)
    s_day = done["_day"].to_numpy()
    s_secs = done["_secs"].to_numpy()
    s_id = done["session_id"].to_numpy()
    s_num = done["truth_session_number"].to_numpy()
    patient = c.patient[s_pos]
    numbing = done["numbing_cream"].fill_null(False).to_numpy()
    qs = done["truth_laser_type"].to_numpy() == "qs_nd_yag"
    pain_mean = np.where(numbing, shape.pain_mean_numbed, shape.pain_mean_unnumbed)
    pain_mean = pain_mean + shape.pain_qs_extra * qs
    pain = np.clip(np.round(rng.normal(pain_mean, shape.pain_sd)), 0, 10)
    pain_clinic = rng.random(ns) < model.pain_in_clinic_share
    occ = a.occasion_ids(ns)
    after = s_secs + 60 * rng.integers(25, 45, ns)  # asked 25-45 minutes after the start
    in_clinic = Visit(
        occ, s_course, patient, np.zeros(ns, bool), "post_session", s_day, after, s_id
    )
    a.record(in_clinic, "pain_vas", "patient", pain, pain_clinic)
    # one survey per visit day, however many areas were treated
    first_area = (
        done.select(pl.col("started_at").rank("ordinal").over(["patient_ref", "_day"]) == 1)
        .to_series()
        .to_numpy()
    )
    survey = first_area & (rng.random(ns) < model.post_session_survey_share)
    progress = s_num / np.maximum(c.target_sessions[s_pos], 1)
    baseline, end = latent.baseline[s_pos], latent.end[s_pos]
    interim = baseline - (baseline - end) * progress
    interim = np.clip(np.round(interim + rng.normal(0, shape.interim_vas_noise_sd, ns)), 0, 10)
    sat_interim = np.clip(np.round(rng.normal(*shape.interim_satisfaction, ns)), 1, 5)
    has_app = _has_survey_app(spec)
    occ = a.occasion_ids(ns)
    ev = _evening(rng, ns, spec.dmy)
    remote = Visit(occ, s_course, patient, np.full(ns, has_app), "post_session", s_day, ev, s_id)
    a.record(remote, "pigmentation_vas", "patient", interim, survey)
    a.record(remote, "satisfaction_5", "patient", sat_interim, survey)
    a.record(remote, "pain_vas", "patient", pain, survey & ~pain_clinic)


# --- end of course --------------------------------------------------------------------------
def _end_of_course_answers(
    a: Answers,
    spec: ClinicSpec,
    c: CourseArrays,
    latent: LatentScores,
    horizon: int,
    model: OutcomeModel,
    shape: ScoreShapeModel,
    rng: np.random.Generator,
) -> None:
    nc = c.n
    has_app = _has_survey_app(spec)
    e_day = c.last_day + _inclusive(rng, shape.end_of_course_delay_days, nc)
    e_keep = c.completed_plan & (rng.random(nc) < model.end_of_course_share)
    e_keep &= (e_day < c.next_day) & (e_day <= horizon)
    e_app = has_app & (rng.random(nc) < shape.end_of_course_app_share)
    e_secs = _answer_secs(rng, e_app, spec.dmy)
    v = c.visit(a, e_app, "end_of_course", e_day, e_secs)
    a.record(v, "pigmentation_vas", "patient", latent.end, e_keep)
    a.record(v, "satisfaction_5", "patient", latent.satisfaction, e_keep)
    # GAIS is self-rated in the app, rated by the clinician at a visit; mMASI only at a visit
    a.record(v, "gais", "patient", latent.gais, e_keep & e_app)
    a.record(v, "gais", "clinician", latent.gais, e_keep & ~e_app)
    a.record(v, "mmasi", "clinician", latent.mmasi_end, e_keep & ~e_app & c.melasma)


# --- follow-ups after completed initial/restart courses -------------------------------------
def _follow_up_answers(
    a: Answers,
    spec: ClinicSpec,
    c: CourseArrays,
    latent: LatentScores,
    horizon: int,
    model: OutcomeModel,
    shape: ScoreShapeModel,
    rng: np.random.Generator,
) -> None:
    nc = c.n
    has_app = _has_survey_app(spec)
    jitter = shape.follow_up_jitter_days
    for timepoint, days in model.follow_up_days.items():
        f_day = c.last_day + days + rng.integers(-jitter, jitter + 1, nc)
        keep = c.followed & (rng.random(nc) < model.follow_up_share[timepoint])
        keep &= (f_day < c.next_day) & (f_day <= horizon)
        # once the result has faded the scores are the regressed ones
        after_need = (c.need >= 0) & (f_day >= c.last_day + c.need)
        better = rng.random(nc) < shape.follow_up_better_share
        vas = np.where(after_need, latent.regressed, np.maximum(0, latent.end - better))
        f_gais = np.where(after_need, np.minimum(5, latent.gais + 1), latent.gais)
        f_sat = np.where(after_need, np.maximum(1, latent.satisfaction - 1), latent.satisfaction)
        f_app = has_app & (rng.random(nc) < shape.follow_up_app_share)
        f_secs = _answer_secs(rng, f_app, spec.dmy)
        v = c.visit(a, f_app, timepoint, f_day, f_secs)
        a.record(v, "pigmentation_vas", "patient", vas, keep)
        a.record(v, "gais", "patient", f_gais, keep)
        answered_sat = rng.random(nc) < shape.follow_up_satisfaction_share
        a.record(v, "satisfaction_5", "patient", f_sat, keep & answered_sat)


# --- unscheduled reports when results fade (no timepoint) -----------------------------------
def _regression_reports(
    a: Answers,
    spec: ClinicSpec,
    c: CourseArrays,
    latent: LatentScores,
    horizon: int,
    model: OutcomeModel,
    shape: ScoreShapeModel,
    rng: np.random.Generator,
) -> None:
    nc = c.n
    has_app = _has_survey_app(spec)
    r_day = c.last_day + c.need + _inclusive(rng, shape.regression_report_window_days, nc)
    r_keep = c.followed & (c.need >= 0) & (rng.random(nc) < model.regression_report_share)
    r_keep &= (r_day > c.last_day + shape.regression_report_min_days) & (r_day < c.next_day)
    r_keep &= r_day <= horizon
    v = c.visit(a, np.full(nc, has_app), None, r_day, _evening(rng, nc, spec.dmy))
    a.record(v, "pigmentation_vas", "patient", latent.regressed, r_keep)


def _frame(
    spec: ClinicSpec,
    a: Answers,
    rng: np.random.Generator,
    model: OutcomeModel,
    shape: ScoreShapeModel,
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
    u_channel = pl.Series(choice_index(rng, shape.channel_weights, k))
    missing = pl.Series(rng.random(k) < model.timepoint_missing_share)
    per_occ = pl.DataFrame({"_occasion": occasions, "_ch": u_channel, "_tp_missing": missing})
    frame = frame.join(per_occ, on="_occasion", how="left", maintain_order="left")
    remote = pl.col("_secs") >= EVENING_FROM_SECS
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
