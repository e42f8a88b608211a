// Package testdeps gives the collector's tests their own PostgreSQL database
// and Redis key space on the shared servers scripts/test-env.sh starts.
package testdeps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Postgres creates a fresh database collector_test_<random>, returns its URL
// and a pool on it, and drops it when the test ends.
func Postgres(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	admin := testinfra.Env(tb, "SERVICEPING_TEST_DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	name := "collector_test_" + suffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse database url: %v", err)
	}
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return u.String(), pool
}

// Redis returns a client on the test Redis (DB 3, reserved for the
// collector) and a key prefix unique to this test; keys with the prefix are
// deleted when the test ends.
func Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	raw := testinfra.Env(tb, "SERVICEPING_TEST_REDIS_URL")
	opt, err := redis.ParseURL(raw)
	if err != nil {
		tb.Fatalf("parse redis url: %v", err)
	}
	opt.DB = 3
	rdb := redis.NewClient(opt)
	prefix := "collector_test:" + suffix() + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// RedisURL is the URL form of Redis(tb)'s server and DB.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	raw := testinfra.Env(tb, "SERVICEPING_TEST_REDIS_URL")
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("parse redis url: %v", err)
	}
	u.Path = "/3"
	return u.String()
}
