-- The Kaplan-Meier cohorts of maintenance need: each course of int_maintenance_events in its
-- skin type x concern cell and in the three rollups (all skin types x its concern, its skin
-- type x all concerns, all x all; macros/rollup.sql). skin_type is the cohort key of the skin
-- type (int_maintenance_events: 'I'-'VI' or 'unknown'), 'ALL' in a rollup (fitzpatrick null
-- there); primary_concern is 'ALL' in a rollup. clinic_id (the clinic of the course's first
-- session) is not a cohort key: it lets the published table macros
-- marts.maintenance_need_within / maintenance_need_summary_within (macros/maintenance_need.sql)
-- keep one manager's clinics. Filtering these rows equals rolling up the filtered courses, as
-- each course is only copied into its four cohorts.
with

events as (

    select * from {{ ref('int_maintenance_events') }}

),

rollup_levels as (

    {{ rollup_levels(['skin_type', 'primary_concern']) }}

),

final as (

    select
        events.course_id,
        events.clinic_id,
        case when rollup_levels.by_skin_type then events.skin_type else 'ALL' end as skin_type,
        case when rollup_levels.by_skin_type then events.fitzpatrick end as fitzpatrick,
        case
            when rollup_levels.by_primary_concern then events.primary_concern else 'ALL'
        end as primary_concern,
        events.days,
        events.is_event
    from events
    cross join rollup_levels

)

select * from final
