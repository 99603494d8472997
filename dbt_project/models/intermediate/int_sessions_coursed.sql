-- Splits each patient's completed sessions on one treatment area into courses: a gap of more
-- than `course_gap_days` (clinic-local dates) to the previous session starts a new course.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

sessions as (

    select * from {{ ref('int_sessions_completed') }}
    where {{ changed_patients_only() }}

),

previous_sessions as (

    select
        *,
        lag(started_on_local) over (
            partition by patient_key, treatment_area
            order by started_at asc nulls last, session_id asc nulls last
        ) as previous_started_on_local
    from sessions

),

gaps as (

    select
        *,
        {{ dbt.datediff('previous_started_on_local', 'started_on_local', 'day') }}
            as days_since_previous_session
    from previous_sessions

),

course_starts as (

    select
        *,
        case
            when days_since_previous_session is null then 1
            when days_since_previous_session > {{ var('course_gap_days') }} then 1
            else 0
        end as is_course_start
    from gaps

),

course_numbers as (

    select
        *,
        sum(is_course_start) over (
            partition by patient_key, treatment_area
            order by started_at asc nulls last, session_id asc nulls last
            rows between unbounded preceding and current row
        ) as course_number
    from course_starts

),

session_numbers as (

    select
        *,
        row_number() over (
            partition by patient_key, treatment_area, course_number
            order by started_at asc nulls last, session_id asc nulls last
        ) as session_number,
        min(started_at) over (
            partition by patient_key, treatment_area, course_number
        ) as course_started_at
    from course_numbers

),

final as (

    select
        session_id,
        -- deterministic and portable: the same sessions give the same id on every engine
        md5(concat_ws(
            '|',
            patient_key,
            treatment_area,
            cast(course_started_at as {{ dbt.type_string() }})
        )) as course_id,
        cast(course_number as integer) as course_number,
        cast(session_number as integer) as session_number,
        case
            when session_number > 1 then cast(days_since_previous_session as integer)
        end as interval_days,
        clinic_id,
        patient_key,
        consultation_id,
        provider_id,
        device_id,
        started_at,
        started_at_local,
        started_on_local,
        treatment_area,
        wavelength_nm,
        fluence_j_cm2,
        spot_size_mm,
        rep_rate_hz,
        passes,
        pulses,
        numbing_cream,
        cooling,
        fitzpatrick,
        fitzpatrick_is_range,
        clinical_endpoint
    from session_numbers

)

select * from final
