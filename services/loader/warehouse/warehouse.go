// Package warehouse loads loader batches into the ClickHouse tables pings
// and ping_metrics (docs/contracts.md, "Warehouse (ClickHouse)"), and
// applies the schema migrations of deploy/clickhouse at start.
//
// Exactly once in effect: each INSERT carries an insert_deduplication_token
// derived from the batch (its ID, the table, the month, the part number
// and a digest of the rows' versions), so writing a batch again — after a
// timeout, a crash before the ack, a redelivery batched the same way — is
// a no-op on the server within the tables' non_replicated_deduplication_window
// (10,000 inserts). A ping that reaches ClickHouse in two different batches
// (redelivered and batched differently) is stored twice until a merge; the
// tables are ReplacingMergeTree(_version) keyed by the ping's identity, so
// FINAL and the *_latest views show it once.
package warehouse

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chmigrations "github.com/serviceping/serviceping/deploy/clickhouse"
	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/internal/migrate"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// DefaultMaxRowsPerInsert bounds one INSERT (and so the client's memory:
// about 150 bytes per ping_metrics row while the block is built). A
// 500-ping batch of full-size pings (~1.3M leaves) is three inserts.
const DefaultMaxRowsPerInsert = 500_000

// Options configure a Sink.
type Options struct {
	// MaxRowsPerInsert splits a table's rows of one batch and month into
	// inserts of at most this many rows (default DefaultMaxRowsPerInsert).
	MaxRowsPerInsert int
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Cluster is the ClickHouse cluster of the tables (CLICKHOUSE_CLUSTER):
	// migrations run ON CLUSTER with replicated tables, and inserts go
	// through the Distributed tables synchronously, so that a batch is
	// acknowledged only once its shards hold it. Empty: one server.
	Cluster string
	// SkipMigrations leaves the schema to `serviceping migrate`: New only
	// checks that every shipped migration has been applied.
	SkipMigrations bool
}

// Sink writes batches to ClickHouse. It implements loader.Sink and is safe
// for concurrent use.
type Sink struct {
	conn    driver.Conn
	db      string
	maxRows int
	log     *slog.Logger
	cluster bool // inserts go through Distributed tables
}

