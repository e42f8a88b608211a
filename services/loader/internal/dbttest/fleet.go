package dbttest

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// fleetFiles is testdata/fleet: fleet.sql and the CSV files it loads.
//
//go:embed testdata/fleet
var fleetFiles embed.FS

// FleetStatements are the statements of testdata/fleet/fleet.sql (the
// hand-written fleet of six installations the marts' fleet tests check)
// for source database db, to run in order after the loader's migrations:
// each ends with a semicolon at the end of a line, comment lines are
// dropped, "serviceping." becomes "db." and {csv:FILE} the content of
// testdata/fleet/FILE as a string literal.
func FleetStatements(db string) ([]string, error) {
	const dir = "testdata/fleet"
	sql, err := fleetFiles.ReadFile(path.Join(dir, "fleet.sql"))
	if err != nil {
		return nil, fmt.Errorf("read fleet.sql: %w", err)
	}
	csvRef := regexp.MustCompile(`\{csv:([A-Za-z0-9_.-]+)\}`)
	var out []string
	for _, chunk := range strings.Split(string(sql), ";\n") {
		var code []string
		for _, line := range strings.Split(chunk, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				code = append(code, line)
			}
		}
		stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(code, "\n")), ";")
		if stmt == "" {
			continue
		}
		stmt = strings.ReplaceAll(stmt, "serviceping.", db+".")
		var readErr error
		stmt = csvRef.ReplaceAllStringFunc(stmt, func(ref string) string {
			data, err := fleetFiles.ReadFile(path.Join(dir, csvRef.FindStringSubmatch(ref)[1]))
			if err != nil {
				readErr = fmt.Errorf("fleet.sql %s: %w", ref, err)
				return ""
			}
			return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(string(data)) + "'"
		})
		if readErr != nil {
			return nil, readErr
		}
		out = append(out, stmt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("fleet.sql has no statements")
	}
	return out, nil
}
