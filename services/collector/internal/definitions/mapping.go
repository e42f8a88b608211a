package definitions

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mapping resolves GitLab's named instrumentation classes (and, for
// definitions that name none, individual key paths) to the source that
// computes them and its options. A definition's own options win over the
// mapping's.
//
//	classes:
//	  CountDeploymentsMetric:
//	    class: DatabaseMetric          # generic class to run (optional)
//	    options: {operation: count, table: deployments}
//	key_paths:
//	  counts.merge_requests:
//	    class: DatabaseMetric
//	    options: {operation: count, table: merge_requests}
//
// A file's mapping sits on top of the collector's built-in one (Fallback):
// what the file names wins, the built-in table answers the rest.
type Mapping struct {
	Classes  map[string]MappingEntry `yaml:"classes"`
	KeyPaths map[string]MappingEntry `yaml:"key_paths"`
	// ClassPatterns resolve families of class names (Count<Records>Metric)
	// the exact table lacks; submatches as for Patterns. Built-in only.
	ClassPatterns []PatternEntry `yaml:"-"`
	// ClassResolver resolves, after the exact names and the families, a
	// class name by what it says (a setting it names), or declines it.
	// Built-in only.
	ClassResolver func(class string) (MappingEntry, bool) `yaml:"-"`
	// Patterns resolve families of legacy key paths (object_store.<type>.…)
	// by regular expression; the first match wins. Built-in only.
	Patterns []PatternEntry `yaml:"-"`
	// Fallback answers what this mapping does not name.
	Fallback *Mapping `yaml:"-"`
}

// MappingEntry is one resolution.
type MappingEntry struct {
	Class string `yaml:"class"`
	// Source is the data source that computes the metric: database,
	// setting, config, fact, license, redis, redis_hll, internal_events or
	// prometheus. Empty: the generic class's source, else the definition's
	// data_source.
	Source  string         `yaml:"source"`
	Options map[string]any `yaml:"options"`
	// Expand rewrites the merged options (the entry's under the
	// definition's) into the ones the source reads, for classes whose query
	// depends on an option (CountUsersCreatingCiBuildsMetric's secure_type).
	// An error makes the metric fail with its fallback. Built-in only.
	Expand func(opts map[string]any) (map[string]any, error) `yaml:"-"`
	// Applies lists, for a family of classes (ClassPatterns,
	// ClassResolver), the definition options the family applies. A
	// family is written from a class's name, not from its code, so any
	// other option a definition gives (CountSecurityScansMetric's
	// scan_type) may change what GitLab's class counts: the metric then
	// fails with its fallback, naming the option, rather than give a
	// value that ignores it. Built-in only.
	Applies []string `yaml:"-"`
}

// PatternEntry resolves the key paths matching Match; Expand receives the
// submatches under the option names "1", "2", ….
type PatternEntry struct {
	Match *regexp.Regexp
	MappingEntry
}

// LoadMapping reads a mapping file; an empty path gives an empty mapping.
func LoadMapping(path string) (*Mapping, error) {
	m := &Mapping{}
	if path == "" {
		return m, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read instrumentation mapping: %w", err)
	}
	if err := yaml.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("parse instrumentation mapping %s: %w", path, err)
	}
	return m, nil
}

// Resolved is a metric with its effective class, source and options.
type Resolved struct {
	Metric
	Class  string // generic class: the mapped one, else the definition's
	Source string // what computes it (see MappingEntry.Source)
	// UnknownClass is the definition's instrumentation class when no
	// mapping knows it; the metric then yields its fallback.
	UnknownClass string
	// Err is a mapping that could not be applied (bad options).
	Err error
}

// ErrUnknownClass marks a definition whose instrumentation class the
// collector does not know.
var ErrUnknownClass = errors.New("instrumentation class unknown to the collector")

// ErrUnappliedOption marks a definition whose class the collector knows
// only by its name's family, with an option the family does not apply:
// GitLab's class may count differently with it, so no value is given.
var ErrUnappliedOption = errors.New("an option of the definition is not applied by the class family its name matches")

// class looks a class up along the chain, exact names before families;
// family tells which answered.
func (mp *Mapping) class(name string) (e MappingEntry, groups map[string]any, family, ok bool) {
	for m := mp; m != nil; m = m.Fallback {
		if e, ok := m.Classes[name]; ok {
			return e, nil, false, true
		}
	}
	for m := mp; m != nil; m = m.Fallback {
		if e, g, ok := match(m.ClassPatterns, name); ok {
			return e, g, true, true
		}
	}
	for m := mp; m != nil; m = m.Fallback {
		if m.ClassResolver == nil {
			continue
		}
		if e, ok := m.ClassResolver(name); ok {
			return e, nil, true, true
		}
	}
	return MappingEntry{}, nil, false, false
}

