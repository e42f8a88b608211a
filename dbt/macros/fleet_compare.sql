{#
  fleet_compare: the body of a singular test that compares a model's rows
  with figures computed by hand (a seed of seeds/fleet/). One row per
  problem:
    missing     an expected row (by key_columns) the model lacks
    unexpected  a model row nobody expected
    different   a row whose exact_columns differ (as text, null-safe) or
                whose approx_columns differ by more than tolerance
                (relative to the expected value, at least 1)
  actual is a SELECT over the model; columns beyond the compared ones are
  ignored. Columns are compared as text (booleans as 1/0) or Float64, so a
  seed's inferred types need not match the model's.
#}
{% macro fleet_compare(actual, expected, key_columns, exact_columns=[], approx_columns=[], tolerance=1e-9) %}
with
actual_rows as (
    {{ actual }}
)

select
    multiIf(not ifNull(a._present, false), 'missing', not ifNull(e._present, false), 'unexpected', 'different') as problem,
    {%- for k in key_columns %}
    if(ifNull(e._present, false), toString(e.{{ k }}), toString(a.{{ k }})) as {{ k }},
    {%- endfor %}
    {%- for c in exact_columns + approx_columns %}
    toString(e.{{ c }}) as expected_{{ c }},
    toString(a.{{ c }}) as actual_{{ c }}{{ "," if not loop.last }}
    {%- endfor %}
from (select *, true as _present from {{ expected }}) as e
full outer join (select *, true as _present from actual_rows) as a
    on {% for k in key_columns %}{{ fleet_text('e.' ~ k) }} = {{ fleet_text('a.' ~ k) }}{{ " and " if not loop.last }}{% endfor %}
where not ifNull(e._present, false)
   or not ifNull(a._present, false)
   {%- for c in exact_columns %}
   or not ({{ fleet_text('e.' ~ c) }} <=> {{ fleet_text('a.' ~ c) }})
   {%- endfor %}
   {%- for c in approx_columns %}
   or not (
       (e.{{ c }} is null and a.{{ c }} is null)
       or ifNull(abs(toFloat64(e.{{ c }}) - toFloat64(a.{{ c }})) <= {{ tolerance }} * greatest(1, abs(toFloat64(e.{{ c }}))), false)
   )
   {%- endfor %}
{% endmacro %}

{# fleet_text: a value as text, a boolean as 1 or 0 whatever its type. #}
{% macro fleet_text(expr) -%}
transform(toString({{ expr }}), ['true', 'false'], ['1', '0'], toString({{ expr }}))
{%- endmacro %}

{#
  fleet_metric: the fleet fixture's short name (K1 … K5) of a key path
  column, the key path itself for any other metric.
#}
{% macro fleet_metric(column) %}
transform(
    cast({{ column }} as String),
    [
        'usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo',
        'usage_activity_by_stage_monthly.manage.events',
        'counts.issues',
        'analytics_unique_visits.i_analytics_dev_ops_score',
        'counts.fleet_widgets'
    ],
    ['K1', 'K2', 'K3', 'K4', 'K5'],
    cast({{ column }} as String)
)
{% endmacro %}
