"""The Safety and Clinics & providers pages over the demo warehouse: what a clinic manager reads
there equals what the marts (and a hand computation from fct_sessions) say."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from tests.app_testing import open_page, published_frame
from toning.config import DataDir

SAFETY = "app_pages/safety.py"
CLINICS = "app_pages/clinics.py"


@pytest.fixture(scope="module")
def warehouse(demo_warehouse: tuple[Path, DataDir]) -> DataDir:
    return demo_warehouse[1]


@pytest.fixture
def mart(warehouse: DataDir, monkeypatch: pytest.MonkeyPatch):
    """SQL against the published warehouse (exact, as an analyst reads it); the pages read the
    same warehouse through TONING_DATA_DIR."""
    monkeypatch.setenv("TONING_DATA_DIR", str(warehouse.root))

    def run(sql: str, params: list | None = None) -> pd.DataFrame:
        return published_frame(warehouse, sql, params)

    return run


def table_with(page: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has all these columns."""
    for frame in page.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with {columns} on the page")


def skin_type_rows(mart, clinic: str) -> pd.DataFrame:
    return mart(
        "select * from marts.safety_by_skin_type"
        " where clinic_id = ? and primary_concern = 'ALL' order by fitzpatrick nulls last",
        [clinic],
    )


def assert_rates_equal_the_mart(shown: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every rate shown equals the mart's exactly; hidden ones rest on fewer than 11 or would
    give back a hidden count."""
    assert shown["skin_type"].tolist() == expected["skin_type"].tolist()
    for column in ("ae_session_rate", "ae_session_rate_ci_low", "ae_session_rate_ci_high"):
        visible = shown[column].notna()
        assert shown.loc[visible, column].tolist() == expected.loc[visible, column].tolist()
        hidden = expected.loc[~visible]
        # hidden: too few sessions or patients, or its AE count is hidden (rate x sessions
        # would give it back)
        count_hidden = shown.loc[~visible, "sessions_with_ae"].isin(["<11", "hidden"])
        assert ((hidden["sessions"] < 11) | (hidden["patients"] < 11) | count_hidden).all()
    counts = [str(n) if n >= 11 else "<11" for n in expected["sessions"]]
    # A count may also be `hidden` (complementary suppression); otherwise it is the mart's.
    for shown_count, count in zip(shown["sessions"], counts, strict=True):
        assert shown_count in (count, "hidden")


def test_the_safety_page_shows_the_marts_rates_and_every_serious_event(mart):
    page = open_page(SAFETY)
    assert page.title[0].value == "Safety"
    expected = skin_type_rows(mart, "ALL")
    shown = table_with(page, "skin_type", "ae_session_rate")
    assert shown["ae_session_rate"].notna().all()  # the demo's skin types are all large enough
    assert_rates_equal_the_mart(shown, expected)

    metrics = {metric.label: metric.value for metric in page.metric}
    assert metrics["Completed sessions"] == f"{expected['sessions'].sum():,}"
    rate = expected["sessions_with_ae"].sum() / expected["sessions"].sum()
    assert metrics["AE session rate"] == f"{rate:.1%}"

    serious = mart("select * from marts.fct_side_effects where is_serious")
    listed = table_with(page, "event_id", "severity", "action")
    assert metrics["Serious events"] == str(len(serious)) and len(listed) == len(serious)
    assert sorted(listed["event_id"]) == sorted(serious["event_id"])
    assert "patient_key" not in listed.columns
    assert {"clinic_id", "onset_on", "effect", "skin_type", "is_resolved"} <= set(listed.columns)
    assert listed["onset_on"].is_monotonic_decreasing

    out_of_range = table_with(page, "fluence_j_cm2", "fluence_range_max_j_cm2")
    flagged = mart("select session_id from marts.fct_sessions where fluence_out_of_range")
    assert sorted(out_of_range["session_id"]) == sorted(flagged["session_id"])
    assert "patient_key" not in out_of_range.columns
    titles = [chart.proto.spec for chart in page.get("plotly_chart")]
    assert any("AE session rate by Fitzpatrick skin type" in spec for spec in titles)


def test_a_clinic_filter_shows_that_clinics_rates(mart):
    page = open_page(SAFETY)
    clinic = page.sidebar.multiselect[0]
    assert clinic.label == "Clinic"
    clinic.set_value(["C01"]).run()
    assert not page.exception
    expected = skin_type_rows(mart, "C01")
    shown = table_with(page, "skin_type", "ae_session_rate")
    assert_rates_equal_the_mart(shown, expected)
    everyone = skin_type_rows(mart, "ALL")
    assert shown["ae_session_rate"].tolist() != everyone["ae_session_rate"].tolist()
    metrics = {metric.label: metric.value for metric in page.metric}
    assert metrics["Completed sessions"] == f"{expected['sessions'].sum():,}"
    serious = mart(
        "select event_id from marts.fct_side_effects where is_serious and clinic_id = 'C01'"
    )
    listed = table_with(page, "event_id", "severity")
    assert sorted(listed["event_id"]) == sorted(serious["event_id"]) and len(serious) > 0


def test_p_chart_limits_on_a_hand_made_case():
    months = pd.DataFrame({"sessions": [100, 100, 50, 10_000], "sessions_with_ae": [2, 3, 10, 485]})
    chart = data.p_chart_limits(months)
    centre = 500 / 10_250
    assert chart["centre_line"].tolist() == pytest.approx([centre] * 4)
    for row, n in zip(chart.itertuples(), months["sessions"], strict=True):
        sigma = math.sqrt(centre * (1 - centre) / n)
        assert row.upper_limit == pytest.approx(centre + 3 * sigma)
        assert row.lower_limit == pytest.approx(max(0.0, centre - 3 * sigma))
    assert chart["lower_limit"].iloc[:3].tolist() == [0.0, 0.0, 0.0]  # clipped at 0
    assert chart["lower_limit"].iloc[3] > 0
    # 10/50 = 20 % is far above its limit; the others are inside theirs.
    assert chart["out_of_control"].tolist() == [False, False, True, False]


def test_the_p_chart_month_by_hand_and_its_signals(mart):
    page = open_page(SAFETY)
    assert page.selectbox[0].value == "C01"
    months = table_with(page, "month", "upper_limit", "out_of_control")
    sessions = mart(
        "select date_trunc('month', started_on_local) as month, has_adverse_event"
        " from marts.fct_sessions where clinic_id = 'C01'"
    )
    centre = sessions["has_adverse_event"].mean()
    month = sessions[sessions["month"] == pd.Timestamp("2025-10-01")]
    n, rate = len(month), month["has_adverse_event"].mean()
    [row] = months[months["month"] == date(2025, 10, 1)].to_dict("records")
    assert row["sessions"] == str(n) and row["ae_session_rate"] == pytest.approx(rate)
    assert row["centre_line"] == pytest.approx(centre)
    assert row["upper_limit"] == pytest.approx(centre + 3 * math.sqrt(centre * (1 - centre) / n))
    flagged = months[months["out_of_control"]]
    assert len(flagged) > 0
    assert (
        (flagged["ae_session_rate"] > flagged["upper_limit"])
        | (flagged["ae_session_rate"] < flagged["lower_limit"])
    ).all()
    listed = [f.value for f in page.dataframe if "out_of_control" in f.value.columns][0]
    assert listed["month"].tolist() == flagged["month"].tolist()
    # Months resting on fewer than 11 sessions show no rate and are never flagged.
    small = months[months["sessions"].isin(["<11", "hidden"])]
    assert small["ae_session_rate"].isna().all() and not small["out_of_control"].any()


def test_a_period_without_sessions_says_so(mart):
    sessions = mart("select started_on_local from marts.fct_sessions where clinic_id = 'C01'")
    days = set(sessions["started_on_local"].dt.date)
    empty_day = next(
        day for day in (min(days) + timedelta(days=i) for i in range(1, 400)) if day not in days
    )
    page = open_page(SAFETY)
    page.sidebar.multiselect[0].set_value(["C01"]).run()
    page.sidebar.date_input[0].set_value((empty_day, empty_day)).run()
    assert not page.exception
    infos = " ".join(info.value for info in page.info)
    assert "No completed sessions match these filters" in infos
    assert "C01 has no month with 11 or more completed sessions" in infos


def expected_by_hand(population: pd.DataFrame, unit_column: str, unit: str) -> float:
    """Indirect standardisation written out: the unit's n per skin type (unknown its own) times
    the chain's rate in that skin type, summed."""
    strata = population.assign(stratum=population["fitzpatrick"].fillna(0))
    chain_by_type = strata.groupby("stratum")["success"].mean()
    mine = strata[strata[unit_column] == unit].groupby("stratum").size()
    return float((mine * chain_by_type.reindex(mine.index)).sum())


def test_the_funnel_plots_standardise_like_a_hand_computation(mart):
    page = open_page(CLINICS)
    assert page.title[0].value == "Clinics & providers"
    sessions = mart(
        "select clinic_id, fitzpatrick, has_adverse_event::int as success from marts.fct_sessions"
    )
    ae = table_with(page, "clinic", "completed sessions", "expected").set_index("clinic")
    chain = sessions["success"].mean()
    for clinic in ("C01", "C02", "C03"):
        expected = expected_by_hand(sessions, "clinic_id", clinic)
        observed = sessions.loc[sessions["clinic_id"] == clinic, "success"].sum()
        assert ae.loc[clinic, "expected"] == pytest.approx(expected, rel=1e-12)
        assert ae.loc[clinic, "sessions with an AE"] == str(observed)
        assert ae.loc[clinic, "standardised_rate"] == pytest.approx(observed / expected * chain)

    courses = mart(
        "select clinic_id, fitzpatrick, is_responder::int as success"
        " from marts.fct_course_outcomes where status = 'completed'"
        " and instrument = 'pigmentation_vas' and is_responder is not null"
    )
    response = table_with(page, "clinic", "measured courses", "expected").set_index("clinic")
    expected = expected_by_hand(courses, "clinic_id", "C02")
    assert response.loc["C02", "expected"] == pytest.approx(expected, rel=1e-12)
    assert response.loc["C02", "measured courses"] == str((courses["clinic_id"] == "C02").sum())
    titles = " ".join(chart.proto.spec for chart in page.get("plotly_chart"))
    assert "AE session rate per clinic, standardised for skin-type mix" in titles

    # Choosing a clinic picks the units shown; the chain they are compared with stays whole.
    page.sidebar.multiselect[0].set_value(["C01"]).run()
    assert not page.exception
    alone = table_with(page, "clinic", "completed sessions", "expected")
    assert alone["clinic"].tolist() == ["C01"]
    assert alone["expected"].iloc[0] == pytest.approx(ae.loc["C01", "expected"], rel=1e-12)


def test_the_consultation_funnel_adds_up_to_clinic_funnel(mart):
    page = open_page(CLINICS)
    funnel = table_with(page, "clinic_id", "consultations", "first_sessions")
    total = funnel[funnel["clinic_id"] == "All selected clinics"].iloc[0]
    sums = mart("select * from marts.clinic_funnel").drop(columns=["clinic_id", "month"]).sum()
    for stage in ("consultations", "proceeded", "first_sessions", "courses_completed"):
        assert total[stage] == str(sums[stage])
    assert total["courses_dropped_out"] == str(sums["courses_dropped_out"])


def test_providers_are_compared_and_tiny_units_hidden(mart):
    page = open_page(CLINICS)
    page.radio[0].set_value("Providers").run()
    assert not page.exception
    providers = table_with(page, "provider", "completed sessions", "standardised_rate")
    volumes = mart("select provider_id, count(*) as n from marts.fct_sessions group by 1")
    assert sorted(providers["provider"]) == sorted(volumes["provider_id"])
    shown = providers.set_index("provider")
    for provider, n in volumes.itertuples(index=False):
        assert shown.loc[provider, "completed sessions"] == (str(n) if n >= 11 else "<11")
    # Narrowed to acne scars on the face, some providers rest on fewer than 11 patients: their
    # rate, expected count and flags are not shown (nor drawn).
    concern, area = page.sidebar.multiselect[1], page.sidebar.multiselect[2]
    assert (concern.label, area.label) == ("Primary concern", "Treatment area")
    concern.set_value(["acne_scars"]).run()
    page.sidebar.multiselect[2].set_value(["face"]).run()
    assert not page.exception
    narrow = table_with(page, "provider", "completed sessions", "standardised_rate")
    few = narrow["patients"] == "<11"
    assert few.any() and not few.all()
    assert narrow.loc[few, ["standardised_rate", "expected"]].isna().all().all()
    assert narrow.loc[few, "outside_998"].isna().all()
