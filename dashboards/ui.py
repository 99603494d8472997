"""What every page does the same way: filters, tables with a safe CSV download, metric help, and
a sentence instead of a traceback. Pages lay out; data comes from dashboards/data.py only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import streamlit as st

from dashboards import access, data
from dashboards.disclosure import LEGEND, spreadsheet_safe_csv

EMPTY = "–"
FILTERS = ("clinic", "period", "concern", "area", "laser_type")


@contextmanager
def page_data() -> Iterator[None]:
    """Runs a page's data loading; no warehouse, or one built before this page existed, gets a
    sentence that says what to do, and the page stops there."""
    try:
        yield
    except (data.WarehouseMissing, access.NotAllowed) as missing:
        st.warning(str(missing))
        st.stop()
    except duckdb.CatalogException as missing:
        st.warning(
            "The published warehouse lacks what this page needs (it was built by an older "
            f"version): run `toning refresh` to rebuild it. ({str(missing).splitlines()[0]})"
        )
        st.stop()


def definition(metric: str) -> str | None:
    """The metric's definition in plain words, for a `help=` tooltip (dbt docs, _metrics.md)."""
    return data.metric_definitions().get(metric)


def percent(rate: float | None) -> str:
    return EMPTY if rate is None or pd.isna(rate) else f"{rate:.1%}"


def count(value: object) -> str:
    """A suppressed count as shown: `<11`, `hidden`, or the number with thousands separators."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return EMPTY
    text = str(value)
    return f"{int(text):,}" if text.isdigit() else text


def metric(column, label: str, value: str, name: str) -> None:
    column.metric(label, value, help=definition(name))


def table(frame: pd.DataFrame, what: str, file_name: str, **dataframe_options) -> None:
    """A table and its CSV download (spreadsheet-safe: no cell runs as a formula)."""
    st.dataframe(frame, hide_index=True, width="stretch", **dataframe_options)
    st.download_button(
        f"Download {what} as CSV",
        spreadsheet_safe_csv(frame),
        file_name,
        mime="text/csv",
        icon=":material/download:",
        on_click=access.record_download,
        args=(file_name, len(frame)),
    )


def suppression_note() -> None:
    st.caption(LEGEND)


def filters(show: tuple[str, ...] = FILTERS) -> data.Filters:
    """The sidebar filters this page uses; an empty choice means all."""
    options = data.filter_options()
    sidebar = st.sidebar
    sidebar.header("Filters")
    chosen: dict[str, tuple] = {}
    for name, label, values in [
        ("clinic", "Clinic", options.clinics),
        ("concern", "Primary concern", options.concerns),
        ("area", "Treatment area", options.areas),
        ("laser_type", "Laser type", options.laser_types),
    ]:
        if name in show:
            chosen[name] = tuple(sidebar.multiselect(label, values, placeholder="All"))
    start, end = None, None
    if "period" in show and options.first_day is not None:
        period = sidebar.date_input(
            "Period",
            value=(options.first_day, options.last_day),
            min_value=options.first_day,
            max_value=options.last_day,
        )
        if isinstance(period, tuple) and len(period) == 2:
            start, end = period
    applied = data.Filters(
        clinics=chosen.get("clinic", ()),
        start=start,
        end=end,
        concerns=chosen.get("concern", ()),
        areas=chosen.get("area", ()),
        laser_types=chosen.get("laser_type", ()),
    )
    access.note_filters(applied)
    return applied


def instrument(default: str = "pigmentation_vas") -> str:
    instruments = data.filter_options().instruments
    index = instruments.index(default) if default in instruments else 0
    return st.sidebar.selectbox("Outcome instrument", instruments, index=index)
