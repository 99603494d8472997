"""Outcome metrics a clinic manager or analyst reads: response rates by skin type, their
intervals, and scores placed at the right timepoints (DOMAIN.md "Outcome timepoints",
"Statistics and disclosure").

The demo warehouse (shared fixture) is held to the generator's truth; the interval macro is
held to scipy.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import duckdb
import jinja2
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
ROMAN = ("I", "II", "III", "IV", "V", "VI")
MIN_TRUTH_COURSES = 30  # skin types with fewer measured courses in the truth are not compared


def _frame(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).pl()


@pytest.fixture(scope="module")
def published(demo_warehouse) -> tuple[Path, dict]:
    landing, data = demo_warehouse
    truth = json.loads((landing / ".truth" / "truth.json").read_text())
    return data.warehouse, truth


def _pigmentation_by_skin_type(warehouse: Path) -> pl.DataFrame:
    return _frame(
        warehouse,
        """
        select skin_type, courses, courses_measured, responders, response_rate,
               response_rate_ci_low, response_rate_ci_high
        from marts.results_by_skin_type
        where clinic_id = 'ALL' and primary_concern = 'ALL' and instrument = 'pigmentation_vas'
        """,
    )


def test_response_rate_interval_per_skin_type_contains_the_realised_rate(published):
    warehouse, truth = published
    realised = truth["realised"]["responders_pigmentation_vas_completed_courses"]["by_skin_type"]
    rows = {r["skin_type"]: r for r in _pigmentation_by_skin_type(warehouse).iter_rows(named=True)}
    compared = 0
    for skin_type in ROMAN:
        expected = realised.get(skin_type)
        if expected is None or expected["courses"] < MIN_TRUTH_COURSES:
            continue
        row = rows[skin_type]
        # the warehouse measures (nearly) the courses the truth measured: no scores lost
        assert row["courses_measured"] >= 0.9 * expected["courses"], (skin_type, row, expected)
        assert row["response_rate_ci_low"] <= expected["rate"] <= row["response_rate_ci_high"], (
            f"skin type {skin_type}: realised {expected['rate']} outside "
            f"[{row['response_rate_ci_low']:.4f}, {row['response_rate_ci_high']:.4f}]"
        )
        compared += 1
    assert compared >= 4, "too few skin types with enough courses to compare"


def test_response_rate_interval_is_wilson(published):
    warehouse, _ = published
    for row in _pigmentation_by_skin_type(warehouse).iter_rows(named=True):
        low, high = proportion_confint(
            row["responders"], row["courses_measured"], alpha=0.05, method="wilson"
        )
        assert row["response_rate"] == pytest.approx(row["responders"] / row["courses_measured"])
        assert row["response_rate_ci_low"] == pytest.approx(low, abs=1e-9)
        assert row["response_rate_ci_high"] == pytest.approx(high, abs=1e-9)


def _t_975() -> dict[int, float]:
    with (DBT_PROJECT / "seeds" / "t_quantiles.csv").open() as f:
        return {int(r["degrees_of_freedom"]): float(r["t_975"]) for r in csv.DictReader(f)}


def _t_interval_sql(mean: float, sd: float, n: int, t_975: float | None) -> tuple:
    """The project's t_half_width macro, rendered and evaluated by DuckDB."""
    macros = (DBT_PROJECT / "macros" / "statistics.sql").read_text()
    template = jinja2.Environment().from_string(
        macros + "select m - {{ t_half_width('sd', 'n', 't') }} as low, "
        "m + {{ t_half_width('sd', 'n', 't') }} as high "
        "from (select ?::double as m, ?::double as sd, ?::integer as n, ?::double as t)"
    )
    with duckdb.connect() as con:
        return con.execute(template.render(), [mean, sd, n, t_975]).fetchone()


@pytest.mark.parametrize(
    ("mean", "sd", "n"),
    [(0.0, 1.0, 2), (3.5, 2.1, 10), (-2.87, 1.70, 320), (-1.2, 0.7, 1001)],
)
def test_t_half_width_matches_scipy(mean, sd, n):
    low, high = _t_interval_sql(mean, sd, n, _t_975().get(n - 1))
    expected_low, expected_high = stats.t.interval(0.95, n - 1, loc=mean, scale=sd / math.sqrt(n))
    assert low == pytest.approx(expected_low, abs=1e-9)
    assert high == pytest.approx(expected_high, abs=1e-9)


def test_t_half_width_is_null_for_a_single_course():
    assert _t_interval_sql(2.0, 1.0, 1, None) == (None, None)


