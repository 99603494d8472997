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

{#-
    Mantel-Haenszel pooling of 2x2 tables (exposed a events, b non-events; reference c events,
    d non-events), one table per stratum. mantel_haenszel_terms gives a stratum's additive
    terms as columns <prefix>_r, _s, _pr, _ps_qr, _qs (R = ad/n, S = bc/n, P = (a+d)/n,
    Q = (b+c)/n); summed over the strata they give the pooled odds ratio sum R / sum S and the
    Robins-Breslow-Greenland variance of its log:
    sum PR / (2 (sum R)^2) + sum (PS + QR) / (2 sum R sum S) + sum QS / (2 (sum S)^2).
    A stratum with n = 0 adds nothing (its terms are 0, never 0 / 0). The terms are exact
    decimals (exact_term_type): a sum of doubles depends on row order, and a rebuild of the same
    data, incremental or full, must give the same digits; sum them, then cast to double.
-#}
{%- macro mantel_haenszel_terms(a, b, c, d, prefix) -%}
    {%- set n = '(' ~ a ~ ' + ' ~ b ~ ' + ' ~ c ~ ' + ' ~ d ~ ')' -%}
    {%- set r = 'cast(' ~ a ~ ' as double) * ' ~ d ~ ' / ' ~ n -%}
    {%- set s = 'cast(' ~ b ~ ' as double) * ' ~ c ~ ' / ' ~ n -%}
    {%- set p = 'cast(' ~ a ~ ' + ' ~ d ~ ' as double) / ' ~ n -%}
    {%- set q = 'cast(' ~ b ~ ' + ' ~ c ~ ' as double) / ' ~ n -%}
    {%- set terms = {
        'r': r,
        's': s,
        'pr': '(' ~ p ~ ') * (' ~ r ~ ')',
        'ps_qr': '(' ~ p ~ ') * (' ~ s ~ ') + (' ~ q ~ ') * (' ~ r ~ ')',
        'qs': '(' ~ q ~ ') * (' ~ s ~ ')',
    } %}
    {%- for name in ['r', 's', 'pr', 'ps_qr', 'qs'] %}
    cast(case when {{ n }} > 0 then {{ terms[name] }} else 0.0 end as {{ exact_term_type() }})
        as {{ prefix }}_{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro -%}

{#- 18 decimals: a nonzero term is at least 1 / n, so up to a billion sessions in a stratum
    the rounding stays under 1e-9 of any term. -#}
{%- macro exact_term_type() -%}decimal(38, 18){%- endmacro -%}

{#- The pooled odds ratio from summed terms: null without any discordant weight (sum S = 0),
    0 when sum R = 0. -#}
{%- macro mantel_haenszel_odds_ratio(sum_r, sum_s) -%}
    case when {{ sum_s }} > 0 then {{ sum_r }} / {{ sum_s }} end
{%- endmacro -%}

{#- A bound of the Robins-Breslow-Greenland 95 % interval, exp(ln OR -/+ z se); null unless
    both sum R and sum S are positive (a zero or infinite odds ratio has no log). -#}
{%- macro robins_breslow_greenland_bound(
    sum_r, sum_s, sum_pr, sum_ps_qr, sum_qs, sign, z=1.959963984540054
) -%}
    case when {{ sum_r }} > 0 and {{ sum_s }} > 0 then exp(
        ln({{ sum_r }} / {{ sum_s }}) {{ sign }} {{ z }} * sqrt(
            {{ sum_pr }} / (2 * {{ sum_r }} * {{ sum_r }})
            + {{ sum_ps_qr }} / (2 * {{ sum_r }} * {{ sum_s }})
            + {{ sum_qs }} / (2 * {{ sum_s }} * {{ sum_s }})
        )
    ) end
{%- endmacro -%}

{#-
    Welch-Satterthwaite degrees of freedom of a difference of two means from each group's
    sample variance and size: (v1/n1 + v0/n0)^2 / ((v1/n1)^2/(n1-1) + (v0/n0)^2/(n0-1)).
    Null when a group has fewer than 2 values or both variances are 0.
-#}
{%- macro welch_degrees_of_freedom(var_1, n_1, var_0, n_0) -%}
    {%- set u1 = '(' ~ var_1 ~ ' / ' ~ n_1 ~ ')' -%}
    {%- set u0 = '(' ~ var_0 ~ ' / ' ~ n_0 ~ ')' -%}
    case when {{ n_1 }} >= 2 and {{ n_0 }} >= 2 and {{ u1 }} + {{ u0 }} > 0 then
        ({{ u1 }} + {{ u0 }}) * ({{ u1 }} + {{ u0 }})
        / ({{ u1 }} * {{ u1 }} / ({{ n_1 }} - 1) + {{ u0 }} * {{ u0 }} / ({{ n_0 }} - 1))
    end
{%- endmacro -%}

{#-
    The 97.5th percentile of Student's t for any (fractional) degrees of freedom, as Welch
    intervals need, by Hill's algorithm (G. W. Hill, "Algorithm 396: Student's t-quantiles",
    CACM 13(10), 1970) in its normal-expansion branch, the one it takes for a two-sided 5 % at
    5 or more degrees of freedom. Against scipy's t.ppf it is within 1e-9 from 30 degrees of
    freedom on (8e-7 at 10): callers give an interval only from 30 on. Null below 5.
-#}
{%- macro t_975_hill(df, z_975=1.959963984540054) -%}
    {#- doubles throughout: DuckDB multiplies decimal literals exactly, past its 38 digits -#}
    {%- set z = 'cast(' ~ z_975 ~ ' as double)' -%}
    {%- set a = '(1.0 / (' ~ df ~ ' - 0.5))' -%}
    {%- set b = '(48.0 / (' ~ a ~ ' * ' ~ a ~ '))' -%}
    {%- set c0 = '(((20700.0 * ' ~ a ~ ' / ' ~ b ~ ' - 98.0) * ' ~ a ~ ' - 16.0) * '
        ~ a ~ ' + 96.36)' -%}
    {%- set d = '(((94.5 / (' ~ b ~ ' + ' ~ c0 ~ ') - 3.0) / ' ~ b ~ ' + 1.0) * sqrt('
        ~ a ~ ' * cast(1.5707963267948966 as double)) * ' ~ df ~ ')' -%}
    {%- set c = '((((0.05 * ' ~ d ~ ' * ' ~ z ~ ' - 5.0) * ' ~ z ~ ' - 7.0) * ' ~ z
        ~ ' - 2.0) * ' ~ z ~ ' + ' ~ b ~ ' + ' ~ c0 ~ ')' -%}
    {%- set y2 = '(' ~ z ~ ' * ' ~ z ~ ')' -%}
    {%- set y = '((((((0.4 * ' ~ y2 ~ ' + 6.3) * ' ~ y2 ~ ' + 36.0) * ' ~ y2 ~ ' + 94.5) / '
        ~ c ~ ' - ' ~ y2 ~ ' - 3.0) / ' ~ b ~ ' + 1.0) * ' ~ z ~ ')' -%}
    case when {{ df }} >= 5 then
        sqrt({{ df }} * (exp({{ a }} * {{ y }} * {{ y }}) - 1.0))
    end
{%- endmacro -%}
