package instrument

import (
	"bufio"
	"context"
	"crypto/sha1" //nolint:gosec // name-based UUID (RFC 4122 version 5), not security
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/classes"
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/instancedb"
)

// DefaultConnectivityURL is where GitLab's TestGitlabNetConnectivityMetric
// posts (the instance UUID is appended).
const DefaultConnectivityURL = "https://snowplowstg.trx.gitlab.net/test_connectivity/"

// system computes a system metric or an instance fact: options.setting /
// setting_method read an application setting, options.attribute names the
// fact.
func (e *Env) system(ctx context.Context, r definitions.Resolved) (any, error) {
	o := r.Options
	if str(o, "setting") != "" || str(o, "setting_method") != "" {
		return e.applicationSetting(ctx, settingOptions(r))
	}
	if _, ok := o["config"]; ok {
		return e.config(o)
	}
	switch a := str(o, "attribute"); a {
	case "uuid":
		return e.System.UUID, nil
	case "hostname":
		return e.System.Hostname, nil
	case "version":
		return e.System.Version, nil
	case "installation_type":
		return e.System.InstallationType, nil
	case "edition":
		return e.System.Edition, nil
	case "recorded_at":
		return e.now().UTC().Format("2006-01-02T15:04:05.000Z"), nil
	case "recording_finished_at":
		return e.clock().UTC().Format("2006-01-02T15:04:05.000Z"), nil
	case "topology":
		if e.System.Topology != nil {
			return e.System.Topology(ctx), nil
		}
		return HostTopology(ctx), nil
	case "version_part":
		return versionPart(e.System.Version, str(o, "part"))
	case "value":
		return o["value"], nil
	case "unique_instance_id":
		return nameUUID(e.System.UUID + "-" + e.System.Hostname), nil
	case "collected_data_categories":
		return e.collectedCategories(), nil
	case "operating_system":
		return operatingSystem()
	case "git_version":
		return e.gitVersion(ctx)
	case "gitlab_net_connectivity":
		return e.connectivity(ctx), nil
	case "clickhouse_server_version":
		return e.clickhouseVersion(ctx)
	case "search_distribution":
		return e.searchDistribution(ctx)
	case "search_version":
		return e.searchVersion(ctx, str(o, "field"))
	case "feature_flag":
		return e.featureFlag(r)
	case "encrypted_secrets":
		return e.encryptedSecrets(str(o, "secrets")), nil
	case "config_switch":
		return e.configSwitch(r)
	case "database_adapter":
		return "postgresql", nil
	case "database_mode":
		return "single-database", nil // one connection for main and ci
	case "database_version", "database_flavor", "database_pg_system_id", "database_finding",
		"index_inconsistencies", "schema_inconsistencies":
		return e.databaseFact(ctx, a, o)
	case "":
		return nil, fmt.Errorf("system metric without options.attribute or options.setting (instrumentation class %s is not mapped)", r.InstrumentationClass)
	default:
		return nil, fmt.Errorf("unknown system attribute %q", a)
	}
}

func (e *Env) clock() time.Time {
	if e.Clock != nil {
		return e.Clock()
	}
	return e.now()
}

func versionPart(v, part string) (any, error) {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	idx := map[string]int{"major": 0, "minor": 1, "patch": 2}
	i, ok := idx[part]
	if !ok || i >= len(parts) {
		return nil, fmt.Errorf("version %q has no %s part", v, part)
	}
	return strconv.Atoi(parts[i])
}

