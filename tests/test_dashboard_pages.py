"""The Overview and Results pages over the demo warehouse: the numbers shown are the marts',
a filter changes them as the marts say, and small cells are suppressed on the page and in its
download."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboards import data

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
READ_ONLY = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


@pytest.fixture
def demo(demo_warehouse, monkeypatch):
    _, published = demo_warehouse
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    return published


def mart(published, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(published.warehouse), read_only=True, config=READ_ONLY) as con:
        return con.execute(sql, params or []).df()


def open_page(page_file: str) -> AppTest:
    page = AppTest.from_file(APP, default_timeout=60).run()
    page.switch_page(page_file).run()
    assert not page.exception
    return page


def shown_table(page: AppTest, column: str) -> pd.DataFrame:
    return next(frame.value for frame in page.dataframe if column in frame.value.columns)


def test_overview_equals_the_marts_and_follows_the_clinic_filter(demo):
    page = open_page("app_pages/overview.py")
    metrics = {metric.label: metric.value for metric in page.metric}
    sessions = mart(demo, "select * from marts.fct_sessions")
    assert metrics["Completed sessions"] == f"{len(sessions):,}"
    assert metrics["Patients treated"] == f"{sessions['patient_key'].nunique():,}"
    safety = mart(
        demo,
        "select sum(sessions_with_ae) / sum(sessions) as rate from marts.safety_by_skin_type"
        " where clinic_id = 'ALL' and primary_concern = 'ALL'",
    )
    assert metrics["AE session rate"] == f"{safety['rate'].iloc[0]:.1%}"

    page.sidebar.multiselect[0].set_value(["C02"]).run()
    assert not page.exception
    metrics = {metric.label: metric.value for metric in page.metric}
    clinic = sessions[sessions["clinic_id"] == "C02"]
    assert metrics["Completed sessions"] == f"{len(clinic):,}"
    assert metrics["Completed sessions"] != f"{len(sessions):,}"


def results_mart(demo, clinic: str) -> pd.DataFrame:
    return mart(
        demo,
        "select * from marts.results_by_skin_type where clinic_id = ? and primary_concern = 'ALL'"
        " and instrument = 'pigmentation_vas' order by fitzpatrick nulls last",
        [clinic],
    ).set_index("skin_type")


def assert_shown_rates_equal_the_mart(shown: pd.DataFrame, expected: pd.DataFrame) -> None:
    shown = shown.set_index("Skin type")
    assert set(shown.index) == set(expected.index)
    for column, mart_column in [
        ("Response rate", "response_rate"),
        ("Response CI low", "response_rate_ci_low"),
        ("Response CI high", "response_rate_ci_high"),
        ("Mean change", "mean_change"),
    ]:
        visible = shown[column].dropna()
        assert len(visible) > 0
        assert visible.tolist() == expected.loc[visible.index, mart_column].tolist()
    courses = shown["Completed courses"]
    exact = courses[courses.str.isdigit()]
    assert exact.astype(int).tolist() == expected.loc[exact.index, "courses"].tolist()


def test_results_equal_the_mart_unfiltered_and_for_one_clinic(demo):
    page = open_page("app_pages/results.py")
    assert_shown_rates_equal_the_mart(shown_table(page, "Skin type"), results_mart(demo, "ALL"))
    page.sidebar.multiselect[0].set_value(["C01"]).run()
    assert not page.exception
    assert_shown_rates_equal_the_mart(shown_table(page, "Skin type"), results_mart(demo, "C01"))


def small_cell(demo) -> tuple[str, str]:
    """A clinic and skin type whose completed courses rest on 1-10 patients in the demo data."""
    for clinic in mart(demo, "select clinic_id from marts.dim_clinics")["clinic_id"]:
        exact = data.results_by_skin_type_exact(data.Filters(clinics=(clinic,)), "pigmentation_vas")
        small = exact[(exact["patients"] >= 1) & (exact["patients"] <= 10)]
        if len(small) == 1:
            return clinic, small["skin_type"].iloc[0]
    raise AssertionError("the demo data has no clinic with exactly one small skin-type cell")


def test_a_small_cell_shows_under_eleven_no_rate_and_hides_its_complement(demo, monkeypatch):
    clinic, skin_type = small_cell(demo)
    downloads: dict[str, str] = {}
    real_download_button = st.download_button

    def recording_download_button(label, data, file_name=None, *args, **kwargs):
        downloads[file_name] = data
        return real_download_button(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording_download_button)
    page = open_page("app_pages/results.py")
    page.sidebar.multiselect[0].set_value([clinic]).run()
    shown = shown_table(page, "Skin type").set_index("Skin type")
    assert shown.loc[skin_type, "Patients"] == "<11"
    assert pd.isna(shown.loc[skin_type, "Response rate"])
    assert pd.isna(shown.loc[skin_type, "Mean change"])
    assert (shown["Patients"] == "hidden").sum() == 1  # its complement
    rows = list(csv.DictReader(io.StringIO(downloads["results_by_skin_type.csv"], newline="")))
    downloaded = {row["Skin type"]: row for row in rows}
    assert downloaded[skin_type]["Patients"] == "<11"
    assert downloaded[skin_type]["Response rate"] == ""
    assert [row["Patients"] for row in rows].count("hidden") == 1
