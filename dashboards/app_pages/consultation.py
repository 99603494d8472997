"""Consultation aid: what this chain's record says a patient like the one in front of the provider
can expect (sessions, finishing the course, improvement, side effects, maintenance, comfort),
each with its uncertainty and what it rests on; the contraindications recorded for similar
patients; and a warning when a planned fluence or interval lies in a band where pigmentary side
effects were more frequent.

Every number comes suppressed from dashboards/data.py and is worded by
dashboards/consultation_words.py; this page only lays out."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import access, data, ui
from dashboards import consultation_words as words

ALL = data.ALL
LASER_TYPE_NAMES = {
    ALL: "any laser type",
    "qs_nd_yag": "Q-switched Nd:YAG",
    "pico_nd_yag": "picosecond Nd:YAG",
    "qs_alexandrite": "Q-switched alexandrite",
    "other": "other laser types",
    "unknown": "an unrecorded laser type",
}
# What an instrument is called to a patient (reference.instruments holds its full name).
INSTRUMENT_NAMES = {
    "mmasi": "mMASI",
    "pigmentation_vas": "the pigmentation score (VAS)",
    "gais": "the GAIS (Global Aesthetic Improvement Scale)",
}
# Each expectation's icon and the metric whose definition its tooltip shows.
EXPECTATIONS = {
    "Sessions": ("calendar_month", "expected_outcomes"),
    "Finishing the course": ("flag", "completion_rate"),
    "Improvement": ("trending_up", "response_rate"),
    "Side effects": ("healing", "course_ae_rate"),
    "Pigmentary side effects": ("contrast", "expected_outcomes"),
    "Maintenance": ("update", "need_by"),
}


def laser_name(laser_type: str) -> str:
    return LASER_TYPE_NAMES.get(laser_type, laser_type.replace("_", " "))


def concern_name(concern: str) -> str:
    return concern.replace("_", " ")


def whose_record() -> str:
    scope = access.clinic_scope()
    if scope is None:
        return "Chain-wide: every clinic's record."
    return f"Your clinics' ({', '.join(scope)}) record only."


def choose() -> data.Consultation | None:
    """The provider's choices, opening on the most common patient of the record; None (after
    saying so) before any course has finished."""
    with ui.page_data():
        concerns, laser_types = data.consultation_options()
        opening = data.consultation_opening()
    if not concerns or opening is None:
        st.info(
            "No finished course in the record yet: what similar patients experienced appears "
            "once courses are finished. Run `toning refresh` after new exports land."
        )
        return None
    columns = st.columns(5)
    choice = data.Consultation(
        skin_type=columns[0].selectbox(
            "Skin type",
            data.CONSULTATION_SKIN_TYPES,
            index=data.CONSULTATION_SKIN_TYPES.index(opening[0]),
            key="consultation_skin_type",
            help="Fitzpatrick skin type I-VI, as assessed at the consultation.",
        ),
        concern=columns[1].selectbox(
            "Primary concern",
            concerns,
            index=concerns.index(opening[1]),
            format_func=concern_name,
            key="consultation_concern",
        ),
        laser_type=columns[2].selectbox(
            "Laser type", laser_types, format_func=laser_name, key="consultation_laser_type"
        ),
        planned_fluence=columns[3].number_input(
            "Planned fluence (J/cm²)",
            min_value=0.0,
            max_value=10.0,
            value=None,
            step=0.1,
            format="%.2f",
            placeholder="optional",
            key="consultation_fluence",
        ),
        planned_interval=columns[4].number_input(
            "Planned interval (days)",
            min_value=1,
            max_value=365,
            value=None,
            step=1,
            placeholder="optional",
            key="consultation_interval",
        ),
    )
    access.note_filters(choice)
    return choice


# The figures behind the sentences, with their column labels. The completed and dropped-out
# courses are not shown: with the finished ones, either would give the other back
# (data.EXPECTED_DISCLOSURE hides the completion rate when one is small).
FIGURES = {
    "courses": "Finished courses",
    "completion_rate": "Completed",
    "completion_rate_ci_low": "Completed CI low",
    "completion_rate_ci_high": "Completed CI high",
    "sessions_to_completion_p25": "Sessions p25",
    "sessions_to_completion_median": "Sessions median",
    "sessions_to_completion_p75": "Sessions p75",
    "instrument": "Instrument",
    "courses_measured": "Measured courses",
    "responders": "Responders",
    "response_rate": "Responded",
    "response_rate_ci_low": "Responded CI low",
    "response_rate_ci_high": "Responded CI high",
    "courses_with_ae": "Courses with an AE",
    "course_ae_rate": "AE per course",
    "course_ae_rate_ci_low": "AE CI low",
    "course_ae_rate_ci_high": "AE CI high",
    "courses_with_pigmentary_ae": "Courses with a pigmentary AE",
    "course_pigmentary_rate": "Pigmentary AE per course",
    "course_pigmentary_rate_ci_low": "Pigmentary CI low",
    "course_pigmentary_rate_ci_high": "Pigmentary CI high",
    "maintenance_courses": "Courses followed for maintenance",
    "need_by_12m": "Maintenance by 12 months",
}
COMFORT = {
    "laser_type": "Laser type",
    "skin_type": "Skin type",
    "sessions_with_cream": "Sessions with cream",
    "mean_pain_with_cream": "Mean pain with cream",
    "sessions_without_cream": "Sessions without cream",
    "mean_pain_without_cream": "Mean pain without cream",
    "pain_difference": "Difference (with minus without)",
    "pain_difference_ci_low": "Difference CI low",
    "pain_difference_ci_high": "Difference CI high",
}


def column_config(labels: dict[str, str]) -> dict:
    """Each column's label; shares as percentages, mean pains with two decimals."""
    config = {}
    for column, label in labels.items():
        if "rate" in column or column == "need_by_12m":
            config[column] = st.column_config.NumberColumn(label, format="percent")
        elif "pain" in column:
            config[column] = st.column_config.NumberColumn(label, format="%.2f")
        else:
            config[column] = st.column_config.Column(label)
    return config


