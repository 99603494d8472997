"""Overview: how the clinics are doing in the period, and whether the numbers are fresh."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards import data, ui

st.title("Overview")


MONTH_COLUMNS = {
    "month": "Month",
    "patients": "Patients",
    "sessions": "Completed sessions",
    "sessions_with_ae": "Sessions with an AE",
    "ae_session_rate": "AE session rate",
    "ae_session_rate_ci_low": "CI low",
    "ae_session_rate_ci_high": "CI high",
}


def refresh_status() -> None:
    """The latest refresh; a failed one is said loudly, with what the pages still show."""
    runs = data.run_history()
    if runs.empty:
        st.caption("No refresh has been recorded in this data folder yet.")
        return
    latest, shown = runs.iloc[0], data.in_use(runs)
    if latest.status == "published":
        st.caption(
            f"Data as of the refresh {latest.run_id}, published "
            f"{latest.finished_at:%Y-%m-%d %H:%M} UTC."
        )
    elif latest.status == "rolled_back":
        st.warning(
            f"Rolled back on {latest.finished_at:%Y-%m-%d %H:%M} UTC: these pages show the "
            f"warehouse published by the refresh {shown.warehouse_run}.",
            icon=":material/history:",
        )
    else:
        still = (
            f"these pages still show the warehouse of the refresh {shown.warehouse_run} "
            f"(in place since {shown.finished_at:%Y-%m-%d %H:%M} UTC)"
            if shown is not None
            else "nothing has been published yet"
        )
        st.error(
            f"The last refresh ({latest.run_id}, started {latest.started_at:%Y-%m-%d %H:%M} "
            f"UTC) {latest.status}: {latest.error or 'no reason recorded'}. Nothing from it was "
            f"published; {still}. The Data quality page lists its findings.",
            icon=":material/error:",
        )


def headline(totals: pd.Series, instrument: str) -> None:
    first = st.columns(4)
    ui.metric(first[0], "Patients treated", ui.count(totals.patients), "patients")
    ui.metric(first[1], "Completed sessions", ui.count(totals.sessions), "sessions")
    ui.metric(first[2], "Courses started", ui.count(totals.courses), "courses")
    ui.metric(
        first[3], "Courses in progress", ui.count(totals.courses_in_progress), "courses_in_progress"
    )
    second = st.columns(5)
    ui.metric(second[0], "Completion rate", ui.percent(totals.completion_rate), "completion_rate")
    ui.metric(second[1], "Dropout rate", ui.percent(totals.dropout_rate), "dropout_rate")
    ui.metric(second[2], "Response rate", ui.percent(totals.response_rate), "response_rate")
    ui.metric(second[3], "AE session rate", ui.percent(totals.ae_session_rate), "ae_session_rate")
    ui.metric(second[4], "Serious events", ui.count(totals.serious_events), "serious_events")


def trends(months: pd.DataFrame) -> None:
    sessions = pd.to_numeric(months["sessions"], errors="coerce")
    left, right = st.columns(2)
    volume = px.bar(
        months.assign(sessions=sessions),
        x="month",
        y="sessions",
        title="Completed sessions per month",
        labels={"month": "Month", "sessions": "Completed sessions"},
    )
    left.plotly_chart(volume, width="stretch")
    rate = go.Figure(
        go.Scatter(
            x=months["month"],
            y=months["ae_session_rate"] * 100,
            mode="markers",
            name="AE session rate",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (months["ae_session_rate_ci_high"] - months["ae_session_rate"]) * 100,
                "arrayminus": (months["ae_session_rate"] - months["ae_session_rate_ci_low"]) * 100,
            },
        )
    )
    rate.update_layout(
        title="AE session rate per month, with 95 % Wilson CI",
        xaxis_title="Month",
        yaxis_title="Sessions with an adverse event (%)",
    )
    right.plotly_chart(rate, width="stretch")


refresh_status()
with ui.page_data():
    filters = ui.filters(show=("clinic", "period"))
    instrument = ui.instrument()
    totals = data.overview(filters, instrument).iloc[0]
    months = data.monthly_activity(filters)

if months.empty:
    st.info("No completed sessions in this period for these clinics: widen the period or clinics.")
    st.stop()
st.caption(
    "Sessions and patients count in the period of the session; courses started in that of "
    "their first session; completion, dropout and response in that of the course's last "
    f"session; serious events in that of their onset. Response is measured on **{instrument}** "
    "(sidebar). Hover a label for its definition."
)
headline(totals, instrument)
st.subheader("Monthly trends")
st.caption(
    "A month whose sessions with an adverse event number 1 to 10 has no AE point: the rate "
    "would give that small count back."
)
trends(months)
ui.suppression_note()
ui.table(
    months.assign(month=months["month"].dt.strftime("%Y-%m")).rename(columns=MONTH_COLUMNS),
    "the monthly figures",
    "monthly_activity.csv",
    column_config={
        label: st.column_config.NumberColumn(label, format="percent")
        for label in ["AE session rate", "CI low", "CI high"]
    },
)
