"""Definitions (being built)."""

import streamlit as st

st.title("Definitions")
st.info("This page is being built.")
