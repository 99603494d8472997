"""Overview: is the warehouse there, how fresh is it, and what does it hold."""

import streamlit as st

from dashboards import data

st.title("Laser toning outcomes")

try:
    runs = data.last_refresh()
    counts = data.table_row_counts()
except data.WarehouseMissing as missing:
    st.warning(str(missing))
    st.stop()

if runs.empty:
    st.info("The warehouse has not been published by a refresh yet.")
else:
    run = runs.iloc[0]
    st.caption(
        f"Last published refresh {run.run_id}, finished {run.finished_at:%Y-%m-%d %H:%M} UTC"
    )

marts = counts[counts["schema"] == "marts"].set_index("table")["rows"]
columns = st.columns(3)
for column, (table, label) in zip(
    columns,
    [
        ("fct_sessions", "Completed sessions"),
        ("fct_courses", "Treatment courses"),
        ("dim_patients", "Patients"),
    ],
    strict=True,
):
    column.metric(label, f"{int(marts.get(table, 0)):,}")

st.subheader("Rows per table")
st.caption("Every table in the published warehouse and its row count.")
st.dataframe(counts, hide_index=True, width="stretch")
st.download_button("Download as CSV", counts.to_csv(index=False), "row_counts.csv", mime="text/csv")
