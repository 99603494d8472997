{#-
    The lake's feeds as the sources `source('lake', <feed>)` read (on-run-start hook).

    DuckDB attaches the lake file itself (profiles.yml): nothing to do. On Spark the ingest
    lands each feed as Parquet files in a folder <lake dir>/<feed>/, and this hook registers
    every source table of the `lake` source over its folder as an external table
    `<lake_schema>.<feed>` (dropping an external table drops its metadata, never its files).
    Registering anew on every run follows the folder wherever it moves and whatever its
    columns. The lake dir is the var `lake_parquet_dir`, else the env var TONING_SPARK_LAKE_DIR
    (a local path or any URI Spark reads, such as s3a://bucket/lake).
-#}
{% macro register_lake_sources() %}
    {{ return(adapter.dispatch('register_lake_sources')()) }}
{% endmacro %}

{% macro default__register_lake_sources() %}
    select 1
{% endmacro %}

{% macro spark__register_lake_sources() %}
    {%- if execute %}
        {%- set lake_dir = var('lake_parquet_dir', env_var('TONING_SPARK_LAKE_DIR', '')) %}
        {%- if not lake_dir %}
            {{ exceptions.raise_compiler_error(
                'Spark reads the lake from Parquet: set TONING_SPARK_LAKE_DIR (or the var '
                ~ 'lake_parquet_dir) to the folder holding one folder per feed') }}
        {%- endif %}
        {%- set lake_sources = graph.sources.values() | selectattr('source_name', 'equalto', 'lake')
            | list %}
        {%- if lake_sources %}
            {% do run_query('create schema if not exists ' ~ lake_sources[0].schema) %}
        {%- endif %}
        {%- for lake_source in lake_sources %}
            {%- set table = lake_source.schema ~ '.' ~ lake_source.identifier %}
            {% do run_query('drop table if exists ' ~ table) %}
            {%- set location = lake_dir.rstrip('/') ~ '/' ~ lake_source.identifier %}
            {% do run_query(
                'create table ' ~ table ~ ' using parquet location '
                ~ "'" ~ location.replace('\\', '\\\\').replace("'", "\\'") ~ "'"
            ) %}
        {%- endfor %}
    {%- endif %}
    select 1
{% endmacro %}
