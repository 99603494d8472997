"""The Streamlit app: sign-in, then the pages the user's role may open; each page lives in
app_pages/.

Icons are Streamlit's bundled Material Symbols: emoji need a font a server's browser may lack.
"""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this file's folder on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards import access  # noqa: E402  (needs the path above)
from toning.users import ADMIN, ANALYST, MANAGER  # noqa: E402

EVERYONE = (MANAGER, ANALYST, ADMIN)
# (section, file, title, icon, roles): a manager reads their clinics' pages and the
# definitions; analysts also the chain's data quality and the SQL console; admins also the
# users and the audit log.
PAGES = [
    ("Clinic", "app_pages/overview.py", "Overview", "dashboard", EVERYONE),
    ("Clinic", "app_pages/results.py", "Results by skin type", "bar_chart", EVERYONE),
    ("Clinic", "app_pages/maintenance.py", "Maintenance", "event_repeat", EVERYONE),
    ("Clinic", "app_pages/safety.py", "Safety", "health_and_safety", EVERYONE),
    ("Clinic", "app_pages/clinics.py", "Clinics & providers", "stacked_line_chart", EVERYONE),
    ("Analysis", "app_pages/data_quality.py", "Data quality", "fact_check", access.CHAIN_WIDE),
    ("Analysis", "app_pages/sql_console.py", "SQL console", "terminal", access.CHAIN_WIDE),
    ("Analysis", "app_pages/definitions.py", "Definitions", "menu_book", EVERYONE),
    ("Administration", "app_pages/admin.py", "Users & audit", "admin_panel_settings", (ADMIN,)),
]

st.set_page_config(
    page_title="Laser toning outcomes", page_icon=":material/insights:", layout="wide"
)
user = access.signed_in_user()
if user is None:
    st.stop()
access.sign_out_button(user)
sections: dict[str, list] = {}
for section, file, title, icon, roles in PAGES:
    if user.role in roles:
        page = st.Page(file, title=title, icon=f":material/{icon}:", default=file == PAGES[0][1])
        sections.setdefault(section, []).append(page)
page = st.navigation(sections)
try:
    page.run()
finally:
    access.record_page(page.title)
