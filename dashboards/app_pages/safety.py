"""Safety: how often completed sessions lead to adverse events, for which skin types, effects and
fluences, whether a clinic is drifting month by month, and every serious event one by one.

Every number comes suppressed from dashboards/data.py; this page only lays out."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import data, ui

PERCENT = st.column_config.NumberColumn(format="percent")
RATE_COLUMNS = (
    "ae_session_rate",
    "ae_session_rate_ci_low",
    "ae_session_rate_ci_high",
    "pigmentary_rate",
    "pigmentary_rate_ci_low",
    "pigmentary_rate_ci_high",
    "session_rate",
    "session_rate_ci_low",
    "session_rate_ci_high",
    "centre_line",
    "lower_limit",
    "upper_limit",
)
ONE_DECIMAL = st.column_config.NumberColumn(format="%.1f")
NARROW = "Widen the period or clear a filter in the sidebar."


def percent_columns(frame: pd.DataFrame) -> dict:
    """How the frame's rates (and events per 1,000 sessions) are shown in a table."""
    config = {column: PERCENT for column in RATE_COLUMNS if column in frame.columns}
    if "events_per_1000_sessions" in frame.columns:
        config["events_per_1000_sessions"] = ONE_DECIMAL
    return config


def rate_bars(frame: pd.DataFrame, x: str, rate: str, name: str | None = None) -> go.Bar:
    """Bars of a rate with its Wilson 95 % interval as error bars (rows without a rate are
    suppressed: no bar)."""
    shown = frame[frame[rate].notna()]
    return go.Bar(
        x=shown[x],
        y=shown[rate],
        name=name,
        error_y={
            "type": "data",
            "array": shown[f"{rate}_ci_high"] - shown[rate],
            "arrayminus": shown[rate] - shown[f"{rate}_ci_low"],
        },
    )


