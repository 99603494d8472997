-- Every course's session count equals its rows in fct_sessions, and its sessions are numbered
-- 1..n without gaps. Returns the courses that disagree.
with

courses as (

    select * from {{ ref('fct_courses') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

session_totals as (

    select
        course_id,
        count(*) as session_rows,
        count(distinct session_number) as session_numbers,
        max(session_number) as last_session_number
    from sessions
    group by course_id

),

final as (

    select
        courses.course_id,
        courses.sessions,
        session_totals.session_rows,
        session_totals.session_numbers,
        session_totals.last_session_number
    from courses
    left join session_totals
        on courses.course_id = session_totals.course_id
    where
        session_totals.course_id is null
        or courses.sessions != session_totals.session_rows
        or courses.sessions != session_totals.session_numbers
        or courses.sessions != session_totals.last_session_number

)

select * from final
