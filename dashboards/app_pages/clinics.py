"""Clinics & providers: is any clinic or provider unusual on safety or results once its skin-type
mix is allowed for (funnel plots), and where do patients leave between consultation and a
completed course.

Every number comes suppressed from dashboards/data.py; this page only lays out."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import data, ui
from dashboards.disclosure import SMALLEST_SHOWN

PERCENT = st.column_config.NumberColumn(format="percent")
UNITS = {"Clinics": "clinic", "Providers": "provider"}
LIMIT_LINES = (
    ("low_95", "95 % limits", "dash"),
    ("high_95", None, "dash"),
    ("low_998", "99.8 % limits", "dot"),
    ("high_998", None, "dot"),
)


@dataclass(frozen=True)
class FunnelView:
    """How one funnel is named on the page."""

    rate: str  # what is standardised, e.g. "AE session rate"
    volume: str  # what the volume counts, e.g. "completed sessions"
    observed: str  # what the observed count counts, e.g. "sessions with an AE"
    file_name: str


def funnel_figure(funnel: pd.DataFrame, view: FunnelView, unit: str) -> go.Figure:
    """Units' standardised rates against their volume, the chain rate and its funnel limits;
    units outside 99.8 % are labelled."""
    shown = funnel[funnel["standardised_rate"].notna()]
    chain_rate = float(shown["chain_rate"].iloc[0])
    # Units under 11 patients or cases are never shown: the funnel starts there.
    limits = data.funnel_limits(chain_rate, SMALLEST_SHOWN, pd.to_numeric(shown["volume"]).max())
    figure = go.Figure()
    for column, name, dash in LIMIT_LINES:
        figure.add_scatter(
            x=limits["volume"],
            y=limits[column],
            mode="lines",
            name=name or column,
            showlegend=name is not None,
            legendgroup=dash,
            line={"color": "gray", "dash": dash},
            hoverinfo="skip",
        )
    figure.add_scatter(
        x=limits["volume"],
        y=[chain_rate] * len(limits),
        mode="lines",
        name=f"Chain rate {ui.percent(chain_rate)}",
        line={"color": "black"},
    )
    outside = shown["outside_998"].fillna(False).astype(bool)
    figure.add_scatter(
        x=pd.to_numeric(shown["volume"]),
        y=shown["standardised_rate"],
        mode="markers+text",
        name=unit.capitalize() + "s",
        text=shown["unit_name"].where(outside, ""),
        textposition="top center",
        hovertext=shown["unit_name"],
        marker={"color": ["red" if flag else "#1f77b4" for flag in outside], "size": 10},
    )
    figure.update_layout(
        title=f"{view.rate[:1].upper()}{view.rate[1:]} per {unit}, standardised for skin-type"
        f" mix, against {view.volume}",
        xaxis_title=f"Volume ({view.volume})",
        yaxis_title=f"Standardised {view.rate} (%)",
        yaxis_tickformat=".0%",
    )
    return figure


def funnel_section(funnel: pd.DataFrame, view: FunnelView, unit: str) -> None:
    if funnel.empty:
        st.info(f"No {view.volume} match these filters. Widen the period or clear a filter.")
        return
    if funnel["standardised_rate"].notna().sum() == 0:
        st.info(
            f"Every {unit} has fewer than 11 patients or {view.volume} under these filters, so"
            " none is shown. Widen the period or clear a filter."
        )
    else:
        st.plotly_chart(funnel_figure(funnel, view, unit), width="stretch")
    table = funnel.rename(
        columns={"unit_id": unit, "volume": view.volume, "observed": view.observed}
    )
    rates = ("crude_rate", "standardised_rate", "chain_rate")
    ui.table(
        table,
        f"the {view.rate} funnel",
        view.file_name,
        column_config={
            **{column: PERCENT for column in rates},
            "expected": st.column_config.NumberColumn(format="%.1f"),
        },
    )


def ae_funnel(filters: data.Filters, unit: str) -> None:
    st.subheader(f"AE session rate per {unit}", help=ui.definition("funnel_plot"))
    view = FunnelView(
        "AE session rate", "completed sessions", "sessions with an AE", f"ae_funnel_{unit}.csv"
    )
    funnel_section(data.ae_funnel(filters, unit), view, unit)


def response_funnel(filters: data.Filters, instrument: str, unit: str) -> None:
    st.subheader(f"Response rate on {instrument} per {unit}", help=ui.definition("funnel_plot"))
    view = FunnelView(
        f"response rate ({instrument})",
        "measured courses",
        "responders",
        f"response_funnel_{instrument}_{unit}.csv",
    )
    funnel_section(data.response_funnel(filters, instrument, unit), view, unit)
    if unit == "provider":
        st.caption("A course counts for the provider who gave most of its sessions.")


def consultation_funnel(filters: data.Filters) -> None:
    st.subheader("From consultation to completed course", help=ui.definition("consultation_funnel"))
    funnel = data.consultation_funnel(filters)
    total = funnel.iloc[-1]
    stages = pd.to_numeric(total[list(data.FUNNEL_STAGES)], errors="coerce")
    if stages.fillna(0).sum() == 0:
        st.info("No consultation or course in these clinics and months. Widen the period.")
        return
    figure = go.Figure(
        go.Funnel(
            y=["Consultations", "Decided to proceed", "First sessions", "Courses completed"],
            x=stages.tolist(),
            textinfo="value+percent initial",
        )
    )
    figure.update_layout(
        title="Consultations, decisions to proceed, first sessions and completed courses"
        " (selected clinics and months)",
        xaxis_title="Count",
    )
    st.plotly_chart(figure, width="stretch")
    st.caption(
        "Each stage counts in its own month (the months the period touches): a flow through the"
        " clinics, not one group of patients followed. First sessions are of initial courses."
        " The laser, concern and area filters do not apply here."
    )
    ui.table(
        funnel,
        "the consultation funnel",
        "consultation_funnel.csv",
        column_config={"proceed_rate": PERCENT, "completion_rate": PERCENT},
    )


st.title("Clinics & providers")
with ui.page_data():
    chosen = ui.filters()
    chosen_instrument = ui.instrument()
    compared = UNITS[st.radio("Compare", list(UNITS), horizontal=True)]
    st.caption(
        "Each unit is compared with the whole chain under the period, concern, area and laser"
        " filters; the clinic filter picks the units shown. Rates are indirectly standardised"
        " for skin-type mix."
    )
    ae_funnel(chosen, compared)
    response_funnel(chosen, chosen_instrument, compared)
    consultation_funnel(chosen)
    ui.suppression_note()
