// Package definitions loads metric definitions in GitLab's YAML format
// (config/metrics/**), validates each file against GitLab's JSON schema and
// expands it into the metrics a payload carries.
//
// Two vintages are accepted:
//
//   - modern files (no legacy-only keys) are validated strictly against the
//     split schema schema/base.json and its sub-schemas;
//   - legacy files (any of tier, distribution, product_section,
//     product_stage, product_category, or a legacy status) are validated
//     against the 2021 single-file schema (legacy_schema.json) with three
//     widenings that real files of that vintage need: status also accepts
//     active/removed/broken, data_source also accepts system/license/
//     internal_events, milestone also accepts the "<13.9" form. Their tier
//     list becomes tiers (starter/bronze/silver → premium, gold → ultimate)
//     and their status maps data_available/implemented → active,
//     not_used → removed, deprecated → deprecated (emitted as -1000).
//
// Format keywords are annotations (draft 2020-12 default), as in GitLab's
// own validation which only checks the shape of a definition.
package definitions

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schema/*.json schema/internal_events/*.json
var schemaFS embed.FS

// Statuses a Metric can carry after normalisation.
const (
	StatusActive     = "active"
	StatusBroken     = "broken"
	StatusRemoved    = "removed"
	StatusDeprecated = "deprecated"
)

// Event is one entry of an internal_events definition's events list.
type Event struct {
	Name     string         `yaml:"name" json:"name"`
	Unique   string         `yaml:"unique,omitempty" json:"unique,omitempty"`
	Filter   map[string]any `yaml:"filter,omitempty" json:"filter,omitempty"`
	Operator string         `yaml:"operator,omitempty" json:"operator,omitempty"`
}

// Metric is one emitted metric: a definition file expanded for one time frame.
type Metric struct {
	KeyPath              string
	Description          string
	ValueType            string
	Status               string
	TimeFrame            string // 7d, 28d, all or none
	DataSource           string
	DataCategory         string
	InstrumentationClass string
	Options              map[string]any
	Events               []Event
	Tiers                []string
	PerformanceIndicator []string
	ValueJSONSchema      string // value_json_schema of object-valued metrics
	File                 string // source file, relative to the definitions directory
	Legacy               bool

	// Descriptive attributes, as written in the file (a legacy file's
	// product_section/product_stage included; empty when absent).
	ProductSection string
	ProductStage   string
	ProductGroup   string
	Milestone      string // e.g. "16.6" or "<13.9"
}

// Histogram reports whether the metric's value is a histogram (its value
// schema says so): a failure then yields {"-1": -1}, not -1.
func (m Metric) Histogram() bool {
	return m.ValueType == "object" && strings.Contains(m.ValueJSONSchema, "histogram")
}

// Emitted reports whether the metric belongs in a payload.
func (m Metric) Emitted() bool {
	switch m.Status {
	case StatusActive, StatusBroken, StatusDeprecated:
		return true
	}
	return false
}

// Problem is a definition that could not be understood.
type Problem struct {
	File   string
	Reason string
	// Kept marks a definition that fails the schema only in descriptive
	// attributes, or that opts out of validation (skip_validation: true):
	// it is computed and emitted anyway, as GitLab (which does not
	// validate definitions in production, nor ever those that skip
	// validation) emits it.
	Kept bool
}

func (p Problem) Error() string { return p.File + ": " + p.Reason }

// SchemaError is a definition that does not satisfy GitLab's schema. Parse
// returns it together with the metrics it could still decode, for tools
// that describe definitions (the metric dictionary). The collector computes
// and emits such metrics only when every failing rule is descriptive
// (Descriptive): GitLab validates definitions in development, not in
// production, so it emits them.
type SchemaError struct {
	Problems string // the failing rules on one line
	// descriptive: every failing rule concerns a descriptive attribute
	// (description, product_*, milestone, name, …), nothing the metric's
	// computation or place in the payload depends on.
	descriptive bool
	// skipped: the file says skip_validation: true, which GitLab's
	// MetricDefinition#validate! honours by not validating it at all.
	skipped bool
}

// Descriptive reports whether only descriptive attributes fail the schema.
func (e *SchemaError) Descriptive() bool { return e.descriptive }

// Skipped reports whether the file opts out of validation
// (skip_validation: true), as GitLab's older definitions did.
func (e *SchemaError) Skipped() bool { return e.skipped }

// descriptiveFields are the attributes that say what a metric is about,
// not how it is computed or where it goes.
var descriptiveFields = map[string]bool{
	"description": true, "name": true, "product_group": true, "product_section": true, "product_stage": true,
	"product_category": true, "product_categories": true, "milestone": true, "introduced_by_url": true,
	"performance_indicator_type": true,
}

var quotedName = regexp.MustCompile(`'([a-z_]+)'`)

// descriptiveLeaf reports whether a failing rule concerns descriptive
// attributes only: one at /<field>, or missing properties at / that are all
// descriptive.
func descriptiveLeaf(loc []string, msg string) bool {
	if len(loc) > 0 {
		return descriptiveFields[loc[0]]
	}
	names := quotedName.FindAllStringSubmatch(msg, -1)
	if !strings.HasPrefix(msg, "missing propert") || len(names) == 0 {
		return false
	}
	for _, n := range names {
		if !descriptiveFields[n[1]] {
			return false
		}
	}
	return true
}

func (e *SchemaError) Error() string { return "schema: " + e.Problems }

// Aggregate is a Redis-sourced aggregated metric in GitLab's
// config/metrics/aggregates/*.yml format.
type Aggregate struct {
	Name      string   `yaml:"name"`
	Operator  string   `yaml:"operator"`
	Source    string   `yaml:"source"`
	TimeFrame []string `yaml:"time_frame"`
	Events    []string `yaml:"events"`
	// FeatureFlag, when set, must be on for the aggregate to be computed.
	FeatureFlag string `yaml:"feature_flag"`
	File        string `yaml:"-"`
}

// Set is the result of loading a definitions directory.
type Set struct {
	Metrics    []Metric
	Aggregates []Aggregate
	Problems   []Problem
	// Invalid holds what could be decoded from files that fail schema
	// validation in more than descriptive attributes (each also a
	// Problem). They are never emitted.
	Invalid []Metric
	Files   int
}

// Validator validates raw definition documents against GitLab's schemas.
type Validator struct {
	modern *jsonschema.Schema
	legacy *jsonschema.Schema
}

// NewValidator compiles the schemas. dir may be empty to use the copies
// embedded in the binary, or a directory holding base.json & co. plus
// legacy_schema.json (or GitLab's layout: dir/../schema.json).
func NewValidator(dir string) (*Validator, error) {
	var fsys fs.FS
	if dir == "" {
		sub, err := fs.Sub(schemaFS, "schema")
		if err != nil {
			return nil, fmt.Errorf("open embedded schemas: %w", err)
		}
		fsys = sub
	} else {
		fsys = os.DirFS(dir)
	}
	c := jsonschema.NewCompiler()
	const base = "mem://schema/"
	var legacyDoc any
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("parse schema %s: %w", p, err)
		}
		if p == "legacy_schema.json" {
			legacyDoc = doc
			return nil
		}
		return c.AddResource(base+p, doc)
	})
	if err != nil {
		return nil, fmt.Errorf("load schemas from %q: %w", dir, err)
	}
	if legacyDoc == nil && dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "..", "schema.json")); err == nil {
			legacyDoc, _ = jsonschema.UnmarshalJSON(bytes.NewReader(b))
		}
	}
	if legacyDoc == nil {
		return nil, errors.New("legacy schema (legacy_schema.json) not found")
	}
	if err := widenLegacy(legacyDoc); err != nil {
		return nil, err
	}
	if err := c.AddResource(base+"legacy_schema.json", legacyDoc); err != nil {
		return nil, err
	}
	modern, err := c.Compile(base + "base.json")
	if err != nil {
		return nil, fmt.Errorf("compile base.json: %w", err)
	}
	legacy, err := c.Compile(base + "legacy_schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile legacy schema: %w", err)
	}
	return &Validator{modern: modern, legacy: legacy}, nil
}

// widenLegacy applies the documented widenings to the 2021 schema.
func widenLegacy(doc any) error {
	props, _ := doc.(map[string]any)["properties"].(map[string]any)
	if props == nil {
		return errors.New("legacy schema has no properties")
	}
	addEnum := func(field string, vals ...string) {
		p, _ := props[field].(map[string]any)
		if p == nil {
			return
		}
		enum, _ := p["enum"].([]any)
		for _, v := range vals {
			enum = append(enum, v)
		}
		p["enum"] = enum
	}
	addEnum("status", "active", "removed", "broken")
	addEnum("data_source", "system", "license", "internal_events")
	for _, f := range []string{"milestone", "milestone_removed"} {
		if p, ok := props[f].(map[string]any); ok {
			p["pattern"] = `^<?[0-9]+\.[0-9]+$`
		}
	}
	return nil
}

var legacyKeys = []string{"tier", "distribution", "product_section", "product_stage", "product_category"}

var legacyStatus = map[string]string{
	"data_available": StatusActive,
	"implemented":    StatusActive,
	"not_used":       StatusRemoved,
	"deprecated":     StatusDeprecated,
}

// isLegacy classifies a document. A file that already has the modern
// tiers list is modern even if it still carries distribution or
// product_section/stage/category (files migrated in place); those leftover
// keys are stripped before strict validation.
func isLegacy(doc map[string]any) bool {
	if _, ok := doc["tiers"]; ok {
		s, _ := doc["status"].(string)
		_, legacyStatusValue := legacyStatus[s]
		if !legacyStatusValue {
			for _, k := range legacyKeys {
				delete(doc, k)
			}
			return false
		}
	}
	for _, k := range legacyKeys {
		if _, ok := doc[k]; ok {
			return true
		}
	}
	s, _ := doc["status"].(string)
	_, ok := legacyStatus[s]
	return ok
}

// Parse validates one definition file's bytes and expands it. A file that
// fails schema validation but still decodes yields its metrics together
// with a *SchemaError; any other error yields no metrics.
func (v *Validator) Parse(name string, data []byte) ([]Metric, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	var raw map[string]any
	if err := doc.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if raw == nil {
		return nil, errors.New("empty definition")
	}
	// Read before isLegacy strips the legacy keys of migrated files.
	section, stage := scalar(&doc, "product_section"), scalar(&doc, "product_stage")
	legacy := isLegacy(raw)
	// Round-trip through JSON so the validator sees JSON types.
	j, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("convert to json: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, fmt.Errorf("convert to json: %w", err)
	}
	sch := v.modern
	if legacy {
		sch = v.legacy
	}
	var schemaErr error
	if err := sch.Validate(inst); err != nil {
		if msg := schemaProblems(err); msg != "" {
			skip, _ := raw["skip_validation"].(bool)
			schemaErr = &SchemaError{Problems: msg, descriptive: schemaDescriptive(err), skipped: skip}
		}
	}
	// fail reports the schema problems first: they explain the rest.
	fail := func(err error) ([]Metric, error) {
		if schemaErr != nil {
			return nil, schemaErr
		}
		return nil, err
	}
	var d struct {
		KeyPath              string         `json:"key_path"`
		Description          string         `json:"description"`
		ValueType            string         `json:"value_type"`
		Status               string         `json:"status"`
		TimeFrame            any            `json:"time_frame"`
		DataSource           string         `json:"data_source"`
		DataCategory         string         `json:"data_category"`
		InstrumentationClass string         `json:"instrumentation_class"`
		Options              map[string]any `json:"options"`
		Events               []Event        `json:"events"`
		Tiers                []string       `json:"tiers"`
		Tier                 []string       `json:"tier"`
		PerformanceIndicator []string       `json:"performance_indicator_type"`
		ValueJSONSchema      string         `json:"value_json_schema"`
	}
	if err := json.Unmarshal(j, &d); err != nil {
		return fail(fmt.Errorf("decode definition: %w", err))
	}
	if d.KeyPath == "" {
		return fail(errors.New("key_path is empty"))
	}
	status := d.Status
	if s, ok := legacyStatus[status]; ok {
		status = s
	}
	tiers := d.Tiers
	if len(tiers) == 0 {
		tiers = legacyTiers(d.Tier)
	}
	frames, err := timeFrames(d.TimeFrame)
	if err != nil {
		return fail(err)
	}
	base := Metric{
		KeyPath:              d.KeyPath,
		Description:          d.Description,
		ValueType:            d.ValueType,
		Status:               status,
		DataSource:           d.DataSource,
		DataCategory:         strings.ToLower(d.DataCategory),
		InstrumentationClass: d.InstrumentationClass,
		Options:              d.Options,
		Events:               d.Events,
		Tiers:                tiers,
		PerformanceIndicator: d.PerformanceIndicator,
		ValueJSONSchema:      d.ValueJSONSchema,
		File:                 name,
		Legacy:               legacy,
		ProductSection:       section,
		ProductStage:         stage,
		ProductGroup:         scalar(&doc, "product_group"),
		Milestone:            scalar(&doc, "milestone"),
	}
	if _, isArray := d.TimeFrame.([]any); !isArray {
		base.TimeFrame = frames[0]
		return []Metric{base}, schemaErr
	}
	out := make([]Metric, 0, len(frames))
	for _, tf := range frames {
		m := base
		m.TimeFrame = tf
		m.KeyPath = d.KeyPath + suffix(tf)
		out = append(out, m)
	}
	return out, schemaErr
}

// scalar is the top-level key's scalar value as written in the file (an
// unquoted milestone 8.10 stays "8.10"), or "" when absent, null or not a
// scalar.
func scalar(doc *yaml.Node, key string) string {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ""
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		if m[i].Value == key {
			if v := m[i+1]; v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				return v.Value
			}
			return ""
		}
	}
	return ""
}

// suffix is GitLab's key_path suffix for an expanded time frame.
func suffix(tf string) string {
	switch tf {
	case "7d":
		return "_weekly"
	case "28d":
		return "_monthly"
	}
	return ""
}

func timeFrames(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, errors.New("time_frame is empty")
		}
		return []string{t}, nil
	case []any:
		if len(t) == 0 {
			return nil, errors.New("time_frame array is empty")
		}
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("time_frame entry %v is not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, errors.New("time_frame is missing")
	}
	return nil, fmt.Errorf("time_frame has type %T", v)
}

func legacyTiers(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range in {
		switch t {
		case "starter", "bronze", "silver":
			t = "premium"
		case "gold":
			t = "ultimate"
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// tolerated are schema rules the collector does not enforce: the
// product_categories backfill rule (product_categories.json) was added long
// after most real files were written and its own comment says they have not
// been backfilled.
var tolerated = []string{"/product_categories.json"}

// failingLeaves are the innermost failures of a validation error, the
// tolerated rules left out.
func failingLeaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var out []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		for _, t := range tolerated {
			if strings.Contains(e.SchemaURL, t) {
				return
			}
		}
		out = append(out, e)
	}
	walk(ve)
	return out
}

// schemaDescriptive reports whether every failing leaf of a validation
// error (tolerated rules aside) is descriptive.
func schemaDescriptive(err error) bool {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	pr := message.NewPrinter(language.English)
	for _, e := range failingLeaves(ve) {
		if !descriptiveLeaf(e.InstanceLocation, e.ErrorKind.LocalizedString(pr)) {
			return false
		}
	}
	return true
}

// schemaProblems renders the failing leaves of a validation error on one
// line, or "" when every failure is a tolerated rule.
func schemaProblems(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return strings.ReplaceAll(err.Error(), "\n", " ")
	}
	pr := message.NewPrinter(language.English)
	var leaves []string
	for _, e := range failingLeaves(ve) {
		loc := "/" + strings.Join(e.InstanceLocation, "/")
		msg := e.ErrorKind.LocalizedString(pr)
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		leaves = append(leaves, fmt.Sprintf("at %s: %s", loc, msg))
	}
	if len(leaves) == 0 {
		return ""
	}
	sort.Strings(leaves)
	leaves = slices.Compact(leaves)
	if len(leaves) > 4 {
		leaves = append(leaves[:4], fmt.Sprintf("and %d more", len(leaves)-4))
	}
	return strings.Join(leaves, "; ")
}

// Load reads every *.yml/*.yaml file below dir. Files under a directory
// named "aggregates" are aggregated-metric lists. A file that cannot be
// understood becomes a Problem; the rest still load. Duplicate key paths
// are problems too (the first file, in lexical order, wins).
func (v *Validator) Load(dir string) (*Set, error) {
	set := &Set{}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if ext := filepath.Ext(p); ext == ".yml" || ext == ".yaml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk definitions %s: %w", dir, err)
	}
	sort.Strings(files)
	seen := map[string]string{}
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			set.Problems = append(set.Problems, Problem{File: rel, Reason: err.Error()})
			continue
		}
		set.Files++
		if strings.Contains("/"+rel, "/aggregates/") {
			aggs, err := ParseAggregates(rel, data)
			if err != nil {
				set.Problems = append(set.Problems, Problem{File: rel, Reason: err.Error()})
			}
			set.Aggregates = append(set.Aggregates, aggs...)
			continue
		}
		ms, err := v.Parse(rel, data)
		if err != nil {
			var se *SchemaError
			kept := errors.As(err, &se) && (se.Descriptive() || se.Skipped()) && len(ms) > 0
			set.Problems = append(set.Problems, Problem{File: rel, Reason: err.Error(), Kept: kept})
			if !kept {
				set.Invalid = append(set.Invalid, ms...)
				continue
			}
		}
		for _, m := range ms {
			if prev, dup := seen[m.KeyPath]; dup && m.Emitted() {
				set.Problems = append(set.Problems, Problem{File: rel, Reason: fmt.Sprintf("key_path %s already defined in %s", m.KeyPath, prev)})
				continue
			}
			if m.Emitted() {
				seen[m.KeyPath] = rel
			}
			set.Metrics = append(set.Metrics, m)
		}
	}
	return set, nil
}

// ParseAggregates parses an aggregates file: OR/AND aggregates of redis
// events (7d, 28d) or of database metrics' estimates (7d, 28d, all).
func ParseAggregates(name string, data []byte) ([]Aggregate, error) {
	var aggs []Aggregate
	if err := yaml.Unmarshal(data, &aggs); err != nil {
		return nil, fmt.Errorf("parse aggregates: %w", err)
	}
	var errs []error
	out := aggs[:0]
	for _, a := range aggs {
		a.File = name
		switch {
		case a.Name == "":
			errs = append(errs, errors.New("aggregate without name"))
			continue
		case a.Operator != "OR" && a.Operator != "AND":
			errs = append(errs, fmt.Errorf("aggregate %s: operator %q is not OR or AND", a.Name, a.Operator))
			continue
		case a.Source != "redis" && a.Source != "database":
			errs = append(errs, fmt.Errorf("aggregate %s: source %q is not redis or database", a.Name, a.Source))
			continue
		case len(a.Events) == 0:
			errs = append(errs, fmt.Errorf("aggregate %s: no events", a.Name))
			continue
		}
		bad := false
		for _, tf := range a.TimeFrame {
			if tf != "7d" && tf != "28d" && (tf != "all" || a.Source != "database") {
				errs = append(errs, fmt.Errorf("aggregate %s: time_frame %q not available for %s", a.Name, tf, a.Source))
				bad = true
			}
		}
		if !bad {
			out = append(out, a)
		}
	}
	if len(errs) > 0 && len(out) == 0 {
		return nil, errors.Join(errs...)
	}
	return out, errors.Join(errs...)
}

// AggregateKeyPath is where an aggregate lands for one time frame:
// counts_weekly.aggregated_metrics.<name> (7d),
// counts_monthly.aggregated_metrics.<name> (28d), counts.aggregate_<name>
// (all).
func AggregateKeyPath(name, timeFrame string) string {
	switch timeFrame {
	case "7d":
		return "counts_weekly.aggregated_metrics." + name
	case "all":
		return "counts.aggregate_" + name
	}
	return "counts_monthly.aggregated_metrics." + name
}
