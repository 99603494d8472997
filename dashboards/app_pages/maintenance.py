"""Maintenance: how long results last per skin type, and which courses are due back now."""

import pandas as pd
import plotly.colors
import plotly.graph_objects as go
import streamlit as st

from dashboards import access, data, ui

ALL = data.ALL
SKIN_TYPE_NAMES = {"unknown": "Unknown", ALL: "All skin types"}
# A colour-blind-safe palette; the all-skin-types curve is dark grey and dashed.
SKIN_TYPE_COLOURS = dict(
    zip(
        [skin_type for skin_type in data.SKIN_TYPES if skin_type != ALL],
        plotly.colors.qualitative.Safe,
        strict=False,
    )
)
ALL_COLOUR = "#444444"
BAND_OPACITY = 0.1


def skin_type_name(skin_type: str) -> str:
    return SKIN_TYPE_NAMES.get(skin_type, skin_type)


def concern_name(concern: str) -> str:
    return "All concerns" if concern == ALL else concern.replace("_", " ")


def translucent(colour: str) -> str:
    """A colour ('#rrggbb' or 'rgb(r, g, b)') as the see-through fill of a confidence band."""
    red, green, blue = (
        plotly.colors.hex_to_rgb(colour)
        if colour.startswith("#")
        else plotly.colors.unlabel_rgb(colour)
    )
    return f"rgba({red}, {green}, {blue}, {BAND_OPACITY})"


def cohort_traces(skin_type: str, curve: pd.DataFrame) -> list[go.Scatter]:
    """One skin type's band (upper bound, then the lower bound filled up to it) and its curve,
    all as steps: the estimate holds until the next event."""
    colour = SKIN_TYPE_COLOURS.get(skin_type, ALL_COLOUR)
    name = skin_type_name(skin_type)
    band = {"mode": "lines", "line": {"width": 0, "shape": "hv"}, "legendgroup": name}
    return [
        go.Scatter(
            x=curve["days"], y=curve["survival_ci_high"], showlegend=False, hoverinfo="skip", **band
        ),
        go.Scatter(
            x=curve["days"],
            y=curve["survival_ci_low"],
            fill="tonexty",
            fillcolor=translucent(colour),
            showlegend=False,
            hoverinfo="skip",
            **band,
        ),
        go.Scatter(
            x=curve["days"],
            y=curve["survival"],
            name=name,
            legendgroup=name,
            mode="lines",
            line={"shape": "hv", "color": colour, "dash": "dash" if skin_type == ALL else "solid"},
            customdata=curve[["survival_ci_low", "survival_ci_high", "at_risk"]],
            hovertemplate=(
                f"{name}<br>day %{{x}}: %{{y:.0%}} maintenance-free"
                "<br>95 % band %{customdata[0]:.0%} to %{customdata[1]:.0%}"
                "<br>%{customdata[2]} courses still followed<extra></extra>"
            ),
        ),
    ]


