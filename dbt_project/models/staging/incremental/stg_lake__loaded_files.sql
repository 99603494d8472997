-- The ledger of the lake's files this warehouse has been built from: one row per landed file
-- with patient records (sessions, outcomes, side effects), and the dbt invocation that first
-- built it. A file the ledger does not hold yet is new to this build; the incremental models
-- recompute the patients its records touch (stg_lake__changed_patients).
{{ config(materialized='incremental', incremental_strategy='append') }}

with

loaded_files as (

    select _file_sha256 as file_sha256 from {{ source('lake', 'sessions') }}

    union

    select _file_sha256 as file_sha256 from {{ source('lake', 'outcomes') }}

    union

    select _file_sha256 as file_sha256 from {{ source('lake', 'side_effects') }}

),

final as (

    select
        file_sha256,
        '{{ invocation_id }}' as first_built_by_invocation
    from loaded_files
    {% if is_incremental() %}
        where file_sha256 not in (select file_sha256 from {{ this }})
    {% endif %}

)

select * from final
