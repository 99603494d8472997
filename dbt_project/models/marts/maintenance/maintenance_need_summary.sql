-- One row per maintenance-need cohort (the cohorts of maintenance_need): how many completed
-- initial courses, how many have had their event, the share needing maintenance by 3, 6 and
-- 12 months (1 - S(t), S at the last time <= t: S never rises, so its minimum up to t; 1 before
-- any time) and the median time to need (the first time S <= 0.5; null while S stays above).
with

need as (

    select * from {{ ref('maintenance_need') }}

),

final as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        cast(max(at_risk) as integer) as courses,
        cast(sum(events) as integer) as events,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_3m_days') }} then survival end
        ), 1), 12) as need_by_3m,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_6m_days') }} then survival end
        ), 1), 12) as need_by_6m,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_12m_days') }} then survival end
        ), 1), 12) as need_by_12m,
        min(case when survival <= 0.5 then days end) as median_days_to_need
    from need
    group by
        skin_type,
        fitzpatrick,
        primary_concern

)

select * from final