// Open connects to rawURL (CLICKHOUSE_URL: clickhouse://host:9000/db or
// http://host:8123/db, database default serviceping), applies the pending
// migrations to the URL's database (creating it when missing) and returns
// the sink. The connection itself uses the default database, which always
// exists; every statement names its database.
func Open(ctx context.Context, rawURL string, opts Options) (*Sink, error) {
	conn, db, err := connect(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, conn, db, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// connect opens rawURL on the default database, which always exists, and
// returns the URL's database.
func connect(ctx context.Context, rawURL string) (driver.Conn, string, error) {
	chOpts, err := chconn.Options(rawURL)
	if err != nil {
		return nil, "", err
	}
	db := chOpts.Auth.Database
	chOpts.Auth.Database = "default"
	conn, err := clickhouse.Open(chOpts)
	if err != nil {
		return nil, "", fmt.Errorf("open ClickHouse %s: %w", redact.URL(rawURL), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("ping ClickHouse %s: %w", redact.URL(rawURL), err)
	}
	return conn, db, nil
}

// MigrateURL applies the shipped migrations to the database of rawURL
// (CLICKHOUSE_URL), on cluster when it is not empty: `serviceping migrate`.
// It returns the database and the files applied.
func MigrateURL(ctx context.Context, rawURL, cluster string, log *slog.Logger) (string, []string, error) {
	conn, db, err := connect(ctx, rawURL)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close()
	done, err := Migrate(ctx, conn, db, cluster, log)
	return db, done, err
}

// New migrates database db over conn and returns a sink writing into it.
// The sink owns conn (Close closes it).
func New(ctx context.Context, conn driver.Conn, db string, opts Options) (*Sink, error) {
	if opts.MaxRowsPerInsert <= 0 {
		opts.MaxRowsPerInsert = DefaultMaxRowsPerInsert
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SkipMigrations {
		if err := CheckMigrated(ctx, conn, db); err != nil {
			return nil, err
		}
	} else if _, err := Migrate(ctx, conn, db, opts.Cluster, opts.Logger); err != nil {
		return nil, err
	}
	return &Sink{conn: conn, db: db, maxRows: opts.MaxRowsPerInsert, log: opts.Logger, cluster: opts.Cluster != ""}, nil
}

// Migrate applies the shipped migrations (deploy/clickhouse) to db, on
// cluster when it is not empty, holding the database's migration lock, and
// returns the names of the files it applied.
func Migrate(ctx context.Context, conn driver.Conn, db, cluster string, log *slog.Logger) ([]string, error) {
	files, err := migrate.Files(chmigrations.Migrations)
	if err != nil {
		return nil, err
	}
	done, err := migrate.Apply(ctx, conn, db, files, migrate.Options{Cluster: cluster, Logger: log})
	if err != nil {
		return done, fmt.Errorf("migrate ClickHouse database %s: %w", db, err)
	}
	return done, nil
}

// CheckMigrated fails, saying what to run, unless every shipped migration
// has been applied to db.
func CheckMigrated(ctx context.Context, conn driver.Conn, db string) error {
	files, err := migrate.Files(chmigrations.Migrations)
	if err != nil {
		return err
	}
	applied, err := migrate.Recorded(ctx, conn, db)
	if err != nil {
		return fmt.Errorf("check the schema of ClickHouse database %s (run `serviceping migrate`): %w", db, err)
	}
	have := map[uint32]bool{}
	for _, a := range applied {
		have[a.Version] = true
	}
	var missing []string
	for _, f := range files {
		if !have[f.Version] {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("ClickHouse database %s lacks migrations %s: run `serviceping migrate` (the loader's own migrations are switched off)",
			db, strings.Join(missing, ", "))
	}
	return nil
}

// Ping reports whether ClickHouse answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Database is the database the sink writes.
func (s *Sink) Database() string { return s.db }

// Conn is the sink's connection (for checks and tests).
func (s *Sink) Conn() driver.Conn { return s.conn }

// DevOpsPopulation reads the DevOps Score leaders' population from the
// sink's database: for every instance with a score received within
// devopsscore.Window before now, the instance values of its most recent
// score (by recorded_at; docs/devops-score.md).
func (s *Sink) DevOpsPopulation(ctx context.Context, now time.Time) ([]devopsscore.Values, error) {
	names := devopsscore.FeatureNames()
	cols := make([]string, len(names))
	for f, name := range names {
		cols[f] = "argMax(instance_" + name + ", (recorded_at, ping_id))"
	}
	from := now.Add(-devopsscore.Window).UTC().Format("2006-01-02 15:04:05.000")
	query := "SELECT " + strings.Join(cols, ", ") + " FROM " + s.db + "." + tables.DevOpsScores +
		" FINAL WHERE received_at >= toDateTime64('" + from + "', 3, 'UTC') GROUP BY uuid"
	rs, err := s.conn.Query(ctx, query)
	if err != nil {
		return nil, Classify(fmt.Errorf("read the devops score leaders' population from %s.%s: %w", s.db, tables.DevOpsScores, err))
	}
	defer rs.Close()
	var out []devopsscore.Values
	for rs.Next() {
		var v devopsscore.Values
		dst := make([]any, len(v))
		for f := range v {
			dst[f] = &v[f]
		}
		if err := rs.Scan(dst...); err != nil {
			return nil, fmt.Errorf("scan the devops score leaders' population: %w", err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read the devops score leaders' population from %s.%s: %w", s.db, tables.DevOpsScores, err)
	}
	return out, nil
}

// Close closes the connection.
func (s *Sink) Close() error { return s.conn.Close() }

const (
	metricsColumns = "ping_id, uuid, recorded_at, key_path, value, value_string, value_kind, is_fallback, _version"
	pingsColumns   = "ping_id, usage_data_id, uuid, hostname, version, edition, installation_type, recorded_at, received_at, " +
		"active_user_count, license_md5, license_sha256, license_id, license_plan, license_user_count, license_starts_at, " +
		"license_expires_at, license_trial, subscription_id, account_id, enrichment_status, payload, _version"
)

// Write inserts the batch: for each month of recorded_at (the tables'
// partition) the ping_metrics rows and the devops_scores rows, then — once
// every month's are in — the pings rows, so a ping row implies its metric
// and score rows. Errors
// that no retry can fix (a value the column cannot hold) are marked
// consume.Permanent; everything else (connection refused, timeouts,
// server errors, a missing table) is transient.
func (s *Sink) Write(ctx context.Context, b rows.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	digest := versionDigest(b)
	months := byMonth(b.Records)
	for _, m := range months {
		if err := s.insertMetrics(ctx, b.ID, digest, m); err != nil {
			return err
		}
		if err := s.insertScores(ctx, b.ID, digest, m); err != nil {
			return err
		}
	}
	for _, m := range months {
		if err := s.insertPings(ctx, b.ID, digest, m); err != nil {
			return err
		}
	}
	return nil
}

type month struct {
	yyyymm  string
	records []rows.Record
}

// byMonth splits records (ordered by recorded_at) by UTC month.
func byMonth(recs []rows.Record) []month {
	var out []month
	for _, r := range recs {
		ym := r.Ping.RecordedAt.UTC().Format("200601")
		if len(out) == 0 || out[len(out)-1].yyyymm != ym {
			out = append(out, month{yyyymm: ym})
		}
		out[len(out)-1].records = append(out[len(out)-1].records, r)
	}
	return out
}

// versionDigest identifies the content of a batch beyond its ID (which
// covers ping ids only): a re-enriched ping batched with the same others
// has the same batch ID but new versions, and must not be deduplicated
// against the first write.
func versionDigest(b rows.Batch) string {
	h := sha256.New()
	var buf [8]byte
	for _, r := range b.Records {
		binary.BigEndian.PutUint64(buf[:], r.Ping.RowVersion)
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Token is the insert_deduplication_token of one insert.
func Token(batchID, table, yyyymm string, part int, digest string) string {
	return batchID + "." + table + "." + yyyymm + "." + strconv.Itoa(part) + "." + digest
}

func (s *Sink) insertMetrics(ctx context.Context, batchID, digest string, m month) error {
	part := 0
	var batch driver.Batch
	n := 0
	send := func() error {
		if batch == nil {
			return nil
		}
		err := s.send(batch, tables.Metrics, batchID, m.yyyymm, part, n)
		batch, n = nil, 0
		part++
		return err
	}
	var ms []rows.Metric
	for i := range m.records {
		ms = m.records[i].AppendMetrics(ms[:0])
		for j := range ms {
			if batch == nil {
				var err error
				if batch, err = s.prepare(ctx, tables.Metrics, metricsColumns, Token(batchID, tables.Metrics, m.yyyymm, part, digest)); err != nil {
					return err
				}
			}
			r := &ms[j]
			if err := batch.Append(r.PingID, r.UUID, r.RecordedAt, r.KeyPath, r.Value, r.ValueString, r.ValueKind, r.IsFallback, r.RowVersion); err != nil {
				_ = batch.Abort()
				return consume.Permanent(fmt.Errorf("append ping_metrics row %s of ping %s: %w", r.KeyPath, r.PingID, err))
			}
			n++
			if n >= s.maxRows {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
	return send()
}

func (s *Sink) insertPings(ctx context.Context, batchID, digest string, m month) error {
	for start, part := 0, 0; start < len(m.records); start, part = start+s.maxRows, part+1 {
		end := min(start+s.maxRows, len(m.records))
		batch, err := s.prepare(ctx, tables.Pings, pingsColumns, Token(batchID, tables.Pings, m.yyyymm, part, digest))
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			p := &m.records[i].Ping
			if err := batch.Append(p.PingID, p.UsageDataID, p.UUID, p.Hostname, p.Version, p.Edition, p.InstallationType,
				p.RecordedAt, p.ReceivedAt, p.ActiveUserCount, p.LicenseMD5, p.LicenseSHA256, p.LicenseID, p.LicensePlan,
				p.LicenseUserCount, dateValue(p.LicenseStartsAt), dateValue(p.LicenseExpiresAt), p.LicenseTrial,
				p.SubscriptionID, p.AccountID, p.EnrichmentStatus, p.Payload, p.RowVersion); err != nil {
				_ = batch.Abort()
				return consume.Permanent(fmt.Errorf("append pings row of ping %s: %w", p.PingID, err))
			}
		}
		if err := s.send(batch, tables.Pings, batchID, m.yyyymm, part, end-start); err != nil {
			return err
		}
	}
	return nil
}

// insertScores inserts the month's devops_scores rows (one insert: a
// batch has at most one score per ping).
func (s *Sink) insertScores(ctx context.Context, batchID, digest string, m month) error {
	var batch driver.Batch
	n := 0
	for i := range m.records {
		r := m.records[i].Score
		if r == nil {
			continue
		}
		if batch == nil {
			var err error
			if batch, err = s.prepare(ctx, tables.DevOpsScores, scoresColumns(), Token(batchID, tables.DevOpsScores, m.yyyymm, 0, digest)); err != nil {
				return err
			}
		}
		args := make([]any, 0, 41)
		args = append(args, r.PingID, r.UsageDataID, r.UUID, r.RecordedAt, r.ReceivedAt, r.PreviousPingID,
			r.PreviousRecordedAt, r.ActiveUserCount, r.LeadersComputedAt, r.LeadersInstances)
		for f := range r.Leader {
			args = append(args, r.Leader[f], r.Instance[f], r.Percentage[f])
		}
		args = append(args, r.RowVersion)
		if err := batch.Append(args...); err != nil {
			_ = batch.Abort()
			return consume.Permanent(fmt.Errorf("append devops_scores row of ping %s: %w", r.PingID, err))
		}
		n++
	}
	if batch == nil {
		return nil
	}
	return s.send(batch, tables.DevOpsScores, batchID, m.yyyymm, 0, n)
}

// scoresColumns lists devops_scores' columns in rows.DevOpsScore order.
func scoresColumns() string {
	cols := "ping_id, usage_data_id, uuid, recorded_at, received_at, previous_ping_id, previous_recorded_at, " +
		"active_user_count, leaders_computed_at, leaders_instances"
	for _, f := range devopsscore.FeatureNames() {
		cols += ", leader_" + f + ", instance_" + f + ", percentage_" + f
	}
	return cols + ", _version"
}

func dateValue(d *rows.Date) *time.Time {
	if d == nil {
		return nil
	}
	t := d.Time()
	return &t
}

// insertContext is ctx with the settings of one of the sink's inserts:
// settings (nil: none; added to), its deduplication token and, on a
// cluster, a synchronous Distributed insert.
func (s *Sink) insertContext(ctx context.Context, token string, settings clickhouse.Settings) context.Context {
	if settings == nil {
		settings = clickhouse.Settings{}
	}
	settings["insert_deduplication_token"] = token
	if s.cluster {
		// The Distributed table forwards the insert, with its token, to the
		// shard's replicated table before answering.
		settings["distributed_foreground_insert"] = 1
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(settings))
}

func (s *Sink) prepare(ctx context.Context, table, columns, token string) (driver.Batch, error) {
	ctx = s.insertContext(ctx, token, nil)
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+table+" ("+columns+")")
	if err != nil {
		return nil, Classify(fmt.Errorf("prepare insert into %s.%s: %w", s.db, table, err))
	}
	return batch, nil
}

func (s *Sink) send(batch driver.Batch, table, batchID, yyyymm string, part, n int) error {
	if err := batch.Send(); err != nil {
		return Classify(fmt.Errorf("insert %d rows into %s.%s (batch %s, month %s, part %d): %w", n, s.db, table, batchID, yyyymm, part, err))
	}
	return nil
}

// permanentCodes are ClickHouse error codes raised by the data of an
// insert itself: the same rows fail again on every retry.
var permanentCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	38:  "CANNOT_PARSE_DATE",
	41:  "CANNOT_PARSE_DATETIME",
	53:  "TYPE_MISMATCH",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	117: "INCORRECT_DATA",
	131: "TOO_LARGE_STRING_SIZE",
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
}

// Classify marks err permanent (consume.Permanent) when it is a ClickHouse
// exception caused by the inserted data. Schema errors (unknown table or
// column) stay transient on purpose: they are fixed by an operator, not by
// dropping pings, so the loader keeps retrying with backoff until then.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		if _, ok := permanentCodes[ex.Code]; ok {
			return consume.Permanent(err)
		}
	}
	return err
}