// unapplied is the first (by name) of the definition's options a family
// entry does not apply, or "".
func unapplied(e MappingEntry, opts map[string]any) string {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !slices.Contains(e.Applies, k) {
			return k
		}
	}
	return ""
}

// match finds the first pattern matching s and its submatches.
func match(ps []PatternEntry, s string) (MappingEntry, map[string]any, bool) {
	for _, p := range ps {
		if sm := p.Match.FindStringSubmatch(s); sm != nil {
			groups := map[string]any{}
			for i, g := range sm[1:] {
				groups[fmt.Sprint(i+1)] = g
			}
			return p.MappingEntry, groups, true
		}
	}
	return MappingEntry{}, nil, false
}

// keyPath looks a key path up along the chain (only the first mapping
// when firstOnly): exact key paths (as expanded, then as written without
// the time frame suffix) before patterns, whose submatches it returns.
func (mp *Mapping) keyPath(m Metric, firstOnly bool) (MappingEntry, map[string]any, bool) {
	for cur := mp; cur != nil; cur = cur.Fallback {
		if e, ok := cur.KeyPaths[m.KeyPath]; ok {
			return e, nil, true
		}
		if e, ok := cur.KeyPaths[trimSuffix(m.KeyPath, m.TimeFrame)]; ok {
			return e, nil, true
		}
		if e, g, ok := match(cur.Patterns, m.KeyPath); ok {
			return e, g, true
		}
		if firstOnly {
			break
		}
	}
	return MappingEntry{}, nil, false
}

// Resolve applies the mapping to m. A named class resolves through the
// class table; a file's key path entry applies to any definition, the
// built-in key paths and patterns only to definitions that name no class
// (legacy files whose meaning GitLab's code fixed by key path).
func (mp *Mapping) Resolve(m Metric) Resolved {
	r := Resolved{Metric: m, Class: m.InstrumentationClass}
	opts := map[string]any{}
	var entries []MappingEntry
	var groups map[string]any
	var ignored string // a definition option the class's family does not apply
	if mp != nil {
		if m.InstrumentationClass != "" {
			if e, g, family, ok := mp.class(m.InstrumentationClass); ok {
				entries = append(entries, e)
				groups = g
				if family {
					ignored = unapplied(e, m.Options)
				}
			} else {
				r.UnknownClass = m.InstrumentationClass
			}
		}
		if e, g, ok := mp.keyPath(m, m.InstrumentationClass != ""); ok {
			entries = append(entries, e)
			if g != nil {
				groups = g
			}
			r.UnknownClass = ""
			ignored = "" // a key path entry states the meaning itself
		}
	} else if m.InstrumentationClass != "" {
		r.UnknownClass = m.InstrumentationClass
	}
	var expand func(map[string]any) (map[string]any, error)
	for _, e := range entries {
		maps.Copy(opts, e.Options)
		if e.Class != "" {
			r.Class = e.Class
		}
		if e.Source != "" {
			r.Source = e.Source
		}
		if e.Expand != nil {
			expand = e.Expand
		}
	}
	maps.Copy(opts, m.Options)
	if len(groups) > 0 {
		for k, v := range opts {
			opts[k] = fill(v, groups)
		}
		maps.Copy(opts, groups)
	}
	if r.Source == "" && r.Class != "" {
		if e, _, _, ok := mp.class(r.Class); ok && e.Source != "" {
			r.Source = e.Source
		}
	}
	if r.Source == "" {
		r.Source = m.DataSource
	}
	if expand != nil {
		var err error
		if opts, err = expand(opts); err != nil {
			r.Err = fmt.Errorf("instrumentation class %s: %w", r.Class, err)
		}
	}
	r.Options = opts
	if ignored != "" && r.Err == nil {
		r.Err = fmt.Errorf("%w: instrumentation class %s: option %s=%v", ErrUnappliedOption, m.InstrumentationClass, ignored, m.Options[ignored])
	}
	if r.UnknownClass != "" {
		r.Err = fmt.Errorf("%w: %s", ErrUnknownClass, r.UnknownClass)
	}
	return r
}

// fill replaces the placeholders {1}, {2}, … of a pattern entry's string
// options (and string list elements) with the key path's submatches.
func fill(v any, groups map[string]any) any {
	switch x := v.(type) {
	case string:
		for k, g := range groups {
			x = strings.ReplaceAll(x, "{"+k+"}", fmt.Sprint(g))
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fill(e, groups)
		}
		return out
	}
	return v
}

func trimSuffix(keyPath, tf string) string {
	s := suffix(tf)
	if s != "" && len(keyPath) > len(s) && keyPath[len(keyPath)-len(s):] == s {
		return keyPath[:len(keyPath)-len(s)]
	}
	return keyPath
}
