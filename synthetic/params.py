"""The planted parameters: tiers, regions and the world model (DOMAIN_FIGURES.md, all assumed).

Everything the generator draws from is declared here, frozen, and copied into `truth.json`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

DEFAULT_AS_OF = date(2026, 11, 1)
HISTORY_DAYS = 3 * 365 + 1  # the chain's data starts three years before the as-of date
# The world is always simulated this far past the as-of date, whatever `days` is, so that the
# base files do not depend on how many daily files are asked for.
HORIZON_DAYS = 92


@dataclass(frozen=True)
class Tier:
    name: str
    clinics: int
    patients: int  # patients on record by the as-of date, whole chain
    dirty_clinics: int  # clinics whose files receive record-level dirt


TIERS: dict[str, Tier] = {
    "tiny": Tier("tiny", clinics=2, patients=160, dirty_clinics=2),
    "demo": Tier("demo", clinics=3, patients=2_200, dirty_clinics=3),
    "1m": Tier("1m", clinics=60, patients=146_000, dirty_clinics=6),
    "10m": Tier("10m", clinics=600, patients=1_460_000, dirty_clinics=12),
}


@dataclass(frozen=True)
class Region:
    name: str
    skin_mix: tuple[float, float, float, float, float, float]  # types I..VI
    timezones: tuple[str, ...]
    cities: tuple[str, ...]
    pool: str  # name pool in pii.py
    pico_share: float  # share of patients treated with a picosecond device


REGIONS: tuple[Region, ...] = (
    Region(
        "East Asia",
        (0.00, 0.05, 0.45, 0.45, 0.05, 0.00),
        ("Asia/Singapore", "Asia/Tokyo", "Asia/Seoul", "Asia/Hong_Kong", "Asia/Taipei"),
        ("Orchard", "Shibuya", "Gangnam", "Causeway Bay", "Xinyi", "Tampines", "Umeda"),
        "east_asia",
        0.35,
    ),
    Region(
        "Northern Europe",
        (0.15, 0.45, 0.30, 0.08, 0.02, 0.00),
        ("Europe/London", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen"),
        ("Marylebone", "Ostermalm", "Frogner", "Vesterbro", "Clifton", "Leith"),
        "northern_europe",
        0.20,
    ),
    Region(
        "US urban",
        (0.05, 0.20, 0.30, 0.20, 0.15, 0.10),
        ("America/New_York", "America/Chicago", "America/Los_Angeles"),
        ("Midtown", "Wicker Park", "Silver Lake", "Flatiron", "Pilsen", "Culver City"),
        "us_urban",
        0.25,
    ),
    Region(
        "South Asia",
        (0.00, 0.02, 0.15, 0.45, 0.35, 0.03),
        ("Asia/Kolkata", "Asia/Karachi", "Asia/Dhaka", "Asia/Colombo"),
        ("Bandra", "Koramangala", "Defence", "Gulshan", "Kollupitiya", "Jubilee Hills"),
        "south_asia",
        0.15,
    ),
)
# Regions of the first clinics (so small tiers still span the skin types); later clinics draw.
FIRST_REGIONS = ("East Asia", "Northern Europe", "US urban", "South Asia")
REGION_WEIGHTS = (0.35, 0.20, 0.25, 0.20)


def weibull_scale(median_days: float, shape: float) -> float:
    """Weibull scale λ giving the wanted median: median = λ (ln 2)^(1/k)."""
    return median_days / math.log(2) ** (1 / shape)


@dataclass(frozen=True)
class CourseModel:
    concern_mix: dict[str, float] = field(
        default_factory=lambda: {
            "melasma": 0.40,
            "uneven_tone": 0.25,
            "pih": 0.15,
            "enlarged_pores": 0.10,
            "acne_scars": 0.10,
        }
    )
    secondary_concern_share: float = 0.35
    # Decision given a blocking contraindication or not (80/12/8 overall).
    decision_clear: tuple[float, float, float] = (0.89, 0.055, 0.055)
    decision_contraindicated: tuple[float, float, float] = (0.15, 0.60, 0.25)
    contraindication_share: float = 0.12
    hsv_history_share: float = 0.06
    deferred_return_share: float = 0.5
    # Planned sessions (choices) by concern for Q-switched; picosecond courses are shorter.
    planned_sessions_melasma: tuple[int, ...] = (6, 8, 8, 8, 10, 12)
    planned_sessions_other: tuple[int, ...] = (5, 6, 6, 6, 8)
    planned_sessions_pico: tuple[int, ...] = (4, 5, 5, 5, 6)
    planned_interval_qs: tuple[int, ...] = (7, 14, 14, 14, 21)
    planned_interval_pico: tuple[int, ...] = (21, 28, 28, 28)
    # Actual interval = planned × lognormal(0, sigma); a share of long gaps (missed visits).
    interval_sigma: float = 0.30
    long_gap_share: float = 0.08
    long_gap_days: tuple[int, int] = (46, 80)
    max_interval_days: int = 80  # a gap > 84 days would start a new course
    dropout: float = 0.25
    restart_share: float = 0.20  # dropped-out courses restarted after > 84 days
    restart_gap_days: tuple[int, int] = (100, 400)
    # Maintenance need after a completed course: Weibull(shape, median) per concern.
    weibull_shape: float = 1.3
    maintenance_median_days: dict[str, float] = field(
        default_factory=lambda: {
            "melasma": 274.0,  # 9 months
            "pih": 456.0,
            "uneven_tone": 426.0,
            "enlarged_pores": 548.0,
            "acne_scars": 730.0,
        }
    )
    maintenance_return_share: float = 0.65
    maintenance_delay_days: tuple[int, int] = (0, 45)
    maintenance_min_gap_days: int = 90
    maintenance_sessions: tuple[int, ...] = (2, 3, 3, 4)
    maintenance_interval_days: int = 28
    maintenance_consult_share: float = 0.6
    aborted_share: float = 0.02
    area_mix: dict[str, float] = field(
        default_factory=lambda: {
            "face": 0.64,
            "face;neck": 0.23,
            "face;hands": 0.03,
            "neck": 0.03,
            "chest": 0.03,
            "hands": 0.04,
        }
    )


@dataclass(frozen=True)
class LaserModel:
    qs_fluence_median: float = 1.5
    qs_fluence_sigma: float = 0.2
    qs_fluence_range: tuple[float, float] = (1.2, 3.8)
    pico_fluence_median: float = 0.6
    pico_fluence_sigma: float = 0.12
    pico_fluence_range: tuple[float, float] = (0.4, 0.8)
    # Clinicians treat darker skin more gently (multiplier by type I..VI).
    skin_type_fluence: tuple[float, ...] = (1.0, 1.0, 1.0, 0.97, 0.94, 0.9)
    titration_per_session: float = 0.02
    # One provider per clinic (every fourth clinic) treats hotter: a drift to find.
    drifting_provider_factor: float = 1.5
    numbing_share: float = 0.45
    cooling_share: float = 0.7


# Per-session probability by skin-type group (I–III, IV, V–VI).
SkinGroupProb = tuple[float, float, float]


@dataclass(frozen=True)
class SideEffectModel:
    probabilities: dict[str, SkinGroupProb] = field(
        default_factory=lambda: {
            "erythema_transient": (0.06, 0.06, 0.06),
            "erythema_over_7d": (0.01, 0.02, 0.03),
            "edema": (0.02, 0.02, 0.02),
            "burning": (0.01, 0.01, 0.01),
            "sensitivity": (0.015, 0.015, 0.015),
            "petechiae": (0.005, 0.005, 0.005),
            "pih": (0.003, 0.008, 0.02),
            "hypopigmentation": (0.001, 0.002, 0.004),
            "rebound_hyperpigmentation": (0.001, 0.002, 0.003),
            "urticaria": (0.005, 0.005, 0.005),
            "acneiform_eruption": (0.005, 0.005, 0.005),
            "blistering": (0.0005, 0.0005, 0.0005),
            "crusting": (0.001, 0.001, 0.001),
            "other": (0.0005, 0.0005, 0.0005),
        }
    )
    herpes_with_history: float = 0.002
    herpes_without_history: float = 0.0002
    mottled_after_session: int = 10  # cumulative completed sessions on the area
    mottled_probability: float = 0.003
    # Pigmentary odds × 1.5 per 0.5 J/cm² above 2.0 (Q-switched), × 3 when interval < 7 days.
    fluence_odds_ratio_per_half_joule: float = 1.5
    fluence_threshold: float = 2.0
    short_interval_odds_ratio: float = 3.0
    short_interval_days: int = 7
    serious_flag_share: float = 0.01
    missing_session_id_share: float = 0.1


@dataclass(frozen=True)
class OutcomeModel:
    # Relative reduction of pigmentation VAS ~ N(mean by concern + shift by type, sd), clipped.
    reduction_mean: dict[str, float] = field(
        default_factory=lambda: {
            "melasma": 0.50,
            "pih": 0.60,
            "uneven_tone": 0.50,
            "enlarged_pores": 0.35,
            "acne_scars": 0.30,
        }
    )
    reduction_sd: float = 0.25
    reduction_clip: tuple[float, float] = (-0.20, 1.00)
    skin_type_shift: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, -0.05, -0.10)
    baseline_share: float = 0.90
    end_of_course_share: float = 0.75
    follow_up_share: dict[str, float] = field(
        default_factory=lambda: {"follow_up_3m": 0.65, "follow_up_6m": 0.50, "follow_up_12m": 0.40}
    )
    follow_up_days: dict[str, int] = field(
        default_factory=lambda: {"follow_up_3m": 91, "follow_up_6m": 182, "follow_up_12m": 365}
    )
    regression_min_rise: int = 2  # pigmentation VAS rises ≥ this above end of course
    regression_report_share: float = 0.4  # unscheduled app report when need occurs
    pain_in_clinic_share: float = 0.6
    post_session_survey_share: float = 0.3
    timepoint_missing_share: float = 0.1


@dataclass(frozen=True)
class ClinicShapeModel:
    """The finer shape of a clinic's patients and consultations (kept out of WorldModel, and so
    out of `truth.json`, for the reason ScoreShapeModel gives)."""

    sex_weights: tuple[int, int, int, int] = (85, 13, 1, 1)  # F, M, X, not recorded
    age_mean: float = 38
    age_sd: float = 10
    age_range: tuple[int, int] = (18, 75)
    extra_laser_share: float = 0.04  # patients on a clinic's third kind of laser, if it has one
    referral_weights: tuple[int, ...] = (30, 25, 20, 10, 10, 5)  # in REFERRALS order
    patient_fst_null_share: float = 0.15
    consultation_fst_null_share: float = 0.10
    second_consultation_days: tuple[int, int] = (60, 150)  # a deferred patient's return
    second_consultation_proceed_share: float = 0.9  # the rest decline
    course_start_days: tuple[int, int] = (1, 21)  # first session after the consultation
    two_secondary_concerns_share: float = 0.3


@dataclass(frozen=True)
class SessionShapeModel:
    """The finer shape of session rows: who treats, the laser settings, what is left blank (kept
    out of WorldModel, and so out of `truth.json`, for the reason ScoreShapeModel gives)."""

    usual_treater_share: float = 0.8  # sessions by the patient's own treater
    fluence_noise_sd: float = 0.04  # log-normal session-to-session variation
    pico_spot_mm: tuple[float, ...] = (7.0, 8.0)  # equally likely
    qs_spot_mm: tuple[float, ...] = (5.0, 6.0, 7.0, 8.0)
    qs_spot_weights: tuple[int, ...] = (15, 35, 35, 15)
    qs_10hz_share: float = 0.9  # the rest at 5 Hz; picosecond always 10 Hz
    pulses_face_range: tuple[float, float] = (1900, 2600)
    area_pulse_factor: dict[str, float] = field(
        default_factory=lambda: {"face": 1.0, "neck": 0.5, "chest": 0.7}
    )
    other_area_pulse_factor: float = 0.4
    pico_pulse_factor: float = 0.7
    aborted_pulse_fraction: tuple[float, float] = (0.1, 0.5)
    same_numbing_share: float = 0.9  # sessions where the patient's numbing habit holds
    high_fluence: float = 2.2  # J/cm2 above which the endpoint weights shift
    endpoint_weights_high: tuple[float, ...] = (50, 25, 14, 7, 4)  # in ENDPOINTS order
    endpoint_weights_low: tuple[float, ...] = (66, 29, 3, 1.5, 0.5)
    # share of rows where each optional column is filled in
    recorded_share: dict[str, float] = field(
        default_factory=lambda: {
            "consultation_id": 0.85,
            "wavelength_nm": 0.92,
            "spot_size_mm": 0.95,
            "rep_rate_hz": 0.9,
            "passes": 0.95,
            "pulses": 0.9,
            "numbing_cream": 0.97,
            "cooling": 0.97,
            "clinical_endpoint": 0.9,
        }
    )
    fst_null_share: float = 0.6
    area_minutes_apart: int = 20  # a second area is treated this long after the first


@dataclass(frozen=True)
class EffectShapeModel:
    """The finer shape of side-effect records (kept out of WorldModel, and so out of
    `truth.json`, for the reason ScoreShapeModel gives)."""

    report_lag_days: tuple[int, int] = (0, 3)  # after onset, never after resolution
    severe_other_serious_share: float = 0.3  # severe non-pigmentary events flagged serious
    serious_recorded_share: float = 0.97
    attribution_window_days: int = 30  # onset within this of the session: attributable


@dataclass(frozen=True)
class ScoreShapeModel:
    """The finer shape of the outcome scores: who answers, by which channel, how noisy.

    Planted like OutcomeModel but kept out of WorldModel for now: WorldModel is copied whole into
    `truth.json`, and these were inline constants until the generator's split, which had to keep
    the same seed writing the same bytes. Recording them in the truth is a deliberate later change.
    """

    zero_baseline_share: float = 0.01  # courses whose baseline VAS is recorded as 0
    maintenance_reduction_mean: float = 0.45
    maintenance_reduction_sd: float = 0.2
    regression_extra_rise_mean: float = 0.7  # Poisson mean of the rise above the minimum
    mmasi_baseline_range: tuple[float, float] = (3, 18)
    mmasi_reduction_noise_sd: float = 0.1
    gais_jitter_share: float = 0.2  # end-of-course GAIS one grade off the reduction's grade
    satisfaction_intercept: float = 3
    satisfaction_per_reduction: float = 2.5
    satisfaction_sd: float = 0.7
    baseline_app_share: float = 0.25  # baseline answered in the app days before the first visit
    baseline_app_lead_days: tuple[int, int] = (1, 10)
    mmasi_baseline_share: float = 0.8  # melasma courses with a clinician mMASI at baseline
    pain_mean_numbed: float = 2.5
    pain_mean_unnumbed: float = 4.5
    pain_qs_extra: float = 0.5  # Q-switched Nd:YAG hurts this much more than picosecond
    pain_sd: float = 1.3
    interim_vas_noise_sd: float = 0.6
    interim_satisfaction: tuple[float, float] = (4, 0.8)  # mean, sd
    end_of_course_delay_days: tuple[int, int] = (21, 40)
    end_of_course_app_share: float = 0.6
    follow_up_jitter_days: int = 10
    follow_up_app_share: float = 0.8
    follow_up_better_share: float = 0.5  # VAS one point below end of course before need
    follow_up_satisfaction_share: float = 0.7
    regression_report_window_days: tuple[int, int] = (0, 20)
    regression_report_min_days: int = 60  # after the last session
    channel_weights: tuple[int, int, int] = (75, 15, 10)  # app, email, sms


@dataclass(frozen=True)
class HistoryModel:
    """Corrections, updates and voided records (what makes a record have several versions)."""

    session_correction: float = 0.01
    consultation_correction: float = 0.01
    patient_correction: float = 0.01
    patient_contact_update: float = 0.08
    outcome_correction: float = 0.003
    side_effect_correction: float = 0.02
    voided_session: float = 0.003
    voided_other: float = 0.002  # consultations, outcomes, side effects (files with `voided`)
    late_patient: float = 0.05  # patient record lands the day after their first visit


@dataclass(frozen=True)
class WorldModel:
    course: CourseModel = field(default_factory=CourseModel)
    laser: LaserModel = field(default_factory=LaserModel)
    side_effects: SideEffectModel = field(default_factory=SideEffectModel)
    outcomes: OutcomeModel = field(default_factory=OutcomeModel)
    history: HistoryModel = field(default_factory=HistoryModel)