// nameUUID is an RFC 4122 version 5 UUID of name in the URL namespace: a
// stable identifier derived from the instance UUID and host, like GitLab's
// GlobalAnonymousId.instance_uuid.
func nameUUID(name string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New() //nolint:gosec
	h.Write(ns)
	h.Write([]byte(name))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// collectedCategories is CollectedDataCategoriesMetric: the data
// categories this payload carries.
func (e *Env) collectedCategories() []any {
	out := make([]any, 0, len(e.Categories))
	for _, c := range e.Categories {
		out = append(out, c)
	}
	return out
}

// operatingSystem is "<ID>-<VERSION_ID>" of /etc/os-release, the platform
// and version GitLab reports (settings.operating_system).
func operatingSystem() (any, error) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return nil, fmt.Errorf("read os-release: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[k] = strings.Trim(v, `"`)
		}
	}
	if kv["ID"] == "" {
		return nil, errors.New("os-release has no ID")
	}
	if kv["VERSION_ID"] == "" {
		return kv["ID"], nil
	}
	return kv["ID"] + "-" + kv["VERSION_ID"], nil
}

var gitVersionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// gitVersion is git.version: gitlab.yml's git.version when configured,
// else the version of the git binary on PATH.
func (e *Env) gitVersion(ctx context.Context) (any, error) {
	if v, err := lookup(e.Config, "git.version"); err == nil && v != nil {
		return fmt.Sprint(v), nil
	}
	out, err := exec.CommandContext(ctx, "git", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("git version: not configured (git.version) and git --version failed: %w", err)
	}
	v := gitVersionRE.FindString(string(out))
	if v == "" {
		return nil, fmt.Errorf("git version: cannot parse %q", strings.TrimSpace(string(out)))
	}
	return v, nil
}

// connectivity is TestGitlabNetConnectivityMetric: with usage ping on, a
// POST to GitLab's test endpoint; true when any answer comes back.
func (e *Env) connectivity(ctx context.Context) bool {
	if !e.UsagePingEnabled {
		return false
	}
	u := e.ConnectivityURL
	if u == "" {
		u = DefaultConnectivityURL
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+url.PathEscape(e.System.UUID), nil)
	if err != nil {
		return false
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func (e *Env) httpClient() *http.Client {
	if e.HTTP != nil {
		return e.HTTP
	}
	return http.DefaultClient
}

// clickhouseVersion is ClickHouseServerVersionMetric: the version the
// configured ClickHouse (gitlab.yml clickhouse.main.url) answers, nil when
// none is configured.
func (e *Env) clickhouseVersion(ctx context.Context) (any, error) {
	base, _ := lookup(e.Config, "clickhouse.main.url")
	if present(base) != true {
		return nil, nil
	}
	body, err := e.get(ctx, strings.TrimRight(fmt.Sprint(base), "/")+"/?query="+url.QueryEscape("SELECT version()"))
	if err != nil {
		return nil, fmt.Errorf("clickhouse version: %w", err)
	}
	return strings.TrimSpace(string(body)), nil
}

// searchDistribution is AdvancedSearch::DistributionMetric: the search
// engine's distribution as its root endpoint reports it (gitlab.yml
// elasticsearch.url), nil when advanced search is not configured.
func (e *Env) searchDistribution(ctx context.Context) (any, error) {
	version, err := e.searchServerVersion(ctx)
	if version == nil || err != nil {
		return nil, err
	}
	if d, _ := version["distribution"].(string); d != "" {
		return d, nil
	}
	return "elasticsearch", nil
}

// searchServerVersion is the version object of the search server's root
// endpoint, nil when advanced search is not configured.
func (e *Env) searchServerVersion(ctx context.Context) (map[string]any, error) {
	base, _ := lookup(e.Config, "elasticsearch.url")
	if present(base) != true {
		return nil, nil
	}
	body, err := e.get(ctx, fmt.Sprint(base))
	if err != nil {
		return nil, fmt.Errorf("search server info: %w", err)
	}
	var info struct {
		Version map[string]any `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("decode search server info: %w", err)
	}
	if info.Version == nil {
		info.Version = map[string]any{}
	}
	return info.Version, nil
}

// searchVersion is an AdvancedSearch::<Field>Metric: that field of the
// search server's version information (VersionMetric: its number), nil
// when advanced search is not configured.
func (e *Env) searchVersion(ctx context.Context, field string) (any, error) {
	if field == "version" {
		field = "number"
	}
	if !classes.SearchVersionFields[field] {
		return nil, fmt.Errorf("search server info has no version field %q", field)
	}
	version, err := e.searchServerVersion(ctx)
	if version == nil || err != nil {
		return nil, err
	}
	return version[field], nil
}

