"""A one-filter app: the browser test checks its selectbox helper against real Streamlit here,
because no dashboard page has a filter yet."""

import streamlit as st

SESSIONS_PER_CLINIC = {"All clinics": "15", "Orchard Skin": "9", "Harley Laser": "6"}

st.title("Filter demo")
clinic = st.selectbox("Clinic", list(SESSIONS_PER_CLINIC))
st.metric("Completed sessions", SESSIONS_PER_CLINIC[clinic])
