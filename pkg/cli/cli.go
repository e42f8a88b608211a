// Package cli is the command line every serviceping binary shares, built on
// github.com/alecthomas/kong: flags and arguments in any order, each flag
// mirrored by an environment variable (kong `env:"…"` tags), --help and
// --version that print and exit 0 before anything connects or starts, and
// one set of exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// Exit codes of every serviceping binary.
const (
	// ExitOK: the command did what it was asked (--help and --version too).
	ExitOK = 0
	// ExitFailure: the command ran and failed.
	ExitFailure = 1
	// ExitUsage: the command line (or a variable mirroring a flag) is
	// wrong; nothing was started.
	ExitUsage = 2
)

// version is the serviceping version every binary prints, stamped by the
// build: -ldflags "-X github.com/serviceping/serviceping/pkg/cli.version=…".
var version = "dev"

// App describes a binary.
type App struct {
	// Name is the binary's name, the first word of its usage.
	Name string
	// Description is the help's first paragraph.
	Description string
	// Version is printed by --version after the name; empty: the version
	// the build stamped into pkg/cli ("dev" without one).
	Version string
	// Epilog is printed after the help's flags, e.g. EnvHelp's table.
	Epilog string
	// LogFormat is the default of --log-format (LOG_FORMAT) for a grammar
	// that embeds Logging; empty means json.
	LogFormat string
	// Vars are the grammar's ${name} values, such as a flag's default
	// taken from the env tag of the configuration it sets.
	Vars map[string]string
	// Stdout receives help, version and the commands' output; Stderr
	// errors and logs. Nil: the process's.
	Stdout, Stderr io.Writer
}

// usageError marks an error as a misuse of the command line (ExitUsage).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Usage marks err, returned by a command's Run, as a usage error: the
// binary exits with ExitUsage instead of ExitFailure. Nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// Main runs the process's command line with Run until SIGINT or SIGTERM
// ends the context, and returns the exit code for main to exit with.
func Main(app App, grammar any) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Run(ctx, app, grammar, os.Args[1:])
}

// Service is the command line of a binary configured from the environment
// alone (gateway, enricher, loader): the logging flags, no arguments.
func Service(run func(context.Context, *slog.Logger) error) any {
	return &service{run: run}
}

type service struct {
	Logging
	run func(context.Context, *slog.Logger) error
}

func (s *service) Run(ctx context.Context, log *slog.Logger) error { return s.run(ctx, log) }

// Stage runs the binary of a pipeline stage (gateway, enricher, loader)
// with Main and returns its exit code: configured from the environment
// alone, so its command line is Service(run)'s, and its help ends with the
// variables its configuration struct config reads (EnvHelp).
func Stage(app App, config any, run func(context.Context, *slog.Logger) error) int {
	app.Epilog = EnvHelp(config)
	return Main(app, Service(run))
}