def rate_figure(bars: list[go.Bar], title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure(bars)
    figure.update_layout(
        title=title, xaxis_title=x_title, yaxis_title=y_title, yaxis_tickformat=".1%"
    )
    return figure


def headline(filters: data.Filters) -> None:
    row = data.safety_headline(filters).iloc[0]
    columns = st.columns(5)
    ui.metric(columns[0], "Completed sessions", ui.count(row.sessions), "sessions")
    ui.metric(columns[1], "AE session rate", ui.percent(row.ae_session_rate), "ae_session_rate")
    ui.metric(columns[2], "Pigmentary rate", ui.percent(row.pigmentary_rate), "pigmentary_rate")
    ui.metric(columns[3], "Serious events", ui.count(row.serious_events), "serious_events")
    ui.metric(
        columns[4],
        "Fluence out of range",
        ui.count(row.sessions_fluence_out_of_range),
        "fluence_out_of_range",
    )
    if pd.notna(row.ae_session_rate):
        st.caption(
            "95 % Wilson intervals: AE session rate"
            f" {ui.percent(row.ae_session_rate_ci_low)} to"
            f" {ui.percent(row.ae_session_rate_ci_high)}, pigmentary rate"
            f" {ui.percent(row.pigmentary_rate_ci_low)} to"
            f" {ui.percent(row.pigmentary_rate_ci_high)}."
        )


def by_skin_type(filters: data.Filters) -> None:
    st.subheader("Adverse events by skin type", help=ui.definition("ae_session_rate"))
    frame = data.safety_by_skin_type(filters)
    if frame.empty:
        st.info(f"No completed sessions match these filters. {NARROW}")
        return
    figure = rate_figure(
        [rate_bars(frame, "skin_type", "ae_session_rate")],
        "AE session rate by Fitzpatrick skin type, with 95 % Wilson intervals",
        "Fitzpatrick skin type",
        "Sessions with an adverse event (%)",
    )
    st.plotly_chart(figure, width="stretch")
    ui.table(
        frame,
        "adverse events by skin type",
        "safety_by_skin_type.csv",
        column_config=percent_columns(frame),
    )


def by_effect_and_severity(filters: data.Filters) -> None:
    st.subheader("Adverse events by effect and severity", help=ui.definition("ae_by_effect"))
    effects = data.adverse_events_by(filters, "effect")
    if effects.empty:
        st.info(f"No adverse event is attributed to the sessions these filters select. {NARROW}")
        return
    figure = rate_figure(
        [rate_bars(effects, "effect", "session_rate")],
        "Share of completed sessions with each adverse effect, with 95 % Wilson intervals",
        "Effect",
        "Sessions with the effect (%)",
    )
    st.plotly_chart(figure, width="stretch")
    ui.table(
        effects,
        "adverse events by effect",
        "adverse_events_by_effect.csv",
        column_config=percent_columns(effects),
    )
    severities = data.adverse_events_by(filters, "severity")
    ui.table(
        severities,
        "adverse events by severity",
        "adverse_events_by_severity.csv",
        column_config=percent_columns(severities),
    )


def by_fluence_band(filters: data.Filters) -> None:
    st.subheader("Adverse events by fluence", help=ui.definition("fluence_band"))
    frame = data.ae_by_fluence_band(filters)
    if frame.empty:
        st.info(f"No completed sessions match these filters. {NARROW}")
        return
    bars = [
        rate_bars(sessions, "fluence_band", "ae_session_rate", name=laser_type)
        for laser_type, sessions in frame.groupby("laser_type", sort=True)
    ]
    figure = rate_figure(
        bars,
        "AE session rate by fluence band within the plausible range, per laser type,"
        " with 95 % Wilson intervals",
        "Fluence relative to the range for the laser type and skin type",
        "Sessions with an adverse event (%)",
    )
    figure.update_layout(barmode="group", legend_title="Laser type")
    st.plotly_chart(figure, width="stretch")
    ui.table(
        frame,
        "adverse events by fluence band",
        "adverse_events_by_fluence.csv",
        column_config=percent_columns(frame),
    )


def serious_list(filters: data.Filters) -> None:
    st.subheader("Serious events", help=ui.definition("serious_events"))
    events = data.serious_events(filters)
    if events.empty:
        st.info("No serious event under these filters.")
        return
    st.caption(
        "Every event that was severe or marked serious by the clinic, newest onset first. An"
        " event counts in the clinic and period of the session it followed."
    )
    ui.table(events, "serious events", "serious_events.csv")


def p_chart_figure(chart: pd.DataFrame, clinic: str) -> go.Figure:
    shown = chart[chart["ae_session_rate"].notna()]
    signals = shown[shown["out_of_control"]]
    figure = go.Figure(
        [
            go.Scatter(
                x=shown["month"],
                y=shown["ae_session_rate"],
                mode="lines+markers",
                name="AE session rate",
                line={"color": "#1f77b4"},
            ),
            go.Scatter(
                x=shown["month"],
                y=shown["centre_line"],
                mode="lines",
                name="Centre line (p̄)",
                line={"color": "gray"},
            ),
            go.Scatter(
                x=shown["month"],
                y=shown["upper_limit"],
                mode="lines",
                name="Upper 3σ limit",
                line={"color": "gray", "dash": "dash", "shape": "hvh"},
            ),
            go.Scatter(
                x=shown["month"],
                y=shown["lower_limit"],
                mode="lines",
                name="Lower 3σ limit",
                line={"color": "gray", "dash": "dot", "shape": "hvh"},
            ),
            go.Scatter(
                x=signals["month"],
                y=signals["ae_session_rate"],
                mode="markers",
                name="Out of control",
                marker={"color": "red", "size": 12},
            ),
        ]
    )
    figure.update_layout(
        title=f"Monthly AE session rate at {clinic} against its 3-sigma control limits",
        xaxis_title="Month (clinic-local dates)",
        yaxis_title="Sessions with an adverse event (%)",
        yaxis_tickformat=".1%",
    )
    return figure


def p_chart(filters: data.Filters) -> None:
    st.subheader("Month by month: is a clinic drifting?", help=ui.definition("p_chart"))
    clinics = list(filters.clinics) or data.filter_options().clinics
    if not clinics:
        st.info("The warehouse holds no clinic yet.")
        return
    clinic = st.selectbox("Clinic for the p-chart", clinics)
    chart = data.p_chart(filters, clinic)
    if chart["ae_session_rate"].notna().sum() == 0:
        st.info(
            f"{clinic} has no month with 11 or more completed sessions under these filters."
            f" {NARROW}"
        )
        return
    st.plotly_chart(p_chart_figure(chart, clinic), width="stretch")
    st.caption(
        "Months with fewer than 11 sessions or patients are not drawn. The centre line is the"
        " clinic's AE session rate over all the months shown."
    )
    signals = chart[chart["out_of_control"]]
    if signals.empty:
        st.success(f"No month at {clinic} lies outside its control limits.")
    else:
        st.warning(f"{len(signals)} month(s) at {clinic} lie outside the control limits.")
        ui.table(
            signals,
            "out-of-control months",
            f"out_of_control_months_{clinic}.csv",
            column_config=percent_columns(signals),
        )
    with st.expander("Every month of the p-chart"):
        ui.table(
            chart,
            "the p-chart's months",
            f"p_chart_{clinic}.csv",
            column_config=percent_columns(chart),
        )


def fluence_out_of_range(filters: data.Filters) -> None:
    st.subheader(
        "Sessions with fluence out of range for the skin type",
        help=ui.definition("fluence_out_of_range"),
    )
    sessions = data.fluence_out_of_range_sessions(filters)
    if sessions.empty:
        st.info("No session under these filters had a fluence outside its plausible range.")
        return
    ui.table(sessions, "sessions with fluence out of range", "fluence_out_of_range.csv")


st.title("Safety")
with ui.page_data():
    chosen = ui.filters()
    headline(chosen)
    serious_list(chosen)
    by_skin_type(chosen)
    by_effect_and_severity(chosen)
    by_fluence_band(chosen)
    p_chart(chosen)
    fluence_out_of_range(chosen)
    ui.suppression_note()
