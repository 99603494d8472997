"""Helpers for the dashboard tests: open a page as Streamlit's AppTest runs it, read what it
shows and what its download buttons hand out, and read the warehouse as an analyst would."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboards import access, navigation
from dashboards.data import READ_ONLY
from toning import config, users
from toning.config import DataDir
from toning.users import ADMIN

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
PAGE_FILES = [page.script for page in navigation.PAGES]
# The pages over the published warehouse (the admin page reads the users file and audit log).
WAREHOUSE_PAGES = [page for page in PAGE_FILES if page != "app_pages/admin.py"]
TEST_PASSWORD = "a-test-password"


def signed_in(
    role: str = ADMIN, clinics: tuple[str, ...] = (), name: str | None = None, timeout: float = 60
) -> AppTest:
    """The app ($TONING_DATA_DIR's) as a signed-in user of this role, registered in the data
    dir's users file on first use: the session a sign-in leaves, without typing into the form
    (test_access.py signs in through the form). An admin sees every page."""
    name = name or f"test-{role}"
    register(config.data_dir(), name, role, clinics)
    app = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in access.session_of(name).items():
        app.session_state[key] = value
    return app.run()


def register(data: DataDir, name: str, role: str, clinics: tuple[str, ...] = ()) -> None:
    """A dashboard user with TEST_PASSWORD in the data dir's users file, unless already there."""
    if name not in users.load(data.users_file):
        users.add(data.users_file, name, role, clinics, TEST_PASSWORD)


def open_page(page_file: str, timeout: float = 60, **user) -> AppTest:
    page = signed_in(timeout=timeout, **user)
    page.switch_page(page_file).run()
    assert not page.exception, page.exception
    return page


def published_frame(data: DataDir, sql: str, params: list | None = None) -> pd.DataFrame:
    """The published warehouse read exactly, as an analyst reads it."""
    # The dashboards' own settings: one process may not open a file two ways at once.
    with duckdb.connect(str(data.warehouse), read_only=True, config=READ_ONLY) as con:
        return con.execute(sql, params or []).df()


def shown_table(page: AppTest, column: str) -> pd.DataFrame:
    """The table on the page that has this column."""
    [table] = [frame.value for frame in page.dataframe if column in frame.value.columns]
    return table


def downloaded(page: AppTest, label: str, downloads: dict[str, bytes | str]) -> str:
    """What the download button with this label hands the browser (see the `downloads`
    fixture in conftest.py)."""
    [button] = [button for button in page.download_button if button.label == label]
    data = downloads[Path(button.proto.url).stem]
    return data.decode() if isinstance(data, bytes) else data
