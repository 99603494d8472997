"""Results by skin type (being built)."""

import streamlit as st

st.title("Results by skin type")
st.info("This page is being built.")
