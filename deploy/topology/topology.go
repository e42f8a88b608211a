// Package topology reads the deployment files of deploy/ the way their
// tools do — the compose file through the compose-spec library, the
// Kubernetes manifests through kustomize, the Dockerfile instruction by
// instruction — for the tests beside it, which check what those files
// deploy against the services' own configuration and routes. It is a
// module of its own (like nats.go's jetstream/test) so that the compose and
// Kubernetes libraries stay out of every service's build graph.
package topology

import (
	"bufio"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// EnvNames are the environment variables cfg, a configuration struct,
// reads: the names of its `env:"NAME, …"` tags (github.com/sethvargo/
// go-envconfig and kong alike), nested structs included (with an
// envconfig prefix=…).
func EnvNames(cfg any) map[string]bool {
	names := map[string]bool{}
	collectEnv(reflect.TypeOf(cfg), "", names)
	return names
}

func collectEnv(t reflect.Type, prefix string, names map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for f := range t.Fields() {
		tag, hasTag := f.Tag.Lookup("env")
		name, opts, _ := strings.Cut(tag, ",")
		name = strings.TrimSpace(name)
		if name != "" {
			names[prefix+name] = true
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || (!hasTag && !f.IsExported()) {
			continue
		}
		p := prefix
		for o := range strings.SplitSeq(opts, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(o), "prefix="); ok {
				p += v
			}
		}
		collectEnv(ft, p, names)
	}
}

// LoadCompose loads the compose file at path as `docker compose config`
// does, with env as the only environment (no .env file, nothing from the
// process). With interpolate false the ${…} references are kept as written
// and environment values are not resolved, which shows where each value
// comes from.
func LoadCompose(ctx context.Context, path string, env map[string]string, interpolate bool) (*types.Project, error) {
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithEnv(vars),
		cli.WithInterpolation(interpolate),
		cli.WithResolvedPaths(true),
	}
	if !interpolate {
		opts = append(opts, cli.WithoutEnvironmentResolution, cli.WithLoadOptions(func(o *loader.Options) { o.SkipValidation = true }))
	}
	po, err := cli.NewProjectOptions([]string{path}, opts...)
	if err != nil {
		return nil, fmt.Errorf("compose options for %s: %w", path, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load compose file %s: %w", path, err)
	}
	return p, nil
}

// Object is one rendered Kubernetes object: its kind, name and YAML.
type Object struct {
	Kind, Name, Namespace string
	YAML                  []byte
}

// Kustomize renders the kustomization in dir as `kubectl kustomize` does.
func Kustomize(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s %s as YAML: %w", r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, Object{Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace(), YAML: y})
	}
	return objs, nil
}

// Instruction is one Dockerfile instruction: its keyword (upper case) and
// the rest of its line, continuation lines joined.
type Instruction struct {
	Keyword, Args string
	Line          int
}

// Last returns the arguments of the last instruction of ins with keyword,
// "" when there is none: the setting in effect for an instruction a later
// one overrides (USER, ENTRYPOINT, a single EXPOSE).
func Last(ins []Instruction, keyword string) string {
	for i := len(ins) - 1; i >= 0; i-- {
		if ins[i].Keyword == keyword {
			return ins[i].Args
		}
	}
	return ""
}

// Stage is one FROM … [AS name] of a Dockerfile and what follows it.
type Stage struct {
	From, Name   string
	Instructions []Instruction
}

// Dockerfile is a parsed Dockerfile: the instructions before the first
// FROM (global ARGs) and the stages.
type Dockerfile struct {
	Global []Instruction
	Stages []Stage
}

// Stage returns the stage called name.
func (d Dockerfile) Stage(name string) (Stage, bool) {
	for _, s := range d.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// ParseDockerfile reads a Dockerfile: comments and blank lines dropped,
// lines ending in a backslash joined with the next.
func ParseDockerfile(path string) (Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dockerfile{}, err
	}
	defer f.Close()
	var d Dockerfile
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		kw, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := Instruction{Keyword: strings.ToUpper(kw), Args: strings.TrimSpace(args), Line: start}
		if in.Keyword == "FROM" {
			fields := strings.Fields(in.Args)
			s := Stage{}
			for i := 0; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					s.Name = fields[i+1]
					i++
				case s.From == "":
					s.From = fields[i]
				}
			}
			d.Stages = append(d.Stages, s)
			continue
		}
		if len(d.Stages) == 0 {
			d.Global = append(d.Global, in)
			continue
		}
		last := &d.Stages[len(d.Stages)-1]
		last.Instructions = append(last.Instructions, in)
	}
	if err := sc.Err(); err != nil {
		return Dockerfile{}, fmt.Errorf("read %s: %w", path, err)
	}
	if cur.Len() > 0 {
		return Dockerfile{}, fmt.Errorf("%s: line %d continues past the end of the file", path, start)
	}
	return d, nil
}

// Command is a command of a kong grammar, read from Go source.
type Command struct {
	// Vars are the environment variables of the command's flags: the env
	// tags of its struct and of the structs of its package it embeds.
	Vars map[string]bool
	// Inherited are the types from other packages the grammar's root
	// embeds ("cli.Logging"): their flags apply to every command.
	Inherited []string
}

// KongCommand reads the command called name (kong's name: the name tag,
// or the field's name in lower-case kebab) from the grammar struct root
// of the Go package in dir (non-test files), as the binary would parse
// it. It fails when there is no such command.
func KongCommand(dir, root, name string) (Command, error) {
	structs := map[string]*ast.StructType{}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return Command{}, err
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return Command{}, fmt.Errorf("parse %s: %w", f, err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	rt, ok := structs[root]
	if !ok {
		return Command{}, fmt.Errorf("%s: no struct %s", dir, root)
	}
	c := Command{Vars: map[string]bool{}}
	cmdType := ""
	for _, f := range rt.Fields.List {
		tag := fieldTag(f)
		if len(f.Names) == 0 {
			if sel, ok := f.Type.(*ast.SelectorExpr); ok {
				c.Inherited = append(c.Inherited, fmt.Sprint(sel.X)+"."+sel.Sel.Name)
			}
			continue
		}
		if _, isCmd := tag.Lookup("cmd"); !isCmd {
			continue
		}
		n, ok := tag.Lookup("name")
		if !ok {
			n = kebab(f.Names[0].Name)
		}
		if id, ok := f.Type.(*ast.Ident); ok && n == name {
			cmdType = id.Name
		}
	}
	if cmdType == "" {
		return Command{}, fmt.Errorf("%s: %s has no command %q", dir, root, name)
	}
	var walk func(string) error
	walk = func(typ string) error {
		st, ok := structs[typ]
		if !ok {
			return fmt.Errorf("%s: no struct %s", dir, typ)
		}
		for _, f := range st.Fields.List {
			if env, ok := fieldTag(f).Lookup("env"); ok {
				for n := range strings.SplitSeq(env, ",") {
					c.Vars[strings.TrimSpace(n)] = true
				}
			} else if id, ok := f.Type.(*ast.Ident); ok && len(f.Names) == 0 {
				if err := walk(id.Name); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return c, walk(cmdType)
}

func fieldTag(f *ast.Field) reflect.StructTag {
	if f.Tag == nil {
		return ""
	}
	s, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	return reflect.StructTag(s)
}

// kebab is kong's command name of a field: RunCluster is run-cluster.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
