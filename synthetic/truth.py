"""The truth next to the landing zone: `.truth/clean/<feed>.parquet`, `courses.parquet`,
`truth.json` (planted parameters and realised values) and `dirt.json` (every planted item).

The clean world is, per key, the latest version landed by the view day (as-of + days), typed as
a correct warehouse would hold it (timestamps in UTC, Fitzpatrick parsed), with PII and a few
`truth_*` columns the landing files do not carry.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from synthetic.codes import COLUMNS, KEYS, TIMESTAMP_COLUMNS
from synthetic.effects import KINDS, skin_group
from synthetic.encode import fitzpatrick_clean, to_utc
from synthetic.landing import latest
from synthetic.params import REGIONS, Tier, WorldModel, weibull_scale
from synthetic.profiles import PROFILES
from synthetic.reference import ClinicSpec, treating_providers
from synthetic.stats import course_table, kaplan_meier, session_rates
from synthetic.writers import DirtItem

LOCAL_COPIES = ("consulted_at", "started_at", "collected_at")
TRUTH_EXTRA = {
    "patients": ("truth_fitzpatrick", "truth_concern"),
    "consultations": ("truth_junk",),
    "sessions": (
        "truth_course",
        "truth_session_number",
        "truth_interval_days",
        "truth_fitzpatrick",
        "truth_concern",
        "truth_laser_type",
        "truth_p_pigmentary",
        "truth_junk",
    ),
    "outcomes": ("submission_id", "source_system", "truth_timepoint", "truth_course", "truth_junk"),
    "side_effects": ("truth_session_id", "truth_effect_group", "truth_fitzpatrick", "truth_junk"),
}
WITH_FITZPATRICK = ("patients", "consultations", "sessions")
# `;`-separated code lists: the warehouse holds their items sorted (unknown items dropped).
LIST_COLUMNS = ("secondary_concerns", "treatment_areas", "contraindications")
SKIN = ("I", "II", "III", "IV", "V", "VI")
SLIM_COURSE_COLUMNS = (
    "course_type",
    "status",
    "truth_fitzpatrick",
    "primary_concern",
    "is_responder",
    "maintenance_event",
    "maintenance_days",
)


def clean_frame(feed: str, versions: pl.DataFrame, view_day: int, timezone: str) -> pl.DataFrame:
    """Latest landed version per key, typed like a correct warehouse would hold it."""
    frame = versions
    if "_land_day" in frame.columns:
        frame = latest(frame.filter(pl.col("_land_day") <= view_day), KEYS[feed])
    if "_junk" in frame.columns:
        frame = frame.with_columns(truth_junk=pl.col("_junk"))
    if "voided" not in frame.columns:
        frame = frame.with_columns(voided=pl.lit(False))
    if feed in WITH_FITZPATRICK:
        frame = frame.with_columns(**fitzpatrick_clean())
    frame = frame.with_columns(
        pl.col(c).str.split(";").list.sort().list.join(";") for c in LIST_COLUMNS if c in frame
    )
    if feed == "outcomes":
        frame = frame.with_columns(
            rater=pl.when(pl.col("_app")).then(None).otherwise(pl.col("rater"))
        )
    local = [c for c in LOCAL_COPIES if c in frame.columns]
    frame = frame.with_columns(
        **{f"{c}_local": pl.col(c) for c in local},
        **{c: to_utc(c, timezone) for c in COLUMNS[feed] if c in TIMESTAMP_COLUMNS},
    )
    columns = list(COLUMNS[feed]) + ["voided"]
    if feed in WITH_FITZPATRICK:
        columns += ["fitzpatrick_is_range", "fitzpatrick_unrecognised"]
    columns += [f"{c}_local" for c in local]
    columns += [c for c in TRUTH_EXTRA.get(feed, ()) if c in frame.columns]
    return frame.select(columns).sort(list(KEYS[feed]))


@dataclass
class TruthBuilder:
    root: Path
    view_day: int
    writers: dict[str, pq.ParquetWriter] = field(default_factory=dict)
    schemas: dict[str, pl.Schema] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    session_stats: list[pl.DataFrame] = field(default_factory=list)
    courses: list[pl.DataFrame] = field(default_factory=list)
    patient_mix: list[pl.DataFrame] = field(default_factory=list)
    drifting: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.root / "clean").mkdir(parents=True, exist_ok=True)

    def add(self, feed: str, frame: pl.DataFrame, folder: Path | None = None) -> None:
        if feed in self.schemas:
            frame = frame.cast(dict(self.schemas[feed]))
        else:
            self.schemas[feed] = frame.schema
        table = frame.to_arrow()
        if feed not in self.writers:
            self.writers[feed] = pq.ParquetWriter(
                (folder or self.root / "clean") / f"{feed}.parquet",
                table.schema,
                compression="zstd",
            )
        self.writers[feed].write_table(table)
        if folder is None:
            self.counts[feed] = self.counts.get(feed, 0) + frame.height

    def add_clinic(
        self,
        spec: ClinicSpec,
        providers: pl.DataFrame,
        devices: pl.DataFrame,
        feeds: dict[str, pl.DataFrame],
        courses: pl.DataFrame,
    ) -> None:
        tz = spec.timezone
        if spec.drifting:
            first = treating_providers(providers)[0]
            self.drifting[spec.clinic_id] = providers["provider_id"][int(first)]
        self.add("providers", clean_frame("providers", providers, self.view_day, tz))
        self.add("devices", clean_frame("devices", devices, self.view_day, tz))
        clean = {
            feed: clean_frame(feed, feeds[feed], self.view_day, tz)
            for feed in ("patients", "consultations", "sessions", "outcomes", "side_effects")
        }
        for feed, frame in clean.items():
            self.add(feed, frame)
        self.session_stats.append(
            session_rates(clean["sessions"], clean["side_effects"], self.view_day)
        )
        table = course_table(
            courses, clean["sessions"], clean["consultations"], clean["outcomes"], self.view_day
        )
        self.add("courses", table, folder=self.root)
        self.courses.append(table.select(SLIM_COURSE_COLUMNS))
        self.patient_mix.append(
            clean["patients"]
            .group_by("truth_fitzpatrick")
            .len()
            .with_columns(region=pl.lit(spec.region.name))
        )

    def add_clinics(self, clinics: pl.DataFrame) -> None:
        parts = [
            clean_frame("clinics", clinics.slice(i, 1), self.view_day, tz)
            for i, tz in enumerate(clinics["timezone"].to_list())  # one per clinic
        ]
        self.add("clinics", pl.concat(parts))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def finish(
        self,
        *,
        seed: int,
        tier: Tier,
        as_of: str,
        days: int,
        specs: list[ClinicSpec],
        model: WorldModel,
        rows_written: dict[str, int],
        dirt: list[DirtItem],
    ) -> dict[str, object]:
        self.close()
        courses = pl.concat(self.courses)
        truth = {
            "seed": seed,
            "tier": tier.name,
            "as_of": as_of,
            "days": days,
            "view_date": str(pl.select(pl.lit(self.view_day).cast(pl.Int32).cast(pl.Date)).item()),
            "counts": {"clean_records": self.counts, "landing_rows": rows_written},
            "clinics": [
                {
                    "clinic_id": s.clinic_id,
                    "region": s.region.name,
                    "timezone": s.timezone,
                    "export_profile": s.profile.code,
                    "datetime_format": s.profile.datetime_format,
                    "dirty": s.dirty,
                    "drifting_provider": self.drifting.get(s.clinic_id),
                }
                for s in specs
            ],
            "planted": self._planted(model),
            "realised": self._realised(courses),
            "dirt_kinds": sorted({d.kind for d in dirt}),
        }
        (self.root / "truth.json").write_text(json.dumps(truth, indent=2, default=str) + "\n")
        (self.root / "dirt.json").write_text(
            json.dumps([d.as_dict() for d in dirt], indent=1) + "\n"
        )
        return truth

    @staticmethod
    def _planted(model: WorldModel) -> dict[str, object]:
        cm = model.course
        se = model.side_effects
        pigmentary = ("pih", "hypopigmentation", "rebound_hyperpigmentation")
        per_type = {}
        for i, name in enumerate(SKIN):
            group = int(skin_group(np.array([i + 1]))[0])
            probs = {e: se.probabilities[e][group] for e in pigmentary}
            per_type[name] = {
                **probs,
                "any_pigmentary_at_reference": round(
                    1 - float(np.prod([1 - p for p in probs.values()])), 6
                ),
            }
        return {
            "model": dataclasses.asdict(model),
            "skin_type_mix": {r.name: dict(zip(SKIN, r.skin_mix, strict=True)) for r in REGIONS},
            "pigmentary_probability_per_session_by_skin_type": per_type,
            "pigmentary_probability_note": (
                "base probability at fluence <= 2.0 J/cm2 and interval >= 7 days; odds x1.5 per "
                "0.5 J/cm2 above 2.0 (qs_nd_yag only), x3 when the interval is under 7 days; "
                "mottled hypopigmentation 0.3% per session after the 10th on the area"
            ),
            "side_effect_kinds": {k: dataclasses.asdict(v) for k, v in KINDS.items()},
            "maintenance_weibull": {
                concern: {
                    "shape": cm.weibull_shape,
                    "median_days": median,
                    "scale_days": round(weibull_scale(median, cm.weibull_shape), 2),
                }
                for concern, median in cm.maintenance_median_days.items()
            },
            "response_model": {
                "relative_reduction_mean_by_concern": model.outcomes.reduction_mean,
                "sd": model.outcomes.reduction_sd,
                "clip": model.outcomes.reduction_clip,
                "shift_by_skin_type": dict(zip(SKIN, model.outcomes.skin_type_shift, strict=True)),
            },
            "dropout": cm.dropout,
            "export_profiles": {p.code: dataclasses.asdict(p) for p in PROFILES},
        }

    def _realised(self, courses: pl.DataFrame) -> dict[str, object]:
        sessions = pl.concat(self.session_stats)
        by_type = (
            sessions.group_by("truth_fitzpatrick")
            .agg(
                sessions=pl.col("sessions").sum(),
                sessions_with_pigmentary=pl.col("pigmentary").sum(),
                sessions_with_adverse_event=pl.col("adverse").sum(),
                mean_pigmentary_probability_used=pl.col("p_sum").sum() / pl.col("sessions").sum(),
            )
            .with_columns(
                pigmentary_rate=pl.col("sessions_with_pigmentary") / pl.col("sessions"),
                adverse_event_rate=pl.col("sessions_with_adverse_event") / pl.col("sessions"),
            )
            .sort("truth_fitzpatrick")
        )
        qs = sessions.filter(pl.col("truth_laser_type") == "qs_nd_yag")
        by_fluence = (
            qs.group_by("band")
            .agg(
                sessions=pl.col("sessions").sum(),
                sessions_with_pigmentary=pl.col("pigmentary").sum(),
            )
            .with_columns(pigmentary_rate=pl.col("sessions_with_pigmentary") / pl.col("sessions"))
            .sort("band")
        )
        mix = (
            pl.concat(self.patient_mix)
            .group_by("region", "truth_fitzpatrick")
            .agg(pl.col("len").sum())
            .with_columns(share=pl.col("len") / pl.col("len").sum().over("region"))
            .sort("region", "truth_fitzpatrick")
        )
        skin_mix: dict[str, dict[str, float]] = {}
        for region, t, _, share in mix.iter_rows():
            skin_mix.setdefault(region, {})[SKIN[t - 1]] = round(share, 4)
        completed = courses.filter(pl.col("status") == "completed")
        measured = completed.filter(pl.col("is_responder").is_not_null())
        responders = {
            "by_skin_type": _rates(measured, "truth_fitzpatrick", SKIN),
            "by_concern": _rates(measured, "primary_concern", None),
        }
        initial = courses.filter(pl.col("course_type") == "initial")
        finished = initial.filter(pl.col("status").is_in(["completed", "dropped_out"]))
        maintenance = {}
        km_population = courses.filter(
            (pl.col("course_type") == "initial") & (pl.col("status") == "completed")
        )
        for concern in sorted(km_population["primary_concern"].unique().to_list()):
            part = km_population.filter(pl.col("primary_concern") == concern)
            maintenance[concern] = kaplan_meier(
                part["maintenance_days"].to_numpy(),
                part["maintenance_event"].to_numpy(),
                (91, 182, 365),
            )
        totals = sessions.select(pl.all().exclude("truth_laser_type", "band").sum())
        qs_total = qs["sessions"].sum()
        return {
            "completed_sessions": int(totals["sessions"][0]),
            "interval_share_under_7_days": round(
                totals["interval_under_7"][0] / max(totals["with_interval"][0], 1), 4
            ),
            "interval_share_over_45_days": round(
                totals["interval_over_45"][0] / max(totals["with_interval"][0], 1), 4
            ),
            "qs_nd_yag_share_over_2_j_cm2": round(
                qs.filter(pl.col("band") != "<=2.0")["sessions"].sum() / max(qs_total, 1), 4
            ),
            "skin_type_mix_by_region": skin_mix,
            "pigmentary_by_skin_type": {
                SKIN[row["truth_fitzpatrick"] - 1]: _round(row)
                for row in by_type.iter_rows(named=True)
            },
            "pigmentary_by_fluence_band_qs_nd_yag": {
                row["band"]: _round(row) for row in by_fluence.iter_rows(named=True)
            },
            "responders_pigmentation_vas_completed_courses": responders,
            "dropout_rate_initial_courses": round(
                finished.filter(pl.col("status") == "dropped_out").height / max(finished.height, 1),
                4,
            ),
            "courses_by_type_and_status": {
                f"{t}/{s}": n
                for t, s, n in courses.group_by("course_type", "status")
                .len()
                .sort("course_type", "status")
                .iter_rows()
            },
            "maintenance_need_kaplan_meier_by_concern": maintenance,
        }


def _round(row: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}


def _rates(frame: pl.DataFrame, by: str, labels: tuple[str, ...] | None) -> dict[str, object]:
    out: dict[str, object] = {}
    grouped = (
        frame.group_by(by).agg(courses=pl.len(), responders=pl.col("is_responder").sum()).sort(by)
    )
    for key, courses, responders in grouped.iter_rows():
        name = labels[key - 1] if labels else key
        out[name] = {
            "courses": courses,
            "responders": responders,
            "rate": round(responders / courses, 4),
        }
    return out