def test_mean_change_interval_matches_scipy_on_the_published_cells(published):
    warehouse, _ = published
    changes = _frame(
        warehouse,
        """
        select fitzpatrick, change from marts.fct_course_outcomes
        where status = 'completed' and instrument = 'pigmentation_vas' and change is not null
        """,
    )
    cells = _frame(
        warehouse,
        """
        select fitzpatrick, courses_with_change, mean_change, mean_change_ci_low,
               mean_change_ci_high
        from marts.results_by_skin_type
        where clinic_id = 'ALL' and primary_concern = 'ALL' and instrument = 'pigmentation_vas'
        """,
    )
    for cell in cells.iter_rows(named=True):
        values = changes.filter(pl.col("fitzpatrick").eq_missing(cell["fitzpatrick"]))["change"]
        n = values.len()
        assert cell["courses_with_change"] == n
        low, high = stats.t.interval(
            0.95, n - 1, loc=values.mean(), scale=values.std() / math.sqrt(n)
        )
        assert cell["mean_change"] == pytest.approx(values.mean(), abs=1e-9)
        assert cell["mean_change_ci_low"] == pytest.approx(low, abs=1e-9)
        assert cell["mean_change_ci_high"] == pytest.approx(high, abs=1e-9)


def test_every_chosen_score_lies_in_its_timepoint_window(published):
    warehouse, _ = published
    scores = _frame(
        warehouse,
        """
        select t.timepoint, t.days_from_first_session, t.days_from_last_session,
               t.collected_at, c.first_session_at, c.status
        from intermediate.int_outcomes_timepointed as t
        inner join marts.fct_courses as c on t.course_id = c.course_id
        """,
    )
    counts = dict(scores.group_by("timepoint").len().iter_rows())
    assert set(counts) == {
        "baseline",
        "end_of_course",
        "follow_up_3m",
        "follow_up_6m",
        "follow_up_12m",
    }
    end = scores.filter(pl.col("timepoint") == "end_of_course")
    assert end["status"].unique().to_list() == ["completed"]
    assert end["days_from_last_session"].is_between(15, 60).all()
    baseline = scores.filter(pl.col("timepoint") == "baseline")
    assert baseline["days_from_first_session"].is_between(-60, 0).all()
    assert (baseline["collected_at"] <= baseline["first_session_at"]).all()
    for timepoint, target in (("follow_up_3m", 91), ("follow_up_6m", 182), ("follow_up_12m", 365)):
        days = scores.filter(pl.col("timepoint") == timepoint)["days_from_last_session"]
        assert days.is_between(target - 30, target + 30).all(), timepoint


def test_end_of_course_score_is_the_closest_to_four_weeks_after_the_last_session(published):
    """Recomputed here from the published scores: the closest pigmentation VAS to last session
    + 28 days within (14, 60] days, the earlier on a tie, is the course's end score."""
    warehouse, _ = published
    courses = _frame(
        warehouse,
        """
        select course_id, patient_key, last_session_on_local, end_score
        from marts.fct_course_outcomes
        inner join marts.fct_courses using (course_id, patient_key)
        where fct_course_outcomes.status = 'completed' and instrument = 'pigmentation_vas'
        """,
    )
    scores = _frame(
        warehouse,
        """
        select o.patient_key, o.score, o.collected_at, o.collected_on_local,
               s.course_id as session_course_id
        from staging.stg_lake__outcomes as o
        left join marts.fct_sessions as s on o.session_id = s.session_id
        where not o.is_voided and o.instrument = 'pigmentation_vas' and o.score is not null
        """,
    )
    days = (pl.col("collected_on_local") - pl.col("last_session_on_local")).dt.total_days()
    expected = (
        courses.join(scores, on="patient_key")
        .filter(
            pl.col("session_course_id").is_null()
            | (pl.col("session_course_id") == pl.col("course_id"))
        )
        .with_columns(days=days)
        .filter(pl.col("days").is_between(15, 60))
        .sort((pl.col("days") - 28).abs(), "collected_at")
        .group_by("course_id", maintain_order=True)
        .agg(expected=pl.col("score").first())
    )
    joined = courses.join(expected, on="course_id", how="left")
    assert joined.height > 500
    mismatched = joined.filter(~pl.col("end_score").eq_missing(pl.col("expected")))
    assert mismatched.is_empty(), mismatched.head()
    # most completed courses have an end-of-course score: a user would notice if they vanished
    assert joined["end_score"].is_not_null().mean() > 0.5
