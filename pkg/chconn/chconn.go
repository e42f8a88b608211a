// Package chconn opens a clickhouse-go v2 connection from CLICKHOUSE_URL:
// clickhouse://host:9000/db (native protocol, production) or
// http://host:8123/db (HTTP, the embedded engine's endpoint), with the
// user and password as user:password@ (percent-encoded).
package chconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/serviceping/serviceping/pkg/redact"
)

// DefaultURL is the all-in-one's embedded endpoint.
const DefaultURL = "http://127.0.0.1:8123/serviceping"

// Options parses a CLICKHOUSE_URL into clickhouse-go options. The database
// defaults to "serviceping".
func Options(rawURL string) (*clickhouse.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("CLICKHOUSE_URL %s: %w", redact.URL(rawURL), withoutURL(err))
	}
	switch u.Scheme {
	case "clickhouse", "tcp", "http", "https":
	default:
		return nil, fmt.Errorf("CLICKHOUSE_URL scheme %q: want clickhouse://, http:// or https://", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("CLICKHOUSE_URL %q has no host", redact.URL(rawURL))
	}
	opts, err := clickhouse.ParseDSN(rawURL)
	if err != nil {
		return nil, fmt.Errorf("CLICKHOUSE_URL %s: %w", redact.URL(rawURL), withoutURL(err))
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "serviceping"
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	return opts, nil
}

// withoutURL is err without the URL a *url.Error quotes: it may hold a
// password.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Open connects and pings the server.
func Open(ctx context.Context, rawURL string) (driver.Conn, error) {
	opts, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open ClickHouse %s: %w", redact.URL(rawURL), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping ClickHouse %s: %w", redact.URL(rawURL), err)
	}
	return conn, nil
}