// featureFlag is a <Name>FfMetric: whether GitLab's feature flag is on, the
// flag named by the key path's last part without _ff (options.flag
// overrides). A flag the collector's configuration does not list is on.
func (e *Env) featureFlag(r definitions.Resolved) (any, error) {
	name := str(r.Options, "flag")
	if name == "" {
		leaf := r.KeyPath[strings.LastIndex(r.KeyPath, ".")+1:]
		var ok bool
		if name, ok = strings.CutSuffix(leaf, "_ff"); !ok {
			return nil, fmt.Errorf("feature flag metric %s: no options.flag and the key path does not end in _ff", r.KeyPath)
		}
	}
	if e.Flag == nil {
		return true, nil
	}
	return e.Flag(name), nil
}

// configSwitch answers a system switch <name>_enabled of usage_data.rb
// from gitlab.yml by its name, the first of:
//
//   - a path of the name's words ending in enabled (pages_enabled →
//     pages.enabled, incoming_email_enabled → incoming_email.enabled);
//   - an item of that name configured anywhere in gitlab.yml — a list
//     element with name: <name> (omniauth.providers) or a key — answering
//     its enabled: when it has one, else true;
//   - a section the name begins with that says enabled: false: every
//     feature of a disabled section is off (ldap_group_sync_enabled with
//     ldap.enabled false).
//
// Anything else is not known from gitlab.yml and fails. Only system
// definitions read it.
func (e *Env) configSwitch(r definitions.Resolved) (any, error) {
	name := str(r.Options, "name")
	if r.DataSource != "system" {
		return nil, fmt.Errorf("%s_enabled: a %q definition, not a system switch of gitlab.yml", name, r.DataSource)
	}
	words := strings.Split(name, "_")
	if len(words) > 8 { // 2^(n-1) groupings: no gitlab.yml path is that deep
		return nil, fmt.Errorf("gitlab.yml: %s_enabled has too many words to be a path", name)
	}
	for _, path := range wordPaths(words) {
		if v, err := lookup(e.Config, strings.Join(append(path, "enabled"), ".")); err == nil {
			return v, nil
		}
	}
	if item, ok := namedItem(e.Config, name); ok {
		if m, isMap := item.(map[string]any); isMap {
			if v, has := m["enabled"]; has {
				return v, nil
			}
		}
		return true, nil
	}
	for i := len(words) - 1; i > 0; i-- {
		section, ok := e.Config[strings.Join(words[:i], "_")].(map[string]any)
		if enabled, set := section["enabled"].(bool); ok && set && !enabled {
			return false, nil
		}
	}
	return nil, fmt.Errorf("gitlab.yml: nothing configured answers %s_enabled", name)
}

// wordPaths are the ways of grouping words, in order, into path segments
// joined by "_" (a b c → [a_b_c] [a b_c] [a_b c] [a b c]).
func wordPaths(words []string) [][]string {
	if len(words) == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for i := len(words); i >= 1; i-- {
		head := strings.Join(words[:i], "_")
		for _, rest := range wordPaths(words[i:]) {
			out = append(out, append([]string{head}, rest...))
		}
	}
	return out
}

// namedItem finds, depth first in key order, a map key name or a list
// element that is a map with name: <name>.
func namedItem(v any, name string) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if item, ok := x[name]; ok {
			return item, true
		}
		for _, k := range sortedKeys(x) {
			if item, ok := namedItem(x[k], name); ok {
				return item, true
			}
		}
	case []any:
		for _, el := range x {
			if m, ok := el.(map[string]any); ok && fmt.Sprint(m["name"]) == name {
				return m, true
			}
			if item, ok := namedItem(el, name); ok {
				return item, true
			}
		}
	}
	return nil, false
}

