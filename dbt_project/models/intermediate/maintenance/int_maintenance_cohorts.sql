-- The Kaplan-Meier cohorts of maintenance need: each course of int_maintenance_events in its
-- skin type x concern cell and in the three rollups (all skin types x its concern, its skin
-- type x all concerns, all x all). skin_type is the cohort key of the skin type
-- (int_maintenance_events: 'I'-'VI' or 'unknown'), 'ALL' in a rollup; primary_concern is
-- 'ALL' in a rollup.
with

events as (

    select * from {{ ref('int_maintenance_events') }}

),

final as (

    select
        course_id,
        skin_type,
        fitzpatrick,
        primary_concern,
        days,
        is_event
    from events

    union all

    select
        course_id,
        'ALL' as skin_type,
        cast(null as integer) as fitzpatrick,
        primary_concern,
        days,
        is_event
    from events

    union all

    select
        course_id,
        skin_type,
        fitzpatrick,
        'ALL' as primary_concern,
        days,
        is_event
    from events

    union all

    select
        course_id,
        'ALL' as skin_type,
        cast(null as integer) as fitzpatrick,
        'ALL' as primary_concern,
        days,
        is_event
    from events

)

select * from final
