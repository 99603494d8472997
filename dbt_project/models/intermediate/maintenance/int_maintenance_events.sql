-- Maintenance need as time-to-event data (DOMAIN.md "Maintenance need"), one row per
-- completed initial course. Origin: the course's last session (clinic-local date). Event: the
-- first of (a) the start of the next course of the patient on the same treatment area
-- (int_courses.next_course_*) and
-- (b) the first regression signal (int_maintenance_regression_signals). On the same day the
-- next course wins (a score collected the day a course starts is that course's baseline).
-- Courses without an event are censored at the as-of date.
with

courses as (

    select * from {{ ref('int_courses') }}

),

regression_signals as (

    select * from {{ ref('int_maintenance_regression_signals') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

population as (

    select * from courses
    where
        course_type = 'initial'
        and status = 'completed'

),

candidates as (

    select
        population.course_id,
        population.patient_key,
        population.clinic_id,
        population.treatment_area,
        population.fitzpatrick,
        {{ skin_type_label('population.fitzpatrick') }} as skin_type,
        population.primary_concern,
        population.last_session_at,
        population.last_session_on_local as origin_on,
        as_of.as_of_date,
        population.next_course_id,
        population.next_course_first_session_on_local as next_course_on,
        regression_signals.regression_on
    from population
    cross join as_of
    left join regression_signals
        on population.course_id = regression_signals.course_id

),

typed as (

    select
        *,
        case
            when
                next_course_on is not null
                and (regression_on is null or next_course_on <= regression_on)
                then 'next_course'
            when regression_on is not null then 'regression'
        end as event_type
    from candidates

),

dated as (

    select
        *,
        case
            when event_type = 'next_course' then next_course_on
            when event_type = 'regression' then regression_on
        end as event_on
    from typed

),

final as (

    select
        course_id,
        patient_key,
        clinic_id,
        treatment_area,
        fitzpatrick,
        skin_type,
        primary_concern,
        last_session_at,
        origin_on,
        event_on,
        event_type,
        cast(
            {{ dbt.datediff('origin_on', 'coalesce(event_on, as_of_date)', 'day') }}
            as integer
        ) as days,  -- noqa: RF04
        event_on is not null as is_event,
        next_course_id,
        next_course_on,
        regression_on,
        as_of_date
    from dated

)

select * from final