// encryptedSecrets is a <Name>EncryptedSecrets(Enabled)Metric: GitLab's
// Settings.encrypted(<file>).active?, whether the encrypted settings file
// exists — gitlab.yml <name>.secret_file or <name>.encrypted_secret_file,
// else <name>.yaml.enc in encrypted_settings.path; without either, none.
func (e *Env) encryptedSecrets(name string) bool {
	for _, k := range []string{name + ".secret_file", name + ".encrypted_secret_file"} {
		if v, err := lookup(e.Config, k); err == nil && present(v) == true {
			return fileExists(fmt.Sprint(v))
		}
	}
	if dir, err := lookup(e.Config, "encrypted_settings.path"); err == nil && present(dir) == true {
		return fileExists(filepath.Join(fmt.Sprint(dir), name+".yaml.enc"))
	}
	return false
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func (e *Env) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return b, nil
}

// flavorSQL is GitLab's managed-database detection
// (Gitlab::Database::Reflection#flavor): each provider leaves a function
// or a setting behind; a plain PostgreSQL has none (nil).
const flavorSQL = `SELECT CASE
  WHEN to_regproc('aurora_version') IS NOT NULL THEN 'Amazon Aurora PostgreSQL'
  WHEN current_setting('rds.extensions', true) IS NOT NULL THEN 'PostgreSQL on Amazon RDS'
  WHEN current_setting('cloudsql.iam_authentication', true) IS NOT NULL THEN 'Cloud SQL for PostgreSQL'
  WHEN current_setting('azure.extensions', true) IS NOT NULL THEN 'Azure Database for PostgreSQL - Flexible Server'
  WHEN current_setting('alloydb.iam_authentication', true) IS NOT NULL THEN 'AlloyDB for PostgreSQL'
END`

// findingSQL are the Database::Diagnostics checks GitLab's finding metrics
// read: for each check, every finding code it can raise and the condition
// on the server's settings (pg_settings.reset_val: the session's configured
// value, unaffected by the collector's own SET LOCAL statement_timeout).
// Each query answers the codes raised.
var findingSQL = map[string]string{
	"autovacuum_settings": `SELECT COALESCE(array_agg(code), '{}') FROM (VALUES
  ('autovacuum_disabled', (SELECT reset_val = 'off' FROM pg_settings WHERE name = 'autovacuum')),
  ('autovacuum_throttling_disabled', (SELECT reset_val::numeric = 0 FROM pg_settings WHERE name = 'autovacuum_vacuum_cost_delay')),
  ('autovacuum_max_workers_low', (SELECT reset_val::int < 3 FROM pg_settings WHERE name = 'autovacuum_max_workers')),
  ('autovacuum_cost_limit_low', (SELECT CASE WHEN a.reset_val::int = -1 THEN v.reset_val::int ELSE a.reset_val::int END <= 200
     FROM pg_settings a, pg_settings v WHERE a.name = 'autovacuum_vacuum_cost_limit' AND v.name = 'vacuum_cost_limit')),
  ('autovacuum_work_mem_inherited', (SELECT reset_val::int = -1 FROM pg_settings WHERE name = 'autovacuum_work_mem'))
) f(code, raised) WHERE raised`,
	"search_path": `WITH sp AS (SELECT current_schemas(false) AS schemas),
  gitlab AS (SELECT table_schema FROM information_schema.tables
    WHERE table_name IN ('application_settings', 'users', 'projects', 'namespaces', 'issues') GROUP BY table_schema)
SELECT COALESCE(array_agg(code), '{}') FROM (VALUES
  ('search_path_contains_partition_schema', (SELECT reset_val ~ 'gitlab_partitions_(dynamic|static)' FROM pg_settings WHERE name = 'search_path')),
  ('search_path_objects_split_across_schemas', (SELECT count(DISTINCT table_schema) > 1 FROM information_schema.tables, sp
     WHERE table_schema = ANY (sp.schemas) AND table_type = 'BASE TABLE')),
  ('search_path_gitlab_objects_split_across_schemas', (SELECT count(*) > 1 FROM gitlab, sp WHERE gitlab.table_schema = ANY (sp.schemas))),
  ('gitlab_objects_outside_search_path', (SELECT count(*) > 0 FROM gitlab, sp WHERE NOT gitlab.table_schema = ANY (sp.schemas)))
) f(code, raised) WHERE raised`,
	"timeouts": `SELECT COALESCE(array_agg(code), '{}') FROM (VALUES
  ('statement_timeout_unlimited', (SELECT reset_val = '0' FROM pg_settings WHERE name = 'statement_timeout')),
  ('statement_timeout_above_maximum', (SELECT reset_val::bigint > 60000 FROM pg_settings WHERE name = 'statement_timeout')),
  ('statement_timeout_unlimited_by_default', (SELECT boot_val = '0' FROM pg_settings WHERE name = 'statement_timeout')),
  ('idle_in_transaction_session_timeout_unlimited', (SELECT reset_val = '0' FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'))
) f(code, raised) WHERE raised`,
}

