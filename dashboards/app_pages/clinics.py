"""Clinics & providers (being built)."""

import streamlit as st

st.title("Clinics & providers")
st.info("This page is being built.")
