-- Safety rates per clinic (and 'ALL' clinics) x skin type x primary concern (and 'ALL'
-- concerns) (DOMAIN.md "Side effects", "Statistics and disclosure"). Population: every
-- completed session (fct_sessions) and every course (fct_courses). Skin type and concern are
-- the course's; the clinic is the session's. A course without a recorded skin type is keyed
-- skin_type 'unknown' (fitzpatrick null). Exact counts: no small-cell suppression here
-- (marts are for analysts; dashboards suppress). Rates with Wilson 95 % intervals.
-- The sessions are first summed per course and clinic, so that the rollup expands and counts
-- distinct patients and courses over a row per course (10 M sessions at the 10m tier), not one
-- per session; sums of sums and distinct counts of the grouped keys are the same numbers.
with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

courses as (

    select * from {{ ref('fct_courses') }}

),

population as (

    select
        sessions.clinic_id,
        sessions.fitzpatrick,
        {{ skin_type_label('sessions.fitzpatrick') }} as skin_type,
        sessions.primary_concern,
        sessions.patient_key,
        sessions.course_id,
        case when sessions.has_adverse_event then 1 else 0 end as has_adverse_event,
        case when sessions.has_pigmentary_event then 1 else 0 end as has_pigmentary_event,
        case when sessions.has_serious_event then 1 else 0 end as has_serious_event,
        case when sessions.fluence_out_of_range then 1 else 0 end as fluence_out_of_range,
        case when courses.has_adverse_event then sessions.course_id end as course_id_with_ae
    from sessions
    inner join courses
        on sessions.course_id = courses.course_id

),

course_clinics as (

    select
        clinic_id,
        fitzpatrick,
        skin_type,
        primary_concern,
        patient_key,
        course_id,
        course_id_with_ae,
        count(*) as sessions,
        sum(has_adverse_event) as sessions_with_ae,
        sum(has_pigmentary_event) as sessions_with_pigmentary_ae,
        sum(has_serious_event) as sessions_with_serious_ae,
        sum(fluence_out_of_range) as sessions_fluence_out_of_range
    from population
    group by
        clinic_id,
        fitzpatrick,
        skin_type,
        primary_concern,
        patient_key,
        course_id,
        course_id_with_ae

),

-- Each course and clinic once per rollup level: by clinic and concern, by clinic ('ALL'
-- concerns), by concern ('ALL' clinics), and neither (macros/rollup.sql); every level counts
-- distinct patients and courses itself.
rollup_levels as (

    {{ rollup_levels(['clinic_id', 'primary_concern']) }}

),

expanded as (

    select
        case
            when rollup_levels.by_clinic_id then course_clinics.clinic_id else 'ALL'
        end as clinic_id,
        course_clinics.fitzpatrick,
        course_clinics.skin_type,
        case
            when rollup_levels.by_primary_concern then course_clinics.primary_concern else 'ALL'
        end as primary_concern,
        course_clinics.patient_key,
        course_clinics.course_id,
        course_clinics.course_id_with_ae,
        course_clinics.sessions,
        course_clinics.sessions_with_ae,
        course_clinics.sessions_with_pigmentary_ae,
        course_clinics.sessions_with_serious_ae,
        course_clinics.sessions_fluence_out_of_range
    from course_clinics
    cross join rollup_levels

),

aggregated as (

    select
        clinic_id,
        fitzpatrick,
        skin_type,
        primary_concern,
        cast(count(distinct patient_key) as bigint) as patients,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(sessions_with_ae) as bigint) as sessions_with_ae,
        cast(sum(sessions_with_pigmentary_ae) as bigint) as sessions_with_pigmentary_ae,
        cast(sum(sessions_with_serious_ae) as bigint) as sessions_with_serious_ae,
        cast(sum(sessions_fluence_out_of_range) as bigint) as sessions_fluence_out_of_range,
        cast(count(distinct course_id) as bigint) as courses,
        cast(count(distinct course_id_with_ae) as bigint) as courses_with_ae
    from expanded
    group by clinic_id, fitzpatrick, skin_type, primary_concern

),

final as (

    select
        clinic_id,
        fitzpatrick,
        skin_type,
        primary_concern,
        patients,
        sessions,
        sessions_with_ae,
        case
            when sessions > 0 then cast(sessions_with_ae as double) / sessions
        end as ae_session_rate,
        {{ wilson_low('sessions_with_ae', 'sessions') }} as ae_session_rate_ci_low,
        {{ wilson_high('sessions_with_ae', 'sessions') }} as ae_session_rate_ci_high,
        sessions_with_pigmentary_ae,
        case
            when sessions > 0 then cast(sessions_with_pigmentary_ae as double) / sessions
        end as pigmentary_rate,
        {{ wilson_low('sessions_with_pigmentary_ae', 'sessions') }} as pigmentary_rate_ci_low,
        {{ wilson_high('sessions_with_pigmentary_ae', 'sessions') }} as pigmentary_rate_ci_high,
        sessions_with_serious_ae,
        sessions_fluence_out_of_range,
        courses,
        courses_with_ae,
        case
            when courses > 0 then cast(courses_with_ae as double) / courses
        end as course_ae_rate,
        {{ wilson_low('courses_with_ae', 'courses') }} as course_ae_rate_ci_low,
        {{ wilson_high('courses_with_ae', 'courses') }} as course_ae_rate_ci_high
    from aggregated

)

select * from final
