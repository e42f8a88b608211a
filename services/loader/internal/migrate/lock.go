package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/serviceping/serviceping/pkg/chconn"
)

// The migration lock is a table, <db>.schema_migrations_lock: CREATE TABLE
// without IF NOT EXISTS succeeds for one runner only (ClickHouse's code 57,
// TABLE_ALREADY_EXISTS, for every other), on one server as through a
// cluster's ordered DDL queue. The table holds no data (engine Null); its
// comment says who holds it since when. Dropping it releases the lock. A
// lock older than lockStale was left by a runner that died (migrations are
// quick DDL) and is broken.
const (
	lockTable   = "schema_migrations_lock"
	lockStale   = 10 * time.Minute
	lockPoll    = 250 * time.Millisecond
	codeExists  = 57
	lockComment = "held by %s since %s"
)

// DefaultLockTimeout is how long Apply waits for another runner's lock.
const DefaultLockTimeout = 2 * time.Minute

// ErrLocked is wrapped when the lock stayed held for the whole wait.
var ErrLocked = errors.New("migrations are locked")

// lock is a held migration lock.
type lock struct {
	conn driver.Conn
	drop string
}

// holder names this process in the lock.
func holder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d", host, os.Getpid())
}

// acquireLock takes db's migration lock, waiting up to timeout for another
// runner to release it.
func acquireLock(ctx context.Context, conn driver.Conn, r *Renderer, timeout time.Duration, log *slog.Logger) (*lock, error) {
	name := r.DB + "." + lockTable
	on := ""
	if r.Cluster != "" {
		on = r.onCluster()
	}
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now().UTC()
		create := "CREATE TABLE " + name + on + " (holder String) ENGINE = Null COMMENT " +
			chconn.Quote(fmt.Sprintf(lockComment, holder(), now.Format(time.RFC3339)))
		err := conn.Exec(ctx, create)
		if err == nil {
			return &lock{conn: conn, drop: "DROP TABLE IF EXISTS " + name + on + " SYNC"}, nil
		}
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) || ex.Code != codeExists {
			return nil, fmt.Errorf("take the migration lock %s: %w", name, err)
		}
		by, since := lockHolder(ctx, conn, r.DB)
		if !since.IsZero() && now.Sub(since) > lockStale {
			log.Warn("breaking a stale migration lock", "lock", name, "held_by", by, "since", since)
			if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+name+on+" SYNC"); err != nil {
				return nil, fmt.Errorf("break the stale migration lock %s: %w", name, err)
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s is %s, for more than %v; if that runner is gone, DROP TABLE %s%s",
				ErrLocked, name, by, timeout, name, on)
		}
		log.Info("waiting for the migration lock", "lock", name, "held_by", by)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the migration lock %s: %w", name, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// lockHolder reads who holds db's lock since when, from its comment; since
// is zero when unknown (the lock is then left to expire by timeout).
func lockHolder(ctx context.Context, conn driver.Conn, db string) (string, time.Time) {
	var comment string
	if err := conn.QueryRow(ctx, "SELECT comment FROM system.tables WHERE database = ? AND name = ?", db, lockTable).Scan(&comment); err != nil {
		return "held by an unknown runner", time.Time{}
	}
	i := strings.LastIndex(comment, " since ")
	if i < 0 {
		return comment, time.Time{}
	}
	since, err := time.Parse(time.RFC3339, comment[i+len(" since "):])
	if err != nil {
		return comment, time.Time{}
	}
	return comment, since
}

// release drops the lock; ctx may have ended (a failed run still releases).
func (l *lock) release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := l.conn.Exec(ctx, l.drop); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	return nil
}
