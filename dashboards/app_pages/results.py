"""Results by skin type: do patients of each Fitzpatrick type get results?"""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import data, ui

st.title("Results by skin type")

COLUMNS = {
    "skin_type": "Skin type",
    "courses": "Completed courses",
    "patients": "Patients",
    "courses_measured": "Measured courses",
    "responders": "Responders",
    "response_rate": "Response rate",
    "response_rate_ci_low": "Response CI low",
    "response_rate_ci_high": "Response CI high",
    "mean_change": "Mean change",
    "mean_change_ci_low": "Change CI low",
    "mean_change_ci_high": "Change CI high",
    "satisfaction_measured": "Satisfaction measured",
    "satisfaction_rate": "Satisfied",
}


def interval_bars(results: pd.DataFrame, value: str, title: str, axis: str, scale: float) -> None:
    shown = results.dropna(subset=[value])
    figure = go.Figure(
        go.Bar(
            x=shown["skin_type"],
            y=shown[value] * scale,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (shown[f"{value}_ci_high"] - shown[value]) * scale,
                "arrayminus": (shown[value] - shown[f"{value}_ci_low"]) * scale,
            },
        )
    )
    figure.update_layout(title=title, xaxis_title="Fitzpatrick skin type", yaxis_title=axis)
    st.plotly_chart(figure, width="stretch")


with ui.page_data():
    filters = ui.filters()
    instrument = ui.instrument()
    results = data.results_by_skin_type(filters, instrument)

if results.empty:
    st.info(
        "No completed course in this selection: widen the period, or clear a clinic, concern, "
        "area or laser type filter."
    )
    st.stop()
st.caption(
    f"Completed courses whose last session falls in the period, measured on **{instrument}** "
    "(baseline and end-of-course scores). Bars show the response rate with its 95 % Wilson "
    "interval; a skin type resting on fewer than 11 patients or measured courses has no bar."
)
left, right = st.columns(2)
with left:
    interval_bars(
        results,
        "response_rate",
        f"Response rate by skin type ({instrument})",
        "Responders (%)",
        100,
    )
with right:
    interval_bars(
        results,
        "mean_change",
        f"Mean change from baseline ({instrument}, 95 % t CI)",
        f"End minus baseline ({instrument} points)",
        1,
    )
st.subheader("Per skin type")
st.caption(
    f"Response rate: {ui.definition('response_rate') or ''} Satisfied: "
    f"{ui.definition('satisfaction') or ''}"
)
ui.table(
    results[list(COLUMNS)].rename(columns=COLUMNS),
    "results by skin type",
    "results_by_skin_type.csv",
    column_config={
        **{
            label: st.column_config.NumberColumn(label, format="percent")
            for label in ["Response rate", "Response CI low", "Response CI high", "Satisfied"]
        },
        **{
            label: st.column_config.NumberColumn(label, format="%.2f")
            for label in ["Mean change", "Change CI low", "Change CI high"]
        },
    },
)
ui.suppression_note()
