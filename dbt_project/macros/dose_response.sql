{#-
    Dose-response of pigmentary adverse events (metric_dose_response), written once.

    fluence_band and interval_band put a session in its band (the seed dose_response_bands
    names and orders them); fct_sessions carries both, and the DuckDB warehouse publishes them
    as marts.fluence_band / marts.interval_band so that the consultation aid bands a planned
    fluence or interval by the same rule.

    dose_response_sql(strata) is the whole query of the mart safety_dose_response over any
    relation with the columns of int_dose_response_strata; the DuckDB warehouse also publishes
    it over a list of clinics (marts.safety_dose_response_within), for a manager.
-#}

{#- Where a fluence lies in the plausible range of its laser type and skin type: below it,
    in its lower half, in its upper half (the midpoint included), above it (bounds inclusive,
    as for fluence_out_of_range). Null without a fluence or a range. -#}
{%- macro fluence_band(fluence, range_min, range_max) -%}
    case
        when {{ fluence }} is null or {{ range_min }} is null or {{ range_max }} is null
            then null
        when {{ fluence }} < {{ range_min }} then 'below_range'
        when {{ fluence }} > {{ range_max }} then 'above_range'
        when {{ fluence }} < ({{ range_min }} + {{ range_max }}) / 2.0 then 'lower_half'
        else 'upper_half'
    end
{%- endmacro -%}

{#- Days since the previous session of the course in bands; null for a course's first. -#}
{%- macro interval_band(interval_days) -%}
    case
        when {{ interval_days }} is null then null
        when {{ interval_days }} < 7 then 'under_7_days'
        when {{ interval_days }} < 14 then '7_to_13_days'
        when {{ interval_days }} < 28 then '14_to_27_days'
        else '28_days_or_more'
    end
{%- endmacro -%}

{#-
    Per laser type x skin type (and 'ALL' skin types) x factor x band: sessions, pigmentary
    rate (Wilson 95 %), and the odds ratio of a pigmentary event in the band against the
    factor's reference band and against all its other bands, pooled over the strata with
    Mantel-Haenszel, with Robins-Breslow-Greenland 95 % intervals (macros/statistics.sql).
    The strata are clinic x skin type: a skin type's row pools its clinics, the 'ALL' row
    pools clinics and skin types, so a clinic's or a skin type's higher base rate does not
    pass for a dose effect.
-#}
{% macro dose_response_sql(strata) %}
with

strata as (

    select * from {{ strata }}

),

rollup_levels as (

    {{ rollup_levels(['fitzpatrick']) }}

),

expanded as (

    select
        strata.laser_type,
        case when rollup_levels.by_fitzpatrick then strata.fitzpatrick end as fitzpatrick,
        case
            when rollup_levels.by_fitzpatrick then {{ skin_type_label('strata.fitzpatrick') }}
            else 'ALL'
        end as skin_type,
        strata.clinic_id,
        strata.fitzpatrick as stratum_fitzpatrick,
        strata.factor,
        strata.band,
        strata.band_order,
        strata.band_label,
        strata.is_reference,
        strata.reference_band,
        strata.sessions,
        strata.sessions_with_pigmentary_ae
    from strata
    cross join rollup_levels

),

stratum_totals as (

    select
        laser_type,
        skin_type,
        clinic_id,
        stratum_fitzpatrick,
        factor,
        sum(sessions) as factor_sessions,
        sum(sessions_with_pigmentary_ae) as factor_events,
        sum(case when is_reference then sessions else 0 end) as reference_sessions,
        sum(case when is_reference then sessions_with_pigmentary_ae else 0 end)
            as reference_events
    from expanded
    group by laser_type, skin_type, clinic_id, stratum_fitzpatrick, factor

),

-- each band's 2x2 table in each stratum, against the reference band and against the rest
tables as (

    select
        expanded.*,
        expanded.sessions_with_pigmentary_ae as exposed_events,
        expanded.sessions - expanded.sessions_with_pigmentary_ae as exposed_non_events,
        totals.reference_events,
        totals.reference_sessions - totals.reference_events as reference_non_events,
        totals.factor_events - expanded.sessions_with_pigmentary_ae as rest_events,
        (totals.factor_sessions - totals.factor_events)
        - (expanded.sessions - expanded.sessions_with_pigmentary_ae) as rest_non_events
    from expanded
    inner join stratum_totals as totals
        on
            expanded.laser_type = totals.laser_type
            and expanded.skin_type = totals.skin_type
            and expanded.clinic_id = totals.clinic_id
            and expanded.stratum_fitzpatrick = totals.stratum_fitzpatrick
            and expanded.factor = totals.factor

),

terms as (

    select
        *,
        {{ mantel_haenszel_terms(
            'exposed_events', 'exposed_non_events', 'reference_events', 'reference_non_events',
            'vs_reference'
        ) }},
        {{ mantel_haenszel_terms(
            'exposed_events', 'exposed_non_events', 'rest_events', 'rest_non_events', 'vs_rest'
        ) }}
    from tables

),

pooled as (

    select
        laser_type,
        fitzpatrick,
        skin_type,
        factor,
        band,
        band_order,
        band_label,
        is_reference,
        reference_band,
        cast(count(distinct clinic_id) as bigint) as clinics,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(sessions_with_pigmentary_ae) as bigint) as sessions_with_pigmentary_ae,
        cast(sum(reference_events) as bigint) as reference_sessions_with_pigmentary_ae,
        {%- for comparison in ['vs_reference', 'vs_rest'] %}
        {%- for term in ['r', 's', 'pr', 'ps_qr', 'qs'] %}
        cast(sum({{ comparison }}_{{ term }}) as double) as {{ comparison }}_{{ term }}
        {{- ',' if not loop.last }}
        {%- endfor %}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from terms
    group by
        laser_type,
        fitzpatrick,
        skin_type,
        factor,
        band,
        band_order,
        band_label,
        is_reference,
        reference_band

),

final as (

    select
        pooled.laser_type,
        pooled.fitzpatrick,
        pooled.skin_type,
        pooled.factor,
        pooled.band,
        pooled.band_order,
        pooled.band_label,
        pooled.is_reference,
        pooled.reference_band,
        pooled.clinics,
        pooled.sessions,
        pooled.sessions_with_pigmentary_ae,
        pooled.reference_sessions_with_pigmentary_ae,
        case
            when pooled.sessions > 0
                then cast(pooled.sessions_with_pigmentary_ae as double) / pooled.sessions
        end as pigmentary_rate,
        {{ wilson_low('pooled.sessions_with_pigmentary_ae', 'pooled.sessions') }}
            as pigmentary_rate_ci_low,
        {{ wilson_high('pooled.sessions_with_pigmentary_ae', 'pooled.sessions') }}
            as pigmentary_rate_ci_high,
        {%- for comparison, column in [('vs_reference', 'odds_ratio'),
                                       ('vs_rest', 'odds_ratio_vs_rest')] %}
        {%- set sums = [] %}
        {%- for term in ['r', 's', 'pr', 'ps_qr', 'qs'] %}
            {%- do sums.append('pooled.' ~ comparison ~ '_' ~ term) %}
        {%- endfor %}
        {%- set guard = 'pooled.is_reference' if comparison == 'vs_reference' else 'false' %}
        case when {{ guard }} then 1.0 else
            {{ mantel_haenszel_odds_ratio(sums[0], sums[1]) }}
        end as {{ column }},
        case when not {{ guard }} then
            {{ robins_breslow_greenland_bound(sums[0], sums[1], sums[2], sums[3], sums[4], '-') }}
        end as {{ column }}_ci_low,
        case when not {{ guard }} then
            {{ robins_breslow_greenland_bound(sums[0], sums[1], sums[2], sums[3], sums[4], '+') }}
        end as {{ column }}_ci_high,
        {%- endfor %}
        coalesce(
            not pooled.is_reference
            and pooled.sessions_with_pigmentary_ae >= {{ var('dose_response_min_events') }}
            and pooled.reference_sessions_with_pigmentary_ae
            >= {{ var('dose_response_min_events') }}
            and {{ robins_breslow_greenland_bound(
                'pooled.vs_reference_r', 'pooled.vs_reference_s', 'pooled.vs_reference_pr',
                'pooled.vs_reference_ps_qr', 'pooled.vs_reference_qs', '-'
            ) }} > 1,
            false
        ) as is_raised_risk
    from pooled

)

select * from final
{% endmacro %}
