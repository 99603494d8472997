{#- A Fitzpatrick type 1..6 as the I..VI clinicians read; an unknown type is 'unknown'. -#}
{%- macro skin_type_label(fitzpatrick) -%}
    case {{ fitzpatrick }}
        when 1 then 'I'
        when 2 then 'II'
        when 3 then 'III'
        when 4 then 'IV'
        when 5 then 'V'
        when 6 then 'VI'
        else 'unknown'
    end
{%- endmacro -%}
