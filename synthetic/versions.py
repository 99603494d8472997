"""Record histories: corrections, natural updates, voided records and late-arriving patients.

Every record gets `_ver` (0 = first version), `_land_day` (clinic-local day it lands),
`_corr` (a planted correction, delivered in a separate corrections file), `_junk` (a record that
never happened, e.g. a session entered twice and voided) and `_dirt_kind` (what dirt.json calls
it, or null). The clean world is, per key, the latest version landed by the view day.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.params import HistoryModel
from synthetic.profiles import FST_EMPTY
from synthetic.reference import ClinicSpec, local_ts
from synthetic.sampling import make_ids

META_DEFAULTS = {
    "_ver": pl.lit(0, dtype=pl.Int8),
    "_corr": pl.lit(False),
    "_junk": pl.lit(False),
    "_dirt_kind": pl.lit(None, dtype=pl.String),
    "voided": pl.lit(False),
}
# a planted correction lands 1..this many days after the record it corrects
CORRECTION_DELAY_DAYS = {
    "patients": 30,
    "consultations": 14,
    "sessions": 20,
    "outcomes": 10,
    "side_effects": 14,
}


def _with_meta(frame: pl.DataFrame) -> pl.DataFrame:
    missing = {k: v for k, v in META_DEFAULTS.items() if k not in frame.columns}
    return frame.with_columns(**missing).with_columns(pl.col("_land_day").cast(pl.Int64))


def _pick(
    rng: np.random.Generator,
    n: int,
    share: float,
    allowed: np.ndarray | None = None,
    at_least: int = 2,
) -> np.ndarray:
    """Rows drawn with probability `share` among the allowed ones, and at least `at_least`."""
    allowed = np.ones(n, dtype=bool) if allowed is None else allowed
    mask = (rng.random(n) < share) & allowed
    short = at_least - int(mask.sum())
    candidates = np.flatnonzero(allowed & ~mask)
    if short > 0 and len(candidates):
        mask[rng.choice(candidates, size=min(short, len(candidates)), replace=False)] = True
    return mask


def _later(
    rows: pl.DataFrame,
    land: np.ndarray,
    rng: np.random.Generator,
    *,
    corr: bool,
    kind: str | None,
) -> pl.DataFrame:
    """A later version of `rows`, landing on `land` (updated during opening hours)."""
    secs = rng.integers(9 * 12, 18 * 12, rows.height) * 300
    return rows.with_columns(
        _land_day=pl.Series(land, dtype=pl.Int64),
        updated_at=local_ts(land, secs),
        _ver=pl.col("_ver") + 1,
        _corr=pl.lit(corr),
        _dirt_kind=pl.lit(kind, dtype=pl.String),
    )


def _correction_rows(
    rng: np.random.Generator,
    land: np.ndarray,
    share: float,
    feed: str,
    horizon: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that get a planted correction, and the day each correction lands (by the horizon)."""
    n = len(land)
    corr = _pick(rng, n, share, allowed)
    corr_land = land + rng.integers(1, CORRECTION_DELAY_DAYS[feed] + 1, n)
    corr &= corr_land <= horizon
    return corr, corr_land


