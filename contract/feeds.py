"""The landing feeds as the data contract defines them (../shared/DATA_CONTRACT.md).

One `Feed` per landing folder: which columns a file must have, how each is typed, which are
direct identifiers (never stored), and which codes are allowed. Ingest enforces this; the raw
tables it writes (`raw.<feed>` in the private lake) follow `raw_columns()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal[
    "id",  # an identifier: a key or a reference to another feed's key
    "str",
    "int",
    "dec",
    "bool",
    "date",
    "ts",
    "list",
    "fitzpatrick",
    "severity",
    "timepoint",
    "timezone",
]

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


@dataclass(frozen=True)
class Bounds:
    """The plausible values of a number: outside them a value is out of range."""

    low: float
    high: float
    low_exclusive: bool = False  # "above low" rather than "at least low"
    unit: str = ""

    def describe(self) -> str:
        lowest = "above" if self.low_exclusive else "at least"
        return (
            f"{lowest} {self.low:g} and at most {self.high:g}{' ' + self.unit if self.unit else ''}"
        )


# Fluence at or below 0, or above 10 J/cm2, is impossible for toning (DOMAIN.md).
FLUENCE_BOUNDS = Bounds(0.0, 10.0, low_exclusive=True, unit="J/cm2")
# Medical lasers run from the excimer's 193 nm to the CO2 laser's 10,600 nm.
WAVELENGTH_BOUNDS = Bounds(100, 12_000, unit="nm")


@dataclass(frozen=True)
class Column:
    """One column of a feed.

    `informational` columns are not needed to compute any metric: a value there that cannot
    be read (an unknown code, an unparseable or implausible value) is stored as null and
    reported as a data-quality finding, and the record loads. In every other column such a
    value quarantines the record, because a metric would count it wrongly.
    """

    name: str
    type: ColumnType
    required: bool = False
    pii: bool = False
    codes: tuple[str, ...] | None = None
    informational: bool = False
    bounds: Bounds | None = None
    # Other spellings of a code a clinic system plausibly uses (lower case) -> the code.
    aliases: dict[str, str] = field(default_factory=dict)


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


def _c(
    name: str,
    type_: ColumnType = "str",
    *,
    req: bool = False,
    pii: bool = False,
    codes: tuple[str, ...] | None = None,
    info: bool = False,
    bounds: Bounds | None = None,
    aliases: dict[str, str] | None = None,
) -> Column:
    return Column(name, type_, req, pii, codes, info, bounds, aliases or {})


def _id(name: str, *, req: bool = False, info: bool = False) -> Column:
    return _c(name, "id", req=req, info=info)


PATIENT_KEYED = {"patient_key": "VARCHAR"}
FITZPATRICK_FLAGS = {"fitzpatrick_is_range": "BOOLEAN", "fitzpatrick_unrecognised": "BOOLEAN"}
VOIDABLE = _c("voided", "bool")

SEX_ALIASES = {
    "female": "F",
    "woman": "F",
    "male": "M",
    "man": "M",
    "other": "X",
    "diverse": "X",
    "non_binary": "X",
    "nonbinary": "X",
}

FEEDS: dict[str, Feed] = {
    f.name: f
    for f in [
        Feed(
            "clinics",
            key=("clinic_id",),
            columns=(
                _id("clinic_id", req=True),
                _c("clinic_name", req=True),
                _c("region", info=True),
                # Unknown: the clinic's local times are read as UTC, and the finding says so.
                _c("timezone", "timezone", info=True),
                _c("datetime_format", codes=("iso", "dmy"), info=True),
                _c("opened_on", "date", info=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "providers",
            key=("provider_id",),
            columns=(
                _id("provider_id", req=True),
                _id("clinic_id", req=True),
                _c("display_name", info=True),
                _c(
                    "role",
                    codes=(
                        "dermatologist",
                        "plastic_surgeon",
                        "physician",
                        "nurse",
                        "aesthetician",
                    ),
                    info=True,
                ),
                _c("active", "bool", info=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "devices",
            key=("device_id",),
            columns=(
                _id("device_id", req=True),
                _id("clinic_id", req=True),
                _c("manufacturer", info=True),
                _c("model", info=True),
                _c(
                    "laser_type",
                    req=True,
                    codes=("qs_nd_yag", "pico_nd_yag", "qs_ruby", "qs_alexandrite", "other"),
                ),
                _c("wavelength_nm", "int", req=True, bounds=WAVELENGTH_BOUNDS),
                _c("installed_on", "date", info=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
        ),
        Feed(
            "patients",
            key=("clinic_id", "patient_ref"),
            columns=(
                _id("patient_ref", req=True),
                _id("clinic_id", req=True),
                _c("first_name", pii=True),
                _c("last_name", pii=True),
                _c("email", pii=True),
                _c("phone", pii=True),
                _c("date_of_birth", "date", pii=True),
                _c("postcode", pii=True),
                _c("sex", codes=("F", "M", "X"), info=True, aliases=SEX_ALIASES),
                _c("fitzpatrick", "fitzpatrick", info=True),
                _c("referral_source", info=True),
                _c("created_at", "ts", info=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, **FITZPATRICK_FLAGS},
        ),
        Feed(
            "consultations",
            key=("consultation_id",),
            columns=(
                _id("consultation_id", req=True),
                _id("clinic_id", req=True),
                _id("patient_ref", req=True),
                _id("provider_id", info=True),
                _c("consulted_at", "ts", req=True),
                _c("primary_concern", req=True, codes=CONCERNS),
                _c("secondary_concerns", "list", codes=CONCERNS, info=True),
                _c("fitzpatrick", "fitzpatrick", info=True),
                _c("treatment_areas", "list", codes=TREATMENT_AREAS, info=True),
                _c("contraindications", "list", codes=CONTRAINDICATIONS, info=True),
                # The plan decides a course's status (completed or dropped out).
                _c("planned_sessions", "int", bounds=Bounds(1, 100)),
                _c("planned_interval_days", "int", bounds=Bounds(1, 365)),
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
                _id("session_id", req=True),
                _id("clinic_id", req=True),
                _id("patient_ref", req=True),
                _id("consultation_id", info=True),
                _id("provider_id", req=True),
                _id("device_id", req=True),
                _c("started_at", "ts", req=True),
                _c("treatment_area", req=True, codes=TREATMENT_AREAS),
                _c("wavelength_nm", "int", info=True, bounds=WAVELENGTH_BOUNDS),
                _c("fluence_j_cm2", "dec", req=True, bounds=FLUENCE_BOUNDS),
                _c("spot_size_mm", "dec", info=True, bounds=Bounds(0, 50, low_exclusive=True)),
                _c("rep_rate_hz", "dec", info=True, bounds=Bounds(0, 100, low_exclusive=True)),
                _c("passes", "int", info=True, bounds=Bounds(1, 50)),
                _c("pulses", "int", info=True, bounds=Bounds(1, 1_000_000)),
                _c("numbing_cream", "bool", info=True),
                _c("cooling", "bool", info=True),
                _c("fitzpatrick", "fitzpatrick", info=True),
                _c("clinical_endpoint", info=True),
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
                _id("response_id", req=True),
                _id("clinic_id", req=True),
                _id("patient_ref", req=True),
                _id("session_id", info=True),
                _c("instrument", req=True, codes=tuple(INSTRUMENT_RANGES)),
                _c("rater", codes=("patient", "clinician"), info=True),
                # Only compared with the timepoint derived from dates (DOMAIN.md).
                _c("timepoint", "timepoint", codes=TIMEPOINTS, info=True),
                _c("score", "dec", req=True),
                _c("collected_at", "ts", req=True),
                _c("channel", codes=("in_clinic", "email", "sms", "app"), info=True),
                VOIDABLE,
                _c("updated_at", "ts", req=True),
            ),
            derived={**PATIENT_KEYED, "submission_id": "VARCHAR", "source_system": "VARCHAR"},
        ),
        Feed(
            "side_effects",
            key=("event_id",),
            columns=(
                _id("event_id", req=True),
                _id("clinic_id", req=True),
                _id("patient_ref", req=True),
                # Informational: an event without one is attributed by date (DOMAIN.md).
                _id("session_id", info=True),
                _c("effect", req=True, codes=SIDE_EFFECTS),
                _c("severity", "severity", req=True),
                _c("onset_on", "date", req=True),
                # Decides whether an expected reaction lasted long enough to be an AE.
                _c("resolved_on", "date"),
                _c("reported_by", codes=("patient", "provider"), info=True),
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
                    info=True,
                ),
                _c("serious", "bool"),  # a serious event is listed, never only aggregated
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
    "id": "VARCHAR",
    "str": "VARCHAR",
    "int": "BIGINT",
    "dec": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "ts": "TIMESTAMP",
    "list": "VARCHAR",
    "fitzpatrick": "INTEGER",
    "severity": "VARCHAR",
    "timepoint": "VARCHAR",
    "timezone": "VARCHAR",
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
