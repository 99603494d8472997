"""Maintenance need: the SQL Kaplan-Meier is lifelines' estimate, chain-wide and over one
manager's clinics (the published table macros), and the worklist is sound.

Reads the published demo warehouse (the shared `demo_warehouse` fixture: generated with seed 42
and refreshed once per session) the way an analyst would: read-only, through SQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from toning.config import DataDir

pytestmark = pytest.mark.slow

TOLERANCE = 1e-9  # the mart rounds to 12 decimals; float noise of exp/ln is ~1e-15
CONCERN_ROLLUP = "ALL"
SKIN_ROLLUP = "ALL"
ROMAN = ("I", "II", "III", "IV", "V", "VI")
DEFAULT_DUE_DAYS = 180  # dbt var maintenance_default_due_days


def _frame(data: DataDir, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def warehouse(demo_warehouse) -> tuple[Path, DataDir]:
    return demo_warehouse


@pytest.fixture(scope="module")
def events(warehouse) -> pd.DataFrame:
    _, data = warehouse
    return _frame(
        data,
        "select course_id, clinic_id, fitzpatrick, primary_concern, days, is_event, event_type,"
        " next_course_on, regression_on, origin_on, as_of_date"
        " from intermediate.int_maintenance_events",
    )


@pytest.fixture(scope="module")
def need(warehouse) -> pd.DataFrame:
    _, data = warehouse
    return _frame(data, "select * from marts.maintenance_need")


@pytest.fixture(scope="module")
def summary(warehouse) -> pd.DataFrame:
    _, data = warehouse
    return _frame(data, "select * from marts.maintenance_need_summary")


def _skin_types(events: pd.DataFrame) -> pd.Series:
    """The cohort key of a course's skin type: I-VI, or 'unknown' where none is recorded."""
    return events["fitzpatrick"].map(lambda f: "unknown" if pd.isna(f) else ROMAN[int(f) - 1])


