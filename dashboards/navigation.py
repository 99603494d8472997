"""The app's pages: where each sits in the navigation, its title and icon, and who may open it.

A manager reads their clinics' pages and the definitions; analysts also the chain's data quality
and the SQL console; admins also the users and the audit log. Icons are Streamlit's bundled
Material Symbols: emoji need a font a server's browser may lack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toning.users import ADMIN, ANALYST, MANAGER

EVERYONE = (MANAGER, ANALYST, ADMIN)
# The chain's data quality and the SQL console read every clinic's rows.
CHAIN_WIDE = (ANALYST, ADMIN)


@dataclass(frozen=True)
class AppPage:
    section: str
    script: str  # relative to dashboards/
    title: str
    icon: str  # a Material Symbols name
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        """Its path segment in the URL (Streamlit's: the file's stem)."""
        return Path(self.script).stem


PAGES = [
    AppPage("Clinic", "app_pages/overview.py", "Overview", "dashboard", EVERYONE),
    AppPage("Clinic", "app_pages/results.py", "Results by skin type", "bar_chart", EVERYONE),
    AppPage("Clinic", "app_pages/maintenance.py", "Maintenance", "event_repeat", EVERYONE),
    AppPage("Clinic", "app_pages/safety.py", "Safety", "health_and_safety", EVERYONE),
    AppPage(
        "Clinic", "app_pages/clinics.py", "Clinics & providers", "stacked_line_chart", EVERYONE
    ),
    AppPage(
        "Clinic", "app_pages/consultation.py", "Consultation aid", "medical_information", EVERYONE
    ),
    AppPage("Analysis", "app_pages/data_quality.py", "Data quality", "fact_check", CHAIN_WIDE),
    AppPage("Analysis", "app_pages/sql_console.py", "SQL console", "terminal", CHAIN_WIDE),
    AppPage("Analysis", "app_pages/definitions.py", "Definitions", "menu_book", EVERYONE),
    AppPage(
        "Administration", "app_pages/admin.py", "Users & audit", "admin_panel_settings", (ADMIN,)
    ),
]
DEFAULT = PAGES[0]  # served at "/"


def pages_for(role: str) -> list[AppPage]:
    return [page for page in PAGES if role in page.roles]
