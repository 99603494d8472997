-- Safety rates per clinic (and 'ALL' clinics) x skin type x primary concern (and 'ALL'
-- concerns) (DOMAIN.md "Side effects", "Statistics and disclosure"). Population: every
-- completed session (fct_sessions) and every course (fct_courses). Skin type and concern are
-- the course's; the clinic is the session's. A course without a recorded skin type is keyed
-- skin_type 'unknown' (fitzpatrick null). Exact counts: no small-cell suppression here
-- (marts are for analysts; dashboards suppress). Rates with Wilson 95 % intervals.
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
        sessions.session_id,
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

-- Each session once per rollup level: by clinic and concern, by clinic ('ALL' concerns), by
-- concern ('ALL' clinics), and neither (macros/rollup.sql); every level counts distinct
-- patients and courses itself.
rollup_levels as (

    {{ rollup_levels(['clinic_id', 'primary_concern']) }}

),

expanded as (

    select
        case
            when rollup_levels.by_clinic_id then population.clinic_id else 'ALL'
        end as clinic_id,
        population.fitzpatrick,
        population.skin_type,
        case
            when rollup_levels.by_primary_concern then population.primary_concern else 'ALL'
        end as primary_concern,
        population.session_id,
        population.patient_key,
        population.course_id,
        population.has_adverse_event,
        population.has_pigmentary_event,
        population.has_serious_event,
        population.fluence_out_of_range,
        population.course_id_with_ae
    from population
    cross join rollup_levels

),

aggregated as (

    select
        clinic_id,
        fitzpatrick,
        skin_type,
        primary_concern,
        cast(count(distinct patient_key) as bigint) as patients,
        cast(count(*) as bigint) as sessions,
        cast(sum(has_adverse_event) as bigint) as sessions_with_ae,
        cast(sum(has_pigmentary_event) as bigint) as sessions_with_pigmentary_ae,
        cast(sum(has_serious_event) as bigint) as sessions_with_serious_ae,
        cast(sum(fluence_out_of_range) as bigint) as sessions_fluence_out_of_range,
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