def survival_chart(curves: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for skin_type, curve in curves.groupby("skin_type", sort=False):
        figure.add_traces(cohort_traces(skin_type, curve))
    figure.update_layout(
        xaxis_title="Days since the course's last session",
        yaxis_title="Maintenance-free",
        yaxis={"tickformat": ".0%", "range": [0, 1.02]},
        legend_title_text="Skin type",
        hovermode="closest",
        margin={"t": 20},
    )
    return figure


def show_curves(concern: str) -> None:
    st.subheader("Maintenance-free over time", help=ui.definition("maintenance_free"))
    scope = access.clinic_scope()
    whose = (
        "Chain-wide: every clinic's completed initial courses"
        if scope is None
        else f"Your clinics' ({', '.join(scope)}) completed initial courses only"
    )
    st.caption(
        f"{whose}, estimated once per refresh "
        "(the clinic chosen for the worklist below does not narrow these curves). "
        "Shaded: the 95 % band. A curve stops where fewer than 11 courses are still followed. "
        "Click a skin type in the legend to hide it, double-click to show it alone."
    )
    with ui.page_data():
        curves = data.maintenance_curves(concern)
        not_drawn = data.maintenance_cohorts_not_drawn(concern)
    if curves.empty:
        st.info(
            f"No skin type has 11 or more completed initial courses for {concern_name(concern)}: "
            "nothing to draw yet. Choose another concern, or all concerns."
        )
    else:
        st.plotly_chart(survival_chart(curves), width="stretch")
    if not_drawn:
        names = ", ".join(skin_type_name(skin_type) for skin_type in not_drawn)
        st.caption(
            f"Not drawn, to protect patients: {names} (fewer than 11 courses each for "
            f"{concern_name(concern)})."
        )


NEED_BY_COLUMNS = {
    "skin_type": st.column_config.TextColumn("Skin type"),
    "courses": st.column_config.TextColumn(
        "Courses", help="Completed initial courses followed from their last session."
    ),
    "events": st.column_config.TextColumn(
        "Needed maintenance",
        help="Courses followed by a next course on the area or a regression of pigmentation.",
    ),
    "need_by_3m": st.column_config.NumberColumn(
        "By 3 months", format="percent", help=ui.definition("need_by")
    ),
    "need_by_6m": st.column_config.NumberColumn(
        "By 6 months", format="percent", help=ui.definition("need_by")
    ),
    "need_by_12m": st.column_config.NumberColumn(
        "By 12 months", format="percent", help=ui.definition("need_by")
    ),
    "median_days_to_need": st.column_config.NumberColumn(
        "Median days to need", format="%d", help=ui.definition("median_time_to_need")
    ),
}


def show_need_by(concern: str) -> None:
    st.subheader("Needing maintenance by 3, 6 and 12 months", help=ui.definition("need_by"))
    with ui.page_data():
        need_by = data.maintenance_need_by(concern)
    if need_by.empty:
        st.info(f"No completed initial course for {concern_name(concern)} yet.")
        return
    need_by["skin_type"] = need_by["skin_type"].map(skin_type_name)
    ui.table(
        need_by,
        "the need for maintenance",
        f"maintenance_need_{concern}.csv",
        column_config=NEED_BY_COLUMNS,
    )
    ui.suppression_note()


WORKLIST_COLUMNS = {
    "patient_ref": st.column_config.TextColumn(
        "Patient record",
        help="The patient's record number in the clinic's own system (shown to its managers).",
    ),
    "course_id": st.column_config.TextColumn("Course"),
    "patient_key": st.column_config.TextColumn(
        "Patient key", help="The pseudonymised patient key (no names in the warehouse)."
    ),
    "reason": st.column_config.TextColumn("Why due", width="large"),
    "skin_type": st.column_config.TextColumn("Skin type"),
    "primary_concern": st.column_config.TextColumn("Concern"),
    "treatment_area": st.column_config.TextColumn("Area"),
    "last_session_on_local": st.column_config.DateColumn("Last session"),
    "days_since": st.column_config.NumberColumn("Days since", format="%d"),
    "due_after_days": st.column_config.NumberColumn(
        "Due after days",
        format="%d",
        help="The cohort's median time to need, or 180 days where it has none.",
    ),
    "due_since": st.column_config.DateColumn("Due since"),
    "days_overdue": st.column_config.NumberColumn(
        "Days overdue", format="%d", help="Days since the course became due (sorted by this)."
    ),
}


def show_worklist() -> None:
    st.subheader("Due for maintenance", help=ui.definition("due_for_maintenance"))
    with ui.page_data():
        clinics = data.visible_clinics()
    if clinics.empty:
        st.info("No clinics in the warehouse yet: run `toning refresh` once clinics have landed.")
        return
    names = dict(zip(clinics["clinic_id"], clinics["clinic_name"], strict=True))
    clinic = st.selectbox(
        "Clinic",
        list(names),
        format_func=lambda clinic_id: f"{clinic_id} · {names[clinic_id]}",
        key="maintenance_clinic",
    )
    with ui.page_data():
        worklist = data.maintenance_worklist(clinic)
    if worklist.empty:
        st.info(f"No course of {names[clinic]} is due for maintenance as of the latest data.")
        return
    how_shown = (
        "Patients appear by their pseudonymised key: look them up in the clinic's own system."
    )
    if access.may_reidentify(clinic):
        try:
            worklist = data.with_patient_records(worklist, clinic)
            how_shown = (
                "Patients appear by their record number in the clinic's system; this view is "
                "recorded in the audit log."
            )
        except data.IdentityUnavailable as unavailable:
            st.warning(str(unavailable), icon=":material/lock_clock:")
    st.caption(
        f"{len(worklist):,} courses of {names[clinic]} to invite back, most overdue first. "
        + how_shown
    )
    ui.table(
        worklist,
        "the worklist",
        f"maintenance_due_{clinic}.csv",
        column_config=WORKLIST_COLUMNS,
    )


st.title("Maintenance")
st.caption(
    "How long results last after a completed first course, per skin type, and which courses "
    "are due for a maintenance session."
)
with ui.page_data():
    concerns = data.maintenance_concerns()
if not concerns:
    st.info(
        "No completed initial course has been followed yet: maintenance need appears once "
        "courses are completed. Run `toning refresh` after new exports land."
    )
else:
    chosen = st.selectbox(
        "Primary concern", concerns, format_func=concern_name, key="maintenance_concern"
    )
    show_curves(chosen)
    show_need_by(chosen)
show_worklist()
