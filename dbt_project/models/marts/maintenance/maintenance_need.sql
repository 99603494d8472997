-- Kaplan-Meier estimate of maintenance-free survival (DOMAIN.md "Maintenance need"), one row
-- per cohort (skin_type x primary_concern, rollups 'ALL' included) and distinct time
-- (days from the last session) at which a course of the cohort has its event or is censored.
-- Ties: all events at a time count against everyone still at risk at that time, and courses
-- censored at a time with events are at risk for those events (censoring after events).
-- S(t) is the running product of (1 - d/n), summed as logs; a time where every course at
-- risk has its event (d = n) sets S to 0 from there on. Greenwood: V(t) = sum d / (n (n - d));
-- 95 % interval: exponential Greenwood (log(-log)), as lifelines' KaplanMeierFitter.
with

cohorts as (

    select * from {{ ref('int_maintenance_cohorts') }}

),

time_counts as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        days,
        count(*) as leaving,
        sum(case when is_event then 1 else 0 end) as events
    from cohorts
    group by
        skin_type,
        fitzpatrick,
        primary_concern,
        days

),

risk_sets as (

    select
        *,
        sum(leaving) over (
            partition by skin_type, primary_concern
            order by days desc nulls last
            rows between unbounded preceding and current row
        ) as at_risk
    from time_counts

),

steps as (

    select
        *,
        {{ km_log_factor('events', 'at_risk') }} as log_factor,
        {{ km_greenwood_term('events', 'at_risk') }} as greenwood_term,
        case when events = at_risk then 1 else 0 end as is_extinction
    from risk_sets

),

running as (

    select
        *,
        sum(log_factor) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) as log_survival,
        sum(greenwood_term) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) as greenwood_sum,
        max(is_extinction) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) = 1 as is_extinct
    from steps

),

final as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        days,
        cast(at_risk as integer) as at_risk,
        cast(events as integer) as events,
        cast(leaving - events as integer) as censored,
        -- rounded to 12 decimals: drops exp/ln float noise (S = 0.5 is exactly 0.5)
        round(case when is_extinct then 0 else exp(log_survival) end, 12) as survival,
        greenwood_sum,
        round(
            case when is_extinct then 0 else exp(log_survival) * sqrt(greenwood_sum) end, 12
        ) as survival_se,
        round({{ km_log_log_low('log_survival', 'greenwood_sum', 'is_extinct') }}, 12)
            as survival_ci_low,
        round({{ km_log_log_high('log_survival', 'greenwood_sum', 'is_extinct') }}, 12)
            as survival_ci_high
    from running

)

select * from final
