package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/serviceping/serviceping/pkg/consume"
)

// Postgres is the directory database of deploy/postgres/: tables licenses,
// subscriptions, accounts and account_usage. It serves both roles, the
// Licenses application and the CRM. Safe for concurrent use.
type Postgres struct {
	pool *pgxpool.Pool
}

// OpenPostgres prepares a connection pool; it does not connect yet, so a
// directory that is down at start only fails lookups (transiently).
// connectTimeout bounds each new connection.
func OpenPostgres(url string, connectTimeout time.Duration, maxConns int32) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, consume.Permanent(fmt.Errorf("parse directory database URL: %w", err))
	}
	if connectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open directory database pool: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close releases the pool.
func (p *Postgres) Close() { p.pool.Close() }

// Ping checks that the database answers.
func (p *Postgres) Ping(ctx context.Context) error {
	return classify("ping directory database", p.pool.Ping(ctx))
}

// where returns the WHERE clause and argument for a license key.
func where(k LicenseKey) (string, any, error) {
	switch k.Kind {
	case KeyMD5:
		return "license_md5 = $1", k.Value, nil
	case KeySHA256:
		return "license_sha256 = $1", k.Value, nil
	case KeyID:
		n, ok := k.numericID()
		if !ok {
			return "", nil, ErrNotFound
		}
		return "license_id = $1", n, nil
	}
	return "", nil, consume.Permanent(fmt.Errorf("unknown license key kind %q", k.Kind))
}

// LookupLicense returns the license's subscription (the Licenses application).
func (p *Postgres) LookupLicense(ctx context.Context, k LicenseKey) (License, error) {
	cond, arg, err := where(k)
	if err != nil {
		return License{}, err
	}
	var l License
	err = p.pool.QueryRow(ctx, `SELECT coalesce(l.subscription_id, ''), coalesce(s.plan, l.plan, ''), coalesce(s.seats, l.user_count, 0)
		FROM licenses l LEFT JOIN subscriptions s ON s.subscription_id = l.subscription_id
		WHERE l.`+cond+` LIMIT 1`, arg).Scan(&l.SubscriptionID, &l.Plan, &l.Seats)
	if errors.Is(err, pgx.ErrNoRows) {
		return License{}, ErrNotFound
	}
	if err != nil {
		return License{}, classify("look up license "+k.String(), err)
	}
	return l, nil
}

// LookupAccount returns the account a subscription belongs to (the CRM).
func (p *Postgres) LookupAccount(ctx context.Context, subscriptionID string) (Account, error) {
	var a Account
	err := p.pool.QueryRow(ctx, `SELECT a.account_id, a.name
		FROM subscriptions s JOIN accounts a ON a.account_id = s.account_id
		WHERE s.subscription_id = $1`, subscriptionID).Scan(&a.AccountID, &a.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, classify("look up account of subscription "+subscriptionID, err)
	}
	return a, nil
}

// TouchLicense records at as the license's last ping time unless a later
// one is recorded already: a late or replayed ping never moves it back.
// An unknown license is not an error.
func (p *Postgres) TouchLicense(ctx context.Context, k LicenseKey, at time.Time, _ string) error {
	cond, arg, err := where(k)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `UPDATE licenses SET last_ping_at = $2
		WHERE `+cond+` AND (last_ping_at IS NULL OR last_ping_at < $2)`, arg, at.UTC())
	return classify("record last ping time of license "+k.String(), err)
}

// PushUsage stores the usage summary in account_usage, once per ping_id.
func (p *Postgres) PushUsage(ctx context.Context, u Usage) error {
	if err := u.Validate(); err != nil {
		return consume.Permanent(err)
	}
	counts, err := json.Marshal(u.Counts)
	if err != nil {
		return consume.Permanent(fmt.Errorf("encode usage counts: %w", err))
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO account_usage
		(ping_id, account_id, subscription_id, uuid, hostname, version, edition, plan, recorded_at, active_users, license_seats, counts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (ping_id) DO NOTHING`,
		u.PingID, u.AccountID, u.SubscriptionID, u.UUID, u.Hostname, u.Version, u.Edition, u.Plan,
		u.RecordedAt.UTC(), u.ActiveUsers, u.LicenseSeats, counts)
	return classify("insert account usage for ping "+u.PingID, err)
}

// classify wraps err with what was being done and marks the errors no
// retry can fix as permanent: SQL that the schema rejects (class 42),
// invalid data (22) and constraint violations (23).
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "42", "22", "23":
			return consume.Permanent(err)
		}
	}
	return err
}
