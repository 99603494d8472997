"""Helpers for the dashboard tests: open a page as Streamlit's AppTest runs it, read what it
shows and what its download buttons hand out, and read the warehouse as an analyst would."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
from streamlit.testing.v1 import AppTest

from toning.config import DataDir

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
PAGE_FILES = re.findall(r'st\.Page\(\s*"([^"]+)"', Path(APP).read_text())
# The dashboards' own connection settings: one process may not open a file two ways at once.
READ_ONLY = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def open_page(page_file: str, timeout: float = 60) -> AppTest:
    page = AppTest.from_file(APP, default_timeout=timeout).run()
    page.switch_page(page_file).run()
    assert not page.exception, page.exception
    return page


def published_frame(data: DataDir, sql: str, params: list | None = None) -> pd.DataFrame:
    """The published warehouse read exactly, as an analyst reads it."""
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
