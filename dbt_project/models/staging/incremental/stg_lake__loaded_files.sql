-- The ledger of the lake's files this warehouse has been built from: one row per landed file
-- and feed (the ingest loads the same bytes once per feed), with the dbt invocation that first
-- built it. A file
-- the ledger does not hold yet is new to this build; the incremental models recompute the
-- patients its records touch (stg_lake__changed_patients, int_changed_patients).
{{ config(materialized='incremental', incremental_strategy='append') }}

{%- set feeds = [
    'sessions', 'outcomes', 'side_effects', 'consultations', 'patients',
    'clinics', 'providers', 'devices'
] %}

with

loaded_files as (

    {% for feed in feeds %}
        select distinct
            '{{ feed }}' as feed,
            _file_sha256 as file_sha256
        from {{ source('lake', feed) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        file_sha256,
        feed,
        '{{ invocation_id }}' as first_built_by_invocation
    from loaded_files
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as built
            where
                built.feed = loaded_files.feed
                and built.file_sha256 = loaded_files.file_sha256
        )
    {% endif %}

)

select * from final
