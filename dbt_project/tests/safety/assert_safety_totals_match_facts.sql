-- The 'ALL' clinics x 'ALL' concerns rows of safety_by_skin_type, summed over skin types,
-- count every completed session, session with an adverse or pigmentary event, course and
-- course with an adverse event of the facts. Returns the measures that disagree.
with

safety as (

    select * from {{ ref('safety_by_skin_type') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

courses as (

    select * from {{ ref('fct_courses') }}

),

mart_totals as (

    select
        sum(sessions) as sessions,
        sum(sessions_with_ae) as sessions_with_ae,
        sum(sessions_with_pigmentary_ae) as sessions_with_pigmentary_ae,
        sum(courses) as courses,
        sum(courses_with_ae) as courses_with_ae
    from safety
    where
        clinic_id = 'ALL'
        and primary_concern = 'ALL'

),

session_totals as (

    select
        count(*) as sessions,
        sum(case when has_adverse_event then 1 else 0 end) as sessions_with_ae,
        sum(case when has_pigmentary_event then 1 else 0 end) as sessions_with_pigmentary_ae
    from sessions

),

course_totals as (

    select
        count(*) as courses,
        sum(case when has_adverse_event then 1 else 0 end) as courses_with_ae
    from courses

),

final as (

    select
        mart_totals.sessions,
        session_totals.sessions as fact_sessions,
        mart_totals.sessions_with_ae,
        session_totals.sessions_with_ae as fact_sessions_with_ae,
        mart_totals.sessions_with_pigmentary_ae,
        session_totals.sessions_with_pigmentary_ae as fact_sessions_with_pigmentary_ae,
        mart_totals.courses,
        course_totals.courses as fact_courses,
        mart_totals.courses_with_ae,
        course_totals.courses_with_ae as fact_courses_with_ae
    from mart_totals
    cross join session_totals
    cross join course_totals
    where
        coalesce(mart_totals.sessions, 0) != session_totals.sessions
        or coalesce(mart_totals.sessions_with_ae, 0) != coalesce(session_totals.sessions_with_ae, 0)
        or coalesce(mart_totals.sessions_with_pigmentary_ae, 0)
        != coalesce(session_totals.sessions_with_pigmentary_ae, 0)
        or coalesce(mart_totals.courses, 0) != course_totals.courses
        or coalesce(mart_totals.courses_with_ae, 0) != coalesce(course_totals.courses_with_ae, 0)

)

select * from final
