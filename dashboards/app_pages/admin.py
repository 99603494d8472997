"""Users & audit (admins): who may sign in, and everything signed-in people did."""

import streamlit as st

from dashboards import data, ui

st.title("Users & audit")

st.subheader("Users")
st.caption(
    "Who may sign in. Add, change or remove users on the server: "
    "`toning users add NAME --role manager|analyst|admin [--clinics C01,C02]`, "
    "`toning users remove NAME`."
)
with ui.page_data():
    users = data.dashboard_users()
st.dataframe(
    users,
    hide_index=True,
    width="stretch",
    column_config={"name": "Name", "role": "Role", "clinics": "Clinics"},
)

st.subheader("Audit log")
st.caption(
    "Every sign-in (and failed or locked-out attempt), page view with its filters, SQL query, "
    "download and re-identified worklist view, newest first. It names users, pages and "
    "clinics, never a patient."
)
with ui.page_data():
    events = data.audit_events()
if events.empty:
    st.info("Nothing recorded yet.")
    st.stop()
who, what = st.columns(2)
chosen_users = who.multiselect("User", sorted(events["user"].dropna().unique()), placeholder="All")
chosen_events = what.multiselect("Event", sorted(events["event"].unique()), placeholder="All")
shown = events
if chosen_users:
    shown = shown[shown["user"].isin(chosen_users)]
if chosen_events:
    shown = shown[shown["event"].isin(chosen_events)]
ui.table(
    shown,
    "these audit events",
    "audit_log.csv",
    column_config={
        "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "event": "Event",
        "user": "User",
        "role": "Role",
        "details": st.column_config.TextColumn("Details", width="large"),
    },
)
