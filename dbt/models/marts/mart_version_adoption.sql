{{ config(order_by='(ping_week, version, edition)') }}
-- Version adoption per ISO week: one row per week (Monday, ping_week) ×
-- GitLab version × edition, counting each installation once per week, by
-- its last ping of the week (dim_ping_instance.is_last_ping_of_week).
-- Because an installation is in exactly one row of its week, instances and
-- active_users add up across rows: sum them over version for a
-- major.minor (major_minor_version) or an edition view.
--
--   instances             installations whose last ping of the week ran
--                         this version and edition
--   active_users          sum of their active_user_count (instance_user_count)
--   instances_without_active_users  of those, how many sent no active_user_count
--   share_of_instances    instances / all installations that pinged that week
with last_pings as (
    select *
    from {{ ref('dim_ping_instance') }}
    where is_last_ping_of_week
),

per_version as (
    select
        ping_week,
        version,
        edition,
        major_version,
        minor_version,
        version_is_prerelease,
        main_edition,
        uniqExact(dim_installation_id) as instances,
        sum(ifNull(instance_user_count, 0)) as active_users,
        countIf(instance_user_count is null) as instances_without_active_users
    from last_pings
    -- major/minor/prerelease and main_edition are functions of version
    -- and edition: grouping by them adds no rows.
    group by ping_week, version, edition, major_version, minor_version, version_is_prerelease, main_edition
)

select
    ping_week,
    toISOYear(ping_week) as iso_year,
    toISOWeek(ping_week) as iso_week,
    version,
    concat(toString(major_version), '.', toString(minor_version)) as major_minor_version,
    major_version,
    minor_version,
    version_is_prerelease,
    edition,
    main_edition,
    instances,
    active_users,
    instances_without_active_users,
    instances / sum(instances) over (partition by ping_week) as share_of_instances
from per_version
