package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Marts builds the dbt models the pages read, as `make dbt` does: it runs
// the repository's scripts/dbt.sh (dbt from the cached virtualenv) on a
// warehouse.
type Marts struct {
	// Script is scripts/dbt.sh.
	Script string
	// ClickHouseURL is the warehouse, http(s)://…/<database of the loader's
	// tables> (dbt talks ClickHouse's HTTP protocol).
	ClickHouseURL string
	// Database is where the models go (DBT_CLICKHOUSE_SCHEMA).
	Database string
	// WorkDir receives dbt's target/ and logs/ (throwaway).
	WorkDir string
	// Vars, when set, is passed as dbt's --vars.
	Vars string
}

// Available says why Build cannot run, or nil when it can.
func (m Marts) Available() error {
	if m.Script == "" {
		return fmt.Errorf("no dbt script configured")
	}
	if !strings.HasPrefix(m.ClickHouseURL, "http://") && !strings.HasPrefix(m.ClickHouseURL, "https://") {
		return fmt.Errorf("dbt talks ClickHouse's HTTP protocol: CLICKHOUSE_URL must be http(s)://")
	}
	if !isFile(m.Script) {
		return fmt.Errorf("%s not found (run from the repository's root, or set --dbt-script)", m.Script)
	}
	return nil
}

// Build runs `dbt build` (seeds, models, tests) and returns an error
// naming the last lines of its output when it fails. A build whose tests
// fail still leaves the models it built.
func (m Marts) Build(ctx context.Context, log *slog.Logger) error {
	if err := m.Available(); err != nil {
		return err
	}
	for _, d := range []string{"target", "logs"} {
		if err := os.MkdirAll(filepath.Join(m.WorkDir, d), 0o755); err != nil {
			return fmt.Errorf("create dbt's %s directory: %w", d, err)
		}
	}
	cmd := exec.CommandContext(ctx, "bash", m.Script, "build")
	cmd.Env = append(os.Environ(),
		"CLICKHOUSE_URL="+m.ClickHouseURL,
		"DBT_CLICKHOUSE_SCHEMA="+m.Database,
		"DBT_TARGET_PATH="+filepath.Join(m.WorkDir, "target"),
		"DBT_LOG_PATH="+filepath.Join(m.WorkDir, "logs"),
		"DBT_USE_COLORS=false",
		"DBT_VARS="+m.Vars,
	)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	log.Info("building the marts with dbt", "script", m.Script, "marts", m.Database)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dbt build (%s): %w\n%s", m.Script, err, lastLines(out.String(), 15))
	}
	log.Info("marts built", "marts", m.Database, "took", time.Since(start).Round(time.Second), "summary", summary(out.String()))
	return nil
}

// summary is dbt's "Done. PASS=…" line, or "".
func summary(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "PASS="); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
