-- This build's as-of date and the one of the build it starts from: an incremental build reads
-- this model's table as the published warehouse left it (previous_as_of_date is null on a build
-- from scratch). When the date moves, int_changed_patients adds the patients whose rows depend
-- on it.
{%- set previous = load_relation(this) if not flags.FULL_REFRESH else none %}

with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        as_of_date,
        {% if previous is not none -%}
            (select max(as_of_date) from {{ previous }})
        {%- else -%}
            cast(null as date)
        {%- endif %} as previous_as_of_date
    from as_of

)

select * from final
