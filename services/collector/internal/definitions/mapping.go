package definitions

import (
	"fmt"
	"maps"
	"os"

	"go.yaml.in/yaml/v3"
)

// Mapping resolves GitLab's named instrumentation classes (and, for
// definitions that name none, individual key paths) to the generic
// instrumentations' options. A definition's own options win over the
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
type Mapping struct {
	Classes  map[string]MappingEntry `yaml:"classes"`
	KeyPaths map[string]MappingEntry `yaml:"key_paths"`
}

// MappingEntry is one resolution.
type MappingEntry struct {
	Class   string         `yaml:"class"`
	Options map[string]any `yaml:"options"`
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

// Resolved is a metric with its effective class and options.
type Resolved struct {
	Metric
	Class string // generic class: the mapped one, else the definition's
}

// Resolve applies the mapping to m. The key path is looked up both as
// expanded and as written (without the _weekly/_monthly suffix).
func (mp *Mapping) Resolve(m Metric) Resolved {
	r := Resolved{Metric: m, Class: m.InstrumentationClass}
	opts := map[string]any{}
	if mp != nil {
		if e, ok := mp.Classes[m.InstrumentationClass]; ok {
			maps.Copy(opts, e.Options)
			if e.Class != "" {
				r.Class = e.Class
			}
		}
		e, ok := mp.KeyPaths[m.KeyPath]
		if !ok {
			e, ok = mp.KeyPaths[trimSuffix(m.KeyPath, m.TimeFrame)]
		}
		if ok {
			maps.Copy(opts, e.Options)
			if e.Class != "" {
				r.Class = e.Class
			}
		}
	}
	maps.Copy(opts, m.Options)
	r.Options = opts
	return r
}

func trimSuffix(keyPath, tf string) string {
	s := suffix(tf)
	if s != "" && len(keyPath) > len(s) && keyPath[len(keyPath)-len(s):] == s {
		return keyPath[:len(keyPath)-len(s)]
	}
	return keyPath
}
