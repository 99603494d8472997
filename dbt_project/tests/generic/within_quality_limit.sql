{#- A quality measure (int_quality_measures) above its limit from expectations/thresholds.yml,
    which the refresh passes in as the var quality_limits. Without it (a dbt run by hand, a
    unit test) there is no limit to break, so nothing fails. -#}
{% test within_quality_limit(model, check) %}
{%- set limit = var('quality_limits', {}).get(check) %}

select check_name, subject, observed, measured
from {{ model }}
where
    check_name = '{{ check }}'
    {%- if limit is none %}
        and 1 = 0
    {%- else %}
        and measured > 0
        and observed > {{ limit }}
    {%- endif %}

{% endtest %}