def expectations(choice: data.Consultation) -> None:
    st.subheader("What similar patients experienced", help=ui.definition("expected_outcomes"))
    st.caption(
        f"Patients of skin type {choice.skin_type} treated for {concern_name(choice.concern)} "
        f"with {laser_name(choice.laser_type)}, in finished courses. {whose_record()} This is "
        "the chain's own record, not a trial: patients were not assigned to treatments at "
        "random. A figure resting on too few courses is not given."
    )
    with ui.page_data():
        expected = data.expected_outcomes(choice.skin_type, choice.concern, choice.laser_type)
        comfort = data.comfort(choice.skin_type, choice.laser_type)
    if expected is None:
        st.info(
            f"No finished course of a patient of skin type {choice.skin_type} treated for "
            f"{concern_name(choice.concern)} with {laser_name(choice.laser_type)} in the record "
            "yet: nothing to tell from experience. Try any laser type."
        )
    else:
        shown = expected.shown
        instrument = INSTRUMENT_NAMES.get(shown["instrument"], shown["instrument_name"])
        sentences = words.expectations_in_words(shown, expected.withheld, instrument)
        for label, sentence in sentences.items():
            icon, metric = EXPECTATIONS[label]
            st.markdown(f":material/{icon}: **{label}.** {sentence}", help=ui.definition(metric))
    pain = (
        words.pain_in_words(comfort)
        if comfort is not None
        else "No session of a similar patient had its pain scored."
    )
    st.markdown(
        f":material/sentiment_satisfied: **Comfort.** {pain}", help=ui.definition("comfort")
    )
    figures_behind(expected, comfort)


def figures_behind(expected: data.Expected | None, comfort: pd.Series | None) -> None:
    with st.expander("The figures behind these sentences"):
        if expected is not None:
            ui.table(
                expected.shown[list(FIGURES)].to_frame().T.infer_objects().reset_index(drop=True),
                "what similar patients experienced",
                "expected_course_outcomes.csv",
                column_config=column_config(FIGURES),
            )
        if comfort is not None:
            ui.table(
                comfort[list(COMFORT)].to_frame().T.infer_objects().reset_index(drop=True),
                "pain with and without numbing cream",
                "comfort_by_numbing_cream.csv",
                column_config=column_config(COMFORT),
            )
        ui.suppression_note()


CONTRAINDICATION_COLUMNS = {
    "contraindication": None,
    "contraindication_label": st.column_config.TextColumn("Contraindication"),
    "consultations": st.column_config.TextColumn("Consultations"),
    "decided_proceed": st.column_config.TextColumn("Proceeded"),
    "decided_defer": st.column_config.TextColumn("Deferred"),
    "decided_decline": st.column_config.TextColumn("Declined"),
}


def contraindications(choice: data.Consultation) -> None:
    st.subheader(
        "Contraindications recorded for similar patients", help=ui.definition("contraindications")
    )
    with ui.page_data():
        recorded = data.contraindications_recorded(choice.skin_type, choice.concern)
    if recorded.empty:
        st.info(
            f"No consultation of a patient of skin type {choice.skin_type} with "
            f"{concern_name(choice.concern)} recorded its contraindications yet."
        )
        return
    st.caption(
        f"At consultations of patients of skin type {choice.skin_type} with "
        f"{concern_name(choice.concern)} (any laser type), and what was decided. A consultation "
        f"listing two contraindications counts under both. {whose_record()}"
    )
    ui.table(
        recorded,
        "the contraindications recorded",
        f"contraindications_{choice.skin_type}_{choice.concern}.csv",
        column_config=CONTRAINDICATION_COLUMNS,
    )


