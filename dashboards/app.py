"""The Streamlit app: navigation only; each page lives in app_pages/.

Icons are Streamlit's bundled Material Symbols: emoji need a font a server's browser may lack.
"""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this file's folder on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

st.set_page_config(
    page_title="Laser toning outcomes", page_icon=":material/insights:", layout="wide"
)
pages = {
    "Clinic": [
        st.Page(
            "app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page("app_pages/results.py", title="Results by skin type", icon=":material/bar_chart:"),
        st.Page("app_pages/maintenance.py", title="Maintenance", icon=":material/event_repeat:"),
        st.Page("app_pages/safety.py", title="Safety", icon=":material/health_and_safety:"),
        st.Page(
            "app_pages/clinics.py",
            title="Clinics & providers",
            icon=":material/stacked_line_chart:",
        ),
    ],
    "Analysis": [
        st.Page("app_pages/data_quality.py", title="Data quality", icon=":material/fact_check:"),
        st.Page("app_pages/sql_console.py", title="SQL console", icon=":material/terminal:"),
        st.Page("app_pages/definitions.py", title="Definitions", icon=":material/menu_book:"),
    ],
}
st.navigation(pages).run()
