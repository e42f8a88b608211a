{{ config(order_by='(key_path, ping_week, dim_installation_id)') }}
-- One row per installation × ISO week (ping_week, its Monday) × metric,
-- from the installation's last ping of the week: the weekly twin of
-- fct_ping_instance_metric_monthly, with the same rules
-- (macros/ping_instance_metric_fact.sql). 7d metrics as reported, all-time
-- metrics as the week-over-week difference clamped at 0; 28d metrics are
-- left out.
{{ ping_instance_metric_fact('week') }}
