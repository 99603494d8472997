"""The encodings clinics may use for a value, as the contract lists them: the words, formats
and spellings the ingest reads (`ingest/encodings.py` turns them into parsers)."""

ISO_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
DMY_DATETIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
ISO_DATE_FORMATS = ("%Y-%m-%d",)
DMY_DATE_FORMATS = ("%d/%m/%Y",)
UTC_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"

TRUE_WORDS = ("true", "yes", "y", "1", "t")
FALSE_WORDS = ("false", "no", "n", "0", "f")
SEVERITY_WORDS = {"mild": "mild", "moderate": "moderate", "severe": "severe"}
SEVERITY_NUMBERS = {"1": "mild", "2": "moderate", "3": "severe"}
NULL_FITZPATRICK = ("", "unknown", "?", "na", "n/a")

# The supplied outcome timepoint, as clinic systems spell it (after `code_spelling`, with
# digits and letters split apart: `FU-3m` -> `fu_3_m`). Follow-ups are matched by pattern.
TIMEPOINT_WORDS = {
    "baseline": "baseline",
    "base_line": "baseline",
    "bl": "baseline",
    "pre": "baseline",
    "pre_treatment": "baseline",
    "pretreatment": "baseline",
    "before_treatment": "baseline",
    "post_session": "post_session",
    "postsession": "post_session",
    "after_session": "post_session",
    "per_session": "post_session",
    "end_of_course": "end_of_course",
    "endofcourse": "end_of_course",
    "course_end": "end_of_course",
    "end_of_treatment": "end_of_course",
    "eoc": "end_of_course",
    "eot": "end_of_course",
    "post_course": "end_of_course",
}
_FOLLOW_UP = r"(?:follow_up|followup|fu|f_u)"
_MONTHS = r"(?:m|mo|mos|mth|mths|month|months)"
_YEAR = r"(?:y|yr|year)"
FOLLOW_UP_PATTERNS = (
    # follow_up_3m, fu_3_m, 3_months, 3_month_follow_up, 3_months_post
    rf"^(?:{_FOLLOW_UP}_)?(3|6|12)_{_MONTHS}(?:_(?:{_FOLLOW_UP}|post|visit|review))?$",
    # month_3, m_3, fu_month_6
    rf"^(?:{_FOLLOW_UP}_)?(?:month|m)_(3|6|12)$",
    # 1_year, fu_1_y, 1_year_follow_up
    rf"^(?:{_FOLLOW_UP}_)?(1)_{_YEAR}(?:_{_FOLLOW_UP})?$",
)

# Characters that make two identifiers look alike or break a line: C0/C1 controls (NUL, tab,
# CR...), zero-width characters and bidirectional overrides.
INVISIBLE_CHARACTERS = (
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
