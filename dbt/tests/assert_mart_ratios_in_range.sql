-- Shares are shares: pct_reporting in (0, 1] (a reporting installation is
-- always a known one), estimated usage never below recorded usage, fallback
-- rates in [0, 1], version shares in (0, 1], utilization never negative.
select 'mart_xmau_monthly' as model, toString(month) as row_key, pct_reporting as value
from {{ ref('mart_xmau_monthly') }}
where not (pct_reporting > 0 and pct_reporting <= 1)
   or estimated_usage < recorded_usage
   or reporting_instances > known_instances
union all
select 'mart_ping_health', concat(version, '|', key_path), fallback_rate
from {{ ref('mart_ping_health') }}
where fallback_rate < 0 or fallback_rate > 1 or fallback_count > metric_pings
union all
select 'mart_version_adoption', toString(ping_week), share_of_instances
from {{ ref('mart_version_adoption') }}
where not (share_of_instances > 0 and share_of_instances <= 1)
union all
select 'mart_license_utilization', subscription_id, utilization_ratio
from {{ ref('mart_license_utilization') }}
where utilization_ratio < 0 or days_since_last_ping < 0
