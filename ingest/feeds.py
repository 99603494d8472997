"""The landing feeds as the data contract defines them (../shared/DATA_CONTRACT.md).

One `Feed` per landing folder: which columns a file must have, how each is typed, which are
direct identifiers (never stored), and which codes are allowed. Ingest enforces this; the raw
tables it writes (`raw.<feed>` in the private lake) follow `raw_columns()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["str", "int", "dec", "bool", "date", "ts", "list", "fitzpatrick", "severity"]

FITZPATRICK_TYPES = ("I", "II", "III", "IV", "V", "VI")
TREATMENT_AREAS = ("face", "neck", "chest", "hands")
CONCERNS = (
    "melasma",
    "pih",
    "uneven_tone",
    "solar_lentigines",
    "enlarged_pores",
    "fine_lines",
    "acne_scars",
    "dullness",
)
CONTRAINDICATIONS = (
    "none",
    "pregnancy",
    "isotretinoin_6m",
    "photosensitizing_medication",
    "active_infection",
    "recent_tan",
    "keloid_history",
    "herpes_history",
)
SIDE_EFFECTS = (
    "erythema",
    "edema",
    "burning",
    "sensitivity",
    "petechiae",
    "pih",
    "hypopigmentation",
    "mottled_hypopigmentation",
    "rebound_hyperpigmentation",
    "acneiform_eruption",
    "urticaria",
    "herpes_reactivation",
    "blistering",
    "crusting",
    "other",
)
# Instrument -> (lowest, highest) valid score; a score outside is quarantined, never clipped.
INSTRUMENT_RANGES: dict[str, tuple[float, float]] = {
    "mmasi": (0, 24),
    "pigmentation_vas": (0, 10),
    "gais": (1, 5),
    "satisfaction_5": (1, 5),
    "pain_vas": (0, 10),
}
TIMEPOINTS = (
    "baseline",
    "post_session",
    "end_of_course",
    "follow_up_3m",
    "follow_up_6m",
    "follow_up_12m",
)
# Fluence at or below the low limit, or above the high one, is impossible for toning.
FLUENCE_HARD_LIMITS = (0.0, 10.0)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    pii: bool = False
    codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Feed:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # Columns derived by ingest and stored alongside the contract's (name -> duckdb type).
    derived: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def stored(self) -> list[Column]:
        """Contract columns that reach the lake (identifiers are replaced or dropped)."""
        return [c for c in self.columns if not c.pii and c.name != "patient_ref"]


def _c(name: str, type_: ColumnType = "str", *, req: bool = False, pii: bool = False, codes=None):
    return Column(name, type_, required=req, pii=pii, codes=codes)


PATIENT_KEYED = {"patient_key": "VARCHAR"}
FITZPATRICK_FLAGS = {"fitzpatrick_is_range": "BOOLEAN", "fitzpatrick_unrecognised": "BOOLEAN"}
VOIDABLE = _c("voided", "bool")

FEEDS: dict[str, Feed] = {
    f.name: f
    for f in [
        Feed(
            "clinics",
            key=("clinic_id",),
            columns=(
                _c("clinic_id", req=True),
                _c("clinic_name", req=True),
                _c("region"),
                _c("timezone"),
                _c("datetime_format", codes=("iso", "dmy")),
                _c("opened_on", "date"),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "providers",
            key=("provider_id",),
            columns=(
                _c("provider_id", req=True),
                _c("clinic_id", req=True),
                _c("display_name"),
                _c(
                    "role",
                    codes=(
                        "dermatologist",
                        "plastic_surgeon",
                        "physician",
                        "nurse",
                        "aesthetician",
                    ),
                ),
                _c("active", "bool"),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "devices",
            key=("device_id",),
            columns=(
                _c("device_id", req=True),
                _c("clinic_id", req=True),
                _c("manufacturer"),
                _c("model"),
                _c(
                    "laser_type",
                    req=True,
                    codes=("qs_nd_yag", "pico_nd_yag", "qs_ruby", "qs_alexandrite", "other"),
                ),
                _c("wavelength_nm", "int", req=True),
                _c("installed_on", "date"),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "patients",
            key=("clinic_id", "patient_ref"),
            columns=(
                _c("patient_ref", req=True),
                _c("clinic_id", req=True),
                _c("first_name", pii=True),
                _c("last_name", pii=True),
                _c("email", pii=True),
                _c("phone", pii=True),
                _c("date_of_birth", "date", pii=True),
                _c("postcode", pii=True),
                _c("sex", codes=("F", "M", "X")),
                _c("fitzpatrick", "fitzpatrick"),
                _c("referral_source"),
                _c("created_at", "ts"),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, **FITZPATRICK_FLAGS},
        ),
        Feed(
            "consultations",
            key=("consultation_id",),
            columns=(
                _c("consultation_id", req=True),
                _c("clinic_id", req=True),
                _c("patient_ref", req=True),
                _c("provider_id"),
                _c("consulted_at", "ts", req=True),
                _c("primary_concern", req=True, codes=CONCERNS),
                _c("secondary_concerns", "list", codes=CONCERNS),
                _c("fitzpatrick", "fitzpatrick"),
                _c("treatment_areas", "list", codes=TREATMENT_AREAS),
                _c("contraindications", "list", codes=CONTRAINDICATIONS),
                _c("planned_sessions", "int"),
                _c("planned_interval_days", "int"),
                _c("decision", req=True, codes=("proceed", "defer", "decline")),
                _c("notes", pii=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, **FITZPATRICK_FLAGS},
        ),
        Feed(
            "sessions",
            key=("session_id",),
            columns=(
                _c("session_id", req=True),
                _c("clinic_id", req=True),
                _c("patient_ref", req=True),
                _c("consultation_id"),
                _c("provider_id", req=True),
                _c("device_id", req=True),
                _c("started_at", "ts", req=True),
                _c("treatment_area", req=True, codes=TREATMENT_AREAS),
                _c("wavelength_nm", "int"),
                _c("fluence_j_cm2", "dec", req=True),
                _c("spot_size_mm", "dec"),
                _c("rep_rate_hz", "dec"),
                _c("passes", "int"),
                _c("pulses", "int"),
                _c("numbing_cream", "bool"),
                _c("cooling", "bool"),
                _c("fitzpatrick", "fitzpatrick"),
                _c("clinical_endpoint"),
                _c("status", req=True, codes=("completed", "aborted", "voided")),
                _c("notes", pii=True),
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, **FITZPATRICK_FLAGS},
        ),
        Feed(
            "outcomes",
            # CSV rows carry response_id; survey-app answers get "<submission_id>:<instrument>".
            key=("response_id",),
            columns=(
                _c("response_id", req=True),
                _c("clinic_id", req=True),
                _c("patient_ref", req=True),
                _c("session_id"),
                _c("instrument", req=True, codes=tuple(INSTRUMENT_RANGES)),
                _c("rater", codes=("patient", "clinician")),
                _c("timepoint", codes=TIMEPOINTS),
                _c("score", "dec", req=True),
                _c("collected_at", "ts", req=True),
                _c("channel", codes=("in_clinic", "email", "sms", "app")),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, "submission_id": "VARCHAR", "source_system": "VARCHAR"},
        ),
        Feed(
            "side_effects",
            key=("event_id",),
            columns=(
                _c("event_id", req=True),
                _c("clinic_id", req=True),
                _c("patient_ref", req=True),
                _c("session_id"),
                _c("effect", req=True, codes=SIDE_EFFECTS),
                _c("severity", "severity", req=True),
                _c("onset_on", "date", req=True),
                _c("resolved_on", "date"),
                _c("reported_by", codes=("patient", "provider")),
                _c(
                    "action",
                    codes=(
                        "none",
                        "topical",
                        "oral_medication",
                        "treatment_paused",
                        "course_stopped",
                        "referral",
                    ),
                ),
                _c("serious", "bool"),
                _c("description", pii=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived=PATIENT_KEYED,
        ),
    ]
}

# Clinics come first: their timezone and datetime format apply to every other feed's rows.
FEED_ORDER = (
    "clinics",
    "providers",
    "devices",
    "patients",
    "consultations",
    "sessions",
    "outcomes",
    "side_effects",
)

DUCKDB_TYPES: dict[str, str] = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "dec": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "ts": "TIMESTAMP",
    "list": "VARCHAR",
    "fitzpatrick": "INTEGER",
    "severity": "VARCHAR",
}

LOCAL_TIME_COLUMNS = ("consulted_at", "started_at", "collected_at")

LINEAGE_COLUMNS = {
    "_file_sha256": "VARCHAR",
    "_record_number": "BIGINT",
    "_row_hash": "VARCHAR",
}


def raw_columns(feed: Feed) -> dict[str, str]:
    """Column name -> DuckDB type of `raw.<feed>` in the lake, in order.

    Timestamps are stored in UTC; the clinical event times (`LOCAL_TIME_COLUMNS`) are stored
    a second time as `<name>_local`, the clinic's wall-clock time, which day counts use.
    """
    columns: dict[str, str] = {}
    for column in feed.stored:
        columns[column.name] = DUCKDB_TYPES[column.type]
        if column.name in LOCAL_TIME_COLUMNS:
            columns[f"{column.name}_local"] = "TIMESTAMP"
    columns.update(feed.derived)
    columns.update(LINEAGE_COLUMNS)
    return columns
