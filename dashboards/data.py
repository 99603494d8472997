"""The dashboards' only way to the warehouse: short read-only queries against the published file.

Each query opens its own read-only connection and closes it, so a refresh can publish a new
file at any moment and the next query sees it. Results are cached per published file (its
path and modification time are part of the key), so a page answers from memory until the next
publish. Everything a page shows a clinic manager passes through `disclosure.suppress` here,
so tables, charts and downloads get the same small-cell suppression. A filtered rate uses the
marts' own formulas: the refresh publishes them as SQL functions (`marts.wilson_low`, ...).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import streamlit as st

from dashboards import access, navigation
from dashboards.disclosure import COMPLEMENT, SMALL, SMALLEST_SHOWN, Disclosure, suppress
from toning import audit, config, users

CACHE_ENTRIES = 512
T = TypeVar("T")
READ_ONLY = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class WarehouseMissing(Exception):
    pass


def warehouse_path() -> Path:
    """$TONING_DATA_DIR's published warehouse (`toning serve` sets it, absolute)."""
    return config.data_dir().warehouse


def data_docs_index() -> Path:
    """Where the refresh builds Great Expectations' Data Docs (beside the warehouse)."""
    return config.data_dir().data_docs / "index.html"


def query(sql: str, params: list | None = None, path: Path | None = None) -> pd.DataFrame:
    path = path or warehouse_path()
    if not path.exists():
        raise WarehouseMissing(f"No published warehouse at {path}: run `toning refresh` first.")
    with duckdb.connect(str(path), read_only=True, config=READ_ONLY) as con:
        return con.execute(sql, params or []).df()


def read(sql: str, params: tuple = ()) -> pd.DataFrame:
    """`query`, answered from the cache until a refresh publishes a new warehouse."""
    path = warehouse_path()
    if not path.exists():
        raise WarehouseMissing(f"No published warehouse at {path}: run `toning refresh` first.")
    return _read(path, path.stat().st_mtime_ns, sql, tuple(params)).copy()


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def _read(path: Path, version: int, sql: str, params: tuple) -> pd.DataFrame:
    return query(sql, list(params), path=path)


def chain_wide(function: Callable[..., T]) -> Callable[..., T]:
    """Data about every clinic at once (the chain's data quality): analysts and admins only."""

    @functools.wraps(function)
    def checked(*args, **kwargs) -> T:
        access.require(navigation.CHAIN_WIDE, "The chain's data quality")
        return function(*args, **kwargs)

    return checked


@dataclass(frozen=True)
class Filters:
    """What a manager narrowed a page to; empty means everything. Each query says which of its
    columns a filter applies to (a course's period is its first session's clinic-local date)."""

    clinics: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    concerns: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    laser_types: tuple[str, ...] = ()

    def where(self, **columns: str) -> tuple[str, tuple]:
        """A SQL condition (and its parameters) over the named columns: clinic=, day=,
        concern=, area=, laser_type=; a filter whose column is not named is not applied."""
        conditions, params = ["true"], []
        clinics = scoped(self.clinics)
        if clinics == () and "clinic" in columns:
            return "false", ()  # the user may see none of the chosen clinics
        for name, values in [
            ("clinic", clinics or ()),
            ("concern", self.concerns),
            ("area", self.areas),
            ("laser_type", self.laser_types),
        ]:
            if values and name in columns:
                conditions.append(f"{columns[name]} in ({', '.join('?' * len(values))})")
                params.extend(values)
        if "day" in columns and self.start is not None:
            conditions.append(f"{columns['day']} >= ?")
            params.append(self.start)
        if "day" in columns and self.end is not None:
            conditions.append(f"{columns['day']} <= ?")
            params.append(self.end)
        return " and ".join(conditions), tuple(params)


def scoped(chosen: tuple[str, ...]) -> tuple[str, ...] | None:
    """The clinics a query may read: those chosen (none chosen: all) within the signed-in
    user's clinics. None means every clinic; an empty tuple, none at all."""
    scope = access.clinic_scope()
    if scope is None:
        return chosen or None
    return tuple(clinic for clinic in chosen if clinic in scope) if chosen else scope


@dataclass(frozen=True)
class FilterOptions:
    clinics: list[str]
    first_day: date | None
    last_day: date | None
    concerns: list[str]
    areas: list[str]
    laser_types: list[str]
    instruments: list[str]


def filter_options() -> FilterOptions:
    """The values a page's filters offer: those present in the published marts."""

    def values(sql: str) -> list:
        return read(sql).iloc[:, 0].dropna().tolist()

    days = read(
        "select min(started_on_local) as first_day, max(started_on_local) as last_day"
        " from marts.fct_sessions"
    ).iloc[0]
    return FilterOptions(
        clinics=visible_clinics()["clinic_id"].tolist(),
        first_day=None if pd.isna(days.first_day) else days.first_day.date(),
        last_day=None if pd.isna(days.last_day) else days.last_day.date(),
        concerns=values("select distinct primary_concern from marts.fct_courses order by 1"),
        areas=values("select distinct treatment_area from marts.fct_courses order by 1"),
        laser_types=values("select distinct laser_type from marts.fct_courses order by 1"),
        instruments=values(
            "select instrument from reference.instruments where is_outcome order by 1"
        ),
    )


def metric_definitions() -> dict[str, str]:
    """Each metric's definition in plain words (dbt docs blocks `metric_<name>` in
    dbt_project/models/_metrics.md), by name, from the manifest published with the warehouse."""
    path = config.data_dir().dbt_manifest
    if not path.exists():
        return {}
    return _metric_definitions(path, path.stat().st_mtime_ns)


@st.cache_data(max_entries=4, show_spinner=False)
def _metric_definitions(path: Path, version: int) -> dict[str, str]:
    docs = json.loads(path.read_text())["docs"].values()
    return {
        doc["name"].removeprefix("metric_"): doc["block_contents"].strip()
        for doc in docs
        if doc["name"].startswith("metric_")
    }


def in_use(runs: pd.DataFrame) -> pd.Series | None:
    """The run whose warehouse the pages show: the newest that published one or rolled one
    back (then `warehouse_run` is the run it rolled back to); None before the first publish."""
    placed = runs[runs["status"].isin(["published", "rolled_back"])]
    if placed.empty:
        return None
    run = placed.iloc[0].copy()
    rolled_back_to = run.get("rolled_back_to")
    run["warehouse_run"] = rolled_back_to if run.status == "rolled_back" else run.run_id
    return run


