"""The dashboards' only way to the warehouse: short read-only queries against the published file.

Each query opens its own read-only connection and closes it, so a refresh can publish a new
file at any moment and the next query sees it. Results are cached per published file (its
path and modification time are part of the key), so a page answers from memory until the next
publish. Everything a page shows a clinic manager passes through `disclosure.suppress` here,
so tables, charts and downloads get the same small-cell suppression. A filtered rate uses the
marts' own formulas: the refresh publishes them as SQL functions (`marts.wilson_low`, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboards.disclosure import SMALLEST_SHOWN, Disclosure, suppress
from toning import config

CACHE_ENTRIES = 512


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
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    with duckdb.connect(str(path), read_only=True, config=config) as con:
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
        for name, values in [
            ("clinic", self.clinics),
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
        clinics=values("select clinic_id from marts.dim_clinics order by 1"),
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
    patients="patients",
)


def monthly_activity(filters: Filters) -> pd.DataFrame:
    """Completed sessions, patients and the AE session rate (Wilson 95 % CI) per month."""
    where, params = filters.where(clinic="clinic_id", day="started_on_local")
    sql = f"""
        with months as (
            select
                cast(date_trunc('month', started_on_local) as date) as month,
                count(distinct patient_key) as patients,
                count(*) as sessions,
                count(*) filter (where has_adverse_event) as sessions_with_ae
            from marts.fct_sessions
            where {where}
            group by all
        )
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


def freshness() -> pd.DataFrame:
    """Per clinic and dated feed: the latest record's clinic-local date and how many days it
    lies behind the warehouse's as-of date (the latest date in any feed). A clinic whose
    export stopped shows a growing gap."""
    per_feed = " union all ".join(
        f"select clinic_id, '{feed}' as feed, max({day}) as latest_record_on, count(*) as records"
        f" from {table} where not is_voided group by clinic_id"
        for feed, (table, day) in FRESHNESS_FEEDS.items()
    )
    return read(
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


def maintenance_concerns() -> list[str]:
    """The concerns the maintenance-need cohorts have, 'ALL' (every concern together) first."""
    concerns = read("select distinct primary_concern from marts.maintenance_need_summary")
    return sorted(concerns["primary_concern"], key=lambda concern: (concern != ALL, concern))


def _in_skin_type_order(frame: pd.DataFrame) -> pd.DataFrame:
    rank = {skin_type: position for position, skin_type in enumerate(SKIN_TYPES)}
    order = frame["skin_type"].map(rank).fillna(len(rank))
    return frame.assign(_rank=order).sort_values(["_rank"], kind="stable").drop(columns="_rank")


def maintenance_need_by(concern: str) -> pd.DataFrame:
    """Per skin type of one concern (and 'ALL'): courses, maintenance events, the share needing
    maintenance by 3, 6 and 12 months and the median days to need (maintenance_need_summary,
    chain-wide), suppressed. Every concern is suppressed together, so that switching concern
    cannot show a cell that another concern's view hides."""
    exact = read(
        """
        select skin_type, primary_concern, courses, events, need_by_3m, need_by_6m, need_by_12m,
            median_days_to_need
        from marts.maintenance_need_summary
        """
    )
    shown = suppress(exact, MAINTENANCE_DISCLOSURE)
    shown = shown[shown["primary_concern"] == concern].drop(columns="primary_concern")
    return _in_skin_type_order(shown).reset_index(drop=True)


def maintenance_curves(concern: str) -> pd.DataFrame:
    """Kaplan-Meier maintenance-free survival (with its 95 % band) per skin type of one concern,
    chain-wide (maintenance_need), as a manager may see it: cohorts of at least 11 courses only,
    each curve stopping where fewer than 11 courses are still followed (a step there would
    rest on a handful of patients). Each curve starts at day 0 with everyone maintenance-free."""
    curves = read(
        """
        with cohorts as (
            select skin_type, courses from marts.maintenance_need_summary
            where primary_concern = ? and courses >= ?
        )
        select skin_type, 0 as days, courses as at_risk, 1.0 as survival,
            1.0 as survival_ci_low, 1.0 as survival_ci_high, 0 as step
        from cohorts
        union all
        select need.skin_type, need.days, need.at_risk, need.survival, need.survival_ci_low,
            need.survival_ci_high, 1 as step
        from marts.maintenance_need as need
        inner join cohorts on need.skin_type = cohorts.skin_type
        where need.primary_concern = ? and need.at_risk >= ?
        order by skin_type, days, step
        """,
        (concern, SMALLEST_SHOWN, concern, SMALLEST_SHOWN),
    )
    return _in_skin_type_order(curves.drop(columns="step")).reset_index(drop=True)


def maintenance_cohorts_not_drawn(concern: str) -> list[str]:
    """The skin types of one concern whose cohort has 1-10 courses: too few to draw."""
    small = read(
        "select skin_type from marts.maintenance_need_summary"
        " where primary_concern = ? and courses < ?",
        (concern, SMALLEST_SHOWN),
    )
    return _in_skin_type_order(small)["skin_type"].tolist()


def maintenance_clinics() -> pd.DataFrame:
    """The clinics a worklist can be chosen for (dim_clinics): id and name."""
    return read("select clinic_id, clinic_name from marts.dim_clinics order by clinic_id")


def maintenance_worklist(clinic_id: str) -> pd.DataFrame:
    """The clinic's courses due for maintenance (maintenance_due), most overdue first: the
    course has been due since its regression signal or since it passed its threshold
    (last session + due_after_days), whichever came first. Individual courses for the clinic to
    act on, by pseudonymised key: no small-cell suppression, no patient identities."""
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
            {"unique_id": tested, "column": _tested_column(test), "test": _test_in_words(test)}
            for test in nodes
            if test["resource_type"] == "test"
            for tested in _tested_nodes(test)
        ],
        columns=["unique_id", "column", "test"],
    )
    return {"tables": tables, "columns": columns, "tests": tests}


def _tested_nodes(test: dict) -> list[str]:
    """A generic test's table, or every table a singular test (a SQL file) reads."""
    return [test["attached_node"]] if test.get("attached_node") else test["depends_on"]["nodes"]


def _tested_column(test: dict) -> str | None:
    """The column a generic test checks: a column's name, or an expression over several
    (`column_name:` under `arguments:`, which dbt keeps in the test's kwargs only)."""
    arguments = (test.get("test_metadata") or {}).get("kwargs", {})
    return test.get("column_name") or arguments.get("column_name")


def _test_in_words(test: dict) -> str:
    """'unique', 'not null', 'one of: I, II', 'refers to fct_courses.course_id', or a
    singular test's name; '(warns)' where a failure only warns."""
    metadata = test.get("test_metadata") or {}
    name, arguments = metadata.get("name"), metadata.get("kwargs", {})
    if name == "accepted_values":
        words = "one of: " + ", ".join(str(value) for value in arguments.get("values", []))
    elif name == "relationships":
        target = str(arguments.get("to", "")).removeprefix("ref(").removesuffix(")").strip("'\"")
        words = f"refers to {target}.{arguments.get('field')}"
    elif name:
        words = name.replace("_", " ")
    else:
        words = test["name"].replace("_", " ")
    severity = str(test.get("config", {}).get("severity", "error")).lower()
    return f"{words} (warns)" if severity == "warn" else words