// findingCodes are the codes each check knows: a metric naming another
// code fails instead of answering a false "not raised".
var findingCodes = map[string][]string{
	"autovacuum_settings": {"autovacuum_disabled", "autovacuum_throttling_disabled", "autovacuum_max_workers_low",
		"autovacuum_cost_limit_low", "autovacuum_work_mem_inherited"},
	"search_path": {"search_path_contains_partition_schema", "search_path_objects_split_across_schemas",
		"search_path_gitlab_objects_split_across_schemas", "gitlab_objects_outside_search_path"},
	"timeouts": {"statement_timeout_unlimited", "statement_timeout_above_maximum", "statement_timeout_unlimited_by_default",
		"idle_in_transaction_session_timeout_unlimited"},
}

func (e *Env) databaseFact(ctx context.Context, attribute string, o map[string]any) (any, error) {
	if e.DB == nil {
		return nil, fmt.Errorf("database: %w", ErrUnavailable)
	}
	switch attribute {
	case "database_version":
		v, err := e.DB.Value(ctx, "SHOW server_version")
		if err != nil {
			return nil, err
		}
		s, _ := v.(string)
		if f := strings.Fields(s); len(f) > 0 {
			return f[0], nil
		}
		return nil, fmt.Errorf("server_version %q", s)
	case "database_flavor":
		return e.DB.Value(ctx, flavorSQL)
	case "database_pg_system_id":
		return e.DB.Value(ctx, "SELECT system_identifier FROM pg_control_system()")
	case "database_finding":
		sql, ok := findingSQL[str(o, "check")]
		if !ok {
			return nil, fmt.Errorf("option check %q must be one of autovacuum_settings, search_path, timeouts", str(o, "check"))
		}
		code := str(o, "finding_code")
		if !slices.Contains(findingCodes[str(o, "check")], code) {
			return nil, fmt.Errorf("check %s raises no finding %q (it knows %s)", str(o, "check"), code,
				strings.Join(findingCodes[str(o, "check")], ", "))
		}
		v, err := e.DB.Value(ctx, sql)
		if err != nil {
			return nil, err
		}
		codes, _ := v.([]any)
		for _, c := range codes {
			if c == code {
				return true, nil
			}
		}
		return false, nil
	case "index_inconsistencies":
		return e.inconsistencies(ctx, true)
	case "schema_inconsistencies":
		return e.inconsistencies(ctx, false)
	}
	return nil, fmt.Errorf("unknown database fact %q", attribute)
}

