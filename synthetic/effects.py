"""Side effects per completed session: per-skin-type probabilities, fluence and interval effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.params import EffectShapeModel, SideEffectModel
from synthetic.sampling import adjust_odds, choice_index, make_ids, masked
from synthetic.text import descriptions


@dataclass(frozen=True)
class EffectKind:
    effect: str  # contract code
    group: str  # expected | pigmentary | other
    onset: tuple[int, int]  # days after the session
    duration: tuple[int, int]  # days until resolved
    unresolved: float  # share never resolved
    severity: tuple[float, float, float]  # mild, moderate, severe
    patient_reports: float
    actions: dict[str, float]


KINDS: dict[str, EffectKind] = {
    "erythema_transient": EffectKind(
        "erythema", "expected", (0, 1), (1, 3), 0.0, (92, 7, 1), 0.7, {"none": 7, "topical": 3}
    ),
    "erythema_over_7d": EffectKind(
        "erythema",
        "expected",
        (0, 1),
        (8, 21),
        0.0,
        (50, 40, 10),
        0.6,
        {"topical": 6, "none": 2, "treatment_paused": 2},
    ),
    "edema": EffectKind("edema", "expected", (0, 1), (1, 3), 0.0, (85, 13, 2), 0.7, {"none": 1}),
    "burning": EffectKind(
        "burning", "expected", (0, 0), (0, 1), 0.0, (85, 13, 2), 0.8, {"none": 8, "topical": 2}
    ),
    "sensitivity": EffectKind(
        "sensitivity", "expected", (0, 2), (2, 6), 0.0, (90, 9, 1), 0.8, {"none": 6, "topical": 4}
    ),
    "petechiae": EffectKind(
        "petechiae", "expected", (0, 0), (3, 7), 0.0, (80, 18, 2), 0.3, {"none": 1}
    ),
    "pih": EffectKind(
        "pih",
        "pigmentary",
        (7, 35),
        (30, 180),
        0.10,
        (55, 38, 7),
        0.3,
        {"topical": 6, "treatment_paused": 3, "referral": 1},
    ),
    "hypopigmentation": EffectKind(
        "hypopigmentation",
        "pigmentary",
        (14, 60),
        (60, 300),
        0.35,
        (55, 38, 7),
        0.3,
        {"treatment_paused": 5, "topical": 3, "referral": 2},
    ),
    "rebound_hyperpigmentation": EffectKind(
        "rebound_hyperpigmentation",
        "pigmentary",
        (14, 45),
        (45, 200),
        0.15,
        (55, 38, 7),
        0.3,
        {"topical": 6, "treatment_paused": 4},
    ),
    "mottled_hypopigmentation": EffectKind(
        "mottled_hypopigmentation",
        "pigmentary",
        (30, 90),
        (120, 400),
        0.6,
        (40, 45, 15),
        0.2,
        {"course_stopped": 5, "referral": 3, "topical": 2},
    ),
    "urticaria": EffectKind(
        "urticaria",
        "other",
        (0, 0),
        (1, 2),
        0.0,
        (70, 27, 3),
        0.6,
        {"oral_medication": 7, "none": 3},
    ),
    "acneiform_eruption": EffectKind(
        "acneiform_eruption", "other", (2, 7), (7, 21), 0.0, (70, 27, 3), 0.6, {"topical": 1}
    ),
    "herpes_reactivation": EffectKind(
        "herpes_reactivation",
        "other",
        (1, 4),
        (7, 14),
        0.0,
        (40, 50, 10),
        0.6,
        {"oral_medication": 9, "treatment_paused": 1},
    ),
    "blistering": EffectKind(
        "blistering",
        "other",
        (0, 1),
        (7, 14),
        0.0,
        (30, 50, 20),
        0.5,
        {"topical": 6, "referral": 2, "course_stopped": 2},
    ),
    "crusting": EffectKind(
        "crusting", "other", (0, 2), (5, 10), 0.0, (70, 27, 3), 0.5, {"topical": 1}
    ),
    "other": EffectKind("other", "other", (0, 7), (3, 14), 0.0, (70, 25, 5), 0.6, {"none": 1}),
}
KIND_NAMES = tuple(KINDS)


def pigmentary_odds_ratio(
    model: SideEffectModel, fluence: np.ndarray, laser: np.ndarray, interval: np.ndarray
) -> np.ndarray:
    """Odds multiplier for pigmentary effects: fluence above 2.0 (Q-switched), short intervals."""
    over = np.clip(fluence - model.fluence_threshold, 0, None) / 0.5
    ratio = np.where(laser == "qs_nd_yag", model.fluence_odds_ratio_per_half_joule**over, 1.0)
    short = (interval >= 0) & (interval < model.short_interval_days)
    return ratio * np.where(short, model.short_interval_odds_ratio, 1.0)


def skin_group(skin: np.ndarray) -> np.ndarray:
    """0 for types I–III, 1 for IV, 2 for V–VI."""
    return np.select([skin <= 3, skin == 4], [0, 1], default=2)


def simulate_effects(
    sessions: pl.DataFrame,
    patients: pl.DataFrame,
    clinic_id: str,
    model: SideEffectModel,
    rng: np.random.Generator,
    shape: EffectShapeModel | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Side-effect events of the completed sessions (one clinic), typed, final state.

    Also returns, per completed session, the probability of at least one pigmentary effect
    that was actually used (`truth_p_pigmentary`). The draws are made in a fixed order: the same
    seed writes the same bytes only while it holds.
    """
    shape = shape or EffectShapeModel()
    done = sessions.filter(pl.col("status") == "completed")
    row, kind_idx, p_pigmentary = _draw_events(done, model, rng)
    m = len(row)
    grp = _kind_column("group", kind_idx, dtype=object)
    session_day = done["_day"].to_numpy()[row]
    onset, resolved, report = _timeline(rng, session_day, kind_idx, shape)
    severity, action = _severity_and_action(rng, kind_idx)
    serious = (rng.random(m) < model.serious_flag_share) | (
        (severity == "severe")
        & (grp == "other")
        & (rng.random(m) < shape.severe_other_serious_share)
    )
    patient_share = _kind_column("patient_reports", kind_idx)
    reporter = np.where(rng.random(m) < patient_share, "patient", "provider")
    safe = _attributable_without_id(done, row, onset, session_day, shape)
    with_session = ~(safe & (rng.random(m) < model.missing_session_id_share))

    patient_index = done["_patient"].to_numpy()[row]
    skin = done["truth_fitzpatrick"].to_numpy().astype(np.int64)
    order = np.lexsort((kind_idx, row, report))
    frame = pl.DataFrame(
        {
            "clinic_id": clinic_id,
            "patient_ref": done["patient_ref"].to_numpy()[row],
            "session_id": masked(done["session_id"].to_numpy()[row], with_session, pl.String),
            "effect": pl.Series(_kind_column("effect", kind_idx, dtype=object), dtype=pl.String),
            "severity": pl.Series(severity, dtype=pl.String),
            "onset_on": pl.Series(onset).cast(pl.Int32).cast(pl.Date),
            "resolved_on": masked(resolved, resolved >= 0, pl.Int32).cast(pl.Date),
            "reported_by": pl.Series(reporter, dtype=pl.String),
            "action": pl.Series(action, dtype=pl.String),
            "serious": masked(serious, rng.random(m) < shape.serious_recorded_share, pl.Boolean),
            "description": descriptions(rng, patients, patient_index, grp),
            "_report_day": report,
            "_report_secs": rng.integers(9 * 12, 18 * 12, m) * 300,
            "_resolve_day": resolved,
            "truth_session_id": done["session_id"].to_numpy()[row],
            "truth_effect_group": pl.Series(grp, dtype=pl.String),
            "truth_fitzpatrick": pl.Series(skin[row], dtype=pl.Int8),
            "_patient": patient_index,
        }
    )[order]
    frame = frame.with_columns(event_id=make_ids(f"AE-{clinic_id}-", np.arange(1, m + 1), 6))
    used = pl.DataFrame({"session_id": done["session_id"], "truth_p_pigmentary": p_pigmentary})
    return frame, used


