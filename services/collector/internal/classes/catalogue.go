package classes

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// usageDataQueries is GitLab's own /api/v4/usage_data/queries answer of
// GitLab 13.9: the whole legacy payload with every database metric's SQL in
// place of its value, as usage_data.rb built it (NOTICE.md in this folder
// says where the file comes from). It is the meaning GitLab fixed for each
// legacy key path, for definitions that name no class.
//
//go:embed usage_data_queries.json
var usageDataQueries []byte

// legacyCount is one SQL value of the queries answer:
// SELECT COUNT|SUM([DISTINCT] "table"."column") FROM "table" [joins] [WHERE …].
var legacyCount = regexp.MustCompile(`(?s)^SELECT (?:DISTINCT )?(COUNT|SUM)\((DISTINCT )?"(\w+)"\."([^"]+)"\) FROM "(\w+)"(.*)$`)

// legacyWindow is the monthly time range usage_data.rb added
// (monthly_time_range_db_params), with the literal dates of the run.
var legacyWindow = regexp.MustCompile(`"(\w+)"\."(\w+)" BETWEEN '[^']*' AND '[^']*'`)

// legacyService is a Service subclass of GitLab 13.9 in a condition on the
// services table; since GitLab 14 the table is integrations and the class
// name (type_new) Integrations::<Name>.
var legacyService = regexp.MustCompile(`'(\w+)Service'`)

// catalogueEntries turns the queries answer into key path entries: the
// DatabaseMetric options of each SQL value, written over today's schema
// (services → integrations with type_new). The time range of the run is
// dropped and its column kept as time_column, so the definition's own time
// frame applies; a query GitLab ran without one counts all time (all_time).
// Values that are not such a query (Redis counters, settings, Ruby
// objects GitLab printed by mistake) give no entry.
func catalogueEntries(data []byte) (map[string]definitions.MappingEntry, error) {
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse GitLab's usage data queries: %w", err)
	}
	out := map[string]definitions.MappingEntry{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(strings.TrimPrefix(prefix+"."+k, "."), c)
			}
		case string:
			if parts := legacyAdded(x); len(parts) > 1 {
				if q, ok := legacySum(parts); ok {
					out[prefix] = value(q)
				}
			} else if o, ok := legacyQuery(x); ok {
				out[prefix] = db(o)
			}
		}
	}
	walk("", root)
	return out, nil
}

// legacyAdded splits a value into its queries: usage_data.rb's
// add(count(a), count(b)) printed them one after the other with nothing
// between (…IS NULLSELECT COUNT(…); a SELECT after a space or a
// parenthesis is a subquery).
func legacyAdded(sql string) []string {
	var parts []string
	start := 0
	for _, ix := range legacySelect.FindAllStringIndex(sql, -1) {
		if i := ix[0]; i > 0 && !strings.ContainsRune(" \t\n(", rune(sql[i-1])) {
			parts = append(parts, sql[start:i])
			start = i
		}
	}
	return append(parts, sql[start:])
}

var legacySelect = regexp.MustCompile(`SELECT `)

// legacyEagerLoad is the select list an includes() added after the count
// (GitLab 13.9's Jira issue list count): "table"."column" AS t0_r0, ….
var legacyEagerLoad = regexp.MustCompile(`(?:, "\w+"\."\w+" AS t\d+_r\d+)+`)

// legacyBatch is batch_count's start/finish printed as the counted column.
var legacyBatch = regexp.MustCompile(`"(\w+)"\."\{[^"]*\}"`)

// legacySum is the value query of an added value: the sum of its counts,
// each written over today's schema with the run's monthly range made the
// time frame's window, as add() summed them.
func legacySum(parts []string) (string, bool) {
	var terms []string
	for _, sql := range parts {
		if _, ok := legacyQuery(sql); !ok {
			return "", false
		}
		sql = legacyBatch.ReplaceAllString(sql, `"$1"."id"`)
		sql = legacyWindow.ReplaceAllString(sql, `"$1"."$2" BETWEEN {window_start} AND {window_end}`)
		terms = append(terms, "("+todaysSchema(sql)+")")
	}
	if len(terms) < 2 {
		return "", false
	}
	return "SELECT " + strings.Join(terms, " + "), true
}

// legacyQuery parses one SQL value into DatabaseMetric options.
func legacyQuery(sql string) (map[string]any, bool) {
	if strings.Contains(sql, "#<") {
		return nil, false
	}
	sql = legacyEagerLoad.ReplaceAllString(sql, "")
	m := legacyCount.FindStringSubmatch(sql)
	if m == nil {
		return nil, false
	}
	op, colTable, col, table, rest := "count", m[3], m[4], m[5], m[6]
	switch {
	case m[1] == "SUM":
		op = "sum"
	case m[2] != "":
		op = "distinct_count"
	}
	switch {
	case strings.HasPrefix(col, "{"): // batch_count's start/finish printed as the column
		col = "id"
	case strings.Contains(col, "."):
	case colTable != table:
		col = colTable + "." + col
	}
	joins, where, _ := strings.Cut(rest, " WHERE ")
	o := map[string]any{"operation": op, "table": table, "column": col}
	if w := legacyWindow.FindStringSubmatch(where); w != nil {
		tc := w[2]
		if w[1] != table {
			tc = w[1] + "." + tc
		}
		o["time_column"] = tc
		where = strings.NewReplacer(w[0]+" AND ", "", " AND "+w[0], "", w[0], "").Replace(where)
	} else {
		o["all_time"] = true
	}
	if j := strings.TrimSpace(joins); j != "" {
		o["joins"] = todaysSchema(j)
	}
	if w := strings.TrimSpace(where); w != "" {
		o["where"] = todaysSchema(w)
	}
	if table == "services" {
		o["table"] = "integrations"
	}
	if c, ok := strings.CutPrefix(col, "services."); ok {
		o["column"] = "integrations." + c
	}
	return o, true
}

// todaysSchema rewrites SQL over GitLab 13.9's services table for today's
// integrations table.
func todaysSchema(sql string) string {
	if !strings.Contains(sql, `"services"`) {
		return sql
	}
	sql = strings.ReplaceAll(sql, `"services"."type"`, `"services"."type_new"`)
	sql = legacyService.ReplaceAllString(sql, `'Integrations::$1'`)
	return strings.ReplaceAll(sql, `"services"`, `"integrations"`)
}