// inconsistencies compares the live database with the GitLab schema the
// collector expects (instancedb.Expected, its copy of structure.sql), like
// GitLab's schema validation runner: missing tables and columns, missing
// indexes and extra ones on the expected tables. indexesOnly keeps the
// index findings (IndexInconsistenciesMetric's shape); otherwise each
// finding also names its object type (SchemaInconsistenciesMetric), at
// most 150.
func (e *Env) inconsistencies(ctx context.Context, indexesOnly bool) (any, error) {
	want := instancedb.Expected()
	v, err := e.DB.Value(ctx, `SELECT json_build_object(
  'columns', (SELECT COALESCE(json_object_agg(table_name, cols), '{}') FROM (
     SELECT table_name, json_agg(column_name::text) AS cols FROM information_schema.columns
     WHERE table_schema = current_schema() GROUP BY table_name) c),
  'indexes', (SELECT COALESCE(json_object_agg(indexname, tablename), '{}') FROM pg_indexes WHERE schemaname = current_schema()))`)
	if err != nil {
		return nil, fmt.Errorf("read database schema: %w", err)
	}
	live, _ := v.(map[string]any)
	cols, _ := live["columns"].(map[string]any)
	idx, _ := live["indexes"].(map[string]any)
	out := []any{}
	add := func(typ, objType, name string) {
		f := map[string]any{"inconsistency_type": typ, "object_name": name}
		if !indexesOnly {
			f["object_type"] = objType
		}
		if len(out) < 150 {
			out = append(out, f)
		}
	}
	for _, t := range want.Tables {
		have, ok := cols[t.Name].([]any)
		if !ok {
			if !indexesOnly {
				add("missing_tables", "Table", t.Name)
			}
			continue
		}
		if indexesOnly {
			continue
		}
		set := map[string]bool{}
		for _, c := range have {
			set[fmt.Sprint(c)] = true
		}
		for _, c := range t.Columns {
			if !set[c] {
				add("missing_columns", "Column", t.Name+"."+c)
			}
		}
	}
	expected := map[string]bool{}
	for _, i := range want.Indexes {
		expected[i.Name] = true
		if _, ok := idx[i.Name]; !ok {
			add("missing_indexes", "Index", i.Name)
		}
	}
	tables := map[string]bool{}
	for _, t := range want.Tables {
		tables[t.Name] = true
	}
	for _, name := range sortedKeys(idx) {
		if tables[fmt.Sprint(idx[name])] && !expected[name] && !strings.HasSuffix(name, "_pkey") {
			add("extra_indexes", "Index", name)
		}
	}
	return out, nil
}

