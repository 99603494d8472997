-- Outcome scores placed at the derived timepoints of each course (DOMAIN.md "Outcome
-- timepoints"): one chosen score per course x instrument x timepoint.
-- Matching: an outcome that names a session belongs to that session's course only; any other
-- outcome is a candidate for every course of the same patient (outcomes carry no treatment
-- area, so a score given while face and neck courses run together serves both), and the date
-- windows decide. Days are clinic-local dates; the usable scores of int_outcomes_matched.
-- Windows (dbt vars): baseline = latest score in [first session - 60 d, first session start]
-- (has_baseline instruments only); end_of_course (completed courses only) = closest to
-- last + 28 d within (last + 14, last + 60]; follow_up_3m/6m/12m = closest to
-- last + 91/182/365 within +-30 d. Equally close scores: the earlier one wins.
-- End-of-course and follow-up scores must be collected before the patient's next course on the
-- same treatment area starts (int_courses.next_course_first_session_at): a later score
-- reflects the new course (it may be its baseline).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

scores as (

    select * from {{ ref('int_outcomes_matched') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

timepoints as (

    -- each window in days from its anchor session, both bounds inclusive
    select
        'baseline' as timepoint,
        'first_session' as anchor,
        -{{ var('baseline_window_days') }} as min_days,
        0 as max_days,
        0 as target_days

    union all

    select
        'end_of_course' as timepoint,
        'last_session' as anchor,
        {{ var('end_of_course_min_days') }} + 1 as min_days,
        {{ var('end_of_course_max_days') }} as max_days,
        {{ var('end_of_course_target_days') }} as target_days

    {% for name in ['3m', '6m', '12m'] %}
        union all

        select
            'follow_up_{{ name }}' as timepoint,
            'last_session' as anchor,
            {{ var('follow_up_' ~ name ~ '_days') }}
            - {{ var('follow_up_window_days') }} as min_days,
            {{ var('follow_up_' ~ name ~ '_days') }}
            + {{ var('follow_up_window_days') }} as max_days,
            {{ var('follow_up_' ~ name ~ '_days') }} as target_days
    {% endfor %}

),

course_scores as (

    select
        courses.course_id,
        courses.patient_key,
        courses.clinic_id,
        courses.status,
        courses.first_session_at,
        courses.next_course_first_session_at,
        scores.response_id,
        scores.session_id,
        scores.instrument,
        scores.rater,
        scores.supplied_timepoint,
        scores.score,
        scores.collected_at,
        scores.collected_on_local,
        scores.has_baseline,
        cast(
            {{ dbt.datediff('courses.first_session_on_local', 'scores.collected_on_local', 'day') }}
            as integer
        ) as days_from_first_session,
        cast(
            {{ dbt.datediff('courses.last_session_on_local', 'scores.collected_on_local', 'day') }}
            as integer
        ) as days_from_last_session
    from scores
    inner join courses
        on
            scores.patient_key = courses.patient_key
            and (
                scores.session_course_id is null
                or scores.session_course_id = courses.course_id
            )

),

anchored as (

    select
        course_scores.*,
        timepoints.timepoint,
        timepoints.anchor,
        timepoints.min_days,
        timepoints.max_days,
        timepoints.target_days,
        case
            when timepoints.anchor = 'first_session' then course_scores.days_from_first_session
            else course_scores.days_from_last_session
        end as days_from_anchor
    from course_scores
    cross join timepoints

),

candidates as (

    select
        *,
        abs(days_from_anchor - target_days) as distance_days
    from anchored
    where
        days_from_anchor between min_days and max_days
        and (
            timepoint != 'baseline'
            or (has_baseline and collected_at <= first_session_at)
        )
        and (timepoint != 'end_of_course' or status = 'completed')
        and (
            anchor != 'last_session'
            or next_course_first_session_at is null
            or collected_at < next_course_first_session_at
        )

),

ranked as (

    select
        *,
        row_number() over (
            partition by course_id, instrument, timepoint
            order by
                distance_days asc nulls last,
                -- baseline: the latest score of the closest day; elsewhere the earlier wins
                case when timepoint = 'baseline' then collected_at end desc nulls last,
                collected_at asc nulls last,
                response_id asc nulls last
        ) as choice_rank
    from candidates

),

final as (

    select
        course_id,
        patient_key,
        clinic_id,
        instrument,
        rater,
        timepoint,
        score,
        response_id,
        session_id,
        collected_at,
        collected_on_local,
        supplied_timepoint,
        days_from_first_session,
        days_from_last_session,
        coalesce(
            supplied_timepoint is not null and supplied_timepoint != timepoint, false
        ) as is_timepoint_disagreement
    from ranked
    where choice_rank = 1

)

select * from final
