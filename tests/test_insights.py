"""The consultation marts (issue 20): dose-response, comfort and what to expect.

Their statistics equal the reference implementations (statsmodels' StratifiedTable for the
Mantel-Haenszel odds ratios and Robins-Breslow-Greenland intervals, scipy's Welch interval), the
effects the generator planted (DOMAIN_FIGURES.md: pigmentary odds x 3 under 7 days, x 1.5 per
0.5 J/cm² above 2.0 on Q-switched, numbing cream lowers pain) are recovered, each figure of
expected_course_outcomes agrees with the mart it repeats, and a manager's scoped versions (the
published `_within` table macros) equal the marts over every clinic.

Reads one warehouse of the `evidence` tier (12 clinics, ~200k sessions: large enough for the
planted effects to stand out of their noise), generated and refreshed once for this module.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from tests.app_testing import published_frame
from toning.config import DataDir

pytestmark = pytest.mark.slow

TOLERANCE = 1e-9
PLANTED_SHORT_INTERVAL_ODDS_RATIO = 3.0  # synthetic/params.py SideEffectModel
ENOUGH_COURSES = 20  # dbt var expectation_min_courses
ENOUGH_SCORED_SESSIONS = 30  # dbt var comfort_min_sessions
POPULATED_BAND_EVENTS = 5  # a band "populated" enough to read its odds ratio


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> DataDir:
    from synthetic import generate_landing
    from toning.refresh import run_refresh

    root = tmp_path_factory.mktemp("evidence")
    generate_landing("evidence", root / "landing", seed=7)
    data = DataDir(root / "data")
    run_refresh(root / "landing", data)
    return data


@pytest.fixture(scope="module")
def mart(evidence: DataDir):
    def run(sql: str, params: list | None = None) -> pd.DataFrame:
        return published_frame(evidence, sql, params)

    return run


@pytest.fixture(scope="module")
def dose_response(mart) -> pd.DataFrame:
    return mart("select * from marts.safety_dose_response")


@pytest.fixture(scope="module")
def strata(mart) -> pd.DataFrame:
    return mart("select * from intermediate.int_dose_response_strata")


def stratified_tables(strata: pd.DataFrame, row: pd.Series, against: str) -> np.ndarray:
    """The 2 x 2 x K tables of a mart row's band, one per clinic x skin type stratum, against
    the reference band or the rest of its factor, as statsmodels takes them."""
    scope = strata[(strata.laser_type == row.laser_type) & (strata.factor == row.factor)]
    if row.skin_type != "ALL":
        scope = scope[scope.fitzpatrick == row.fitzpatrick]
    tables = []
    for _, stratum in scope.groupby(["clinic_id", "fitzpatrick"]):
        exposed = stratum[stratum.band == row.band]
        if exposed.empty:
            continue
        other = (
            stratum[stratum.is_reference] if against == "reference" else stratum.drop(exposed.index)
        )
        a = exposed.sessions_with_pigmentary_ae.sum()
        c = other.sessions_with_pigmentary_ae.sum()
        tables.append([[a, exposed.sessions.sum() - a], [c, other.sessions.sum() - c]])
    return np.array(tables, dtype=float).transpose(1, 2, 0)


def assert_odds_ratios_are_statsmodels(mart_rows: pd.DataFrame, strata: pd.DataFrame) -> int:
    """Every comparable odds ratio and interval of the rows equals StratifiedTable's; returns
    how many were compared."""
    compared = 0
    for _, row in mart_rows[~mart_rows.is_reference].iterrows():
        for against, column in (("reference", "odds_ratio"), ("rest", "odds_ratio_vs_rest")):
            tables = stratified_tables(strata, row, against)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0 strata: our nulls
                table = StratifiedTable(tables)
                expected = table.oddsratio_pooled
                low, high = table.oddsratio_pooled_confint()
            if not np.isfinite(expected):
                assert pd.isna(row[column]), (row.band, column)
                continue
            assert row[column] == pytest.approx(expected, abs=TOLERANCE), (row.band, column)
            if expected > 0:
                assert row[f"{column}_ci_low"] == pytest.approx(low, abs=TOLERANCE)
                assert row[f"{column}_ci_high"] == pytest.approx(high, abs=TOLERANCE)
                compared += 1
            else:
                assert pd.isna(row[f"{column}_ci_low"]) and pd.isna(row[f"{column}_ci_high"])
    return compared


def test_mantel_haenszel_odds_ratios_and_intervals_equal_statsmodels(dose_response, strata):
    compared = assert_odds_ratios_are_statsmodels(dose_response, strata)
    assert compared > 50  # per skin type and pooled, both laser types and factors


def test_the_reference_band_is_one_and_rates_have_wilson_intervals(dose_response):
    reference = dose_response[dose_response.is_reference]
    assert (reference.odds_ratio == 1.0).all()
    assert reference.odds_ratio_ci_low.isna().all()
    assert set(reference.band) == {"lower_half", "14_to_27_days"}
    for _, row in dose_response.iterrows():
        low, high = wilson(row.sessions_with_pigmentary_ae, row.sessions)
        assert row.pigmentary_rate_ci_low == pytest.approx(low, abs=TOLERANCE)
        assert row.pigmentary_rate_ci_high == pytest.approx(high, abs=TOLERANCE)


def wilson(successes: int, trials: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(successes, trials, alpha=0.05, method="wilson")


def test_the_band_totals_are_the_sessions_of_fct_sessions(mart, dose_response):
    counted = mart(
        "select laser_type, fluence_band as band, count(*) as sessions,"
        " count(*) filter (where has_pigmentary_event) as events from marts.fct_sessions"
        " where fluence_range_min_j_cm2 is not null and fluence_band is not null group by all"
    )
    pooled = dose_response[(dose_response.skin_type == "ALL") & (dose_response.factor == "fluence")]
    merged = pooled.merge(counted, on=["laser_type", "band"], how="outer", validate="1:1")
    assert (merged.sessions_x == merged.sessions_y).all()
    assert (merged.sessions_with_pigmentary_ae == merged.events).all()


def test_short_intervals_recover_the_planted_odds_ratio(dose_response):
    [short] = dose_response[
        (dose_response.laser_type == "qs_nd_yag")
        & (dose_response.skin_type == "ALL")
        & (dose_response.band == "under_7_days")
    ].itertuples()
    assert short.odds_ratio_vs_rest_ci_low < PLANTED_SHORT_INTERVAL_ODDS_RATIO
    assert short.odds_ratio_vs_rest_ci_high > PLANTED_SHORT_INTERVAL_ODDS_RATIO
    assert short.odds_ratio_vs_rest_ci_low > 1
    assert short.is_raised_risk


def test_q_switched_odds_rise_with_the_fluence_band(dose_response):
    bands = dose_response[
        (dose_response.laser_type == "qs_nd_yag")
        & (dose_response.skin_type == "ALL")
        & (dose_response.factor == "fluence")
        & (dose_response.sessions_with_pigmentary_ae >= POPULATED_BAND_EVENTS)
    ].sort_values("band_order")
    assert len(bands) >= 3, bands[["band", "sessions_with_pigmentary_ae"]]
    assert bands.odds_ratio.is_monotonic_increasing
    assert bands.odds_ratio.is_unique
    highest = bands.iloc[-1]
    assert highest.odds_ratio_ci_low > 1, highest


def test_picosecond_fluence_carries_no_planted_effect(dose_response):
    """The generator plants no fluence effect on picosecond devices: no band is raised."""
    pooled = dose_response[
        (dose_response.laser_type == "pico_nd_yag")
        & (dose_response.skin_type == "ALL")
        & (dose_response.factor == "fluence")
    ]
    assert not pooled.is_raised_risk.any(), pooled[["band", "odds_ratio_ci_low"]]


@pytest.fixture(scope="module")
def pain(mart) -> pd.DataFrame:
    return mart(
        "select scored.laser_type, scored.fitzpatrick, scored.numbing_cream, scored.pain_score"
        " from intermediate.int_sessions_pain_scored as scored"
        " where scored.numbing_cream is not null and scored.laser_type is not null"
    )


def test_welch_intervals_equal_scipy(mart, pain):
    comfort = mart("select * from marts.comfort_by_numbing_cream")
    compared = 0
    for _, row in comfort.iterrows():
        cell = pain
        if row.laser_type != "ALL":
            cell = cell[cell.laser_type == row.laser_type]
        if row.skin_type != "ALL":
            cell = (
                cell[cell.fitzpatrick == row.fitzpatrick]
                if row.skin_type != "unknown"
                else (cell[cell.fitzpatrick.isna()])
            )
        with_cream = cell[cell.numbing_cream].pain_score
        without = cell[~cell.numbing_cream].pain_score
        assert row.sessions_with_cream == len(with_cream)
        assert row.sessions_without_cream == len(without)
        if min(len(with_cream), len(without)) < ENOUGH_SCORED_SESSIONS:
            assert pd.isna(row.pain_difference_ci_low)
            continue
        interval = stats.ttest_ind(with_cream, without, equal_var=False).confidence_interval()
        assert row.pain_difference == pytest.approx(with_cream.mean() - without.mean(), abs=1e-12)
        assert row.pain_difference_ci_low == pytest.approx(interval.low, abs=TOLERANCE)
        assert row.pain_difference_ci_high == pytest.approx(interval.high, abs=TOLERANCE)
        compared += 1
    assert compared > 20


def test_numbing_cream_lowers_pain_as_planted(mart):
    [overall] = mart(
        "select * from marts.comfort_by_numbing_cream"
        " where laser_type = 'ALL' and skin_type = 'ALL'"
    ).itertuples()
    assert overall.pain_difference < 0
    assert overall.pain_difference_ci_high < 0


def test_a_session_gets_the_closest_pain_score_after_it_within_three_days(mart):
    """Checked against every pain score of the patients: none closer after the session's start
    was passed over, and none later than 3 days was taken."""
    wrong = mart(
        """
        select scored.session_id
        from intermediate.int_sessions_pain_scored as scored
        inner join marts.fct_sessions as sessions using (session_id)
        inner join staging.stg_lake__outcomes as outcome
            on outcome.patient_key = sessions.patient_key
            and outcome.instrument = 'pain_vas' and not outcome.is_voided
            and outcome.score is not null
            and outcome.collected_at >= sessions.started_at
            and outcome.collected_at < scored.pain_collected_at
        union all
        select session_id from intermediate.int_sessions_pain_scored
        inner join marts.fct_sessions using (session_id)
        where pain_collected_at > started_at + interval 3 day
            or pain_collected_at < started_at
        """
    )
    assert wrong.empty


@pytest.fixture(scope="module")
def expected(mart) -> pd.DataFrame:
    return mart("select * from marts.expected_course_outcomes")


def test_expected_response_equals_results_by_skin_type(mart, expected):
    results = mart(
        "select fitzpatrick, primary_concern, instrument, courses_measured, responders,"
        " response_rate, response_rate_ci_low, response_rate_ci_high"
        " from marts.results_by_skin_type where clinic_id = 'ALL' and fitzpatrick is not null"
    )
    pooled = expected[expected.laser_type == "ALL"]
    merged = pooled.merge(
        results, on=["fitzpatrick", "primary_concern", "instrument"], suffixes=("", "_results")
    )
    assert len(merged) == len(pooled.dropna(subset=["instrument"]))
    assert (merged.courses_measured == merged.courses_measured_results).all()
    assert (merged.responders == merged.responders_results).all()
    enough = merged.courses_measured >= ENOUGH_COURSES
    for column in ("response_rate", "response_rate_ci_low", "response_rate_ci_high"):
        assert np.allclose(merged[enough][column], merged[enough][f"{column}_results"])
        assert merged[~enough][column].isna().all()


def test_expected_completion_sessions_and_side_effects_equal_fct_courses(mart, expected):
    courses = mart(
        "select fitzpatrick, primary_concern, coalesce(laser_type, 'unknown') as laser_type,"
        " status, sessions, has_adverse_event, has_pigmentary_event from marts.fct_courses"
        " where course_type in ('initial', 'restart') and status in ('completed', 'dropped_out')"
        " and fitzpatrick is not null"
    )
    every_laser = courses.assign(laser_type="ALL")
    for (fitzpatrick, concern, laser), cell in pd.concat([courses, every_laser]).groupby(
        ["fitzpatrick", "primary_concern", "laser_type"]
    ):
        [row] = expected[
            (expected.fitzpatrick == fitzpatrick)
            & (expected.primary_concern == concern)
            & (expected.laser_type == laser)
        ].itertuples()
        completed = cell[cell.status == "completed"]
        assert row.courses == len(cell)
        assert row.courses_completed == len(completed)
        assert row.courses_with_ae == cell.has_adverse_event.sum()
        assert row.courses_with_pigmentary_ae == cell.has_pigmentary_event.sum()
        if len(cell) >= ENOUGH_COURSES:
            assert row.completion_rate == pytest.approx(len(completed) / len(cell))
            assert row.course_pigmentary_rate == pytest.approx(cell.has_pigmentary_event.mean())
        else:
            assert math.isnan(row.completion_rate) and math.isnan(row.course_ae_rate)
        if len(completed) >= ENOUGH_COURSES:
            quartiles = completed.sessions.quantile([0.25, 0.5, 0.75]).tolist()
            shown = [
                row.sessions_to_completion_p25,
                row.sessions_to_completion_median,
                row.sessions_to_completion_p75,
            ]
            assert shown == pytest.approx(quartiles)
        else:
            assert math.isnan(row.sessions_to_completion_median)


def test_expected_maintenance_need_equals_maintenance_need_summary(mart, expected):
    summary = mart(
        "select fitzpatrick, primary_concern, courses, need_by_12m"
        " from marts.maintenance_need_summary where fitzpatrick is not null"
    )
    merged = expected.merge(summary, on=["fitzpatrick", "primary_concern"], how="left")
    assert (merged.maintenance_courses == merged.courses_y.fillna(0)).all()
    enough = merged.maintenance_courses >= ENOUGH_COURSES
    assert np.allclose(merged[enough].need_by_12m_x, merged[enough].need_by_12m_y)
    assert merged[~enough].need_by_12m_x.isna().all()


@pytest.mark.parametrize(
    "mart_name",
    ["safety_dose_response", "comfort_by_numbing_cream", "expected_course_outcomes"],
)
def test_a_managers_version_over_every_clinic_is_the_mart(mart, mart_name):
    clinics = mart("select clinic_id from marts.dim_clinics")["clinic_id"].tolist()
    chain = mart(f"select * from marts.{mart_name}")
    within = mart(f"select * from marts.{mart_name}_within(?)", [clinics])
    keys = [
        c
        for c in ("laser_type", "skin_type", "factor", "band", "primary_concern")
        if c in chain.columns
    ]
    pd.testing.assert_frame_equal(
        chain.sort_values(keys).reset_index(drop=True),
        within.sort_values(keys).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )


def test_a_managers_dose_response_pools_only_their_clinics(mart, strata):
    two = sorted(strata.clinic_id.unique())[:2]
    within = mart("select * from marts.safety_dose_response_within(?)", [two])
    assert assert_odds_ratios_are_statsmodels(within, strata[strata.clinic_id.isin(two)]) > 10
    assert within.clinics.max() <= 2


def test_figures_resting_on_too_few_courses_are_not_given(demo_warehouse):
    """On the small demo chain many cells are thin: each figure is null exactly where its own
    count is under 20, and its count is still there to say so."""
    _, data = demo_warehouse
    expected = published_frame(data, "select * from marts.expected_course_outcomes")
    rules = {
        "completion_rate": "courses",
        "course_ae_rate": "courses",
        "course_pigmentary_rate": "courses",
        "sessions_to_completion_median": "courses_completed",
        "response_rate": "courses_measured",
        "need_by_12m": "maintenance_courses",
    }
    for figure, count in rules.items():
        thin = expected[count] < ENOUGH_COURSES
        assert thin.any() and (~thin).any(), figure
        assert expected[thin][figure].isna().all(), figure
        assert expected[~thin][figure].notna().all(), figure
