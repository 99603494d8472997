{#-
    Interval statistics in portable SQL (DuckDB and Spark): plain arithmetic on doubles.
    z = 1.959963984540054 is the 97.5th percentile of the standard normal (95 % two-sided).
-#}

{%- macro wilson_low(successes, trials, z=1.959963984540054) -%}
    {{ _wilson_bound(successes, trials, z, '-') }}
{%- endmacro -%}

{%- macro wilson_high(successes, trials, z=1.959963984540054) -%}
    {{ _wilson_bound(successes, trials, z, '+') }}
{%- endmacro -%}

{#-
    Wilson score interval bound of a proportion; null when there are no trials. Clamped to
    [0, 1]: at 0 or all successes the bound is exact in theory but off by ~1e-17 in doubles.
-#}
{%- macro _wilson_bound(successes, trials, z, sign) -%}
    case when {{ trials }} > 0 then {{ 'greatest(0.0, ' if sign == '-' else 'least(1.0, ' }}(
        (cast({{ successes }} as double) / {{ trials }} + {{ z }} * {{ z }} / (2.0 * {{ trials }}))
        {{ sign }} {{ z }} * sqrt(
            (cast({{ successes }} as double) / {{ trials }})
            * (1 - cast({{ successes }} as double) / {{ trials }}) / {{ trials }}
            + {{ z }} * {{ z }} / (4.0 * {{ trials }} * {{ trials }})
        )
    ) / (1 + {{ z }} * {{ z }} / {{ trials }})) end
{%- endmacro %}

{#-
    Half-width of the t-based 95 % interval of a mean: t(0.975, n - 1) * sd / sqrt(n).
    `t_975` comes from the `t_quantiles` seed joined on degrees_of_freedom = n - 1 (past 1,000
    degrees of freedom the normal quantile differs by less than 0.001). Null when n < 2.
-#}
{%- macro t_half_width(sd, n, t_975) -%}
    case when {{ n }} >= 2 then
        coalesce({{ t_975 }}, 1.959963984540054) * {{ sd }} / sqrt(cast({{ n }} as double))
    end
{%- endmacro -%}

{#-
    Sample standard deviation from a count, a sum and a sum of squares (exact decimals in, a
    double out): sqrt((n * sum_sq - sum^2) / (n (n - 1))). Null when n < 2.
-#}
{%- macro sample_sd_from_sums(n, total, sum_of_squares) -%}
    case when {{ n }} > 1 then sqrt(
        cast({{ n }} * {{ sum_of_squares }} - {{ total }} * {{ total }} as double)
        / ({{ n }} * ({{ n }} - 1.0))
    ) end
{%- endmacro -%}
