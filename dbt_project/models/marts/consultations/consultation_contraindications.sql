-- Contraindications recorded at consultations, and what was decided, per clinic x skin type
-- x primary concern x contraindication (the contraindications seed; `none` where the clinic
-- recorded none): for the consultation aid's "recorded for similar patients". Population:
-- non-voided consultations with a contraindication list; a consultation listing two
-- contraindications counts under each. Counts add up over clinics.
with

consultations as (

    select * from {{ ref('stg_lake__consultations') }}

),

contraindications as (

    select * from {{ ref('contraindications') }}

),

recorded as (

    select
        clinic_id,
        fitzpatrick,
        primary_concern,
        decision,
        concat(';', replace(contraindications, ' ', ''), ';') as contraindication_list
    from consultations
    where not is_voided and contraindications is not null

),

matched as (

    select
        recorded.clinic_id,
        recorded.fitzpatrick,
        recorded.primary_concern,
        recorded.decision,
        contraindications.contraindication,
        contraindications.contraindication_label
    from recorded
    inner join contraindications
        on
            recorded.contraindication_list
            like concat('%;', contraindications.contraindication, ';%')

),

final as (

    select
        clinic_id,
        fitzpatrick,
        {{ skin_type_label('fitzpatrick') }} as skin_type,
        primary_concern,
        contraindication,
        contraindication_label,
        cast(count(*) as bigint) as consultations,
        cast(sum(case when decision = 'proceed' then 1 else 0 end) as bigint) as decided_proceed,
        cast(sum(case when decision = 'defer' then 1 else 0 end) as bigint) as decided_defer,
        cast(sum(case when decision = 'decline' then 1 else 0 end) as bigint) as decided_decline
    from matched
    group by
        clinic_id,
        fitzpatrick,
        primary_concern,
        contraindication,
        contraindication_label

)

select * from final
