{#-
    Kaplan-Meier helpers in portable SQL (DuckDB and Spark).

    km_log_factor(events, at_risk): ln((n - d) / n) = ln(n - d) - ln(n), the log of one
    product-limit factor, written the way lifelines sums it. 0 where d = n: ln(0) is an error
    on DuckDB (and null on Spark), so the step to S = 0 is carried by a separate flag instead.

    km_greenwood_term(events, at_risk): d / (n (n - d)), Greenwood's variance term; 0 where
    d = n (as in lifelines, which replaces that infinity by 0).

    km_log_log_low / km_log_log_high: the exponential Greenwood ("log(-log)") 95 % interval,
    lifelines' default:  S ^ exp(+/- z sqrt(sum d / (n (n - d))) / |ln S|), i.e.
    exp(-exp(ln(-ln S) -/+ z sqrt(V) / ln S)). Both bounds are 1 while S = 1 (no event yet)
    and 0 once S = 0 (lifelines gives the same). The interval always lies within [0, 1].
-#}

{%- macro km_log_factor(events, at_risk) -%}
    case
        when {{ events }} < {{ at_risk }}
            then ln(cast({{ at_risk }} - {{ events }} as double))
            - ln(cast({{ at_risk }} as double))
        else 0
    end
{%- endmacro -%}

{%- macro km_greenwood_term(events, at_risk) -%}
    case
        when {{ events }} < {{ at_risk }}
            then cast({{ events }} as double)
            / (cast({{ at_risk }} as double) * ({{ at_risk }} - {{ events }}))
        else 0
    end
{%- endmacro -%}

{%- macro km_log_log_low(log_survival, greenwood_sum, is_extinct, z=1.959963984540054) -%}
    {{ _km_log_log_bound(log_survival, greenwood_sum, is_extinct, z, '') }}
{%- endmacro -%}

{%- macro km_log_log_high(log_survival, greenwood_sum, is_extinct, z=1.959963984540054) -%}
    {{ _km_log_log_bound(log_survival, greenwood_sum, is_extinct, z, '-') }}
{%- endmacro -%}

{%- macro _km_log_log_bound(log_survival, greenwood_sum, is_extinct, z, sign) -%}
    case
        when {{ is_extinct }} then 0
        when {{ log_survival }} = 0 then 1
        else exp(
            {{ log_survival }}
            * exp({{ sign }}{{ z }} * sqrt({{ greenwood_sum }}) / (-{{ log_survival }}))
        )
    end
{%- endmacro -%}
