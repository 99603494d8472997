"""Definitions: every metric in plain words, and what each published table and column holds.

Both come from the dbt project (docs blocks and model docs), through the manifest the refresh
publishes beside the warehouse, so this page never drifts from what the models compute.
"""

import streamlit as st

from dashboards import data, ui

NO_MANIFEST = (
    "The published warehouse has no dbt manifest beside it (it was refreshed by an older "
    "version): run `toning refresh` to publish the definitions."
)
# Titles that capitalising the metric's name would get wrong.
METRIC_TITLES = {
    "ae_session_rate": "AE session rate",
    "course_ae_rate": "Course AE rate",
    "ae_by_effect": "Adverse events by effect or severity",
    "maintenance_free": "Maintenance-free share",
    "need_by": "Needing maintenance by 3, 6 or 12 months",
    "p_chart": "p-chart",
    "small_cells": "Small numbers (suppression)",
}
SCHEMAS = {
    "marts": (
        "Marts (schema `marts`)",
        "The tables analysts can rely on: their names and grains change only with a migration "
        "note. Exact numbers, no suppression.",
    ),
    "reference": (
        "Reference data (schema `reference`)",
        "The dbt seeds the marts use: instruments, plausible fluence ranges, the side-effect "
        "taxonomy, t quantiles.",
    ),
}
COLUMNS = {
    "column": st.column_config.TextColumn("Column"),
    "type": st.column_config.TextColumn("Type"),
    "description": st.column_config.TextColumn("Description", width="large"),
    "tests": st.column_config.TextColumn(
        "dbt tests", help="Checked by every refresh; '(warns)': a failure only warns."
    ),
}


def metric_title(name: str) -> str:
    words = name.replace("_", " ")
    return METRIC_TITLES.get(name, words[:1].upper() + words[1:])


def metric_anchor(name: str) -> str:
    """The anchor a page can link to: `definitions#metric-ae-session-rate`."""
    return "metric-" + name.replace("_", "-")


def show_metrics() -> None:
    st.header("Metrics", anchor="metrics")
    definitions = data.metric_definitions()
    if not definitions:
        st.info(NO_MANIFEST)
        return
    st.caption(
        "Every metric the dashboards show, in plain words; the same text is the help tooltip "
        "wherever the metric appears."
    )
    for name, definition in definitions.items():
        st.subheader(metric_title(name), anchor=metric_anchor(name))
        st.markdown(definition)


def show_table(schema: str, table: str, kind: str, description: str) -> None:
    with st.expander(f"{table} ({kind})"):
        st.markdown(description)
        with ui.page_data():
            columns = data.data_dictionary_columns(schema, table)
            whole_table_tests = data.data_dictionary_table_tests(schema, table)
        ui.table(
            columns,
            f"the columns of {table}",
            f"{schema}.{table}_columns.csv",
            column_config=COLUMNS,
        )
        if whole_table_tests:
            st.caption("Tests on the whole table: " + "; ".join(whole_table_tests) + ".")


def show_dictionary() -> None:
    st.header("Data dictionary", anchor="data-dictionary")
    with ui.page_data():
        tables = data.data_dictionary()
    if tables.empty:
        st.info(NO_MANIFEST)
        return
    st.caption(
        "Generated from the dbt project published with the warehouse: each table's "
        "description, its columns with their types in the warehouse, and the dbt tests on them."
    )
    for schema, (title, about) in SCHEMAS.items():
        in_schema = tables[tables["schema"] == schema]
        if in_schema.empty:
            continue
        st.subheader(title, anchor=f"schema-{schema}")
        st.caption(about)
        for row in in_schema.itertuples(index=False):
            show_table(row.schema, row.table, row.kind, row.description)


st.title("Definitions")
st.markdown("[Metrics](#metrics) · [Data dictionary](#data-dictionary)")
show_metrics()
show_dictionary()
