{{ config(order_by='(key_path, ping_month, dim_installation_id)') }}
-- One row per installation × month × metric, from the installation's last
-- ping of the month (GitLab's fct_ping_instance_metric_monthly): 28d
-- metrics as reported, all-time metrics as the month-over-month
-- difference clamped at 0, time frames from the metric dictionary
-- (dim_ping_metric) with the key-path guess only for metrics it lacks.
-- The rules in full: macros/ping_instance_metric_fact.sql. 7d metrics are
-- left out (fct_ping_instance_metric_weekly has them).
{{ ping_instance_metric_fact('month') }}