def _corrections(
    frame: pl.DataFrame, corr: np.ndarray, corr_land: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """The corrected versions of the `corr` rows, delivered in a corrections file."""
    return _later(frame.filter(pl.Series(corr)), corr_land[corr], rng, corr=True, kind="correction")


def patient_versions(
    patients: pl.DataFrame, model: HistoryModel, horizon: int, rng: np.random.Generator
) -> pl.DataFrame:
    frame = _with_meta(patients).with_columns(
        _dirt_kind=pl.when(pl.col("_late")).then(pl.lit("late_arriving_patient"))
    )
    n = frame.height
    land = frame["_land_day"].to_numpy()
    corr, corr_land = _correction_rows(rng, land, model.patient_correction, "patients", horizon)
    update = _pick(rng, n, model.patient_contact_update, ~corr)
    created = frame["created_at"].dt.date().cast(pl.Int32).to_numpy()
    update_land = created + 30 + (rng.random(n) * 900).astype(np.int64)
    update &= update_land <= horizon
    corrected = _corrections(frame, corr, corr_land, rng)
    new_digits = pl.Series(rng.integers(0, 10_000, n)).cast(pl.String).str.zfill(4)
    updated = _later(
        frame.with_columns(
            phone=pl.col("phone").str.slice(0, pl.col("phone").str.len_chars() - 4) + new_digits,
            email=pl.col("email").str.replace(r"@.*$", "@mail.example.org"),
        ).filter(pl.Series(update)),
        update_land[update],
        rng,
        corr=False,
        kind=None,
    )
    # the first version of a corrected record: Fitzpatrick not yet recorded, a phone typo
    typo = pl.col("phone").str.slice(0, pl.col("phone").str.len_chars() - 1) + pl.lit("0")
    first = frame.with_columns(
        _fst=pl.when(pl.Series(corr)).then(pl.lit(FST_EMPTY, dtype=pl.Int8)).otherwise("_fst"),
        phone=pl.when(pl.Series(corr)).then(typo).otherwise("phone"),
    )
    return pl.concat([first, corrected, updated.with_columns(_dirt_kind=pl.lit(None))])


def consultation_versions(
    consultations: pl.DataFrame,
    spec: ClinicSpec,
    model: HistoryModel,
    horizon: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    frame = _with_meta(consultations)
    land = frame["_land_day"].to_numpy()
    corr, corr_land = _correction_rows(
        rng, land, model.consultation_correction, "consultations", horizon
    )
    corrected = _corrections(frame, corr, corr_land, rng)
    first = frame.with_columns(
        planned_sessions=pl.when(pl.Series(corr) & pl.col("planned_sessions").is_not_null())
        .then(pl.col("planned_sessions") + 2)
        .otherwise("planned_sessions"),
        notes=pl.when(pl.Series(corr) & pl.col("planned_sessions").is_null())
        .then(pl.lit("Draft - to be completed"))
        .otherwise("notes"),
    )
    parts = [first, corrected]
    if spec.profile.voided_column:
        parts += _voided_junk(
            frame,
            "consultation_id",
            f"CON-{spec.clinic_id}-V",
            5,
            model.voided_other,
            horizon,
            rng,
            status=None,
        )
    return pl.concat(parts)


def session_versions(
    sessions: pl.DataFrame,
    effects: pl.DataFrame,
    spec: ClinicSpec,
    model: HistoryModel,
    horizon: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    frame = _with_meta(sessions)
    n = frame.height
    completed = (frame["status"] == "completed").to_numpy()
    land = frame["_land_day"].to_numpy()
    corr, corr_land = _correction_rows(
        rng, land, model.session_correction, "sessions", horizon, completed
    )
    corrected = _corrections(frame, corr, corr_land, rng)
    pico = pl.col("truth_laser_type") == "pico_nd_yag"
    wrong = (
        pl.when(pico)
        .then((pl.col("fluence_j_cm2") + 0.05).round(2))
        .when(pl.col("fluence_j_cm2") > 1.5)
        .then((pl.col("fluence_j_cm2") - 0.2).round(1))
        .otherwise((pl.col("fluence_j_cm2") + 0.3).round(1))
    )
    first = frame.with_columns(
        fluence_j_cm2=pl.when(pl.Series(corr)).then(wrong).otherwise("fluence_j_cm2")
    )
    # sessions entered twice by mistake and voided (never ones with a side effect)
    with_effect = frame["session_id"].is_in(effects["truth_session_id"].implode()).to_numpy()
    copies = _pick(rng, n, model.voided_session, completed & ~with_effect & (land < horizon - 5))
    junk = frame.filter(pl.Series(copies)).with_columns(
        session_id=make_ids(f"SES-{spec.clinic_id}-V", np.arange(1, int(copies.sum()) + 1), 6),
        started_at=pl.col("started_at") + pl.duration(minutes=2),
        updated_at=pl.col("updated_at") + pl.duration(minutes=2),
        notes=pl.lit(None, dtype=pl.String),
        _junk=pl.lit(True),
    )
    return pl.concat([first, corrected, *_void(junk, horizon, rng, status=True)])


def outcome_versions(
    outcomes: pl.DataFrame,
    spec: ClinicSpec,
    model: HistoryModel,
    horizon: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    frame = _with_meta(outcomes)
    clinic = (~frame["_app"]).to_numpy()
    land = frame["_land_day"].to_numpy()
    corr, corr_land = _correction_rows(
        rng, land, model.outcome_correction, "outcomes", horizon, clinic
    )
    corrected = _corrections(frame, corr, corr_land, rng)
    shift = (
        pl.when(pl.col("instrument") == "mmasi")
        .then(
            pl.when(pl.col("score") >= 1)
            .then(pl.col("score") - 0.5)
            .otherwise(pl.col("score") + 0.5)
        )
        .when(pl.col("score") > 1)
        .then(pl.col("score") - 1)
        .otherwise(pl.col("score") + 1)
    )
    first = frame.with_columns(score=pl.when(pl.Series(corr)).then(shift).otherwise("score"))
    parts = [first, corrected]
    if spec.profile.voided_column:
        parts += _voided_junk(
            frame.filter(~pl.col("_app")),
            "response_id",
            f"R-{spec.clinic_id}-V",
            6,
            model.voided_other,
            horizon,
            rng,
            status=None,
        )
    return pl.concat(parts)


def side_effect_versions(
    effects: pl.DataFrame,
    spec: ClinicSpec,
    model: HistoryModel,
    horizon: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Reported on the report day (unresolved if not yet), updated when resolved."""
    report = effects["_report_day"].to_numpy()
    resolve = effects["_resolve_day"].to_numpy()
    later = resolve > report
    frame = _with_meta(
        effects.with_columns(
            _land_day=pl.Series(report, dtype=pl.Int64),
            updated_at=local_ts(report, effects["_report_secs"]),
        )
    )
    first = frame.with_columns(
        resolved_on=pl.when(pl.Series(later)).then(None).otherwise("resolved_on")
    )
    resolved = _later(frame.filter(pl.Series(later)), resolve[later], rng, corr=False, kind=None)
    resolved = resolved.filter(pl.col("_land_day") <= horizon)
    corr, corr_land = _correction_rows(
        rng, report, model.side_effect_correction, "side_effects", horizon, ~later
    )
    corrected = _corrections(frame, corr, corr_land, rng)
    regraded = (
        pl.when(pl.col("severity") == "mild").then(pl.lit("moderate")).otherwise(pl.lit("mild"))
    )
    first = first.with_columns(
        severity=pl.when(pl.Series(corr)).then(regraded).otherwise("severity")
    )
    parts = [first, resolved, corrected]
    if spec.profile.voided_column:
        parts += _voided_junk(
            frame,
            "event_id",
            f"AE-{spec.clinic_id}-V",
            5,
            model.voided_other,
            horizon,
            rng,
            status=None,
        )
    return pl.concat(parts)


def _voided_junk(
    frame: pl.DataFrame,
    key: str,
    prefix: str,
    width: int,
    share: float,
    horizon: int,
    rng: np.random.Generator,
    *,
    status: bool | None,
) -> list[pl.DataFrame]:
    """Copies of records under new ids that are later (or at once) voided."""
    land = frame["_land_day"].to_numpy()
    copies = _pick(rng, frame.height, share, land < horizon - 5)
    junk = frame.filter(pl.Series(copies)).with_columns(
        pl.Series(key, make_ids(prefix, np.arange(1, int(copies.sum()) + 1), width)),
        _junk=pl.lit(True),
    )
    return _void(junk, horizon, rng, status=status)


def _void(
    junk: pl.DataFrame, horizon: int, rng: np.random.Generator, *, status: bool | None
) -> list[pl.DataFrame]:
    """Half land valid then voided a few days later; half land already voided."""
    kind = "voided_session" if status else "voided_record"
    voided = {"status": pl.lit("voided")} if status else {"voided": pl.lit(True)}
    at_once = np.arange(junk.height) % 2 == 0
    land = junk["_land_day"].to_numpy() + rng.integers(1, 4, junk.height)
    later = ~at_once & (land <= horizon)
    direct = junk.filter(pl.Series(at_once)).with_columns(_dirt_kind=pl.lit(kind), **voided)
    valid_first = junk.filter(pl.Series(~at_once))
    voided_later = _later(
        junk.filter(pl.Series(later)), land[later], rng, corr=True, kind=kind
    ).with_columns(**voided)
    return [direct, valid_first, voided_later]
