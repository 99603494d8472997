"""The Streamlit app: navigation only; each page lives in app_pages/."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this file's folder on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

st.set_page_config(page_title="Laser toning outcomes", page_icon="✨", layout="wide")
pages = [
    st.Page("app_pages/overview.py", title="Overview", icon="📊", default=True),
    st.Page("app_pages/data_quality.py", title="Data quality", icon="🩺"),
    st.Page("app_pages/sql_console.py", title="SQL console", icon=":material/terminal:"),
]
st.navigation(pages).run()
