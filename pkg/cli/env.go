package cli

import (
	"fmt"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"
)

// EnvHelp lists the environment variables an env-tagged configuration
// struct reads (github.com/sethvargo/go-envconfig tags: `env:"NAME,
// default=VALUE"`, nested structs included) with their defaults, for a
// binary's help. cfgs are struct values or pointers; a variable read by two
// of them is listed once.
func EnvHelp(cfgs ...any) string {
	var b strings.Builder
	b.WriteString("Environment (read at start; the README explains each):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	seen := map[string]bool{}
	for _, c := range cfgs {
		t := reflect.TypeOf(c)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		envFields(t, func(name, def string) {
			if seen[name] {
				return
			}
			seen[name] = true
			if def == "" {
				def = "(empty)"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, def)
		})
	}
	tw.Flush()
	return b.String()
}

// envFields calls fn with each variable of struct type t and its default.
func envFields(t reflect.Type, fn func(name, def string)) {
	if t.Kind() != reflect.Struct {
		return
	}
	for f := range t.Fields() {
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.IsExported() || f.Anonymous {
				envFields(ft, fn)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		name = strings.TrimSpace(name)
		if name == "" || name == "-" {
			continue
		}
		var def string
		// The default is the last option and may itself hold commas.
		if _, d, ok := strings.Cut(opts, "default="); ok {
			def = d
		}
		fn(name, def)
	}
}

// FlagValues are the values of kctx's flags that mirror a variable and
// hold one (from the command line, or from the variable kong read), keyed
// by the variable: the top source of a configuration read through
// envconfig, so that a flag wins over its variable.
func FlagValues(kctx *kong.Context) map[string]string {
	vars := map[string]string{}
	for _, f := range kctx.Flags() {
		if len(f.Envs) == 0 || !f.Target.IsValid() || f.Target.IsZero() {
			continue
		}
		vars[f.Envs[0]] = fmt.Sprint(f.Target.Interface())
	}
	return vars
}