def _kind_column(attr: str, kind_idx: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """An EffectKind attribute per event; `"onset.0"` is the first item of a tuple attribute."""
    name, _, part = attr.partition(".")
    values = [getattr(KINDS[k], name) for k in KIND_NAMES]
    if part:
        values = [v[int(part)] for v in values]
    return np.array(values, dtype=dtype)[kind_idx]


def _draw_events(
    done: pl.DataFrame, model: SideEffectModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which sessions have which effects, one draw per kind and session: (session row, kind
    index) per event, and each session's probability of at least one pigmentary effect."""
    n = done.height
    skin = done["truth_fitzpatrick"].to_numpy().astype(np.int64)
    group = skin_group(skin)
    fluence = done["fluence_j_cm2"].to_numpy()
    laser = done["truth_laser_type"].to_numpy()
    interval = done["truth_interval_days"].fill_null(-1).to_numpy()
    cumulative = done["truth_cumulative_sessions"].to_numpy()
    hsv = done["truth_hsv"].to_numpy()
    ratio = pigmentary_odds_ratio(model, fluence, laser, interval)

    rows: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    no_pigmentary = np.ones(n)
    for kind_index, name in enumerate(KIND_NAMES):
        kind = KINDS[name]
        if name == "mottled_hypopigmentation":
            p = np.where(cumulative > model.mottled_after_session, model.mottled_probability, 0.0)
        elif name == "herpes_reactivation":
            p = np.where(hsv, model.herpes_with_history, model.herpes_without_history)
        else:
            p = np.asarray(model.probabilities[name])[group]
        if kind.group == "pigmentary":
            p = adjust_odds(p, ratio)
            no_pigmentary *= 1 - p
        hit = np.flatnonzero(rng.random(n) < p)
        rows.append(hit)
        kinds.append(np.full(len(hit), kind_index))
    return np.concatenate(rows), np.concatenate(kinds), 1 - no_pigmentary


def _timeline(
    rng: np.random.Generator,
    session_day: np.ndarray,
    kind_idx: np.ndarray,
    shape: EffectShapeModel,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onset, resolution (-1: never) and report day of each event, within its kind's ranges."""
    m = len(kind_idx)
    onset_lo, onset_hi = _kind_column("onset.0", kind_idx), _kind_column("onset.1", kind_idx)
    dur_lo, dur_hi = _kind_column("duration.0", kind_idx), _kind_column("duration.1", kind_idx)
    unresolved = _kind_column("unresolved", kind_idx)
    onset = session_day + onset_lo + np.floor(rng.random(m) * (onset_hi - onset_lo + 1))
    onset = onset.astype(np.int64)
    duration = dur_lo + np.floor(rng.random(m) * (dur_hi - dur_lo + 1)).astype(np.int64)
    resolved = np.where(rng.random(m) < unresolved, -1, onset + duration)
    lag_lo, lag_hi = shape.report_lag_days
    report = onset + rng.integers(lag_lo, lag_hi + 1, m)
    report = np.where((resolved >= 0) & (resolved < report), resolved, report)
    return onset, resolved, report


def _severity_and_action(
    rng: np.random.Generator, kind_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each event's severity and the action taken, drawn with its kind's weights."""
    m = len(kind_idx)
    severity = np.empty(m, dtype=object)
    action = np.empty(m, dtype=object)
    for kind_index, name in enumerate(KIND_NAMES):
        sel = np.flatnonzero(kind_idx == kind_index)
        kind = KINDS[name]
        severity[sel] = np.asarray(("mild", "moderate", "severe"), dtype=object)[
            choice_index(rng, kind.severity, len(sel))
        ]
        action[sel] = np.asarray(list(kind.actions), dtype=object)[
            choice_index(rng, list(kind.actions.values()), len(sel))
        ]
    return severity, action


def _attributable_without_id(
    done: pl.DataFrame,
    row: np.ndarray,
    onset: np.ndarray,
    session_day: np.ndarray,
    shape: EffectShapeModel,
) -> np.ndarray:
    """An event may lack its session_id only where attribution is unambiguous: the patient's
    latest completed session on or before onset (within the window) is the one that caused it."""
    next_day = (
        done.select(pl.col("_day").shift(-1).over("patient_ref", order_by=["_day", "_secs"]))
        .to_series()
        .fill_null(10**9)
        .to_numpy()
    )
    same_day_other = (
        done.select(pl.col("_day").count().over(["patient_ref", "_day"]) > 1).to_series()
    ).to_numpy()
    in_window = onset - session_day <= shape.attribution_window_days
    return (onset < next_day[row]) & in_window & ~same_day_other[row]