def _cohorts(events: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """The cohorts, rebuilt in Python from the courses: each cell plus the 'ALL' rollups."""
    keyed = events.assign(skin_type=_skin_types(events))
    cohorts: dict[tuple[str, str], pd.DataFrame] = {}
    for by_skin in (True, False):
        for by_concern in (True, False):
            groups = keyed.assign(
                skin_type=keyed["skin_type"] if by_skin else SKIN_ROLLUP,
                primary_concern=keyed["primary_concern"] if by_concern else CONCERN_ROLLUP,
            ).groupby(["skin_type", "primary_concern"])
            cohorts.update({key: part for key, part in groups})
    return cohorts


def _assert_curves_are_lifelines(events: pd.DataFrame, need: pd.DataFrame) -> None:
    """Every cohort's curve (rows of maintenance_need) is lifelines' fit on its courses."""
    cohorts = _cohorts(events)
    mart_cohorts = set(need.groupby(["skin_type", "primary_concern"]).groups)
    assert mart_cohorts == set(cohorts), "the mart's cohorts are not the courses' cohorts"
    for key, part in cohorts.items():
        km = KaplanMeierFitter().fit(part["days"], part["is_event"])
        mine = need[
            (need["skin_type"] == key[0]) & (need["primary_concern"] == key[1])
        ].sort_values("days")
        # one row per distinct event or censoring time, nothing more
        assert mine["days"].tolist() == sorted(part["days"].unique().tolist()), key
        times = mine["days"].to_numpy()
        table = km.event_table.loc[times]
        assert mine["at_risk"].tolist() == table["at_risk"].astype(int).tolist(), key
        assert mine["events"].tolist() == table["observed"].astype(int).tolist(), key
        assert mine["censored"].tolist() == table["censored"].astype(int).tolist(), key
        survival = km.survival_function_.iloc[:, 0].loc[times].to_numpy()
        bounds = km.confidence_interval_.loc[times].to_numpy()  # exponential Greenwood
        np.testing.assert_allclose(mine["survival"], survival, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(mine["survival_ci_low"], bounds[:, 0], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(mine["survival_ci_high"], bounds[:, 1], rtol=0, atol=TOLERANCE)


def _assert_summary_is_lifelines(events: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Every cohort's row of maintenance_need_summary reads lifelines' fit on its courses."""
    cohorts = _cohorts(events)
    assert len(summary) == len(cohorts), "the summary's cohorts are not the courses' cohorts"
    for key, part in cohorts.items():
        km = KaplanMeierFitter().fit(part["days"], part["is_event"])
        [row] = summary[
            (summary["skin_type"] == key[0]) & (summary["primary_concern"] == key[1])
        ].to_dict("records")
        assert row["courses"] == len(part) and row["events"] == part["is_event"].sum(), key
        for column, days in (("need_by_3m", 91), ("need_by_6m", 182), ("need_by_12m", 365)):
            expected = 1 - km.survival_function_at_times(days).iloc[0]
            assert row[column] == pytest.approx(expected, abs=TOLERANCE), (key, column)
        curve = km.survival_function_.iloc[:, 0]
        reached = curve[curve <= 0.5 + 1e-12]
        median = reached.index[0] if len(reached) else None
        assert (None if pd.isna(row["median_days_to_need"]) else row["median_days_to_need"]) == (
            median
        ), key


def test_sql_kaplan_meier_matches_lifelines_at_every_time(events, need):
    assert len(events) > 1000 and events["is_event"].sum() > 300  # a real comparison
    _assert_curves_are_lifelines(events, need)


def test_summary_reads_the_curve_like_lifelines(events, summary):
    _assert_summary_is_lifelines(events, summary)


# The clinic-scoped table macros (dbt_project/macros/maintenance_need.sql), called the way a
# dashboard does for a signed-in manager: a read-only connection and the clinic ids as a
# bound list parameter.
SCOPED = {
    "maintenance_need": "marts.maintenance_need_within",
    "maintenance_need_summary": "marts.maintenance_need_summary_within",
}


def _within(data: DataDir, mart: str, clinic_ids: list[str] | None) -> pd.DataFrame:
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        return con.execute(f"select * from {SCOPED[mart]}(?)", [clinic_ids]).df()


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("skin_type", "primary_concern", "days") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def clinic_ids(warehouse) -> list[str]:
    _, data = warehouse
    return _frame(data, "select clinic_id from marts.dim_clinics order by 1")["clinic_id"].tolist()


@pytest.mark.parametrize("mart", sorted(SCOPED))
def test_every_clinic_gives_the_chain_wide_mart_exactly(warehouse, clinic_ids, mart):
    _, data = warehouse
    chain = _frame(data, f"select * from marts.{mart}")
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        mart_types = con.execute(f"describe marts.{mart}").fetchall()
        macro_types = con.execute(f"describe select * from {SCOPED[mart]}(?)", [clinic_ids])
        assert [row[:2] for row in macro_types.fetchall()] == [row[:2] for row in mart_types]
    scoped = _within(data, mart, clinic_ids)
    assert len(clinic_ids) >= 2 and len(chain) > 0
    # every row and column, to the last bit (the same SQL over the same rows)
    pd.testing.assert_frame_equal(_in_order(scoped), _in_order(chain), check_exact=True)


@pytest.fixture(scope="module", params=["one clinic", "two clinics"])
def scope(request, clinic_ids) -> list[str]:
    return clinic_ids[:1] if request.param == "one clinic" else [clinic_ids[0], clinic_ids[-1]]


def test_a_managers_curves_are_lifelines_on_their_clinics_courses(warehouse, events, scope, need):
    _, data = warehouse
    theirs = events[events["clinic_id"].isin(scope)]
    assert 100 < len(theirs) < len(events) and theirs["is_event"].sum() > 30, scope
    scoped = _within(data, "maintenance_need", scope)
    _assert_curves_are_lifelines(theirs, scoped)

    # and not the chain's curve: fewer courses followed, another estimate
    pooled = {
        name: frame[
            (frame["skin_type"] == SKIN_ROLLUP) & (frame["primary_concern"] == CONCERN_ROLLUP)
        ].set_index("days")
        for name, frame in (("scoped", scoped), ("chain", need))
    }
    assert pooled["scoped"]["at_risk"].max() == len(theirs) < pooled["chain"]["at_risk"].max()
    shared = pooled["scoped"].index.intersection(pooled["chain"].index)
    difference = pooled["scoped"].loc[shared, "survival"] - pooled["chain"].loc[shared, "survival"]
    assert difference.abs().max() > 0.01, scope


def test_a_managers_summary_is_lifelines_on_their_clinics_courses(
    warehouse, events, scope, summary
):
    _, data = warehouse
    theirs = events[events["clinic_id"].isin(scope)]
    scoped = _within(data, "maintenance_need_summary", scope)
    _assert_summary_is_lifelines(theirs, scoped)
    everything = ["need_by_3m", "need_by_6m", "need_by_12m"]
    mine, chain = (
        frame.set_index(["skin_type", "primary_concern"]).loc[(SKIN_ROLLUP, CONCERN_ROLLUP)]
        for frame in (scoped, summary)
    )
    assert mine["courses"] == len(theirs) < chain["courses"]
    assert not np.allclose(mine[everything].astype(float), chain[everything].astype(float))


@pytest.mark.parametrize("mart", sorted(SCOPED))
@pytest.mark.parametrize("ids", [[], ["NO-SUCH-CLINIC"], None], ids=["empty", "unknown", "null"])
def test_no_clinic_or_an_unknown_one_gives_no_rows(warehouse, mart, ids):
    _, data = warehouse
    scoped = _within(data, mart, ids)
    assert scoped.empty
    assert list(scoped.columns) == list(_frame(data, f"select * from marts.{mart} limit 0").columns)


def test_an_unknown_clinic_beside_a_known_one_changes_nothing(warehouse, clinic_ids):
    _, data = warehouse
    known = _within(data, "maintenance_need_summary", clinic_ids[:1])
    padded = _within(data, "maintenance_need_summary", [*clinic_ids[:1], "NO-SUCH-CLINIC"])
    assert len(known) > 0
    pd.testing.assert_frame_equal(_in_order(padded), _in_order(known), check_exact=True)


def test_melasma_needs_maintenance_sooner_than_other_concerns(summary):
    pooled = summary[summary["skin_type"] == SKIN_ROLLUP].set_index("primary_concern")
    melasma = pooled.loc["melasma"]
    others = pooled.drop(index=["melasma", CONCERN_ROLLUP])
    assert len(others) >= 3
    assert (melasma["need_by_12m"] > others["need_by_12m"]).all(), pooled["need_by_12m"]
    assert (melasma["median_days_to_need"] < others["median_days_to_need"].dropna()).all()


def test_need_by_concern_is_the_generators_realised_estimate(warehouse, summary):
    landing, _ = warehouse
    truth = json.loads((landing / ".truth" / "truth.json").read_text())
    realised = truth["realised"]["maintenance_need_kaplan_meier_by_concern"]
    pooled = summary[summary["skin_type"] == SKIN_ROLLUP].set_index("primary_concern")
    for concern, expected in realised.items():
        row = pooled.loc[concern]
        assert (row["courses"], row["events"]) == (expected["courses"], expected["events"])
        assert row["need_by_3m"] == pytest.approx(expected["need_by_91d"], abs=5e-5), concern
        assert row["need_by_6m"] == pytest.approx(expected["need_by_182d"], abs=5e-5), concern
        assert row["need_by_12m"] == pytest.approx(expected["need_by_365d"], abs=5e-5), concern
        median = row["median_days_to_need"]
        assert (None if pd.isna(median) else int(median)) == expected["median_days"], concern


def test_every_due_course_has_a_reason_and_no_next_course(warehouse, events, summary):
    _, data = warehouse
    due = _frame(data, "select * from marts.maintenance_due")
    assert len(due) > 0
    assert due["course_id"].is_unique
    assert due["reason"].str.len().gt(0).all()

    merged = due[["course_id", "reason", "days_since", "due_after_days"]].merge(
        events, on="course_id", how="left", validate="one_to_one"
    )
    assert merged["origin_on"].notna().all(), "a due course is not a completed initial course"
    assert merged["next_course_on"].isna().all(), "a due patient already came back"
    # no event, or the regression that put the course on the list
    assert (merged["event_type"].isna() | merged["event_type"].eq("regression")).all()
    regressed = merged["regression_on"].notna()
    assert merged.loc[regressed, "reason"].str.startswith("regression signal").all()
    waited = merged.loc[~regressed]
    assert (waited["days_since"] >= waited["due_after_days"]).all()
    assert waited["reason"].str.match(r"^past (cohort median \(\d+ d\)|default \d+ d)$").all()

    # and nobody who qualifies is missing: open courses past their threshold or regressed
    skin = _skin_types(events)
    cells = summary.set_index(["skin_type", "primary_concern"])["median_days_to_need"]
    threshold = [
        cells.get((s, c)) if not pd.isna(cells.get((s, c))) else DEFAULT_DUE_DAYS
        for s, c in zip(skin, events["primary_concern"], strict=True)
    ]
    days_since = (events["as_of_date"] - events["origin_on"]).dt.days
    qualifies = events["next_course_on"].isna() & (
        events["regression_on"].notna() | (days_since >= np.array(threshold))
    )
    assert set(events.loc[qualifies, "course_id"]) == set(due["course_id"])
