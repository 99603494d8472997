"""The Streamlit app: sign-in, then the pages the user's role may open (dashboards/navigation.py);
each page lives in app_pages/."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this file's folder on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards import access, navigation  # noqa: E402  (needs the path above)

st.set_page_config(
    page_title="Laser toning outcomes", page_icon=":material/insights:", layout="wide"
)
user = access.signed_in_user()
if user is None:
    st.stop()
access.sign_out_button(user)
sections: dict[str, list] = {}
for entry in navigation.pages_for(user.role):
    sections.setdefault(entry.section, []).append(
        st.Page(
            entry.script,
            title=entry.title,
            icon=f":material/{entry.icon}:",
            default=entry == navigation.DEFAULT,
        )
    )
page = st.navigation(sections)
try:
    page.run()
finally:
    access.record_page(page.title)