def planned(choice: data.Consultation, bands: pd.DataFrame, pooled: pd.DataFrame) -> None:
    """The planned fluence and interval, each against its band: a warning where the record
    shows a raised risk of pigmentary side effects for this laser type and skin type."""
    who = f"skin type {choice.skin_type} treated with the {laser_name(choice.laser_type)}"
    for factor, value in (
        ("fluence", choice.planned_fluence),
        ("interval", choice.planned_interval),
    ):
        if value is None:
            continue
        said = (
            f"A planned fluence of {value:g} J/cm²"
            if factor == "fluence"
            else f"A planned interval of {value} days"
        )
        band = data.planned_band(factor, value, choice.laser_type, choice.skin_type)
        if band is None:
            st.info(
                f"{said}: the reference has no plausible fluence range for the "
                f"{laser_name(choice.laser_type)} and skin type {choice.skin_type}, so it cannot "
                "be placed in a band."
            )
            continue
        rows = bands[(bands["factor"] == factor) & (bands["band"] == band["band"])]
        if rows.empty:
            st.info(
                f"{said} lies in the band {band['band_label']}; no session of {who} in the "
                "record falls in it, so the record says nothing about it."
            )
        elif rows["is_raised_risk"].iloc[0]:
            st.warning(
                words.raised_risk_in_words(said, rows.iloc[0], f"patients of {who}"),
                icon=":material/warning:",
            )
        else:
            st.info(words.band_in_words(said, rows.iloc[0]), icon=":material/info:")
            everyone = pooled[(pooled["factor"] == factor) & (pooled["band"] == band["band"])]
            if not everyone.empty and everyone["is_raised_risk"].iloc[0]:
                st.info(words.pooled_risk_in_words(everyone.iloc[0], choice.skin_type))


BAND_COLUMNS = {
    "laser_type": None,
    "skin_type": None,
    "band": None,
    "reference_label": None,
    "factor": st.column_config.TextColumn("Factor"),
    "band_label": st.column_config.TextColumn("Band"),
    "is_reference": st.column_config.CheckboxColumn("Reference band"),
    "sessions": st.column_config.TextColumn("Sessions"),
    "sessions_with_pigmentary_ae": st.column_config.TextColumn("With a pigmentary event"),
    "pigmentary_rate": st.column_config.NumberColumn("Pigmentary rate", format="percent"),
    "pigmentary_rate_ci_low": st.column_config.NumberColumn("Rate CI low", format="percent"),
    "pigmentary_rate_ci_high": st.column_config.NumberColumn("Rate CI high", format="percent"),
    "odds_ratio": st.column_config.NumberColumn("Odds ratio", format="%.2f"),
    "odds_ratio_ci_low": st.column_config.NumberColumn("OR CI low", format="%.2f"),
    "odds_ratio_ci_high": st.column_config.NumberColumn("OR CI high", format="%.2f"),
    "is_raised_risk": st.column_config.CheckboxColumn("Raised risk"),
}


def dose(choice: data.Consultation) -> None:
    st.subheader("The planned fluence and interval", help=ui.definition("dose_response"))
    if choice.laser_type == ALL:
        st.info("Choose a laser type to check a planned fluence or interval against the record.")
        return
    with ui.page_data():
        bands = data.dose_response_bands(choice.laser_type, choice.skin_type)
        pooled = data.dose_response_bands(choice.laser_type, ALL)
    if bands.empty:
        st.info(
            f"The record has no dose-response figures for the {laser_name(choice.laser_type)} "
            f"and skin type {choice.skin_type}: they cover completed Q-switched and picosecond "
            "Nd:YAG sessions of patients of a known skin type."
        )
        return
    if choice.planned_fluence is None and choice.planned_interval is None:
        st.caption(
            "Enter a planned fluence or interval above to see which band it falls in, and "
            "whether pigmentary side effects were more frequent there."
        )
    with ui.page_data():
        planned(choice, bands, pooled)
    with st.expander(
        f"Pigmentary side effects by band: skin type {choice.skin_type}, "
        f"{laser_name(choice.laser_type)}"
    ):
        st.caption(
            "Per session. Odds ratios against the reference band, pooled over clinics "
            f"(Mantel-Haenszel, 95 % interval). {whose_record()}"
        )
        ui.table(
            bands,
            "pigmentary side effects by band",
            f"dose_response_{choice.laser_type}_{choice.skin_type}.csv",
            column_config=BAND_COLUMNS,
        )
        ui.suppression_note()


st.title("Consultation aid")
st.caption(
    "What this chain's record says a patient like the one in front of you can expect, in words "
    "they understand: each figure with its 95 % interval and the courses it rests on."
)
chosen = choose()
if chosen is not None:
    expectations(chosen)
    contraindications(chosen)
    dose(chosen)