// applicationSetting reads Gitlab::CurrentSettings.<setting>: the
// collector's configured settings first, then the instance's
// application_settings row — a column of that name, else a key of one of
// its jsonb columns (where GitLab's jsonb_accessor settings live).
// options.test turns the value into present? or positive?.
//
// options.candidates are further names tried in order when the first is
// unknown (the <Setting>EnabledMetric family: the class's name, then the
// key path's); options.interval is an *_interval setting whose being set
// (positive) answers an *ExpirationEnabled class when no name matched;
// options.matched_setting (with matched_test) is tried last: the column
// the class's name means in other words.
func (e *Env) applicationSetting(ctx context.Context, o map[string]any) (any, error) {
	name := str(o, "setting")
	if name == "" {
		name = strings.TrimSuffix(str(o, "setting_method"), "?")
	}
	type candidate struct{ name, test string }
	cands := []candidate{{name, str(o, "test")}}
	for _, n := range stringList(o["candidates"]) {
		cands = append(cands, candidate{n, str(o, "test")})
	}
	if n := str(o, "interval"); n != "" {
		cands = append(cands, candidate{n, "positive"})
	}
	if n := str(o, "matched_setting"); n != "" {
		cands = append(cands, candidate{n, str(o, "matched_test")})
	}
	for _, c := range cands {
		if v, ok := e.System.Settings[c.name]; ok {
			return applyTest(v, c.test)
		}
	}
	if e.DB == nil {
		return nil, fmt.Errorf("setting %q is not configured and the database is not: %w", name, ErrUnavailable)
	}
	row, err := e.DB.Value(ctx, `SELECT to_jsonb(s) FROM application_settings s ORDER BY id DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("read application settings: %w", err)
	}
	m, ok := row.(map[string]any)
	if !ok {
		return nil, errors.New("application_settings has no row")
	}
	names := make([]string, 0, len(cands))
	model := instancedb.Model()
	for _, c := range cands {
		if v, found := settingValue(m, model, c.name); found {
			return applyTest(jsonNumber(v), c.test)
		}
		names = append(names, fmt.Sprintf("%q", c.name))
	}
	return nil, fmt.Errorf("application setting %s: no such column or jsonb key in application_settings", strings.Join(names, " or "))
}

// settingValue finds a setting in an application_settings row: a column,
// else a key of one of its jsonb columns, else GitLab's default of a
// jsonb_accessor setting whose key is absent from its column, else a
// predicate of GitLab's model over another setting.
func settingValue(row map[string]any, model instancedb.ModelSettings, name string) (any, bool) {
	if v, ok := row[name]; ok {
		return v, true
	}
	for _, k := range sortedKeys(row) {
		if inner, ok := row[k].(map[string]any); ok {
			if v, ok := inner[name]; ok {
				return v, true
			}
		}
	}
	for _, col := range sortedKeys(model.JSONB) {
		if s, ok := model.JSONB[col][name]; ok {
			if _, has := row[col]; has {
				return s.Default, true
			}
		}
	}
	if p, ok := model.Predicates[name]; ok {
		if v, found := settingValue(row, model, p.Setting); found {
			n, isInt := jsonNumber(v).(int64)
			return isInt && n == p.Equals, true
		}
	}
	return nil, false
}

// settingOptions are a setting metric's options, with the key path's names
// added as candidates when the class asks for them (key_path_candidates):
// its last part, and that part without _enabled.
func settingOptions(r definitions.Resolved) map[string]any {
	o := r.Options
	if b, _ := o["key_path_candidates"].(bool); !b {
		return o
	}
	leaf := r.KeyPath[strings.LastIndex(r.KeyPath, ".")+1:]
	o = maps.Clone(o)
	cands := append(stringList(o["candidates"]), leaf)
	if t, ok := strings.CutSuffix(leaf, "_enabled"); ok {
		cands = append(cands, t)
	}
	l := make([]any, len(cands))
	for i, c := range cands {
		l[i] = c
	}
	o["candidates"] = l
	return o
}

// jsonNumber turns integral float64 values decoded from JSON into int64.
func jsonNumber(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

func applyTest(v any, test string) (any, error) {
	switch test {
	case "":
		return v, nil
	case "present":
		return present(v), nil
	case "positive":
		switch x := jsonNumber(v).(type) {
		case int64:
			return x > 0, nil
		case int:
			return x > 0, nil
		case float64:
			return x > 0, nil
		}
		return false, nil
	case "size":
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array, reflect.String:
			return int64(rv.Len()), nil
		}
		return int64(0), nil
	}
	return nil, fmt.Errorf("unknown test %q", test)
}

// present is Ruby's present?: not nil, not blank, not empty.
func present(v any) any {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(x) != ""
	case bool:
		return x
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return rv.Len() > 0
	}
	return true
}

// config reads a gitlab.yml value (GitlabConfigMetric): options.config is
// GitLab's nested form ({registry: enabled} → registry.enabled),
// options.path a dotted path; options.test as for settings.
func (e *Env) config(o map[string]any) (any, error) {
	path := str(o, "path")
	if c, ok := o["config"]; ok {
		path = strings.Join(configPath(c), ".")
	}
	if path == "" {
		return nil, errors.New("config metric without options.config or options.path")
	}
	v, err := lookup(e.Config, path)
	if err != nil {
		if t := str(o, "test"); t == "present" || t == "size" {
			return applyTest(nil, t)
		}
		return nil, err
	}
	return applyTest(v, str(o, "test"))
}

// configPath flattens GitlabConfigMetric's nested option into method names.
func configPath(v any) []string {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			return append([]string{k}, configPath(x[k])...)
		}
	case string:
		return []string{x}
	}
	return nil
}

// lookup walks a dotted path through nested maps.
func lookup(root map[string]any, path string) (any, error) {
	var cur any = root
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("gitlab config: %s is not set", path)
		}
		if cur, ok = m[p]; !ok {
			return nil, fmt.Errorf("gitlab config: %s is not set", path)
		}
	}
	return cur, nil
}
