-- The directory database the enricher reads in postgres mode
-- (DIRECTORY_URL=postgres://…): it stands for the Licenses application
-- (licenses → subscriptions) and the CRM (subscriptions → accounts, and the
-- account_usage the enricher pushes). Idempotent; apply with
--   psql "$DIRECTORY_URL" -v ON_ERROR_STOP=1 -f deploy/postgres/0001_directory.sql
-- Seed data for the pinggen installations: testdata/directory/seed.sql.

CREATE TABLE IF NOT EXISTS accounts (
    account_id  text PRIMARY KEY,                 -- (Zuora) account id
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id text PRIMARY KEY,             -- (Zuora) subscription id
    account_id      text REFERENCES accounts (account_id), -- NULL: not linked to an account yet
    plan            text,                         -- starter, premium, ultimate, …
    seats           integer CHECK (seats >= 0),
    starts_at       date,
    expires_at      date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscriptions_account_id ON subscriptions (account_id);

-- A license is identified in pings by license_md5, license_sha256 or
-- license_id (GitLab sends what it has; older instances only the md5).
CREATE TABLE IF NOT EXISTS licenses (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    license_id      bigint UNIQUE,
    license_md5     text UNIQUE,
    license_sha256  text UNIQUE,
    subscription_id text REFERENCES subscriptions (subscription_id), -- NULL: no subscription
    plan            text,
    user_count      integer,
    starts_at       date,
    expires_at      date,
    trial           boolean NOT NULL DEFAULT false,
    -- recorded_at of the latest ping seen for the license; only ever moves forward.
    last_ping_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (license_id IS NOT NULL OR license_md5 IS NOT NULL OR license_sha256 IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS licenses_subscription_id ON licenses (subscription_id);

-- Usage pushed for an account, one row per ping (the enricher's CRM push in
-- postgres mode; INSERT … ON CONFLICT (ping_id) DO NOTHING keeps it idempotent).
CREATE TABLE IF NOT EXISTS account_usage (
    ping_id         text PRIMARY KEY,
    account_id      text NOT NULL,
    subscription_id text NOT NULL,
    uuid            text NOT NULL,
    hostname        text,
    version         text,
    edition         text,
    plan            text,
    recorded_at     timestamptz NOT NULL,
    active_users    bigint,                       -- NULL: not reported by the ping
    license_seats   bigint NOT NULL,
    counts          jsonb NOT NULL DEFAULT '{}',  -- headline counts by key path
    pushed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS account_usage_account_recorded ON account_usage (account_id, recorded_at);
