-- The as-of date: the latest clinic-local date of any session start, outcome collection or
-- side-effect onset in the data (voided records excluded). Never the wall clock, so a rebuild
-- of the same data gives the same answer. One row (as_of_date is null on an empty lake).
with

sessions as (

    select * from {{ ref('stg_lake__sessions') }}

),

outcomes as (

    select * from {{ ref('stg_lake__outcomes') }}

),

side_effects as (

    select * from {{ ref('stg_lake__side_effects') }}

),

event_dates as (

    select started_on_local as event_on from sessions
    where not is_voided

    union all

    select collected_on_local as event_on from outcomes
    where not is_voided

    union all

    select onset_on as event_on from side_effects
    where not is_voided

),

final as (

    select max(event_on) as as_of_date
    from event_dates

)

select * from final
