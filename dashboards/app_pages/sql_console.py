"""SQL console (being built)."""

import streamlit as st

st.title("SQL console")
st.info("This page is being built.")
