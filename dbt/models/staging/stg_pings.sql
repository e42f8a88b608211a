-- One row per ping, with the instance attributes GitLab's prep_ping_instance
-- derives: main_edition, product_tier, ping_delivery_type, the installation
-- key, the calendar month and week of the ping.
with pings as (
    -- Plain strings: expressions over LowCardinality columns would yield
    -- LowCardinality numbers, which ClickHouse refuses to store.
    select * replace (
        cast(version as String) as version,
        cast(edition as String) as edition,
        cast(installation_type as String) as installation_type,
        cast(license_plan as String) as license_plan,
        cast(enrichment_status as String) as enrichment_status
    )
    from {{ source('serviceping', 'pings_latest') }}
)

select
    ping_id,
    usage_data_id,
    uuid,
    hostname,
    -- Several installations can share a uuid (gitlab.com and staging):
    -- an installation is uuid + hostname, as GitLab's dim_installation_id.
    lower(hex(MD5(concat(uuid, '|', hostname)))) as dim_installation_id,
    version,
    toUInt32OrZero(splitByChar('.', version)[1]) as major_version,
    toUInt32OrZero(splitByChar('.', version)[2]) as minor_version,
    position(version, '-pre') > 0 as version_is_prerelease,
    edition,
    if(edition = 'CE', 'CE', 'EE') as main_edition,
    -- GitLab's rule: CE, "EE Free" or an expired license → Free;
    -- EE/EES → Starter; EEP → Premium; EEU → Ultimate. An edition outside
    -- the list is "Unknown" (GitLab leaves it null).
    multiIf(
        edition = 'CE', 'Free',
        edition = 'EE Free', 'Free',
        license_expires_at is not null and license_expires_at < toDate(recorded_at), 'Free',
        edition in ('EE', 'EES'), 'Starter',
        edition = 'EEP', 'Premium',
        edition = 'EEU', 'Ultimate',
        'Unknown'
    ) as product_tier,
    if(uuid = '{{ var("gitlab_dot_com_uuid") }}', 'SaaS', 'Self-Managed') as ping_delivery_type,
    installation_type,
    recorded_at,
    received_at,
    toStartOfMonth(recorded_at) as ping_month,
    toMonday(recorded_at) as ping_week,
    active_user_count as instance_user_count,
    license_md5,
    license_sha256,
    license_id,
    license_plan,
    license_user_count,
    license_starts_at,
    license_expires_at,
    license_trial,
    subscription_id,
    account_id,
    enrichment_status
from pings
