"""The Overview and Results pages over the demo warehouse: the numbers shown are the marts',
a filter changes them as the marts say, and small cells are suppressed on the page and in its
download."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from dashboards import data
from tests.app_testing import downloaded, open_page, published_frame, shown_table


@pytest.fixture
def demo(demo_warehouse, monkeypatch):
    _, published = demo_warehouse
    monkeypatch.setenv("TONING_DATA_DIR", str(published.root))
    return published


def test_overview_equals_the_marts_and_follows_the_clinic_filter(demo):
    page = open_page("app_pages/overview.py")
    metrics = {metric.label: metric.value for metric in page.metric}
    sessions = published_frame(demo, "select * from marts.fct_sessions")
    assert metrics["Completed sessions"] == f"{len(sessions):,}"
    assert metrics["Patients treated"] == f"{sessions['patient_key'].nunique():,}"
    safety = published_frame(
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
    return published_frame(
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
    for clinic in published_frame(demo, "select clinic_id from marts.dim_clinics")["clinic_id"]:
        exact = data.results_by_skin_type_exact(data.Filters(clinics=(clinic,)), "pigmentation_vas")
        small = exact[(exact["patients"] >= 1) & (exact["patients"] <= 10)]
        if len(small) == 1:
            return clinic, small["skin_type"].iloc[0]
    raise AssertionError("the demo data has no clinic with exactly one small skin-type cell")


def test_a_small_cell_shows_under_eleven_no_rate_and_hides_its_complement(demo, downloads):
    clinic, skin_type = small_cell(demo)
    page = open_page("app_pages/results.py")
    page.sidebar.multiselect[0].set_value([clinic]).run()
    shown = shown_table(page, "Skin type").set_index("Skin type")
    assert shown.loc[skin_type, "Patients"] == "<11"
    assert pd.isna(shown.loc[skin_type, "Response rate"])
    assert pd.isna(shown.loc[skin_type, "Mean change"])
    assert (shown["Patients"] == "hidden").sum() == 1  # its complement
    download = downloaded(page, "Download results by skin type as CSV", downloads)
    rows = list(csv.DictReader(io.StringIO(download, newline="")))
    downloaded_rows = {row["Skin type"]: row for row in rows}
    assert downloaded_rows[skin_type]["Patients"] == "<11"
    assert downloaded_rows[skin_type]["Response rate"] == ""
    assert [row["Patients"] for row in rows].count("hidden") == 1