// Run parses args into grammar (a kong grammar: a struct of flags,
// arguments and `cmd:""` commands) and calls the selected command's Run
// method, or grammar's own for a binary without commands. Run methods may
// take context.Context (ctx) and anything a grammar's Provide… method
// returns, such as Logging's *slog.Logger. Errors are written to
// app.Stderr; the result is the process's exit code.
//
// A variable mirroring a flag that is set but empty counts as unset (the
// flag keeps its default), as the binaries always read the environment.
func Run(ctx context.Context, app App, grammar any, args []string) int {
	if app.Stdout == nil {
		app.Stdout = os.Stdout
	}
	if app.Stderr == nil {
		app.Stderr = os.Stderr
	}
	kctx, code := parse(app, grammar, args)
	if kctx == nil {
		return code
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(); err != nil {
		fmt.Fprintf(app.Stderr, "%s: %v\n", app.Name, err)
		if errors.As(err, new(usageError)) {
			return ExitUsage
		}
		return ExitFailure
	}
	return ExitOK
}

// exit carries kong's exit code out of a parse that printed help or the
// version: kong calls its Exit function and would carry on parsing.
type exit int

// parse returns the parsed context, or nil and the exit code when there is
// nothing to run.
func parse(app App, grammar any, args []string) (kctx *kong.Context, code int) {
	logFormat := app.LogFormat
	if logFormat == "" {
		logFormat = "json"
	}
	if app.Version == "" {
		app.Version = version
	}
	parser, err := kong.New(grammar,
		kong.Name(app.Name),
		kong.Description(app.Description),
		kong.Writers(app.Stdout, app.Stderr),
		kong.Exit(func(code int) { panic(exit(code)) }),
		kong.Embed(&versionFlag{}),
		kong.Vars(app.Vars),
		kong.Vars{"version": app.Name + " " + app.Version, "log_format": logFormat},
		kong.ConfigureHelp(kong.HelpOptions{WrapUpperBound: 100}),
		kong.ValueFormatter(helpValue),
		kong.Help(func(o kong.HelpOptions, kctx *kong.Context) error {
			if err := kong.DefaultHelpPrinter(o, kctx); err != nil {
				return err
			}
			if app.Epilog != "" {
				fmt.Fprint(kctx.Stdout, "\n"+app.Epilog)
			}
			return nil
		}),
	)
	if err != nil { // the grammar itself is wrong: a bug, not a usage error
		fmt.Fprintf(app.Stderr, "%s: %v\n", app.Name, err)
		return nil, ExitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exit)
			if !ok {
				panic(r)
			}
			kctx, code = nil, int(c)
		}
	}()
	restore := hideEmptyEnv(parser.Model.Node)
	kctx, err = parser.Parse(args)
	restore()
	if err != nil {
		fmt.Fprintf(app.Stderr, "%s: %v\n", app.Name, err)
		if perr := (*kong.ParseError)(nil); errors.As(err, &perr) && perr.Context != nil {
			perr.Context.Stdout = app.Stderr
			if len(args) == 0 { // a bare name: the whole help, commands listed
				_ = perr.Context.PrintUsage(false)
			} else {
				_ = kong.DefaultShortHelpPrinter(kong.HelpOptions{}, perr.Context)
			}
		}
		return nil, ExitUsage
	}
	return kctx, ExitOK
}

// helpValue is a flag's or argument's help: its text, then its default
// and the variables mirroring it.
func helpValue(v *kong.Value) string {
	var notes []string
	if v.HasDefault && v.Default != "" && !(v.IsBool() && v.Default == "false") {
		notes = append(notes, "default "+v.Default)
	}
	for _, e := range v.Tag.Envs {
		notes = append(notes, "$"+e)
	}
	if len(notes) == 0 {
		return v.Help
	}
	return strings.TrimSuffix(v.Help, ".") + " (" + strings.Join(notes, ", ") + ")."
}

// versionFlag is embedded in every grammar.
type versionFlag struct {
	Version kong.VersionFlag `help:"Print the version and exit."`
}

// hideEmptyEnv unsets the variables of node's flags (and its commands')
// that are set to the empty string, so kong gives those flags their
// defaults, and returns the function that sets them again.
func hideEmptyEnv(node *kong.Node) (restore func()) {
	var hidden []string
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			for _, name := range f.Tag.Envs {
				if v, ok := os.LookupEnv(name); ok && v == "" {
					os.Unsetenv(name)
					hidden = append(hidden, name)
				}
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(node)
	return func() {
		for _, name := range hidden {
			os.Setenv(name, "")
		}
	}
}

// Logging is the --log-level and --log-format flags (LOG_LEVEL,
// LOG_FORMAT) of a binary that logs through slog; embed it in the grammar
// and take *slog.Logger in Run.
type Logging struct {
	LogLevel  string `name:"log-level" env:"LOG_LEVEL" default:"info" placeholder:"LEVEL" help:"Log level: debug, info, warn or error."`
	LogFormat string `name:"log-format" env:"LOG_FORMAT" default:"${log_format}" placeholder:"FORMAT" help:"Log format: json or text."`
}

// Validate rejects a level or format the logger does not know, as a
// usage error before anything starts.
func (l *Logging) Validate() error {
	_, err := lifecycle.NewLogger(io.Discard, l.LogLevel, l.LogFormat)
	return err
}

// ProvideLogger is the logger for the commands' Run methods, writing to
// the binary's stderr.
func (l *Logging) ProvideLogger(kctx *kong.Context) (*slog.Logger, error) {
	return lifecycle.NewLogger(kctx.Stderr, l.LogLevel, l.LogFormat)
}
