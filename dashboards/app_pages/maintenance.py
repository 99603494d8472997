"""Maintenance (being built)."""

import streamlit as st

st.title("Maintenance")
st.info("This page is being built.")
