"""The landing contract's feeds, columns and codes, written out independently of `ingest`.

The generator must never import the ingest (a bug shared by both would pass every test), so the
contract (../shared/DATA_CONTRACT.md) is transcribed here on its own.
"""

from __future__ import annotations

FEEDS = (
    "clinics",
    "providers",
    "devices",
    "patients",
    "consultations",
    "sessions",
    "outcomes",
    "side_effects",
)

FITZPATRICK_ROMAN = ("I", "II", "III", "IV", "V", "VI")
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
DECISIONS = ("proceed", "defer", "decline")
ROLES = ("dermatologist", "plastic_surgeon", "physician", "nurse", "aesthetician")
LASER_TYPES = ("qs_nd_yag", "pico_nd_yag", "qs_ruby", "qs_alexandrite", "other")
SESSION_STATUSES = ("completed", "aborted", "voided")
SEVERITIES = ("mild", "moderate", "severe")
REPORTERS = ("patient", "provider")
ACTIONS = ("none", "topical", "oral_medication", "treatment_paused", "course_stopped", "referral")
RATERS = ("patient", "clinician")
CHANNELS = ("in_clinic", "email", "sms", "app")
TIMEPOINTS = (
    "baseline",
    "post_session",
    "end_of_course",
    "follow_up_3m",
    "follow_up_6m",
    "follow_up_12m",
)

EXPECTED_REACTIONS = ("erythema", "edema", "burning", "sensitivity", "petechiae")
PIGMENTARY_EFFECTS = (
    "pih",
    "hypopigmentation",
    "mottled_hypopigmentation",
    "rebound_hyperpigmentation",
)
OTHER_EFFECTS = (
    "acneiform_eruption",
    "urticaria",
    "herpes_reactivation",
    "blistering",
    "crusting",
    "other",
)
EFFECTS = EXPECTED_REACTIONS + PIGMENTARY_EFFECTS + OTHER_EFFECTS

# Instrument -> (rater, lowest, highest).
INSTRUMENTS: dict[str, tuple[str, float, float]] = {
    "mmasi": ("clinician", 0, 24),
    "pigmentation_vas": ("patient", 0, 10),
    "gais": ("patient", 1, 5),
    "satisfaction_5": ("patient", 1, 5),
    "pain_vas": ("patient", 0, 10),
}

# Contract column order per feed (the optional `voided` column where the contract allows it).
COLUMNS: dict[str, tuple[str, ...]] = {
    "clinics": (
        "clinic_id",
        "clinic_name",
        "region",
        "timezone",
        "datetime_format",
        "opened_on",
        "updated_at",
    ),
    "providers": ("provider_id", "clinic_id", "display_name", "role", "active", "updated_at"),
    "devices": (
        "device_id",
        "clinic_id",
        "manufacturer",
        "model",
        "laser_type",
        "wavelength_nm",
        "installed_on",
        "updated_at",
    ),
    "patients": (
        "patient_ref",
        "clinic_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "postcode",
        "sex",
        "fitzpatrick",
        "referral_source",
        "created_at",
        "updated_at",
    ),
    "consultations": (
        "consultation_id",
        "clinic_id",
        "patient_ref",
        "provider_id",
        "consulted_at",
        "primary_concern",
        "secondary_concerns",
        "fitzpatrick",
        "treatment_areas",
        "contraindications",
        "planned_sessions",
        "planned_interval_days",
        "decision",
        "notes",
        "updated_at",
    ),
    "sessions": (
        "session_id",
        "clinic_id",
        "patient_ref",
        "consultation_id",
        "provider_id",
        "device_id",
        "started_at",
        "treatment_area",
        "wavelength_nm",
        "fluence_j_cm2",
        "spot_size_mm",
        "rep_rate_hz",
        "passes",
        "pulses",
        "numbing_cream",
        "cooling",
        "fitzpatrick",
        "clinical_endpoint",
        "status",
        "notes",
        "updated_at",
    ),
    "outcomes": (
        "response_id",
        "clinic_id",
        "patient_ref",
        "session_id",
        "instrument",
        "rater",
        "timepoint",
        "score",
        "collected_at",
        "channel",
        "updated_at",
    ),
    "side_effects": (
        "event_id",
        "clinic_id",
        "patient_ref",
        "session_id",
        "effect",
        "severity",
        "onset_on",
        "resolved_on",
        "reported_by",
        "action",
        "serious",
        "description",
        "updated_at",
    ),
}

KEYS: dict[str, tuple[str, ...]] = {
    "clinics": ("clinic_id",),
    "providers": ("provider_id",),
    "devices": ("device_id",),
    "patients": ("clinic_id", "patient_ref"),
    "consultations": ("consultation_id",),
    "sessions": ("session_id",),
    "outcomes": ("response_id",),
    "side_effects": ("event_id",),
}

# Column kinds that need encoding (everything else is written as text as is).
TIMESTAMP_COLUMNS = frozenset(
    {"updated_at", "created_at", "consulted_at", "started_at", "collected_at"}
)
DATE_COLUMNS = frozenset({"opened_on", "installed_on", "date_of_birth", "onset_on", "resolved_on"})
BOOL_COLUMNS = frozenset({"active", "numbing_cream", "cooling", "serious", "voided"})
INT_COLUMNS = frozenset(
    {"wavelength_nm", "planned_sessions", "planned_interval_days", "passes", "pulses"}
)
DEC_COLUMNS = frozenset({"fluence_j_cm2", "spot_size_mm", "rep_rate_hz", "score"})
# Direct identifiers and free text (never allowed in the warehouse).
PII_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("first_name", "last_name", "email", "phone", "date_of_birth", "postcode"),
    "consultations": ("notes",),
    "sessions": ("notes",),
    "side_effects": ("description",),
}