def run_history() -> pd.DataFrame:
    """The latest refreshes, newest first, failed ones included (written by every refresh)."""
    path = config.data_dir().run_history
    columns = ["run_id", "started_at", "finished_at", "status", "duration_s", "error"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    runs = pd.DataFrame(json.loads(path.read_text()))
    for column in ("started_at", "finished_at"):
        runs[column] = pd.to_datetime(runs[column])
    return runs


@chain_wide
def quality_results() -> pd.DataFrame:
    """Every data-quality result of the latest checked run, with its status the time before."""
    return read(
        """
        select run_id, severity, status, previous_status, source, check_name, subject,
            observed, threshold, detail,
            case
                when previous_status is null then 'first check'
                when previous_status = status then 'unchanged'
                when status = 'fail' then 'newly failing'
                else 'fixed'
            end as change
        from ops.dq_results
        where run_id = (select max(run_id) from ops.dq_results)
        order by status, severity, source desc, check_name, subject
        """
    )


@chain_wide
def quarantine_summary() -> pd.DataFrame:
    """Quarantined records per feed and reason: in the latest run, and ever."""
    return read(
        """
        select feed, reason_code,
            coalesce(expectation, '(read before the suites: ' || reason_code || ')')
                as expectation,
            count(*) filter (where run_id = (select max(run_id) from ops.ingest_files))
                as latest_run,
            count(*) as all_runs
        from ops.quarantine
        group by all
        order by all_runs desc, feed, reason_code
        """
    )


@chain_wide
def informational_findings() -> pd.DataFrame:
    """Informational values that could not be read, per feed, column and reason: the records
    loaded with the value null. One reason is shown as an example of what arrived."""
    return read(
        """
        select feed, column_name, reason_code,
            count(*) filter (where run_id = (select max(run_id) from ops.ingest_files))
                as latest_run,
            count(*) as all_runs,
            min(reason) as example
        from ops.ingest_findings
        group by feed, column_name, reason_code
        order by all_runs desc, feed, column_name, reason_code
        """
    )


# --- Overview ----------------------------------------------------------------------------------

OVERVIEW_DISCLOSURE = Disclosure(
    counts=(
        "patients",
        "sessions",
        "sessions_with_ae",
        "serious_events",
        "courses",
        "courses_in_progress",
        "courses_finished",
        "courses_completed",
        "courses_dropped_out",
        "courses_measured",
        "responders",
    ),
    rates={
        "ae_session_rate": "sessions",
        "completion_rate": "courses_finished",
        "dropout_rate": "courses_finished",
        "response_rate": "courses_measured",
    },
    numerators={
        "ae_session_rate": ("sessions_with_ae",),
        "completion_rate": ("courses_completed", "courses_dropped_out"),
        "dropout_rate": ("courses_completed", "courses_dropped_out"),
        "response_rate": ("responders",),
    },
    patients="patients",
)


OVERVIEW_SQL = """
        with
        sessions as (select * from marts.fct_sessions where {sessions}),
        started as (select * from marts.fct_courses where {started}),
        current_courses as (select * from marts.fct_courses where {clinic_only}),
        finished as (
            select * from marts.fct_courses
            where course_type in ('initial', 'restart')
                and status in ('completed', 'dropped_out') and {finished}
        ),
        measured as (
            select outcomes.*
            from marts.fct_course_outcomes as outcomes
            inner join finished on outcomes.course_id = finished.course_id
            where outcomes.status = 'completed' and outcomes.instrument = ?
        ),
        serious as (select * from marts.fct_side_effects where is_serious and {serious}),
        counts as (
            select
                (select count(distinct patient_key) from sessions) as patients,
                (select count(*) from sessions) as sessions,
                (select count(*) filter (where has_adverse_event) from sessions)
                    as sessions_with_ae,
                (select count(*) from serious) as serious_events,
                (select count(*) from started) as courses,
                (select count(*) filter (where status = 'in_progress') from current_courses)
                    as courses_in_progress,
                (select count(*) from finished) as courses_finished,
                (select count(*) filter (where status = 'completed') from finished)
                    as courses_completed,
                (select count(*) filter (where status = 'dropped_out') from finished)
                    as courses_dropped_out,
                (select count(is_responder) from measured) as courses_measured,
                (select count(*) filter (where is_responder) from measured) as responders
        )
        select
            *,
            sessions_with_ae / nullif(sessions, 0) as ae_session_rate,
            courses_completed / nullif(courses_finished, 0) as completion_rate,
            courses_dropped_out / nullif(courses_finished, 0) as dropout_rate,
            responders / nullif(courses_measured, 0) as response_rate
        from counts
"""


def overview_exact(filters: Filters, instrument: str) -> pd.DataFrame:
    """One row: the period's activity, outcomes and safety (exact; `overview` suppresses).

    Sessions count in the period of their clinic-local date, courses in that of their first
    session, finished courses (completed or dropped out, initial and restart) and measured
    courses in that of their last session, serious events in that of their onset.
    """
    sessions, sessions_params = filters.where(clinic="clinic_id", day="started_on_local")
    started, started_params = filters.where(clinic="clinic_id", day="first_session_on_local")
    clinic_only, clinic_params = filters.where(clinic="clinic_id")
    finished, finished_params = filters.where(clinic="clinic_id", day="last_session_on_local")
    serious, serious_params = filters.where(clinic="clinic_id", day="onset_on")
    sql = OVERVIEW_SQL.format(
        sessions=sessions,
        started=started,
        clinic_only=clinic_only,
        finished=finished,
        serious=serious,
    )
    params = (
        *sessions_params,
        *started_params,
        *clinic_params,
        *finished_params,
        instrument,
        *serious_params,
    )
    return read(sql, params)


def overview(filters: Filters, instrument: str) -> pd.DataFrame:
    return suppress(overview_exact(filters, instrument), OVERVIEW_DISCLOSURE)


MONTHLY_DISCLOSURE = Disclosure(
    counts=("patients", "sessions", "sessions_with_ae"),
    rates={
        "ae_session_rate": "sessions",
        "ae_session_rate_ci_low": "sessions",
        "ae_session_rate_ci_high": "sessions",
    },
    numerators={
        rate: ("sessions_with_ae",)
        for rate in ("ae_session_rate", "ae_session_rate_ci_low", "ae_session_rate_ci_high")
    },
    patients="patients",
)


# Completed sessions, their patients and sessions with an adverse event per clinic-local month,
# under a condition on fct_sessions: the Overview's trend and the Safety page's p-chart.
SESSIONS_PER_MONTH_SQL = """
    select
        cast(date_trunc('month', started_on_local) as date) as month,
        count(distinct patient_key) as patients,
        count(*) as sessions,
        count(*) filter (where has_adverse_event) as sessions_with_ae
    from marts.fct_sessions
    where {where}
    group by all
    order by month
"""


def monthly_activity(filters: Filters) -> pd.DataFrame:
    """Completed sessions, patients and the AE session rate (Wilson 95 % CI) per month."""
    where, params = filters.where(clinic="clinic_id", day="started_on_local")
    sql = f"""
        with months as ({SESSIONS_PER_MONTH_SQL.format(where=where)})
        select
            *,
            sessions_with_ae / sessions as ae_session_rate,
            marts.wilson_low(sessions_with_ae, sessions) as ae_session_rate_ci_low,
            marts.wilson_high(sessions_with_ae, sessions) as ae_session_rate_ci_high
        from months
        order by month
    """
    return suppress(read(sql, params), MONTHLY_DISCLOSURE)


# --- Results by skin type ----------------------------------------------------------------------


RESULTS_BY_SKIN_TYPE_SQL = """
        with
        population as (
            select outcomes.*
            from marts.fct_course_outcomes as outcomes
            inner join marts.fct_courses as courses on outcomes.course_id = courses.course_id
            where outcomes.status = 'completed' and outcomes.instrument = ? and {where}
        ),
        aggregated as (
            select
                fitzpatrick,
                marts.skin_type_label(fitzpatrick) as skin_type,
                count(*) as courses,
                count(distinct patient_key) as patients,
                count(is_responder) as courses_measured,
                count(*) filter (where is_responder) as responders,
                count(change) as courses_with_change,
                sum(cast(change as decimal(18, 6))) as change_sum,
                sum(cast(change as decimal(18, 6)) * cast(change as decimal(18, 6)))
                    as change_sum_of_squares
            from population
            group by all
        ),
        moments as (
            select
                *,
                cast(change_sum as double) / nullif(courses_with_change, 0) as mean_change,
                marts.sample_sd_from_sums(
                    courses_with_change, change_sum, change_sum_of_squares
                ) as change_sd
            from aggregated
        )
        select
            fitzpatrick,
            skin_type,
            courses,
            patients,
            courses_measured,
            responders,
            cast(responders as double) / nullif(courses_measured, 0) as response_rate,
            marts.wilson_low(responders, courses_measured) as response_rate_ci_low,
            marts.wilson_high(responders, courses_measured) as response_rate_ci_high,
            courses_with_change,
            mean_change,
            mean_change - marts.t_half_width(change_sd, courses_with_change, t.t_975)
                as mean_change_ci_low,
            mean_change + marts.t_half_width(change_sd, courses_with_change, t.t_975)
                as mean_change_ci_high
        from moments
        left join reference.t_quantiles as t
            on moments.courses_with_change - 1 = t.degrees_of_freedom
        order by fitzpatrick nulls last
"""


def results_by_skin_type_exact(filters: Filters, instrument: str) -> pd.DataFrame:
    """Per skin type: completed courses (whose last session is in the period), measured
    courses, responders and the response rate with its Wilson 95 % CI, and the mean change
    from baseline with its t 95 % CI: results_by_skin_type's definitions (the same published
    functions, the same exact decimal sums), on any filter."""
    where, params = filters.where(
        clinic="outcomes.clinic_id",
        day="courses.last_session_on_local",
        concern="outcomes.primary_concern",
        area="outcomes.treatment_area",
        laser_type="courses.laser_type",
    )
    sql = RESULTS_BY_SKIN_TYPE_SQL.format(where=where)
    return read(sql, (instrument, *params))


RESULTS_DISCLOSURE = Disclosure(
    counts=(
        "courses",
        "patients",
        "courses_measured",
        "responders",
        "courses_with_change",
        "satisfaction_measured",
        "satisfied",
    ),
    rates={
        "response_rate": "courses_measured",
        "response_rate_ci_low": "courses_measured",
        "response_rate_ci_high": "courses_measured",
        "mean_change": "courses_with_change",
        "mean_change_ci_low": "courses_with_change",
        "mean_change_ci_high": "courses_with_change",
        "satisfaction_rate": "satisfaction_measured",
    },
    numerators={
        "response_rate": ("responders",),
        "response_rate_ci_low": ("responders",),
        "response_rate_ci_high": ("responders",),
        "satisfaction_rate": ("satisfied",),
    },
    patients="patients",
)
SATISFACTION = "satisfaction_5"


def results_by_skin_type(filters: Filters, instrument: str) -> pd.DataFrame:
    """Per skin type, the instrument's results and the share of satisfied patients."""
    results = results_by_skin_type_exact(filters, instrument)
    satisfaction = results_by_skin_type_exact(filters, SATISFACTION).rename(
        columns={
            "courses_measured": "satisfaction_measured",
            "responders": "satisfied",
            "response_rate": "satisfaction_rate",
        }
    )[["skin_type", "satisfaction_measured", "satisfied", "satisfaction_rate"]]
    merged = results.merge(satisfaction, on="skin_type", how="left")
    return suppress(merged, RESULTS_DISCLOSURE)


# --- Data quality ------------------------------------------------------------------------------

FRESHNESS_FEEDS = {
    "sessions": ("staging.stg_lake__sessions", "started_on_local"),
    "consultations": ("staging.stg_lake__consultations", "consulted_on_local"),
    "outcomes": ("staging.stg_lake__outcomes", "collected_on_local"),
    "side_effects": ("staging.stg_lake__side_effects", "onset_on"),
}


@chain_wide
def freshness() -> pd.DataFrame:
    """Per clinic and dated feed: the latest record's clinic-local date and how many days it
    lies behind the warehouse's as-of date (the latest date in any feed). A clinic whose
    export stopped shows a growing gap."""
    per_feed = " union all ".join(
        f"select clinic_id, '{feed}' as feed, max({day}) as latest_record_on, count(*) as records"
        f" from {table} where not is_voided group by clinic_id"
        for feed, (table, day) in FRESHNESS_FEEDS.items()
    )
    fresh = read(
        f"""
        with per_feed as ({per_feed})
        select
            per_feed.clinic_id,
            per_feed.feed,
            per_feed.latest_record_on,
            date_diff('day', per_feed.latest_record_on, as_of.as_of_date) as days_behind,
            per_feed.records
        from per_feed
        cross join intermediate.int_as_of_date as as_of
        order by days_behind desc, clinic_id, feed
        """
    )
    return _as_dates(fresh, "latest_record_on")


@chain_wide
def files_received() -> pd.DataFrame:
    """Per feed: files received, the latest arrival and its status."""
    return read(
        """
        select
            feed,
            count(*) as files,
            max(loaded_at) as last_received_at,
            arg_max(path, loaded_at) as last_file,
            arg_max(status, loaded_at) as last_file_status
        from ops.ingest_files
        group by feed
        order by feed
        """
    )


# --- Maintenance -------------------------------------------------------------------------------

ALL = "ALL"  # the marts' rollup level: every skin type, or every concern
SKIN_TYPES = ("I", "II", "III", "IV", "V", "VI", "unknown", ALL)
MAINTENANCE_DISCLOSURE = Disclosure(
    counts=("courses", "events"),
    rates={
        "need_by_3m": "courses",
        "need_by_6m": "courses",
        "need_by_12m": "courses",
        "median_days_to_need": "courses",
    },
    # A concern's skin types add up to its 'ALL' row.
    within=("primary_concern",),
)


def _maintenance_need() -> tuple[str, str, tuple]:
    """The maintenance-need marts as the signed-in user may see them: (curves, summary, the
    parameters of either). A manager's are recomputed over their clinics' courses alone, by the
    marts' own SQL (published as the table macros `marts.*_within(clinic_ids)`)."""
    scope = access.clinic_scope()
    if scope is None:
        return "marts.maintenance_need", "marts.maintenance_need_summary", ()
    within = (list(scope),)
    return "marts.maintenance_need_within(?)", "marts.maintenance_need_summary_within(?)", within


def maintenance_concerns() -> list[str]:
    """The concerns the maintenance-need cohorts have, 'ALL' (every concern together) first."""
    _, summary, within = _maintenance_need()
    concerns = read(f"select distinct primary_concern from {summary}", within)
    return sorted(concerns["primary_concern"], key=lambda concern: (concern != ALL, concern))


def _in_skin_type_order(frame: pd.DataFrame) -> pd.DataFrame:
    rank = {skin_type: position for position, skin_type in enumerate(SKIN_TYPES)}
    order = frame["skin_type"].map(rank).fillna(len(rank))
    return frame.assign(_rank=order).sort_values(["_rank"], kind="stable").drop(columns="_rank")


def maintenance_need_by(concern: str) -> pd.DataFrame:
    """Per skin type of one concern (and 'ALL'): courses, maintenance events, the share needing
    maintenance by 3, 6 and 12 months and the median days to need (maintenance_need_summary,
    of the user's clinics), suppressed. Every concern is suppressed together, so that switching
    concern cannot show a cell that another concern's view hides."""
    _, summary, within = _maintenance_need()
    exact = read(
        f"""
        select skin_type, primary_concern, courses, events, need_by_3m, need_by_6m, need_by_12m,
            median_days_to_need
        from {summary}
        """,
        within,
    )
    shown = suppress(exact, MAINTENANCE_DISCLOSURE)
    shown = shown[shown["primary_concern"] == concern].drop(columns="primary_concern")
    return _in_skin_type_order(shown).reset_index(drop=True)


def maintenance_curves(concern: str) -> pd.DataFrame:
    """Kaplan-Meier maintenance-free survival (with its 95 % band) per skin type of one concern,
    of the user's clinics (maintenance_need), as a manager may see it: cohorts of at least 11
    courses only, each curve stopping where fewer than 11 courses are still followed (a step
    there would rest on a handful of patients). Each curve starts at day 0 with everyone
    maintenance-free."""
    need, summary, within = _maintenance_need()
    curves = read(
        f"""
        with cohorts as (
            select skin_type, courses from {summary}
            where primary_concern = ? and courses >= ?
        )
        select skin_type, 0 as days, courses as at_risk, 1.0 as survival,
            1.0 as survival_ci_low, 1.0 as survival_ci_high, 0 as step
        from cohorts
        union all
        select need.skin_type, need.days, need.at_risk, need.survival, need.survival_ci_low,
            need.survival_ci_high, 1 as step
        from {need} as need
        inner join cohorts on need.skin_type = cohorts.skin_type
        where need.primary_concern = ? and need.at_risk >= ?
        order by skin_type, days, step
        """,
        (*within, concern, SMALLEST_SHOWN, *within, concern, SMALLEST_SHOWN),
    )
    return _in_skin_type_order(curves.drop(columns="step")).reset_index(drop=True)


def maintenance_cohorts_not_drawn(concern: str) -> list[str]:
    """The skin types of one concern whose cohort has 1-10 courses: too few to draw."""
    _, summary, within = _maintenance_need()
    small = read(
        f"select skin_type from {summary} where primary_concern = ? and courses < ?",
        (*within, concern, SMALLEST_SHOWN),
    )
    return _in_skin_type_order(small)["skin_type"].tolist()


def visible_clinics() -> pd.DataFrame:
    """The clinics (dim_clinics: id and name) the signed-in user may see."""
    clinics = read("select clinic_id, clinic_name from marts.dim_clinics order by clinic_id")
    scope = access.clinic_scope()
    if scope is None:
        return clinics
    return clinics[clinics["clinic_id"].isin(scope)].reset_index(drop=True)


def maintenance_worklist(clinic_id: str) -> pd.DataFrame:
    """The clinic's courses due for maintenance (maintenance_due), most overdue first: the
    course has been due since its regression signal or since it passed its threshold
    (last session + due_after_days), whichever came first. Individual courses for the clinic to
    act on, by pseudonymised key: no small-cell suppression, no patient identities. A clinic
    outside the signed-in user's clinics has no worklist."""
    if not scoped((clinic_id,)):
        clinic_id = None  # matches no row
    worklist = read(
        """
        with due as (
            select
                *,
                -- least() skips nulls: a course without a regression signal is due from its
                -- threshold; one with a signal before reaching it, from the signal
                least(regression_on, last_session_on_local + due_after_days) as due_since
            from marts.maintenance_due
            where clinic_id = ?
        )
        select
            course_id, patient_key, reason, regression_on, skin_type, primary_concern,
            treatment_area, last_session_on_local, days_since, due_after_days, due_since,
            days_since - date_diff('day', last_session_on_local, due_since) as days_overdue
        from due
        order by days_overdue desc, days_since desc, course_id
        """,
        (clinic_id,),
    )
    worklist["reason"] = [
        _reason_in_words(reason, regression_on)
        for reason, regression_on in zip(worklist["reason"], worklist["regression_on"], strict=True)
    ]
    return worklist.drop(columns="regression_on").reset_index(drop=True)


class IdentityUnavailable(Exception):
    """The identity store cannot be read now; the message says why and what to do."""


def with_patient_records(worklist: pd.DataFrame, clinic_id: str) -> pd.DataFrame:
    """The worklist with each patient's record number (`patient_ref`), read from the restricted
    identity store: for a manager of that clinic only, and recorded in the audit log (by clinic
    and count, never a patient)."""
    user = access.require(access.MAY_REIDENTIFY, "Patient record numbers")
    if user is not None and clinic_id not in user.clinics:
        raise access.NotAllowed(f"Patient record numbers of {clinic_id} are for its managers only.")
    identity = config.data_dir().identity
    try:
        with duckdb.connect(str(identity), read_only=True, config=READ_ONLY) as con:
            records = con.execute(
                """
                select patient_key, any_value(patient_ref) as patient_ref
                from patient_identity
                where clinic_id = ? and list_contains(?, patient_key)
                group by patient_key
                """,
                [clinic_id, worklist["patient_key"].dropna().unique().tolist()],
            ).df()
    except duckdb.Error as error:
        raise IdentityUnavailable(
            "Patient record numbers cannot be read right now (the nightly refresh may be "
            "writing them): try again in a few minutes; the worklist shows patient keys."
        ) from error
    access.record(audit.REIDENTIFIED, clinic=clinic_id, patients=len(records))
    shown = worklist.merge(records, on="patient_key", how="left")
    return shown[["patient_ref", *worklist.columns]]


def _reason_in_words(reason: str, regression_on: object) -> str:
    """maintenance_due's reason ('regression signal; past cohort median (354 d)', 'past
    default 180 d') in a manager's words; a part it does not know is kept as written."""
    words = []
    for part in reason.split("; "):
        if part == "regression signal":
            since = "" if pd.isna(regression_on) else f" on {pd.Timestamp(regression_on):%Y-%m-%d}"
            words.append(
                f"pigmentation came back{since} (patient score 2+ points above the end of course)"
            )
        elif part.startswith("past cohort median ("):
            days = part.removeprefix("past cohort median (").removesuffix(" d)")
            words.append(
                f"past the usual time to maintenance for this skin type and concern ({days} days)"
            )
        elif part.startswith("past default "):
            days = part.removeprefix("past default ").removesuffix(" d")
            words.append(
                f"past {days} days since the last session (the default: this skin type and "
                "concern has no usual time to maintenance yet)"
            )
        else:
            words.append(part)
    text = "; and ".join(words)
    return text[:1].upper() + text[1:]


# --- Definitions -------------------------------------------------------------------------------

# What the data dictionary documents: schema -> the dbt resource type building its tables.
DICTIONARY_SCHEMAS = {"marts": "model", "reference": "seed"}
NOT_DOCUMENTED = "Not documented in the published dbt manifest."
NOT_IN_WAREHOUSE = "(not in the warehouse)"


def data_dictionary() -> pd.DataFrame:
    """The tables analysts rely on, one row each (schema, table, kind, description): the models
    in schema marts and the reference seeds, described by the dbt manifest published with the
    warehouse; a published table the manifest lacks is listed as undocumented. Empty when no
    manifest was published (the warehouse was refreshed by an older version)."""
    manifest = _dictionary_manifest()
    columns = ["schema", "table", "kind", "description"]
    if manifest is None:
        return pd.DataFrame(columns=columns)
    documented = manifest["tables"][columns]
    published = read(
        "select table_schema as schema, table_name as table from information_schema.tables"
        " where table_schema in ('marts', 'reference') order by 1, 2"
    )
    undocumented = published.merge(documented, on=["schema", "table"], how="left")
    undocumented = undocumented[undocumented["kind"].isna()].assign(
        kind="table", description=NOT_DOCUMENTED
    )
    tables = pd.concat([documented, undocumented[columns]], ignore_index=True)
    return tables.sort_values(["schema", "table"], ignore_index=True)


def data_dictionary_columns(schema: str, table: str) -> pd.DataFrame:
    """A table's columns in the warehouse's order (column, type, description, tests): the type
    from the warehouse (information_schema), the description and the dbt tests from the
    manifest; a documented column the warehouse lacks comes last, marked as such."""
    types = read(
        "select table_schema, table_name, column_name as column, data_type as type"
        " from information_schema.columns where table_schema in ('marts', 'reference')"
        " order by table_schema, table_name, ordinal_position"
    )
    types = types[(types["table_schema"] == schema) & (types["table_name"] == table)]
    manifest = _dictionary_manifest()
    described = _documented(manifest, "columns", schema, table)[["column", "description"]]
    tests = _documented(manifest, "tests", schema, table)
    tests = tests.groupby("column", sort=False)["test"].agg("; ".join).reset_index()
    merged = types[["column", "type"]].merge(described, on="column", how="left")
    missing = described[~described["column"].isin(types["column"])].assign(type=NOT_IN_WAREHOUSE)
    merged = pd.concat([merged, missing[["column", "type", "description"]]], ignore_index=True)
    merged = merged.merge(tests, on="column", how="left")
    return merged.fillna({"description": "", "test": ""}).rename(columns={"test": "tests"})


def data_dictionary_table_tests(schema: str, table: str) -> list[str]:
    """The dbt tests on a table as a whole (not on one of its columns), in words."""
    manifest = _dictionary_manifest()
    tests = _documented(manifest, "tests", schema, table)
    columns = _documented(manifest, "columns", schema, table)["column"]
    whole = tests[tests["column"].isna() | ~tests["column"].isin(columns)]
    return [
        test if pd.isna(column) else f"{test} over {column}"
        for test, column in zip(whole["test"], whole["column"], strict=True)
    ]


def _documented(manifest: dict | None, part: str, schema: str, table: str) -> pd.DataFrame:
    """One table's rows of a part of the parsed manifest (its columns, or its tests)."""
    if manifest is None:
        return pd.DataFrame(columns=["unique_id", "column", "description", "test"])
    tables = manifest["tables"]
    ids = tables[(tables["schema"] == schema) & (tables["table"] == table)]["unique_id"]
    rows = manifest[part]
    return rows[rows["unique_id"].isin(ids)]


def _dictionary_manifest() -> dict[str, pd.DataFrame] | None:
    path = config.data_dir().dbt_manifest
    if not path.exists():
        return None
    return _parse_dictionary_manifest(path, path.stat().st_mtime_ns)


@st.cache_data(max_entries=4, show_spinner=False)
def _parse_dictionary_manifest(path: Path, version: int) -> dict[str, pd.DataFrame]:
    """The manifest's documented tables, their columns and the tests on them, as three small
    frames keyed by the dbt node id (the manifest is megabytes: parsed once per publish)."""
    nodes = list(json.loads(path.read_text())["nodes"].values())
    documented = [
        node for node in nodes if DICTIONARY_SCHEMAS.get(node["schema"]) == node["resource_type"]
    ]
    tables = pd.DataFrame(
        [
            {
                "unique_id": node["unique_id"],
                "schema": node["schema"],
                "table": node["alias"] or node["name"],
                "kind": node["resource_type"],
                "description": node["description"].strip() or NOT_DOCUMENTED,
            }
            for node in documented
        ],
        columns=["unique_id", "schema", "table", "kind", "description"],
    )
    columns = pd.DataFrame(
        [
            {"unique_id": node["unique_id"], "column": name, "description": column["description"]}
            for node in documented
            for name, column in node["columns"].items()
        ],
        columns=["unique_id", "column", "description"],
    )
    tests = pd.DataFrame(
        [
            {"unique_id": tested, "column": column, "test": words}
            for test in nodes
            if test["resource_type"] == "test"
            for tested in _tested_nodes(test)
            for column, words in _checks_in_words(test)
        ],
        columns=["unique_id", "column", "test"],
    )
    return {"tables": tables, "columns": columns, "tests": tests}


def _tested_nodes(test: dict) -> list[str]:
    """A generic test's table, or every table a singular test (a SQL file) reads."""
    return [test["attached_node"]] if test.get("attached_node") else test["depends_on"]["nodes"]


def _checks_in_words(test: dict) -> list[tuple[str | None, str]]:
    """Each column a test checks with its check in words: one pair for dbt's tests, one per
    column for the tests that check several columns in one scan (not_null_columns,
    accepted_values_columns); a test of the table as a whole has no column."""
    metadata = test.get("test_metadata") or {}
    name, arguments = metadata.get("name"), metadata.get("kwargs", {})
    if name == "not_null_columns":
        checks = [(column, "not null") for column in arguments.get("columns", [])]
    elif name == "accepted_values_columns":
        checks = [
            (column, _one_of(values)) for column, values in arguments.get("columns", {}).items()
        ]
    else:
        checks = [(_tested_column(test), _test_in_words(test))]
    severity = str(test.get("config", {}).get("severity", "error")).lower()
    return [
        (column, f"{words} (warns)" if severity == "warn" else words) for column, words in checks
    ]


def _tested_column(test: dict) -> str | None:
    """The column a generic test checks: a column's name, or an expression over several
    (`column_name:` under `arguments:`, which dbt keeps in the test's kwargs only)."""
    arguments = (test.get("test_metadata") or {}).get("kwargs", {})
    return test.get("column_name") or arguments.get("column_name")


def _test_in_words(test: dict) -> str:
    """'unique', 'one of: I, II', 'refers to fct_courses.course_id', or a singular test's
    name."""
    metadata = test.get("test_metadata") or {}
    name, arguments = metadata.get("name"), metadata.get("kwargs", {})
    if name == "accepted_values":
        return _one_of(arguments.get("values", []))
    if name == "relationships":
        target = str(arguments.get("to", "")).removeprefix("ref(").removesuffix(")").strip("'\"")
        return f"refers to {target}.{arguments.get('field')}"
    return (name or test["name"]).replace("_", " ")


def _one_of(values: list) -> str:
    return "one of: " + ", ".join(str(value) for value in values)


# --- Safety ------------------------------------------------------------------------------------
# A session counts in the period of its clinic-local date; concern, area and laser type are its
# course's and its device's (fct_sessions), as in safety_by_skin_type.

SAFETY_COUNTS = (
    "patients",
    "sessions",
    "sessions_with_ae",
    "sessions_with_pigmentary_ae",
    "sessions_fluence_out_of_range",
    "serious_events",
)
SAFETY_RATES = {
    "ae_session_rate": "sessions",
    "ae_session_rate_ci_low": "sessions",
    "ae_session_rate_ci_high": "sessions",
    "pigmentary_rate": "sessions",
    "pigmentary_rate_ci_low": "sessions",
    "pigmentary_rate_ci_high": "sessions",
}
SAFETY_NUMERATORS = {
    rate: (f"sessions_with_{'ae' if rate.startswith('ae') else 'pigmentary_ae'}",)
    for rate in SAFETY_RATES
}
SAFETY_DISCLOSURE = Disclosure(
    counts=SAFETY_COUNTS, rates=SAFETY_RATES, numerators=SAFETY_NUMERATORS, patients="patients"
)
# Rows of one table (skin types, fluence bands of a laser type) add up to the headline: where a
# single count is small, complementary suppression hides the next smallest.
SESSION_DISCLOSURE = Disclosure(
    counts=SAFETY_COUNTS[:-1], rates=SAFETY_RATES, numerators=SAFETY_NUMERATORS, patients="patients"
)

# The session rates of safety_by_skin_type, from its published formulas (same types: bigint
# counts, the rate a double division), so an unfiltered view equals the mart exactly.
SESSION_RATES_SQL = """
    cast(sessions_with_ae as double) / nullif(sessions, 0) as ae_session_rate,
    marts.wilson_low(sessions_with_ae, sessions) as ae_session_rate_ci_low,
    marts.wilson_high(sessions_with_ae, sessions) as ae_session_rate_ci_high,
    cast(sessions_with_pigmentary_ae as double) / nullif(sessions, 0) as pigmentary_rate,
    marts.wilson_low(sessions_with_pigmentary_ae, sessions) as pigmentary_rate_ci_low,
    marts.wilson_high(sessions_with_pigmentary_ae, sessions) as pigmentary_rate_ci_high
"""
SESSION_COUNTS_SQL = """
    count(distinct patient_key) as patients,
    count(*) as sessions,
    count(*) filter (where has_adverse_event) as sessions_with_ae,
    count(*) filter (where has_pigmentary_event) as sessions_with_pigmentary_ae,
    count(*) filter (where fluence_out_of_range) as sessions_fluence_out_of_range
"""


def _with(filters: Filters, **changes) -> Filters:
    """The filters with some of their fields changed (e.g. clinics=() for all clinics)."""
    return Filters(**{**vars(filters), **changes})


def session_filter(filters: Filters) -> tuple[str, tuple]:
    """The filters on fct_sessions' own columns."""
    return filters.where(
        clinic="clinic_id",
        day="started_on_local",
        concern="primary_concern",
        area="treatment_area",
        laser_type="laser_type",
    )


def _as_dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Date columns as dates (DuckDB hands them over as midnight timestamps), so tables and
    their CSV show 2026-03-02, not 2026-03-02 00:00:00."""
    return frame.assign(**{column: frame[column].dt.date for column in columns})


def _serious_events_sql(filters: Filters) -> tuple[str, tuple]:
    """Every serious event under the filters, one row each, never a patient key. An event
    belongs to the clinic and period of the session it is attributed to (as its AE counts in
    the session rates); an unattributed one to its patient's clinic and its onset date."""
    where, params = filters.where(
        clinic="coalesce(sessions.clinic_id, events.clinic_id)",
        day="coalesce(events.session_started_on_local, events.onset_on)",
        concern="events.primary_concern",
        area="events.treatment_area",
        laser_type="sessions.laser_type",
    )
    sql = f"""
        select
            events.event_id,
            coalesce(sessions.clinic_id, events.clinic_id) as clinic_id,
            events.session_id,
            events.session_started_on_local as session_date,
            events.onset_on,
            events.effect,
            events.effect_group,
            events.severity,
            events.is_serious_reported as reported_serious,
            marts.skin_type_label(events.fitzpatrick) as skin_type,
            sessions.laser_type,
            events.action,
            events.is_resolved,
            events.resolved_on,
            events.duration_days
        from marts.fct_side_effects as events
        left join marts.fct_sessions as sessions on events.session_id = sessions.session_id
        where events.is_serious and {where}
    """
    return sql, params


def safety_headline_exact(filters: Filters) -> pd.DataFrame:
    """One row: completed sessions (and their patients), the AE and pigmentary session rates
    with Wilson 95 % CIs, sessions with fluence out of range, and the serious events (exact)."""
    where, params = session_filter(filters)
    serious, serious_params = _serious_events_sql(filters)
    sql = f"""
        with
        counts as (select {SESSION_COUNTS_SQL} from marts.fct_sessions where {where}),
        serious as ({serious})
        select *, (select count(*) from serious) as serious_events, {SESSION_RATES_SQL}
        from counts
    """
    return read(sql, (*params, *serious_params))


def safety_headline(filters: Filters) -> pd.DataFrame:
    """`safety_headline_exact` as a manager may see it (small counts `<11`)."""
    return suppress(safety_headline_exact(filters), SAFETY_DISCLOSURE)


def safety_by_skin_type_exact(filters: Filters) -> pd.DataFrame:
    """Per skin type (the course's; unknown is its own row): sessions, patients, the AE and
    pigmentary session rates with Wilson 95 % CIs: safety_by_skin_type's definitions on any
    filter (unfiltered, its clinic_id = 'ALL', primary_concern = 'ALL' rows)."""
    where, params = session_filter(filters)
    sql = f"""
        with counts as (
            select
                fitzpatrick,
                marts.skin_type_label(fitzpatrick) as skin_type,
                {SESSION_COUNTS_SQL}
            from marts.fct_sessions
            where {where}
            group by all
        )
        select *, {SESSION_RATES_SQL}
        from counts
        order by fitzpatrick nulls last
    """
    return read(sql, params)


def safety_by_skin_type(filters: Filters) -> pd.DataFrame:
    """`safety_by_skin_type_exact` suppressed: a skin type resting on fewer than 11 sessions
    or patients shows no rate; a single small count is complemented."""
    return suppress(safety_by_skin_type_exact(filters), SESSION_DISCLOSURE)


# What an adverse-event breakdown groups by, in its display order (whitelisted: they become SQL).
AE_BREAKDOWNS = {
    "effect": ("effect_group, effect", "effect_group, adverse_events desc, effect"),
    "severity": ("severity", "array_position(['mild', 'moderate', 'severe'], severity)"),
}
AE_BREAKDOWN_DISCLOSURE = Disclosure(
    counts=("patients", "adverse_events", "sessions_with_event", "sessions"),
    rates={
        "events_per_1000_sessions": "sessions",
        "session_rate": "sessions",
        "session_rate_ci_low": "sessions",
        "session_rate_ci_high": "sessions",
    },
    numerators={
        "events_per_1000_sessions": ("adverse_events",),
        "session_rate": ("sessions_with_event",),
        "session_rate_ci_low": ("sessions_with_event",),
        "session_rate_ci_high": ("sessions_with_event",),
    },
    patients="patients",
)


def adverse_events_by_exact(filters: Filters, breakdown: str) -> pd.DataFrame:
    """Adverse events (attributed to the filtered completed sessions) per effect or per
    severity: events, patients, sessions with one, events per 1,000 completed sessions, and
    the share of completed sessions with one (Wilson 95 % CI). Unattributed events have no
    session, so no rate: they are in the serious-events list when serious."""
    group_by, order_by = AE_BREAKDOWNS[breakdown]
    where, params = session_filter(filters)
    sql = f"""
        with
        sessions as (select session_id from marts.fct_sessions where {where}),
        total as (select count(*) as sessions from sessions),
        events as (
            select events.*
            from marts.fct_side_effects as events
            inner join sessions on events.session_id = sessions.session_id
            where events.is_adverse_event
        ),
        counts as (
            select
                {group_by},
                count(distinct patient_key) as patients,
                count(*) as adverse_events,
                count(distinct session_id) as sessions_with_event
            from events
            group by all
        )
        select
            counts.*,
            total.sessions,
            1000.0 * adverse_events / total.sessions as events_per_1000_sessions,
            cast(sessions_with_event as double) / total.sessions as session_rate,
            marts.wilson_low(sessions_with_event, total.sessions) as session_rate_ci_low,
            marts.wilson_high(sessions_with_event, total.sessions) as session_rate_ci_high
        from counts
        cross join total
        order by {order_by}
    """
    return read(sql, params)


def adverse_events_by(filters: Filters, breakdown: str) -> pd.DataFrame:
    """`adverse_events_by_exact` suppressed: an effect seen in fewer than 11 patients shows
    `<11` and no rate."""
    return suppress(adverse_events_by_exact(filters, breakdown), AE_BREAKDOWN_DISCLOSURE)


def ae_by_fluence_band_exact(filters: Filters) -> pd.DataFrame:
    """Per laser type and fluence band (fct_sessions.fluence_band: where the session's fluence
    lies in the plausible range for its laser type and skin type, bounds inclusive as for
    fluence_out_of_range; named and ordered by reference.dose_response_bands), then the sessions
    without a band: 'no reference range', 'no fluence recorded'. Sessions and the AE session
    rate (Wilson 95 % CI)."""
    where, params = session_filter(filters)
    sql = f"""
        with
        bands as (
            select band, band_order, band_label
            from reference.dose_response_bands
            where factor = 'fluence'
        ),
        banded as (
            select
                sessions.* exclude (fluence_band),
                case
                    when sessions.fluence_j_cm2 is null then 'no fluence recorded'
                    when sessions.fluence_band is null then 'no reference range'
                    else bands.band_label
                end as fluence_band,
                bands.band_order
            from marts.fct_sessions as sessions
            left join bands on sessions.fluence_band = bands.band
            where {where}
        ),
        counts as (
            select coalesce(laser_type, 'unknown') as laser_type, fluence_band, band_order,
                {SESSION_COUNTS_SQL}
            from banded
            group by all
        )
        select * exclude (band_order), {SESSION_RATES_SQL}
        from counts
        order by laser_type, band_order nulls last, fluence_band = 'no fluence recorded'
    """
    return read(sql, params)


def ae_by_fluence_band(filters: Filters) -> pd.DataFrame:
    """`ae_by_fluence_band_exact` suppressed; the bands of a laser type add up to its total,
    so a single small band is complemented within its laser type."""
    rule = Disclosure(
        counts=SESSION_DISCLOSURE.counts,
        rates=SAFETY_RATES,
        numerators=SAFETY_NUMERATORS,
        patients="patients",
        within=("laser_type",),
    )
    return suppress(ae_by_fluence_band_exact(filters), rule)


def serious_events(filters: Filters) -> pd.DataFrame:
    """Every serious event (severe, or marked serious by the clinic) under the filters, newest
    onset first: individual events without counts or patient keys, so nothing to suppress
    (DOMAIN.md: serious events are listed, never only aggregated)."""
    sql, params = _serious_events_sql(filters)
    events = read(f"{sql} order by onset_on desc, event_id", params)
    return _as_dates(events, "session_date", "onset_on", "resolved_on")


def fluence_out_of_range_sessions(filters: Filters) -> pd.DataFrame:
    """Every completed session under the filters whose fluence lies outside the plausible range
    for its laser type and skin type, newest first (individual sessions, no patient keys)."""
    where, params = session_filter(filters)
    sql = f"""
        select
            session_id,
            clinic_id,
            started_on_local as session_date,
            laser_type,
            marts.skin_type_label(fitzpatrick) as skin_type,
            fluence_j_cm2,
            fluence_range_min_j_cm2,
            fluence_range_max_j_cm2,
            case
                when fluence_j_cm2 < fluence_range_min_j_cm2 then 'below range'
                else 'above range'
            end as deviation,
            has_adverse_event
        from marts.fct_sessions
        where fluence_out_of_range and {where}
        order by started_on_local desc, session_id
    """
    return _as_dates(read(sql, params), "session_date")


P_CHART_SIGMAS = 3
P_CHART_DISCLOSURE = Disclosure(
    counts=("patients", "sessions", "sessions_with_ae"),
    rates={
        "ae_session_rate": "sessions",
        "centre_line": "sessions",
        "lower_limit": "sessions",
        "upper_limit": "sessions",
    },
    numerators={"ae_session_rate": ("sessions_with_ae",)},
    patients="patients",
)


def p_chart_months_exact(filters: Filters, clinic: str) -> pd.DataFrame:
    """One clinic's completed sessions and sessions with an adverse event per month (the month
    of the clinic-local date), under the page's other filters (its clinic filter is replaced
    by `clinic`). Months without a session have no row."""
    where, params = session_filter(_with(filters, clinics=(clinic,)))
    return read(SESSIONS_PER_MONTH_SQL.format(where=where), params)


def p_chart_limits(months: pd.DataFrame) -> pd.DataFrame:
    """A p-chart over monthly counts (`sessions`, `sessions_with_ae`): each month's rate, the
    centre line p = all sessions with an AE / all sessions of the months given, and the control
    limits p +/- 3 sqrt(p (1 - p) / n) for the month's n sessions, clipped to [0, 1]; a month
    whose rate lies outside them is out of control."""
    chart = months.copy()
    centre = chart["sessions_with_ae"].sum() / chart["sessions"].sum() if len(chart) else 0.0
    sigma = (centre * (1 - centre) / chart["sessions"]) ** 0.5
    chart["ae_session_rate"] = chart["sessions_with_ae"] / chart["sessions"]
    chart["centre_line"] = centre
    chart["lower_limit"] = (centre - P_CHART_SIGMAS * sigma).clip(lower=0.0)
    chart["upper_limit"] = (centre + P_CHART_SIGMAS * sigma).clip(upper=1.0)
    chart["out_of_control"] = (chart["ae_session_rate"] < chart["lower_limit"]) | (
        chart["ae_session_rate"] > chart["upper_limit"]
    )
    return chart


def p_chart(filters: Filters, clinic: str) -> pd.DataFrame:
    """The clinic's monthly AE p-chart as a manager may see it: a month resting on fewer than
    11 sessions or patients shows no rate, no limits and is never flagged (its counts `<11`);
    the centre line still uses every month's sessions (it is the clinic's rate in the period)."""
    months = _as_dates(p_chart_months_exact(filters, clinic), "month")
    chart = suppress(p_chart_limits(months), P_CHART_DISCLOSURE)
    chart["out_of_control"] = chart["out_of_control"] & chart["ae_session_rate"].notna()
    return chart


# --- Clinics & providers -----------------------------------------------------------------------
# Funnel plots (DOMAIN.md "Statistics and disclosure"): each unit's rate, indirectly standardised
# for skin-type mix, against its volume, with the chain's 95 % and 99.8 % limits. The chain is
# every clinic under the page's other filters: choosing clinics picks the units shown, never the
# yardstick they are compared with.

FUNNEL_Z = {"95": 1.959963984540054, "998": 3.090232306167813}  # two-sided normal quantiles
FUNNEL_UNITS = {
    "clinic": "select clinic_id as unit_id, clinic_name as unit_name from marts.dim_clinics",
    "provider": (
        "select provider_id as unit_id, display_name || ' (' || clinic_id || ')' as unit_name"
        " from marts.dim_providers"
    ),
}
FUNNEL_DISCLOSURE = Disclosure(
    counts=("patients", "volume", "observed"),
    rates={
        "expected": "volume",
        "crude_rate": "volume",
        "standardised_rate": "volume",
    },
    numerators={"crude_rate": ("observed",), "standardised_rate": ("observed",)},
    patients="patients",
)


def _outside_funnel(z: float) -> str:
    """SQL: the unit's standardised rate lies outside chain rate +/- z sqrt(p (1 - p) / n) at its
    volume n (limits clipped to [0, 1], as drawn)."""
    half_width = f"{z} * sqrt(chain_rate * (1 - chain_rate) / volume)"
    return (
        f"(standardised_rate < greatest(0.0, chain_rate - {half_width})"
        f" or standardised_rate > least(1.0, chain_rate + {half_width}))"
    )


def _standardised_funnel(population: str, params: tuple, filters: Filters, by: str) -> pd.DataFrame:
    """Indirect standardisation over `population` (rows: unit_id, clinic_id, patient_key,
    stratum, success 0/1): per unit its volume, observed successes, expected = the sum over its
    rows of the chain's rate in the row's stratum (= sum over skin types of n x chain rate; an
    unknown skin type is a stratum of its own), standardised rate = observed / expected x chain
    rate, and whether it lies outside the chain's 95 % / 99.8 % limits at its volume. Units are
    the population's rows in the clinics `filters` names (all when none)."""
    units_where, units_params = filters.where(clinic="population.clinic_id")
    sql = f"""
        with
        population as ({population}),
        strata as (
            select stratum, avg(success) as stratum_rate from population group by stratum
        ),
        chain as (select avg(success) as chain_rate from population),
        units as (
            select
                population.unit_id,
                count(distinct population.patient_key) as patients,
                count(*) as volume,
                sum(population.success) as observed,
                sum(strata.stratum_rate) as expected
            from population
            inner join strata on population.stratum is not distinct from strata.stratum
            where {units_where}
            group by population.unit_id
        ),
        rated as (
            select
                units.*,
                cast(observed as double) / volume as crude_rate,
                observed / nullif(expected, 0) * chain.chain_rate as standardised_rate,
                chain.chain_rate
            from units
            cross join chain
        )
        select
            rated.unit_id,
            coalesce(names.unit_name, rated.unit_id) as unit_name,
            rated.* exclude (unit_id),
            {_outside_funnel(FUNNEL_Z["95"])} as outside_95,
            {_outside_funnel(FUNNEL_Z["998"])} as outside_998
        from rated
        left join ({FUNNEL_UNITS[by]}) as names on rated.unit_id = names.unit_id
        order by rated.unit_id
    """
    return read(sql, (*params, *units_params))


def _funnel_shown(funnel: pd.DataFrame) -> pd.DataFrame:
    """A funnel table as a manager may see it: a unit with fewer than 11 patients (or cases)
    keeps `<11` counts and shows no rate, no expected count and no outside-the-limits flag."""
    shown = suppress(funnel, FUNNEL_DISCLOSURE)
    hidden = shown["standardised_rate"].isna()
    for flag in ("outside_95", "outside_998"):
        shown[flag] = funnel[flag].astype("boolean").mask(hidden)
    return shown


def ae_funnel_exact(filters: Filters, by: str = "clinic") -> pd.DataFrame:
    """Per clinic or provider (`by`): completed sessions (volume), sessions with an adverse
    event (observed), expected from the chain's AE session rate per skin type, and the
    standardised AE session rate, under the page's filters (sessions by their own date)."""
    unit = {"clinic": "clinic_id", "provider": "provider_id"}[by]
    where, params = session_filter(_with(filters, clinics=()))
    population = f"""
        select
            {unit} as unit_id,
            clinic_id,
            patient_key,
            fitzpatrick as stratum,
            case when has_adverse_event then 1 else 0 end as success
        from marts.fct_sessions
        where {where}
    """
    return _standardised_funnel(population, params, filters, by)


def ae_funnel(filters: Filters, by: str = "clinic") -> pd.DataFrame:
    """`ae_funnel_exact` as a manager may see it (`_funnel_shown`)."""
    return _funnel_shown(ae_funnel_exact(filters, by))


# A course's provider: the one who gave most of its sessions (ties: the one who gave the
# earlier session), since a course is often shared between providers.
COURSE_PROVIDERS_SQL = """
    select course_id, provider_id
    from marts.fct_sessions
    group by course_id, provider_id
    qualify row_number() over (
        partition by course_id order by count(*) desc, min(started_at), provider_id
    ) = 1
"""


def response_funnel_exact(filters: Filters, instrument: str, by: str = "clinic") -> pd.DataFrame:
    """Per clinic or provider (`by`; a course's provider gave most of its sessions): measured
    completed courses on `instrument` (volume, as on the results page: by the last session's
    date), responders (observed), expected from the chain's response rate per skin type, and
    the standardised response rate."""
    unit = {"clinic": "outcomes.clinic_id", "provider": "course_providers.provider_id"}[by]
    where, params = _with(filters, clinics=()).where(
        day="courses.last_session_on_local",
        concern="outcomes.primary_concern",
        area="outcomes.treatment_area",
        laser_type="courses.laser_type",
    )
    population = f"""
        select
            {unit} as unit_id,
            outcomes.clinic_id,
            outcomes.patient_key,
            outcomes.fitzpatrick as stratum,
            case when outcomes.is_responder then 1 else 0 end as success
        from marts.fct_course_outcomes as outcomes
        inner join marts.fct_courses as courses on outcomes.course_id = courses.course_id
        left join ({COURSE_PROVIDERS_SQL}) as course_providers
            on outcomes.course_id = course_providers.course_id
        where outcomes.status = 'completed' and outcomes.instrument = ?
            and outcomes.is_responder is not null and {where}
    """
    return _standardised_funnel(population, (instrument, *params), filters, by)


def response_funnel(filters: Filters, instrument: str, by: str = "clinic") -> pd.DataFrame:
    """`response_funnel_exact` as a manager may see it (`_funnel_shown`)."""
    return _funnel_shown(response_funnel_exact(filters, instrument, by))


def funnel_limits(
    chain_rate: float, smallest_volume: float, largest_volume: float, points: int = 120
) -> pd.DataFrame:
    """The funnel's lines: chain rate +/- z sqrt(p (1 - p) / n) for z of 95 % and 99.8 %,
    clipped to [0, 1], at `points` volumes from the smallest volume shown to a little past the
    largest, spaced evenly on a log scale so the narrow end is smooth."""
    start = float(smallest_volume)
    stop = max(float(largest_volume) * 1.1, start + 1.0)
    step = (stop / start) ** (1 / (points - 1))
    limits = pd.DataFrame({"volume": [start * step**i for i in range(points)]})
    for name, z in FUNNEL_Z.items():
        half_width = z * (chain_rate * (1 - chain_rate) / limits["volume"]) ** 0.5
        limits[f"low_{name}"] = (chain_rate - half_width).clip(lower=0.0)
        limits[f"high_{name}"] = (chain_rate + half_width).clip(upper=1.0)
    return limits


FUNNEL_STAGES = ("consultations", "proceeded", "first_sessions", "courses_completed")
CONSULTATION_FUNNEL_DISCLOSURE = Disclosure(
    counts=(*FUNNEL_STAGES, "courses_dropped_out", "courses_finished"),
    rates={"proceed_rate": "consultations", "completion_rate": "courses_finished"},
    numerators={
        "proceed_rate": ("proceeded",),
        "completion_rate": ("courses_completed", "courses_dropped_out"),
    },
    within=("level",),
)


def consultation_funnel_exact(filters: Filters) -> pd.DataFrame:
    """clinic_funnel summed per clinic over the months the period touches (a month counts when
    any of its days is in the period), and a last row 'All selected clinics' with the sums:
    consultations, those deciding to proceed, first sessions of initial courses, and initial or
    restart courses completed / dropped out; the share proceeding and the completion rate
    (completed / completed + dropped out). Stages are counted in their own months: a flow,
    not a cohort followed through."""
    months = _with(filters, start=filters.start.replace(day=1) if filters.start else None)
    where, params = months.where(clinic="clinic_id", day="month")
    per_clinic = read(
        f"""
        select
            clinic_id,
            cast(sum(consultations) as bigint) as consultations,
            cast(sum(proceeded) as bigint) as proceeded,
            cast(sum(first_sessions) as bigint) as first_sessions,
            cast(sum(courses_completed) as bigint) as courses_completed,
            cast(sum(courses_dropped_out) as bigint) as courses_dropped_out
        from marts.clinic_funnel
        where {where}
        group by clinic_id
        order by clinic_id
        """,
        params,
    ).assign(level="clinic")
    stages = per_clinic.drop(columns=["clinic_id", "level"])
    total = stages.sum().to_frame().T.astype(stages.dtypes.to_dict())
    total = total.assign(clinic_id="All selected clinics", level="all")
    funnel = pd.concat([per_clinic, total], ignore_index=True)
    funnel["courses_finished"] = funnel["courses_completed"] + funnel["courses_dropped_out"]
    funnel["proceed_rate"] = funnel["proceeded"] / funnel["consultations"].where(lambda n: n > 0)
    funnel["completion_rate"] = funnel["courses_completed"] / funnel["courses_finished"].where(
        lambda n: n > 0
    )
    return funnel


def consultation_funnel(filters: Filters) -> pd.DataFrame:
    """The consultation funnel as a manager may see it (a clinic's single small stage count is
    complemented so that it cannot be worked out from the total row)."""
    return suppress(consultation_funnel_exact(filters), CONSULTATION_FUNNEL_DISCLOSURE).drop(
        columns="level"
    )


# --- Consultation aid --------------------------------------------------------------------------
# What similar patients of this chain experienced, for a provider to tell a patient at the
# consultation: the consultation marts of the user's clinics (chain-wide, or recomputed over a
# manager's clinics by the marts' own SQL), suppressed. dashboards/consultation_words.py words
# them.

CONSULTATION_SKIN_TYPES = SKIN_TYPES[:6]  # I-VI, as the provider assesses the patient


@dataclass(frozen=True)
class Consultation:
    """What the provider chose: the patient's skin type and primary concern, the laser type
    ('ALL': any), and optionally the planned fluence (J/cm²) and interval (days)."""

    skin_type: str
    concern: str
    laser_type: str = ALL
    planned_fluence: float | None = None
    planned_interval: int | None = None


@dataclass(frozen=True)
class ConsultationMarts:
    """The consultation marts as the signed-in user may see them, and their parameters."""

    expected: str
    dose_response: str
    comfort: str
    within: tuple


def _consultation_marts() -> ConsultationMarts:
    """Chain-wide marts for analysts and admins; for a manager, the same marts recomputed over
    their clinics alone (the published table macros `marts.*_within(clinic_ids)`)."""
    scope = access.clinic_scope()
    if scope is None:
        return ConsultationMarts(
            "marts.expected_course_outcomes",
            "marts.safety_dose_response",
            "marts.comfort_by_numbing_cream",
            (),
        )
    return ConsultationMarts(
        "marts.expected_course_outcomes_within(?)",
        "marts.safety_dose_response_within(?)",
        "marts.comfort_by_numbing_cream_within(?)",
        (list(scope),),
    )


def consultation_options() -> tuple[list[str], list[str]]:
    """The primary concerns and laser types the expectations have ('ALL', any laser type,
    first); none before the first finished course."""
    marts = _consultation_marts()
    cells = read(f"select distinct primary_concern, laser_type from {marts.expected}", marts.within)
    concerns = sorted(cells["primary_concern"].dropna().unique())
    laser_types = sorted(
        cells["laser_type"].dropna().unique(), key=lambda kind: (kind != ALL, kind)
    )
    return concerns, laser_types


def consultation_opening() -> tuple[str, str] | None:
    """The skin type and primary concern with the most finished courses (any laser type) in
    the user's clinics, which the page opens on; None before the first finished course."""
    marts = _consultation_marts()
    cells = read(
        f"select skin_type, primary_concern from {marts.expected} where laser_type = ?"
        " order by courses desc, skin_type, primary_concern limit 1",
        (*marts.within, ALL),
    )
    return None if cells.empty else (cells["skin_type"].iloc[0], cells["primary_concern"].iloc[0])


# Each figure of expected_course_outcomes -> (its columns, the count it rests on, the counts it
# would give back). Completion gives back both the completed and the dropped-out courses.
EXPECTED_FIGURES = {
    "completion_rate": (
        ("completion_rate", "completion_rate_ci_low", "completion_rate_ci_high"),
        "courses",
        ("courses_completed", "courses_dropped_out"),
    ),
    "sessions_to_completion": (
        tuple(f"sessions_to_completion_{q}" for q in ("median", "p25", "p75")),
        "courses_completed",
        (),
    ),
    "response_rate": (
        ("response_rate", "response_rate_ci_low", "response_rate_ci_high"),
        "courses_measured",
        ("responders",),
    ),
    "course_ae_rate": (
        ("course_ae_rate", "course_ae_rate_ci_low", "course_ae_rate_ci_high"),
        "courses",
        ("courses_with_ae",),
    ),
    "course_pigmentary_rate": (
        (
            "course_pigmentary_rate",
            "course_pigmentary_rate_ci_low",
            "course_pigmentary_rate_ci_high",
        ),
        "courses",
        ("courses_with_pigmentary_ae",),
    ),
}
EXPECTED_DISCLOSURE = Disclosure(
    counts=(
        "courses",
        "courses_completed",
        "courses_dropped_out",
        "courses_measured",
        "responders",
        "courses_with_ae",
        "courses_with_pigmentary_ae",
    ),
    rates={column: base for columns, base, _ in EXPECTED_FIGURES.values() for column in columns},
    numerators={
        column: parts for columns, _, parts in EXPECTED_FIGURES.values() for column in columns
    },
    # A skin type and concern's laser types add up to its 'ALL' laser types row.
    within=("skin_type", "primary_concern"),
)


@dataclass(frozen=True)
class Expected:
    """One cell of expected_course_outcomes as the user may see it (`shown`, suppressed; the
    need for maintenance as on the Maintenance page), and the figures the mart does not give
    because they rest on too few courses (`withheld`: EXPECTED_FIGURES' names, need_by_12m).
    Its completed and dropped-out courses add up to its finished courses: a page shows
    neither (with the finished ones, one gives the other back); they only hide the completion
    rate where one is small."""

    shown: pd.Series
    withheld: frozenset[str]


def expected_outcomes(skin_type: str, concern: str, laser_type: str) -> Expected | None:
    """What similar patients experienced (expected_course_outcomes of the user's clinics), with
    the concern's instrument and its responder rule; None where the record has no finished
    course of this skin type, concern and laser type. Every cell is suppressed together, so
    that switching laser type cannot show a cell that another view hides."""
    marts = _consultation_marts()
    exact = read(
        f"""
        select
            expected.*,
            expected.courses - expected.courses_completed as courses_dropped_out,
            instruments.instrument_name,
            instruments.responder_rule,
            instruments.responder_threshold
        from {marts.expected} as expected
        left join reference.instruments as instruments
            on expected.instrument = instruments.instrument
        order by expected.skin_type, expected.primary_concern, expected.laser_type
        """,
        marts.within,
    )
    cell = exact.index[
        (exact["skin_type"] == skin_type)
        & (exact["primary_concern"] == concern)
        & (exact["laser_type"] == laser_type)
    ]
    if cell.empty:
        return None
    exact_row = exact.loc[cell[0]]
    withheld = {
        name for name, (columns, _, _) in EXPECTED_FIGURES.items() if pd.isna(exact_row[columns[0]])
    }
    if pd.isna(exact_row["need_by_12m"]):
        withheld.add("need_by_12m")
    shown = suppress(exact, EXPECTED_DISCLOSURE).loc[cell[0]].copy()
    # The need for maintenance is the Maintenance page's figure (one for all laser types),
    # suppressed as that page suppresses it.
    need = maintenance_need_by(concern)
    need = need[need["skin_type"] == skin_type]
    shown["maintenance_courses"] = need["courses"].iloc[0] if len(need) else "0"
    if need.empty or "need_by_12m" in withheld:
        shown["need_by_12m"] = float("nan")
    else:
        shown["need_by_12m"] = need["need_by_12m"].iloc[0]
    return Expected(shown, frozenset(withheld))


COMFORT_DISCLOSURE = Disclosure(
    counts=("sessions_with_cream", "sessions_without_cream"),
    rates={
        "mean_pain_with_cream": "sessions_with_cream",
        "mean_pain_without_cream": "sessions_without_cream",
        "pain_difference": "sessions_with_cream",
        "pain_difference_ci_low": "sessions_with_cream",
        "pain_difference_ci_high": "sessions_with_cream",
    },
    numerators={
        difference: ("sessions_without_cream",)
        for difference in ("pain_difference", "pain_difference_ci_low", "pain_difference_ci_high")
    },
    # A skin type's laser types add up to its 'ALL' laser types row.
    within=("skin_type",),
)


def comfort(skin_type: str, laser_type: str) -> pd.Series | None:
    """Pain after a session with and without numbing cream (comfort_by_numbing_cream of the
    user's clinics) for this skin type and laser type ('ALL': any), suppressed; None where no
    session of theirs was scored."""
    marts = _consultation_marts()
    exact = read(
        f"""
        select laser_type, skin_type, sessions_with_cream, mean_pain_with_cream,
            sessions_without_cream, mean_pain_without_cream, pain_difference,
            pain_difference_ci_low, pain_difference_ci_high
        from {marts.comfort}
        order by skin_type, laser_type
        """,
        marts.within,
    )
    shown = suppress(exact, COMFORT_DISCLOSURE)
    cell = shown[(shown["skin_type"] == skin_type) & (shown["laser_type"] == laser_type)]
    return None if cell.empty else cell.iloc[0]


CONTRAINDICATION_COUNTS = ("consultations", "decided_proceed", "decided_defer", "decided_decline")
CONTRAINDICATION_SUMS = ", ".join(
    f"cast(sum({count}) as bigint) as {count}" for count in CONTRAINDICATION_COUNTS
)


def contraindications_recorded(skin_type: str, concern: str) -> pd.DataFrame:
    """The contraindications recorded at consultations of patients of this skin type and
    concern in the user's clinics (consultation_contraindications summed over them), with what
    was decided; contraindications first, most frequent first, 'none recorded' last. The three
    decisions add up to the consultations, so a row's counts are suppressed together."""
    where, params = Filters().where(clinic="clinic_id")
    exact = read(
        f"""
        select
            contraindication,
            contraindication_label,
            {CONTRAINDICATION_SUMS}
        from marts.consultation_contraindications
        where skin_type = ? and primary_concern = ? and {where}
        group by contraindication, contraindication_label
        order by contraindication = 'none', consultations desc, contraindication_label
        """,
        (skin_type, concern, *params),
    )
    return _suppressed_per_row(exact, "contraindication", CONTRAINDICATION_COUNTS)


def _suppressed_per_row(frame: pd.DataFrame, key: str, counts: tuple[str, ...]) -> pd.DataFrame:
    """A frame whose counts add up within each row (a total and its parts), suppressed row by
    row: a row's single small count is complemented by its next smallest."""
    if frame.empty:
        return frame.astype({count: "object" for count in counts})
    long = frame.melt(id_vars=[key], value_vars=list(counts), var_name="count", value_name="n")
    shown = suppress(long, Disclosure(counts=("n",), within=(key,)))
    wide = shown.pivot(index=key, columns="count", values="n")[list(counts)].reset_index()
    return frame.drop(columns=list(counts)).merge(wide, on=key, how="left")


DOSE_RESPONSE_FIGURES = tuple(
    f"{figure}{bound}"
    for figure in ("pigmentary_rate", "odds_ratio")
    for bound in ("", "_ci_low", "_ci_high")
)
DOSE_RESPONSE_DISCLOSURE = Disclosure(
    counts=("sessions", "sessions_with_pigmentary_ae"),
    rates={figure: "sessions" for figure in DOSE_RESPONSE_FIGURES},
    # An odds ratio gives the band's events back as its rate does.
    numerators={figure: ("sessions_with_pigmentary_ae",) for figure in DOSE_RESPONSE_FIGURES},
    # A factor's bands add up to its sessions.
    within=("laser_type", "skin_type", "factor"),
)
DOSE_RESPONSE_GROUP = ["laser_type", "skin_type", "factor"]


def dose_response_bands(laser_type: str, skin_type: str) -> pd.DataFrame:
    """The fluence and interval bands of one laser type and skin type ('ALL': pooled) in
    safety_dose_response of the user's clinics: sessions, pigmentary rate, the odds ratio
    against the reference band, whether the risk is raised, and the reference band's label;
    suppressed (every cell together). An odds ratio gives back the reference band's events as
    well as its own, so it is left out where either is hidden; the reference band's own is 1
    by definition."""
    marts = _consultation_marts()
    exact = read(
        f"""
        select
            dose.laser_type, dose.skin_type, dose.factor, dose.band, dose.band_label,
            dose.is_reference, reference.band_label as reference_label,
            dose.sessions, dose.sessions_with_pigmentary_ae,
            {", ".join(f"dose.{figure}" for figure in DOSE_RESPONSE_FIGURES)},
            dose.is_raised_risk
        from {marts.dose_response} as dose
        left join reference.dose_response_bands as reference
            on dose.factor = reference.factor and dose.reference_band = reference.band
        order by dose.laser_type, dose.skin_type, dose.factor, dose.band_order
        """,
        marts.within,
    )
    shown = suppress(exact, DOSE_RESPONSE_DISCLOSURE)
    hidden = shown.assign(hidden=shown["sessions_with_pigmentary_ae"].isin([SMALL, COMPLEMENT]))
    reference_hidden = hidden[hidden["is_reference"]][[*DOSE_RESPONSE_GROUP, "hidden"]]
    flags = shown[DOSE_RESPONSE_GROUP].merge(reference_hidden, on=DOSE_RESPONSE_GROUP, how="left")
    odds_ratios = ["odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high"]
    shown.loc[flags["hidden"].eq(True).to_numpy(), odds_ratios] = float("nan")
    shown.loc[shown["is_reference"], "odds_ratio"] = 1.0
    chosen = (shown["laser_type"] == laser_type) & (shown["skin_type"] == skin_type)
    return shown[chosen].reset_index(drop=True)


def planned_band(factor: str, value: float, laser_type: str, skin_type: str) -> dict | None:
    """The band (code and label) a planned fluence (J/cm²) or interval (days) falls in, by the
    published rule (marts.fluence_band over the laser type and skin type's plausible range,
    marts.interval_band); None where there is no range to place a fluence in."""
    if factor == "fluence":
        planned = """
            select marts.fluence_band(?, fluence_min_j_cm2, fluence_max_j_cm2) as band
            from reference.laser_fluence_ranges
            where laser_type = ? and marts.skin_type_label(fitzpatrick) = ?
        """
        params = (float(value), laser_type, skin_type)
    else:
        planned = "select marts.interval_band(?) as band"
        params = (int(value),)
    bands = read(
        f"""
        with planned as ({planned})
        select planned.band, bands.band_label
        from planned
        left join reference.dose_response_bands as bands
            on bands.factor = ? and planned.band = bands.band
        """,
        (*params, factor),
    )
    if bands.empty or pd.isna(bands["band"].iloc[0]):
        return None
    return bands.iloc[0].to_dict()


# --- Open fatal findings -----------------------------------------------------------------------

OPEN_FATAL_COLUMNS = ["check", "subject", "scope", "first_seen_run", "last_seen_run", "detail"]


@chain_wide
def open_fatal_findings() -> pd.DataFrame:
    """The fatal data-quality findings still open, which block every publish until
    acknowledged (`toning dq ack`); written by every refresh beside the warehouse, since the
    publish they block never carries them."""
    path = config.data_dir().open_fatals
    if not path.exists():
        return pd.DataFrame(columns=OPEN_FATAL_COLUMNS)
    return pd.DataFrame(json.loads(path.read_text()), columns=OPEN_FATAL_COLUMNS)


# --- Administration ----------------------------------------------------------------------------


def dashboard_users() -> pd.DataFrame:
    """Who may sign in: name, role and a manager's clinics (never a password hash)."""
    access.require((users.ADMIN,), "The users list")
    registry = users.load(config.data_dir().users_file)
    return pd.DataFrame(
        [
            {"name": user.name, "role": user.role, "clinics": ", ".join(user.clinics) or "all"}
            for user in registry.values()
        ],
        columns=["name", "role", "clinics"],
    )


def audit_events() -> pd.DataFrame:
    """The audit log, newest first: when, which event, by whom, and its details as text."""
    access.require((users.ADMIN,), "The audit log")
    events = audit.read(config.data_dir().audit_log)
    columns = ["at", "event", "user", "role", "details"]
    rows = [
        {
            "at": event.get("at"),
            "event": event.get("event"),
            "user": event.get("user"),
            "role": event.get("role"),
            "details": json.dumps(
                {k: v for k, v in event.items() if k not in columns}, ensure_ascii=False
            ),
        }
        for event in reversed(events)
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame
