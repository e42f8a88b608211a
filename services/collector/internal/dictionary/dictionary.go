// Package dictionary builds the metric dictionary, GitLab's dim_ping_metric:
// one row per expanded key_path of the metric definitions, written as the
// CSV of the dbt seed dbt/seeds/dim_ping_metric.csv.
package dictionary

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// Row is one metric of the dictionary.
type Row struct {
	KeyPath                  string
	TimeFrame                string // 7d, 28d, all or none
	DataSource               string
	DataCategory             string // lowercase
	Status                   string // after the parser's legacy mapping
	ValueType                string
	ProductSection           string
	ProductStage             string
	ProductGroup             string
	PerformanceIndicatorType []string
	IsSMAU                   bool
	IsGMAU                   bool
	IsPaidGMAU               bool
	IsUMAU                   bool
	Tiers                    []string
	Milestone                string
	InstrumentationClass     string
	DefinitionFile           string // relative to the repository root, forward slashes
}

// Source is what was parsed from one definitions directory.
type Source struct {
	// Dir is the directory relative to the repository root, with forward
	// slashes; definition files are named Dir + "/" + Metric.File.
	Dir     string
	Metrics []definitions.Metric // in file order
}

// Conflict is a key_path defined by two files: Kept is the first one (the
// earlier source, then the earlier file), Dropped the other.
type Conflict struct {
	KeyPath string
	Kept    string
	Dropped string
}

// Build maps the metrics to rows sorted by key_path, one row per key_path.
func Build(sources []Source) ([]Row, []Conflict) {
	var rows []Row
	var conflicts []Conflict
	kept := map[string]string{}
	for _, s := range sources {
		for _, m := range s.Metrics {
			file := path.Join(s.Dir, m.File)
			if prev, dup := kept[m.KeyPath]; dup {
				conflicts = append(conflicts, Conflict{KeyPath: m.KeyPath, Kept: prev, Dropped: file})
				continue
			}
			kept[m.KeyPath] = file
			rows = append(rows, row(m, file))
		}
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.KeyPath, b.KeyPath) })
	return rows, conflicts
}

func row(m definitions.Metric, file string) Row {
	pi := m.PerformanceIndicator
	return Row{
		KeyPath:                  m.KeyPath,
		TimeFrame:                m.TimeFrame,
		DataSource:               m.DataSource,
		DataCategory:             m.DataCategory,
		Status:                   m.Status,
		ValueType:                m.ValueType,
		ProductSection:           m.ProductSection,
		ProductStage:             m.ProductStage,
		ProductGroup:             m.ProductGroup,
		PerformanceIndicatorType: pi,
		IsSMAU:                   slices.Contains(pi, "smau"),
		IsGMAU:                   slices.Contains(pi, "gmau"),
		IsPaidGMAU:               slices.Contains(pi, "paid_gmau"),
		IsUMAU:                   slices.Contains(pi, "umau"),
		Tiers:                    m.Tiers,
		Milestone:                m.Milestone,
		InstrumentationClass:     m.InstrumentationClass,
		DefinitionFile:           file,
	}
}

// Header is the CSV header: the seed's columns, in order.
func Header() []string {
	return []string{
		"key_path", "time_frame", "data_source", "data_category", "status", "value_type",
		"product_section", "product_stage", "product_group", "performance_indicator_type",
		"is_smau", "is_gmau", "is_paid_gmau", "is_umau", "tiers", "milestone",
		"instrumentation_class", "definition_file",
	}
}

func (r Row) record() []string {
	return []string{
		r.KeyPath, r.TimeFrame, r.DataSource, r.DataCategory, r.Status, r.ValueType,
		r.ProductSection, r.ProductStage, r.ProductGroup, strings.Join(r.PerformanceIndicatorType, ","),
		strconv.FormatBool(r.IsSMAU), strconv.FormatBool(r.IsGMAU), strconv.FormatBool(r.IsPaidGMAU), strconv.FormatBool(r.IsUMAU),
		strings.Join(r.Tiers, ","), r.Milestone, r.InstrumentationClass, r.DefinitionFile,
	}
}

// WriteCSV writes the header and the rows (RFC 4180 quoting, "\n" line ends).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header()); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	for _, r := range rows {
		if err := cw.Write(r.record()); err != nil {
			return fmt.Errorf("write csv row %s: %w", r.KeyPath, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// Problem is a definition file the dictionary could not take as it is.
type Problem struct {
	File   string // relative to the repository root
	Reason string
	// Included: the file fails GitLab's schema but was decoded, and its
	// rows are in the dictionary.
	Included bool
}

// Load parses every definitions directory with v. Relative dirs are taken
// from root, which also anchors the definition_file paths (a directory
// outside root keeps its absolute path). Aggregate lists (aggregates/*.yml)
// are not metric definitions and are skipped.
func Load(v *definitions.Validator, root string, dirs []string) ([]Source, []Problem, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve repository root %s: %w", root, err)
	}
	var sources []Source
	var problems []Problem
	for _, dir := range dirs {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(absRoot, dir)
		}
		rel, err := filepath.Rel(absRoot, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			rel = dir
		}
		set, err := v.Load(dir)
		if err != nil {
			return nil, nil, err
		}
		s := Source{Dir: filepath.ToSlash(rel)}
		// The valid and the decoded-but-invalid metrics, back in file order
		// (Load reads files in lexical order; expansions stay in order).
		s.Metrics = slices.Concat(set.Metrics, set.Invalid)
		slices.SortStableFunc(s.Metrics, func(a, b definitions.Metric) int { return cmp.Compare(a.File, b.File) })
		decoded := map[string]bool{}
		for _, m := range set.Invalid {
			decoded[m.File] = true
		}
		for _, p := range set.Problems {
			problems = append(problems, Problem{File: path.Join(s.Dir, p.File), Reason: p.Reason, Included: decoded[p.File] || p.Kept})
		}
		sources = append(sources, s)
	}
	return sources, problems, nil
}

// SeedFile is where the repository keeps the dictionary, relative to its root.
const SeedFile = "dbt/seeds/dim_ping_metric.csv"

// DefaultDirs are the definitions directories of the repository's seed,
// relative to its root, in precedence order: the collector's own
// definitions, then GitLab's.
func DefaultDirs() []string {
	return []string{"testdata/collector/metrics", "testdata/gitlab/metrics"}
}

// RepositoryRoot is the nearest directory from dir upwards that holds
// go.work, or dir itself outside a checkout.
func RepositoryRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}
